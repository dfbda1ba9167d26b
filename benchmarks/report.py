"""Turning results into judgements and pictures: targets met or not, a terminal table, the
markdown for ``docs/performance.md``, and an SVG chart of latency against session length.

Pure functions of the results dict (``latest.json``); nothing here measures anything, and
the only file it writes is the one it is asked to. ``python -m benchmarks.report
[results.json] [--markdown]`` re-renders a saved run; ``--write-docs`` puts the markdown
into the generated section of ``docs/performance.md`` (between its two marker lines).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from benchmarks import readside_report, redaction
from benchmarks.figures import fmt_x as _fmt_x
from benchmarks.figures import get as _get
from benchmarks.figures import target_row as _target
from benchmarks.harness import Json, human_count

# ---------------------------------------------------------------------------- targets


def _fmt_ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    if value >= 1:
        return f"{value:.2f} ms"
    if value >= 0.1:
        return f"{value * 1000:.0f} µs"
    return f"{value * 1000:.1f} µs"


def _worst_ratio(
    series: Json, ours: str, ref: str, lengths: Iterable[int]
) -> tuple[float | None, str]:
    worst: float | None = None
    where = ""
    for length in lengths:
        for q in ("p50", "p99"):
            a = _get(series, ours, str(length), q)
            b = _get(series, ref, str(length), q)
            if a is None or not b:
                continue
            r = a / b
            if worst is None or r > worst:
                worst, where = r, f"{q} at {human_count(length)}"
    return worst, where


def evaluate_targets(results: Json) -> list[Json]:
    """Every target of the suite, each met (True), not met (False) or not measured (None)."""
    bench = results.get("benchmarks", {})
    out: list[Json] = []
    append = bench.get("append") or {}
    series = append.get("series") or {}
    lengths: list[int] = append.get("lengths") or []

    pooled = append.get("pooled") or {}

    def ratio_target(tid: str, text: str, ours: str, ref: str, limit: float) -> None:
        """Judged on every length's samples pooled (a steadier p99); the worst single
        length is shown beside it."""
        worst, where = _worst_ratio(series, ours, ref, lengths)
        a, b = pooled.get(ours) or {}, pooled.get(ref) or {}
        if worst is None or not a.get("p50") or not b.get("p50"):
            out.append(_target(tid, text, "not measured", None))
            return
        r50, r99 = a["p50"] / b["p50"], a["p99"] / b["p99"]
        measured = (
            f"p50 {_fmt_ms(a['p50'])} vs {_fmt_ms(b['p50'])} ({_fmt_x(r50)}), "
            f"p99 {_fmt_ms(a['p99'])} vs {_fmt_ms(b['p99'])} ({_fmt_x(r99)})"
        )
        note = f"worst single length: {_fmt_x(worst)} ({where})"
        out.append(_target(tid, text, measured, max(r50, r99) <= limit, note))

    ratio_target(
        "save_fsync_vs_sqlite_full",
        "save with fsync ≤ SQLite FULL (p50 and p99, all lengths pooled)",
        "chatlog_always",
        "sqlite_full",
        1.0,
    )
    ratio_target(
        "save_fsync_vs_floor",
        "save with fsync ≤ 1.3× write+fdatasync (p50 and p99, all lengths pooled)",
        "chatlog_always",
        "floor_write_fdatasync",
        1.3,
    )
    ratio_target(
        "save_nofsync_vs_sqlite_normal",
        "save without fsync (fsync=never) ≤ SQLite NORMAL (p50 and p99, all lengths pooled)",
        "chatlog_never",
        "sqlite_normal",
        1.0,
    )
    if lengths and lengths[0] == 1 and lengths[-1] >= 100_000:
        last = lengths[-1]
        for policy in ("always", "interval", "never"):
            key = f"chatlog_{policy}"
            first_p99 = _get(series, key, "1", "p99")
            last_p99 = _get(series, key, str(last), "p99")
            floor = "floor_write_fdatasync" if policy == "always" else "floor_write"
            f1, fl = _get(series, floor, "1", "p99"), _get(series, floor, str(last), "p99")
            note = f"the floor's own ratio: {_fmt_x(fl / f1)}" if f1 and fl else ""
            text = f"fsync={policy}: p99 at message {human_count(last)} ≤ 1.2× p99 at message 1"
            if first_p99 and last_p99:
                r = last_p99 / first_p99
                out.append(
                    _target(
                        f"p99_flat_{policy}",
                        text,
                        f"{_fmt_ms(last_p99)} vs {_fmt_ms(first_p99)} = {_fmt_x(r)}",
                        r <= 1.2,
                        note,
                    )
                )
    else:
        out.append(
            _target("p99_flat", "p99 at message 100k ≤ 1.2× p99 at message 1", "not measured", None)
        )
    sync_floor = _get(series, "floor_write_fdatasync", "1000", "p50")
    seed_1k = _get(series, "seed_save", "1000", "p50")
    floor_note = (
        f"; a bare write+fdatasync is itself only {_fmt_x(seed_1k / sync_floor)} faster"
        if seed_1k and sync_floor
        else ""
    )
    for policy, why in (
        ("never", "like for like: the seed never synced"),
        ("always", "our default, which also syncs every message" + floor_note),
    ):
        seed = seed_1k
        ours = _get(series, f"chatlog_{policy}", "1000", "p50")
        text = f"≥ 100× faster than the seed's save at 1k messages (fsync={policy}, p50)"
        if seed and ours:
            r = seed / ours
            out.append(
                _target(
                    f"vs_seed_1k_{policy}",
                    text,
                    f"{_fmt_ms(seed)} / {_fmt_ms(ours)} = {_fmt_x(r)}",
                    r >= 100,
                    why,
                )
            )
        else:
            out.append(_target(f"vs_seed_1k_{policy}", text, "not measured", None, why))

    load = bench.get("load") or {}
    worst: float | None = None
    where = ""
    for length in load.get("lengths") or []:
        for q in ("p50", "p99"):
            r = _get(load, "series", "chatlog_read", str(length), f"{q}_vs_floor")
            if r is not None and (worst is None or r > worst):
                worst = r
                floor_name = _get(load, "floor", str(length), "variant")
                where = f"{q} at {human_count(length)}, floor {floor_name}"
    p50s = [
        _get(load, "series", "chatlog_read", str(n), "p50_vs_floor")
        for n in load.get("lengths") or []
    ]
    out.append(
        _target(
            "load_vs_raw",
            "load (EventLog.read) ≤ 2× the raw msgspec decode (p50 and p99, every length)",
            f"worst {_fmt_x(worst)} ({where})" if worst is not None else "not measured",
            None if worst is None else worst <= 2.0,
            "p50 by length: " + ", ".join(_fmt_x(r) for r in p50s) if worst is not None else "",
        )
    )

    listing = bench.get("list") or {}
    p50 = _get(listing, "series", "list_sessions", "p50")
    p99 = _get(listing, "series", "list_sessions", "p99")
    n = listing.get("sessions")
    out.append(
        _target(
            "list_10k",
            "list over 10k sessions < 10 ms (list_sessions, p50 and p99)",
            f"{n} sessions: p50 {_fmt_ms(p50)}, p99 {_fmt_ms(p99)}" if p50 else "not measured",
            None if p50 is None or p99 is None or (n or 0) < 10_000 else p50 < 10 and p99 < 10,
            "fewer than 10k sessions in this mode"
            if (n or 0) < 10_000 and p50 is not None
            else "every row decoded (no limit); with limit=20, what a terminal shows: p50 "
            f"{_fmt_ms(_get(listing, 'series', 'list_sessions_20', 'p50'))}, p99 "
            f"{_fmt_ms(_get(listing, 'series', 'list_sessions_20', 'p99'))}"
            if p50 is not None
            else "",
        )
    )

    rebuild = bench.get("rebuild") or {}
    eps = _get(rebuild, "series", "rebuild", "events_per_s")
    out.append(
        _target(
            "rebuild_300k",
            "rebuild ≥ 300k events/s",
            f"{eps / 1000:.0f}k events/s over {rebuild.get('events')} events"
            if eps
            else "not measured",
            None if eps is None else eps >= 300_000,
            f"reading the logs alone (EventLog.scan) runs at "
            f"{_get(rebuild, 'series', 'scan_logs', 'events_per_s') / 1000:.0f}k events/s"
            if eps and _get(rebuild, "series", "scan_logs", "events_per_s")
            else "",
        )
    )

    watcher = bench.get("watcher") or {}
    lag99 = _get(watcher, "lag", "p99")
    lag50 = _get(watcher, "lag", "p50")
    out.append(
        _target(
            "watcher_lag",
            "watcher lag p99 < 200 ms",
            f"p50 {_fmt_ms(lag50)}, p99 {_fmt_ms(lag99)}, {watcher.get('timeouts', 0)} timeouts"
            if lag99 is not None
            else "not measured",
            None if lag99 is None else lag99 < 200,
            f"on one {human_count(watcher.get('long_session_messages') or 0)}-message session: "
            f"p99 {_fmt_ms(_get(watcher, 'lag_long_session', 'p99'))}"
            if _get(watcher, "lag_long_session", "p99") is not None
            else "",
        )
    )
    out.extend(readside_report.evaluate(results))
    return out


# ---------------------------------------------------------------------------- tables


def _table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    """A plain-text table; ``align`` has one character per column: l or r."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    align = align or "l" + "r" * (len(header) - 1)

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        ).rstrip()

    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines.extend("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows)
    return "\n".join(lines)


Tabler = Callable[[list[str], list[list[str]]], str]


def _length_rows(section: Json, title: str) -> tuple[list[str], list[list[str]]]:
    header = [title, "length", "p50", "p99", "p50 ÷ floor", "p99 ÷ floor"]
    rows: list[list[str]] = []
    labels = section.get("labels", {})
    for length in section.get("lengths", []):
        for key, label in labels.items():
            stats = _get(section, "series", key, str(length))
            if not stats:
                continue
            floor = section.get("floor_of", {}).get(key, "")
            is_floor = floor == key
            rows.append(
                [
                    label,
                    human_count(length),
                    _fmt_ms(stats.get("p50")),
                    _fmt_ms(stats.get("p99")),
                    "floor" if is_floor else _fmt_x(stats.get("p50_vs_floor")),
                    "floor" if is_floor else _fmt_x(stats.get("p99_vs_floor")),
                ]
            )
    return header, rows


def _load_rows(load: Json) -> tuple[list[str], list[list[str]]]:
    header = ["load latency", "length", "p50", "p99", "p50 ÷ floor", "p99 ÷ floor"]
    rows: list[list[str]] = []
    for length in load.get("lengths", []):
        floor_name = _get(load, "floor", str(length), "variant")
        for key, label in load.get("labels", {}).items():
            stats = _get(load, "series", key, str(length))
            if not stats:
                continue
            rows.append(
                [
                    label + (" [floor]" if key == floor_name else ""),
                    human_count(length),
                    _fmt_ms(stats.get("p50")),
                    _fmt_ms(stats.get("p99")),
                    _fmt_x(stats.get("p50_vs_floor")),
                    _fmt_x(stats.get("p99_vs_floor")),
                ]
            )
    return header, rows


def _flat_rows(section: Json, title: str) -> tuple[list[str], list[list[str]]]:
    header = [title, "p50", "p99", "p50 ÷ ref", "p99 ÷ ref", "ref"]
    rows: list[list[str]] = []
    labels = section.get("labels", {})
    floor_of = section.get("floor_of", {})
    for key, stats in (section.get("series") or {}).items():
        ref = floor_of.get(key, "")
        same = ref == key
        rows.append(
            [
                labels.get(key, key),
                _fmt_ms(stats.get("p50")),
                _fmt_ms(stats.get("p99")),
                "-" if same else _fmt_x(stats.get("p50_vs_floor")),
                "-" if same else _fmt_x(stats.get("p99_vs_floor")),
                "-" if same else labels.get(ref, ref).removeprefix("floor: "),
            ]
        )
    return header, rows


def _search_rows(search: Json) -> tuple[list[str], list[list[str]]]:
    header = ["search query (limit 20)", "hits", "p50", "p99", "floor p50", "p50 ÷ floor"]
    rows: list[list[str]] = []
    for kind, stats in (_get(search, "series", "search") or {}).items():
        floor = _get(search, "series", "fts5_floor", kind) or {}
        rows.append(
            [
                f"{kind}: {search.get('queries', {}).get(kind, '')!r}",
                str(_get(search, "hits", kind)),
                _fmt_ms(stats.get("p50")),
                _fmt_ms(stats.get("p99")),
                _fmt_ms(floor.get("p50")),
                _fmt_x(stats.get("p50_vs_floor")),
            ]
        )
    return header, rows


def _rebuild_rows(rebuild: Json) -> tuple[list[str], list[list[str]]]:
    header = ["rebuild", "median", "events/s", "MB/s", "÷ scan floor", "÷ FTS5 insert"]
    rows = []
    for key, stats in (rebuild.get("series") or {}).items():
        eps = stats.get("events_per_s")
        rows.append(
            [
                rebuild.get("labels", {}).get(key, key),
                f"{stats['p50']:.2f} s" if stats.get("p50") else "-",
                f"{eps / 1000:.0f}k" if eps else "-",
                f"{stats['mb_per_s']:.0f}" if stats.get("mb_per_s") else "-",
                _fmt_x(stats.get("vs_scan_logs")),
                _fmt_x(stats.get("vs_fts5_insert")),
            ]
        )
    return header, rows


def _target_rows(targets: list[Json]) -> tuple[list[str], list[list[str]]]:
    header = ["target", "measured", "met"]
    rows = []
    for t in targets:
        met = {True: "met", False: "NOT MET", None: "n/a"}[t["met"]]
        note = f" — {t['note']}" if t.get("note") else ""
        rows.append([t["target"], t["measured"] + note, met])
    return header, rows


def _sections(results: Json) -> list[tuple[str, list[str], list[list[str]], str]]:
    bench = results.get("benchmarks", {})
    out: list[tuple[str, list[str], list[list[str]], str]] = []
    if isinstance(bench.get("append"), dict) and "series" in bench["append"]:
        h, r = _length_rows(bench["append"], "save (append) latency")
        out.append(("Save", h, r, "llrrrr"))
    if isinstance(bench.get("load"), dict) and "series" in bench["load"]:
        h, r = _load_rows(bench["load"])
        out.append(("Load", h, r, "llrrrr"))
    if isinstance(bench.get("catchup"), dict) and "series" in bench["catchup"]:
        h, r = _length_rows(bench["catchup"], "projection upkeep after one append")
        out.append(("Projection catch-up", h, r, "llrrrr"))
    if isinstance(bench.get("catchup_cli"), dict) and "series" in bench["catchup_cli"]:
        out.append(readside_report.catchup_cli_table(bench["catchup_cli"]))
    if isinstance(bench.get("commands"), dict) and "by_length" in bench["commands"]:
        section = bench["commands"]
        out.append(readside_report.commands_table(section, section.get("labels") or {}))
    if isinstance(bench.get("list"), dict) and "series" in bench["list"]:
        n = bench["list"].get("sessions")
        h, r = _flat_rows(bench["list"], f"list ({n} sessions)")
        out.append(("List", h, r, "lrrrrl"))
    if isinstance(bench.get("rebuild"), dict) and "series" in bench["rebuild"]:
        h, r = _rebuild_rows(bench["rebuild"])
        out.append(("Rebuild", h, r, "lrrrrr"))
    if isinstance(bench.get("search"), dict) and "series" in bench["search"]:
        h, r = _search_rows(bench["search"])
        out.append(("Search", h, r, "lrrrrr"))
    if isinstance(bench.get("redaction"), dict) and "series" in bench["redaction"]:
        out.append(redaction.table(bench["redaction"]))
    watcher = bench.get("watcher")
    if isinstance(watcher, dict) and "lag" in watcher:
        short = f"{watcher.get('sessions')} short sessions"
        rows = [_lag_row(watcher["lag"], short, watcher.get("timeouts"))]
        if watcher.get("lag_long_session"):
            rows.append(
                _lag_row(
                    watcher["lag_long_session"],
                    f"one {human_count(watcher.get('long_session_messages') or 0)}-message session",
                    watcher.get("long_session_timeouts"),
                )
            )
        header = ["watcher lag: append → another process's index.json", "p50", "p99", "max", "n"]
        out.append(("Watcher", header, rows, "lrrrr"))
    jetstream = bench.get("jetstream")
    if isinstance(jetstream, dict) and "series" in jetstream:
        header = ["append: file store vs NATS JetStream", "p50", "p99", "max", "n"]
        rows = [
            [label, *_stat_cells(jetstream["series"].get(key) or {})]
            for key, label in (jetstream.get("labels") or {}).items()
        ]
        rows.append(
            [
                "lag: append on one home → the other home's list shows it (R3)",
                *_stat_cells(jetstream.get("lag") or {}),
            ]
        )
        out.append(("JetStream", header, rows, "lrrrr"))
    return out


def _stat_cells(stats: Json) -> list[str]:
    return [
        _fmt_ms(stats.get("p50")),
        _fmt_ms(stats.get("p99")),
        _fmt_ms(stats.get("max")),
        str(stats.get("n")),
    ]


def _lag_row(lag: Json, what: str, timeouts: object) -> list[str]:
    return [
        f"chatlog watch, appending to {what} ({timeouts} timeouts)",
        _fmt_ms(lag.get("p50")),
        _fmt_ms(lag.get("p99")),
        _fmt_ms(lag.get("max")),
        str(lag.get("n")),
    ]


def render_text(results: Json) -> str:
    parts = [_machine_line(results)]
    for _title, header, rows, align in _sections(results):
        parts.append(_table(header, rows, align))
    for name, section in (results.get("benchmarks") or {}).items():
        if isinstance(section, dict) and isinstance(section.get("error"), str):
            parts.append(f"{name}: ERROR: {section['error']}")
    h, r = _target_rows(evaluate_targets(results))
    parts.append(_table(h, r, "llr"))
    return "\n\n".join(parts) + "\n"


def _pivot(section: Json, title: str) -> str:
    """Variants down, session lengths across, each cell ``p50 / p99 (p50 ÷ floor)``."""
    lengths = section.get("lengths", [])
    header = [title, *(f"length {human_count(n)}" for n in lengths)]
    rows: list[list[str]] = []
    floor_of = section.get("floor_of", {})
    for key, label in section.get("labels", {}).items():
        per = _get(section, "series", key) or {}
        if not per:
            continue
        cells = []
        for n in lengths:
            stats = per.get(str(n)) or {}
            ratio_text = (
                "" if floor_of.get(key) == key else f" ({_fmt_x(stats.get('p50_vs_floor'))})"
            )
            cells.append(f"{_fmt_ms(stats.get('p50'))} / {_fmt_ms(stats.get('p99'))}{ratio_text}")
        rows.append([label, *cells])
    return _md_table(header, rows, "l" + "r" * len(lengths))


# Why each target that can be missed is missed, in words; its figures come from the run.
WHY_MISSED: Final[dict[str, str]] = {
    "p99_flat_interval": "A p99 of a 40 µs write on a shared two-core machine is "
    "scheduling noise: the bare `os.write` floor's own ratio (in the note) moves as much.",
    "p99_flat_never": "As with fsync=interval: the floor's own ratio (in the note) moves as much.",
    "vs_seed_1k_always": "No save that is durable when it returns can be 100× faster than "
    "the seed's unsynced one: a bare `write` + `fdatasync` alone is only the ratio in the "
    "note faster. Like for like (fsync=never, the line above) the target is met.",
    "load_vs_raw": "The floor decodes every line with no integrity check; the read path "
    "also verifies each line's CRC32 and cuts the file into lines, which costs about as "
    "much as the decode itself for short sessions.",
    "list_10k": "`list_sessions()` with no limit decodes all 10,000 rows into session "
    "metadata; the freshness check before it is the change feed (a few `fstat`s), no "
    "longer a `stat` of every log. With `limit=20` (the note) it is well under the bound.",
    "rebuild_300k": "A rebuild is mostly FTS5 tokenizing and indexing every message's "
    "text; against a bare FTS5 insert of the same texts (the bound the read-side issue "
    "sets) it is judged below.",
    "watcher_lag": "`chatlog watch --views` rewrites `index.json`, a view of every session "
    "kept for the replaced system's readers; chatlog's own readers never wait for it "
    "(they catch up from the change feed themselves).",
    "first_build_100k": "The first build reads every log (an open and a read per session), "
    "folds it and indexes every message's text, in a few SQL statements per thousand "
    "sessions: its cost grows with the sessions' number (the note gives each home's build "
    "per session), and its wall time with the load on the two cores (the machine line "
    "gives the load average when the section ran).",
    "rss_1gb": "See the note for the commands over the bound.",
    "rebuild_vs_fts5": "Folding and writing the rows of every message costs on top of "
    "indexing its text.",
    "storage_1gb": "The projection database keeps one row per message and its full-text index.",
}


def _missed(targets: list[Json]) -> str | None:
    """The targets this run did not meet, each with its figures and why."""
    lines = [
        f"- **{t['target']}**: {t['measured']}"
        + (f" ({t['note']})" if t.get("note") else "")
        + f". {WHY_MISSED.get(t['id'], '')}".rstrip()
        for t in targets
        if t["met"] is False
    ]
    if not lines:
        return None
    return "#### Where a target is not met, and why\n\n" + "\n".join(lines)


def render_markdown(results: Json, chart: str | None = None) -> str:
    """docs/performance.md's figures: targets, chart, compact tables up front and
    every table in full in a collapsed block."""
    bench = results.get("benchmarks", {})
    parts = [f"Measured on {_machine_line(results)}."]
    targets = evaluate_targets(results)
    h, r = _target_rows(targets)
    parts.append(_md_table(h, r, "llr"))
    missed = _missed(targets)
    if missed:
        parts.append(missed)
    if chart:
        parts.append(f"![latency against session length]({chart})")
    for name, title in (
        ("append", "save, p50 / p99 (p50 ÷ floor)"),
        ("catchup", "projection catch-up, p50 / p99 (÷ floor)"),
    ):
        if isinstance(bench.get(name), dict) and "series" in bench[name]:
            parts.append(_pivot(bench[name], title))
    read_side = readside_report.issue_table(bench)
    if read_side:
        parts.append(read_side)
    full = [
        f"#### {title}\n\n" + _md_table(header, rows, align)
        for title, header, rows, align in _sections(results)
    ]
    parts.append(
        "<details><summary>Every figure of this run</summary>\n\n"
        + "\n\n".join(full)
        + "\n\n</details>"
    )
    return "\n\n".join(parts) + "\n"


def _chart_footer(results: Json) -> str:
    m = results.get("machine", {})
    fs = m.get("filesystem", {})
    return (
        f"{m.get('nproc')} × {m.get('cpu_model')}, {fs.get('type')}, Python {m.get('python')}, "
        f"{results.get('mode')} run of {str(results.get('started_at', ''))[:10]}"
    )


def _machine_line(results: Json) -> str:
    m = results.get("machine", {})
    fs = m.get("filesystem", {})
    return (
        f"{m.get('nproc')} × {m.get('cpu_model')}, {m.get('memory_gb')} GB RAM, "
        f"{fs.get('type')} on {fs.get('device')}, Linux {m.get('kernel')}, "
        f"Python {m.get('python')}, msgspec {m.get('msgspec')}, SQLite {m.get('sqlite')}"
        + (f" (projections: {m['sqlite_projections']})" if m.get("sqlite_projections") else "")
        + "; "
        f"mode {results.get('mode')}, {results.get('duration_s', 0):.0f} s, "
        f"load average {m.get('loadavg_at_start')} at start" + _merged_runs(results)
    )


def _merged_runs(results: Json) -> str:
    """Which sections later runs (``--only ... --merge``) measured again, and when."""
    notes = results.get("combined_from") or []
    if isinstance(notes, dict):
        notes = [notes]
    parts = []
    for note in notes:
        what = ", ".join(note.get("sections") or []) or note.get("note", "some sections")
        parts.append(
            f"{what}: run of {str(note.get('started_at', ''))[:16].replace('T', ' ')} UTC, "
            f"{note.get('duration_s', 0):.0f} s, load average {note.get('loadavg_at_start')} "
            "at start"
        )
    return "; sections measured again later — " + "; ".join(parts) if parts else ""


# ---------------------------------------------------------------------------- chart

PALETTE = {
    "chatlog_always": "#1f77b4",
    "chatlog_interval": "#17becf",
    "chatlog_never": "#2ca02c",
    "floor_write": "#7f7f7f",
    "floor_write_fdatasync": "#3b3b3b",
    "sqlite_full": "#d62728",
    "sqlite_normal": "#ff9896",
    "seed_save": "#9467bd",
    "chatlog_read": "#1f77b4",
    "snapshot_json_load": "#2ca02c",
    "snapshot_msgspec": "#98df8a",
    "seed_json_load": "#9467bd",
    "seed_load_session": "#c5b0d5",
    "floor": "#3b3b3b",
    "catch_up": "#ff7f0e",
    "scan_new": "#7f7f7f",
}


def _panel(
    title: str,
    lengths: list[int],
    lines: list[tuple[str, str, list[float | None], list[float | None]]],
    x0: float,
    y0: float,
    width: float,
    height: float,
) -> list[str]:
    """One log-log panel: lines of (key, label, p50 values, p99 values) per length."""
    out: list[str] = []
    values = [v for _k, _l, a, b in lines for v in (*a, *b) if v is not None and v > 0]
    if not values or not lengths:
        return out
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10
    xs_lo, xs_hi = math.log10(max(lengths[0], 1)), math.log10(max(lengths[-1], 10))
    if xs_hi <= xs_lo:
        xs_hi = xs_lo + 1
    left, right, top, bottom = x0 + 64, x0 + width - 24, y0 + 30, y0 + height - 44

    def px(length: int) -> float:
        return left + (math.log10(max(length, 1)) - xs_lo) / (xs_hi - xs_lo) * (right - left)

    def py(value: float) -> float:
        frac = (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return bottom - frac * (bottom - top)

    out.append(
        f'<text x="{x0 + width / 2:.0f}" y="{y0 + 18:.0f}" text-anchor="middle" '
        f'font-size="14" font-weight="bold">{html.escape(title)}</text>'
    )
    out.append(
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
        f'height="{bottom - top:.1f}" fill="none" stroke="#999"/>'
    )
    decade = lo
    while decade <= hi * 1.0001:
        y = py(decade)
        out.append(
            f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{html.escape(_decade_label(decade))}</text>"
        )
        decade *= 10
    for length in lengths:
        x = px(length)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" font-size="11">'
            f"{human_count(length)}</text>"
        )
    out.append(
        f'<text x="{(left + right) / 2:.0f}" y="{bottom + 32:.0f}" text-anchor="middle" '
        f'font-size="11">messages in the session (log scale)</text>'
    )
    for key, _label, p50s, p99s in lines:
        color = PALETTE.get(key, "#000")
        for values_, dash, width_ in ((p50s, "", 2.0), (p99s, ' stroke-dasharray="5,4"', 1.2)):
            pts = [(px(n), py(v)) for n, v in zip(lengths, values_, strict=True) if v and v > 0]
            if len(pts) >= 2:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{color}" '
                    f'stroke-width="{width_}"{dash}/>'
                )
            if not dash:
                out.extend(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{color}"/>' for x, y in pts
                )
    return out


