"""Judging and tabulating the read side at scale: catch-up after one append end to end
(:mod:`benchmarks.catchup_cli`), every command's time and peak RSS on one long session
(:mod:`benchmarks.commands`), rebuild against a bare FTS5 insert, storage overhead.

Each bound is written once, as a :class:`Bound` row: its sentence, its limit, the scale
it is judged at, and the function that reads the figure from the results. A run smaller
than that scale (anything but ``--large``) shows the figure at its largest size and is
not judged. Pure functions of the results dict, like :mod:`benchmarks.report`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.figures import fmt_x
from benchmarks.figures import get as _get
from benchmarks.figures import target_row as _target
from benchmarks.harness import Json, human_count

GB = 1_000_000_000
LONG = 1_000_000  # the session length the length-independence bound is judged at
MANY = 100_000  # the session count the listing bounds are judged at

Table = tuple[str, list[str], list[list[str]], str]


@dataclass(frozen=True)
class Figure:
    """What a bound reads from a run: the value, how it was measured, at what scale."""

    value: float
    measured: str
    at_scale: bool  # measured at the scale the bound is stated for
    note: str = ""


@dataclass(frozen=True)
class Bound:
    """One target: ``text`` (with ``{limit}``) and its check read the same ``limit``."""

    id: str
    text: str
    limit: float
    figure: Callable[[Json], Figure | None]
    at_least: bool = False  # the value must be >= limit (else <= limit)
    scale: str = "--large"

    def judge(self, results: Json) -> Json:
        text = self.text.format(limit=_num(self.limit))
        figure = self.figure(results.get("benchmarks") or {})
        if figure is None:
            return _target(self.id, text, "not measured", None)
        if not figure.at_scale:
            note = f"not at the stated scale (needs {self.scale})"
            note = f"{note}; {figure.note}" if figure.note else note
            return _target(self.id, text, figure.measured, None, note)
        met = figure.value >= self.limit if self.at_least else figure.value <= self.limit
        return _target(self.id, text, figure.measured, met, figure.note)


def _num(value: float) -> str:
    return f"{value:g}"


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.0f} ms"


def fmt_mb(mb: float | None) -> str:
    if mb is None:
        return "-"
    if mb >= 1000:
        return f"{mb / 1000:.2f} GB"
    return f"{mb:.0f} MB"


# ---------------------------------------------------------------------------- figures


def _after_append_ratio(bench: Json, axis: str, largest_wanted: int) -> Figure | None:
    """After-append p50 at the largest home of ``axis`` ÷ at the smallest one."""
    section = bench.get("catchup_cli") or {}
    sizes: list[int] = section.get("lengths" if axis == "length" else "session_counts") or []
    series = _get(section, "series", "after_append") or {}
    if len(sizes) < 2 or not series:
        return None
    small, large = sizes[0], sizes[-1]
    a = _get(series, f"{axis}:{large}", "p50")
    b = _get(series, f"{axis}:{small}", "p50")
    if not a or not b:
        return None
    what = "messages" if axis == "length" else "sessions"
    return Figure(
        a / b,
        f"{human_count(large)} {what}: p50 {a:.0f} ms vs {b:.0f} ms at {small} = {fmt_x(a / b)}",
        large >= largest_wanted,
        "each ÷ an empty home's list: "
        + ", ".join(
            f"{human_count(n)} {fmt_x(_get(series, f'{axis}:{n}', 'p50_vs_floor'))}" for n in sizes
        ),
    )


def _many_sessions(bench: Json, variant: str) -> Figure | None:
    section = bench.get("catchup_cli") or {}
    counts: list[int] = section.get("session_counts") or []
    if not counts:
        return None
    n = counts[-1]
    stats = _get(section, "series", variant, f"sessions:{n}")
    floor = _get(section, "series", "empty_home", "-", "p50")
    if not stats or not stats.get("p50_vs_floor"):
        return None
    return Figure(
        stats["p50_vs_floor"],
        f"{human_count(n)} sessions: p50 {stats['p50']:.0f} ms vs {floor:.0f} ms "
        f"= {fmt_x(stats['p50_vs_floor'])}",
        n >= MANY,
        f"p99 ÷ floor {fmt_x(stats.get('p99_vs_floor'))}",
    )


def _first_build(bench: Json) -> Figure | None:
    section = bench.get("catchup_cli") or {}
    counts: list[int] = section.get("session_counts") or []
    build = _get(section, "first_build", f"sessions:{counts[-1]}") if counts else None
    if not build:
        return None
    per_session = ", ".join(
        f"{human_count(n)}: {fmt_s(seconds)} = {seconds / n * 1000:.2f} ms a session"
        for n in counts
        if n >= 1000
        and (seconds := _get(section, "first_build", f"sessions:{n}", "seconds")) is not None
    )
    return Figure(
        build["seconds"],
        f"{human_count(counts[-1])} sessions: {fmt_s(build['seconds'])}, "
        f"peak RSS {fmt_mb(build['peak_rss_mb'])}",
        counts[-1] >= MANY,
        f"first build by sessions in the home, {per_session}",
    )


def _longest(bench: Json) -> tuple[int, Json] | None:
    section = bench.get("commands") or {}
    lengths: list[int] = section.get("lengths") or []
    if not lengths:
        return None
    data = _get(section, "by_length", str(lengths[-1]))
    return (lengths[-1], data) if isinstance(data, dict) else None


def _peak_rss(bench: Json) -> Figure | None:
    longest = _longest(bench)
    if longest is None:
        return None
    length, data = longest
    commands: dict[str, Json] = data.get("commands") or {}
    if not commands:
        return None
    worst = max(commands, key=lambda name: commands[name]["peak_rss_mb"])
    over = [
        f"{name} {fmt_mb(stats['peak_rss_mb'])}"
        for name, stats in commands.items()
        if stats["peak_rss_mb"] > 200
    ]
    failed = [name for name, stats in commands.items() if stats.get("failure")]
    note = f"over 200 MB: {', '.join(over)}" if over else "every command under 200 MB"
    if failed:
        note += f"; FAILED (figure is up to the failure): {', '.join(failed)}"
    log_gb = data["log_bytes"] / GB
    return Figure(
        commands[worst]["peak_rss_mb"],
        f"{human_count(length)} messages ({log_gb:.2f} GB log): worst {worst} "
        f"{fmt_mb(commands[worst]['peak_rss_mb'])}",
        data["log_bytes"] >= GB,
        note,
    )


def _storage(bench: Json) -> Figure | None:
    longest = _longest(bench)
    if longest is None:
        return None
    length, data = longest
    storage = data.get("storage") or {}
    if not storage.get("ratio"):
        return None
    log = storage["log_bytes"]
    parts = ", ".join(
        f"{key.replace('_', ' ')} {storage[key] / log:.2f}×"
        for key in ("after_first_build", "after_rebuild", "after_commands")
        if storage.get(key)
    )
    return Figure(
        storage["ratio"],
        f"{human_count(length)} messages: {storage['ratio']:.2f}× of {log / GB:.2f} GB",
        log >= GB,
        f"the largest of: {parts}",
    )


def _rebuild_vs_fts5(bench: Json) -> Figure | None:
    series = _get(bench, "rebuild", "series") or {}
    ours = _get(series, "rebuild", "events_per_s")
    bare = _get(series, "fts5_insert", "events_per_s")
    if not ours or not bare:
        return None
    events = _get(bench, "rebuild", "events") or 0
    return Figure(
        ours / bare,
        f"{ours / 1000:.0f}k vs {bare / 1000:.0f}k events/s = {fmt_x(ours / bare)}",
        events >= LONG,
        f"over {human_count(events)} events of {_get(bench, 'rebuild', 'message_bytes') or '?'} B",
    )


BOUNDS: tuple[Bound, ...] = (
    Bound(
        "catchup_flat_length",
        "`chatlog list` right after one append: p50 at a 1M-message session ≤ {limit}× "
        "at a 1-message one",
        1.2,
        lambda b: _after_append_ratio(b, "length", LONG),
    ),
    Bound(
        "catchup_flat_sessions",
        "`chatlog list` right after one append: p50 with 100k sessions ≤ {limit}× with 1",
        1.2,
        lambda b: _after_append_ratio(b, "sessions", MANY),
    ),
    Bound(
        "list_100k_warm",
        "warm `chatlog list --limit 20` over 100k sessions ≤ {limit}× an empty home's (p50)",
        1.5,
        lambda b: _many_sessions(b, "warm"),
    ),
    Bound(
        "list_100k_after_append",
        "`chatlog list --limit 20` over 100k sessions right after an append ≤ {limit}× an "
        "empty home's (p50)",
        2.0,
        lambda b: _many_sessions(b, "after_append"),
    ),
    Bound(
        "first_build_100k",
        "first `chatlog list` over 100k sessions ≤ {limit} s",
        60.0,
        _first_build,
    ),
    Bound(
        "rss_1gb",
        "peak RSS of every command on a 1 GB session ≤ {limit} MB",
        200.0,
        _peak_rss,
    ),
    Bound(
        "rebuild_vs_fts5",
        "rebuild ≥ {limit}× a bare FTS5 insert of the same texts (events/s, same run)",
        0.7,
        _rebuild_vs_fts5,
        at_least=True,
        scale="1M events",
    ),
    Bound(
        "storage_1gb",
        "bytes under the home ≤ {limit}× the log's bytes (1 GB session)",
        2.2,
        _storage,
    ),
)


def evaluate(results: Json) -> list[Json]:
    return [bound.judge(results) for bound in BOUNDS]


# ---------------------------------------------------------------------------- tables


def catchup_cli_table(section: Json) -> Table:
    """One row per home: after an append and warm, each p50 / p99 (p50 ÷ empty home)."""
    header = [
        "chatlog list --limit 20 (new process)",
        "after one append",
        "warm",
        "peak RSS",
        "first build",
    ]
    floor = _get(section, "series", "empty_home", "-") or {}
    rss = section.get("peak_rss_mb") or {}
    rows = [
        [
            "floor: an empty home",
            "-",
            f"{floor.get('p50', 0):.0f} / {floor.get('p99', 0):.0f} ms",
            fmt_mb(rss.get("empty_home@empty_home")),
            "-",
        ]
    ]
    keys = [f"length:{n}" for n in section.get("lengths") or []]
    keys += [f"sessions:{n}" for n in section.get("session_counts") or []]
    for key in keys:
        axis, n = key.split(":")
        label = (
            f"one session of {human_count(int(n))} messages"
            if axis == "length"
            else f"{human_count(int(n))} sessions of 3 messages"
        )
        cells = []
        for variant in ("after_append", "warm"):
            s = _get(section, "series", variant, key) or {}
            cells.append(
                f"{s.get('p50', 0):.0f} / {s.get('p99', 0):.0f} ms ({fmt_x(s.get('p50_vs_floor'))})"
            )
        peak = max(rss.get(f"after_append@{key}", 0.0), rss.get(f"warm@{key}", 0.0))
        build = _get(section, "first_build", key) or {}
        rows.append(
            [
                label,
                *cells,
                fmt_mb(peak),
                f"{fmt_s(build.get('seconds'))}, {fmt_mb(build.get('peak_rss_mb'))}",
            ]
        )
    return ("Catch-up after one append, end to end", header, rows, "lrrrr")


def commands_table(section: Json, labels: dict[str, str]) -> Table:
    """Commands down, session lengths across: ``time, peak RSS`` (or the failure)."""
    lengths: list[int] = section.get("lengths") or []
    header = ["command", *(_length_title(section, n) for n in lengths)]
    rows = []
    for name, label in labels.items():
        cells = []
        for n in lengths:
            stats = _get(section, "by_length", str(n), "commands", name)
            if not stats:
                cells.append("-")
            elif stats.get("failure"):
                cells.append(f"FAILED ({fmt_mb(stats['peak_rss_mb'])})")
            else:
                cells.append(f"{fmt_s(stats['seconds_p50'])}, {fmt_mb(stats['peak_rss_mb'])}")
        rows.append([label, *cells])
    storage = []
    for n in lengths:
        ratio = _get(section, "by_length", str(n), "storage", "ratio")
        storage.append(f"{ratio:.2f}×" if ratio else "-")
    rows.append(["bytes under the home ÷ the log's bytes (largest seen)", *storage])
    return (
        "Every command on one long session: time, peak RSS",
        header,
        rows,
        "l" + "r" * len(lengths),
    )


def _length_title(section: Json, n: int) -> str:
    log_bytes = _get(section, "by_length", str(n), "log_bytes") or 0
    size = f"{log_bytes / GB:.2f} GB" if log_bytes >= GB else f"{log_bytes / 1e6:.0f} MB"
    return f"{human_count(n)} messages ({size} log)"


def issue_table(bench: Json) -> str | None:
    """The table of the read-side issue, re-measured: one column per session length."""
    section = bench.get("commands") or {}
    lengths: list[int] = section.get("lengths") or []
    if not lengths:
        return None

    def cell(n: int, name: str, vs_floor: bool = False) -> str:
        stats = _get(section, "by_length", str(n), "commands", name)
        floor = _get(section, "by_length", str(n), "commands", "empty_home", "seconds_p50")
        if not stats:
            return "-"
        if stats.get("failure"):
            return f"FAILED: {stats['failure'][:60]}"
        ratio = f" = {fmt_x(stats['seconds_p50'] / floor)} the floor" if vs_floor and floor else ""
        return f"{fmt_s(stats['seconds_p50'])}{ratio}, {fmt_mb(stats['peak_rss_mb'])}"

    def rebuild_cell(n: int) -> str:
        base = cell(n, "rebuild")
        stats = _get(section, "by_length", str(n), "commands", "rebuild")
        if stats and not stats.get("failure") and stats.get("seconds_p50"):
            base = f"{n / stats['seconds_p50'] / 1000:.0f}k events/s ({base})"
        return base

    rows = [
        ["floor: `chatlog list` on an empty home", *(cell(n, "empty_home") for n in lengths)],
        ["first `chatlog list`", *(cell(n, "first_list") for n in lengths)],
        [
            "`chatlog list` after one append",
            *(cell(n, "list_after_append", True) for n in lengths),
        ],
        ["`chatlog tail ID -n 2`", *(cell(n, "tail", True) for n in lengths)],
        ["`chatlog show ID --last 3`", *(cell(n, "show_last") for n in lengths)],
        ["`chatlog export ID` (markdown)", *(cell(n, "export_md_stdout") for n in lengths)],
        ["`chatlog rebuild`", *(rebuild_cell(n) for n in lengths)],
        [
            "bytes under the home ÷ the log's bytes",
            *(
                f"{_get(section, 'by_length', str(n), 'storage', 'ratio') or 0:.2f}×"
                for n in lengths
            ),
        ],
    ]
    header = ["what", *(_length_title(section, n) for n in lengths)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines)
    ratio = _get(bench, "rebuild", "series", "rebuild", "vs_fts5_insert")
    eps = _get(bench, "rebuild", "series", "rebuild", "events_per_s")
    if ratio and eps:
        text += (
            f"\n\nRebuild in-process over {human_count(_get(bench, 'rebuild', 'events') or 0)} "
            f"events: {eps / 1000:.0f}k events/s = {fmt_x(ratio)} a bare FTS5 insert of the "
            "same texts in the same run."
        )
    cli = bench.get("catchup_cli") or {}
    counts: list[int] = cli.get("session_counts") or []
    if counts:
        n = counts[-1]
        build = _get(cli, "first_build", f"sessions:{n}") or {}
        warm = _get(cli, "series", "warm", f"sessions:{n}") or {}
        after = _get(cli, "series", "after_append", f"sessions:{n}") or {}
        text += (
            f"\n\nOver {human_count(n)} sessions (3 messages each): the first `chatlog list` "
            f"takes {fmt_s(build.get('seconds'))}; later ones p50 "
            f"{warm.get('p50', 0):.0f} ms = {fmt_x(warm.get('p50_vs_floor'))} an empty "
            f"home's, and right after an append {after.get('p50', 0):.0f} ms = "
            f"{fmt_x(after.get('p50_vs_floor'))}."
        )
    return text