def _decade_label(ms: float) -> str:
    """1 µs, 10 µs, ..., 1 ms, ..., 1 s, 10 s for a power of ten in milliseconds."""
    exponent = round(math.log10(ms))
    for unit, shift in (("s", 3), ("ms", 0), ("µs", -3), ("ns", -6)):
        if exponent >= shift:
            return f"{10 ** (exponent - shift)} {unit}"
    return f"{ms:g} ms"


CHART_LABELS = {
    "chatlog_always": "chatlog, fsync=always",
    "chatlog_interval": "chatlog, fsync=interval",
    "chatlog_never": "chatlog, fsync=never",
    "floor_write": "floor: os.write",
    "floor_write_fdatasync": "floor: os.write + fdatasync",
    "sqlite_full": "SQLite WAL, synchronous=FULL",
    "sqlite_normal": "SQLite WAL, synchronous=NORMAL",
    "seed_save": "seed: rewrite session + index",
    "chatlog_read": "chatlog EventLog.read",
    "snapshot_json_load": "chatlog snapshot, json.load",
    "seed_json_load": "seed file, json.load",
    "seed_load_session": "seed load_session",
    "floor": "floor: raw msgspec decode",
    "catch_up": "catch_up() after one append",
    "scan_new": "floor: scan of the new line",
}


def _legend(
    entries: list[tuple[str, str]], x0: float, y0: float, width: float, columns: int
) -> list[str]:
    out: list[str] = []
    col_w = width / columns
    for i, (key, label) in enumerate(entries):
        x = x0 + (i % columns) * col_w
        y = y0 + (i // columns) * 16
        color = PALETTE.get(key, "#000")
        out.append(
            f'<line x1="{x:.1f}" x2="{x + 18:.1f}" y1="{y - 4:.1f}" y2="{y - 4:.1f}" '
            f'stroke="{color}" stroke-width="2.5"/>'
        )
        out.append(f'<text x="{x + 24:.1f}" y="{y:.1f}" font-size="11">{html.escape(label)}</text>')
    return out


Line = tuple[str, str, list[float | None], list[float | None]]


def _lines(section: Json, keys: Iterable[str]) -> list[Line]:
    lengths = section["lengths"]
    return [
        (
            k,
            CHART_LABELS.get(k, section["labels"][k]),
            [_get(section, "series", k, str(n), "p50") for n in lengths],
            [_get(section, "series", k, str(n), "p99") for n in lengths],
        )
        for k in keys
        if section["series"].get(k)
    ]


def render_svg(results: Json) -> str:
    """Latency against session length, both axes logarithmic, p50 solid and p99 dashed:
    save (left), load (middle) and projection catch-up after one append (right)."""
    bench = results.get("benchmarks", {})
    panel_h = 380
    panels: list[tuple[str, list[int], list[Line], int]] = []
    append = bench.get("append") or {}
    if "series" in append:
        lines = _lines(append, append["labels"])
        panels.append(("Save: one 1 KB message appended", append["lengths"], lines, 2))
    load = bench.get("load") or {}
    if "series" in load:
        keys = ("chatlog_read", "snapshot_json_load", "seed_json_load", "seed_load_session")
        lines = _lines(load, keys)
        floors = [_get(load, "floor", str(n)) or {} for n in load["lengths"]]
        lines.append(
            (
                "floor",
                CHART_LABELS["floor"],
                [f.get("p50") for f in floors],
                [f.get("p99") for f in floors],
            )
        )
        panels.append(("Load: a whole session read back", load["lengths"], lines, 1))
    catch = bench.get("catchup") or {}
    if "series" in catch:
        lines = _lines(catch, catch["labels"])
        panels.append(("Projections: catch-up after one append", catch["lengths"], lines, 1))
    widths = {2: 480, 1: 380}
    width = sum(widths[cols] for *_rest, cols in panels) or 400
    body: list[str] = []
    legend_rows = 0
    x = 0
    for title, lengths, lines, cols in panels:
        w = widths[cols]
        body += _panel(title, lengths, lines, x, 0, w, panel_h)
        entries = [(k, label) for k, label, _a, _b in lines]
        body += _legend(entries, x + 16, panel_h + 14, w - 16, cols)
        legend_rows = max(legend_rows, (len(entries) + cols - 1) // cols)
        x += w
    height = panel_h + 30 + legend_rows * 16 + 20
    foot = (
        f'<text x="{width / 2:.0f}" y="{height - 8:.0f}" text-anchor="middle" font-size="11" '
        f'fill="#555">solid: p50, dashed: p99 — {html.escape(_chart_footer(results))}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n'
        + "\n".join(body)
        + "\n"
        + foot
        + "\n</svg>\n"
    )


DOCS_PAGE: Final = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
# The chart as linked from docs/performance.md.
DOCS_CHART: Final = "../benchmarks/results/latency.svg"
DOCS_BEGIN: Final = "<!-- begin: written by `python -m benchmarks.report --write-docs`"
DOCS_END: Final = "<!-- end: written by benchmarks.report -->"


def replace_generated_section(page: str, markdown: str) -> str:
    """``page`` with the text between its begin and end marker lines replaced by
    ``markdown``; everything else (the hand-written prose) is kept as it was."""
    begin = page.find(DOCS_BEGIN)
    end = page.find(DOCS_END, begin)
    if begin < 0 or end < 0:
        raise ValueError(f"the page has no generated section ({DOCS_BEGIN!r} … {DOCS_END!r})")
    head = page[: page.index("\n", begin) + 1]
    return head + markdown.rstrip("\n") + "\n" + page[end:]


def write_docs(results: Json, page: Path = DOCS_PAGE) -> None:
    text = replace_generated_section(
        page.read_text(encoding="utf-8"), render_markdown(results, DOCS_CHART)
    )
    tmp = page.with_name(page.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument(
        "results", nargs="?", default=str(Path(__file__).parent / "results" / "latest.json")
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the markdown of docs/performance.md"
    )
    parser.add_argument(
        "--write-docs",
        nargs="?",
        const=DOCS_PAGE,
        type=Path,
        metavar="PAGE",
        help="write the markdown into PAGE's generated section (default: docs/performance.md)",
    )
    parser.add_argument("--chart", default="benchmarks/results/latency.svg")
    parser.add_argument("--svg", metavar="FILE", help="write the chart to FILE")
    args = parser.parse_args(argv)
    results = json.loads(Path(args.results).read_text(encoding="utf-8"))
    if args.svg:
        Path(args.svg).write_text(render_svg(results), encoding="utf-8")
    if args.write_docs is not None:
        write_docs(results, args.write_docs)
        sys.stdout.write(f"wrote {args.write_docs}\n")
        return 0
    text = render_markdown(results, args.chart) if args.markdown else render_text(results)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
