"""Rebuild throughput: replay every log and rewrite every projection (``chatlog rebuild``).

The home holds ``sessions`` x ``events_per_session`` events (1,000 x 1,000 = 1M by
default, 1 KB messages). Interleaved with the rebuild, two floors over the same logs:

- ``scan_logs``: ``EventLog.scan`` of every session (read, verify checksums, decode):
  the event log's own read path, which any rebuild has to pay;
- ``raw_decode``: read every log and msgspec-decode each line to a typed event with no
  checks (the decode floor of :mod:`benchmarks.load`);
- ``fts5_insert``: a bare FTS5 insert of the same message texts (generated again, not
  read from the logs) into a new SQLite file, one table with the projection's tokenizer,
  one transaction, on the projections' own SQLite (sqlean): the least a full-text index
  of those texts costs.

Throughput is events per second of the median sample (and MB/s of log read), and the
ratio of each to the bare FTS5 insert.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlean  # type: ignore[import-untyped]  # the projections' SQLite: the same FTS5

from benchmarks.harness import (
    Corpus,
    Json,
    Progress,
    Variant,
    build_log,
    interleave,
    session_id_for,
    summarize_ns,
)
from benchmarks.load import raw_lines_typed
from eventlog import EventLog
from projections import Projections

LABELS = {
    "rebuild": "Projections.rebuild() (index, snapshots, search)",
    "scan_logs": "floor: EventLog.scan of every log",
    "raw_decode": "floor: raw msgspec decode of every log",
    "fts5_insert": "floor: bare FTS5 insert of the same texts",
}
FTS5_TABLE = (
    "CREATE VIRTUAL TABLE texts USING fts5(content, tokenize = 'unicode61 remove_diacritics 2')"
)


@dataclass(frozen=True)
class RebuildConfig:
    sessions: int
    events_per_session: int  # including each session's session_created event
    samples: int
    message_bytes: int = 1024


def run(cfg: RebuildConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes, variety=512, seed=5)
    home = work / "rebuild-home"
    log = EventLog(home, fsync="never")
    total_events = cfg.sessions * cfg.events_per_session
    progress.step(
        f"rebuild: building {cfg.sessions} sessions x {cfg.events_per_session} events "
        f"({total_events} events)"
    )
    sids = [session_id_for(50_000 + n) for n in range(cfg.sessions)]
    log_bytes = 0
    for n, sid in enumerate(sids):
        log_bytes += build_log(
            log.layout.log_path(sid),
            sid,
            cfg.events_per_session - 1,
            corpus,
            first=n * cfg.events_per_session,
        )
        progress.tick("rebuild: writing logs", n + 1, cfg.sessions)
    proj = Projections(log)

    def rebuild() -> object:
        return proj.rebuild(
            progress=lambda done, total, unit: progress.tick(f"rebuild ({unit})", done, total)
        )

    def scan_logs() -> int:
        return sum(len(log.scan(sid).entries) for sid in sids)

    def raw_decode() -> int:
        return sum(len(raw_lines_typed(log.layout.log_path(sid))) for sid in sids)

    def texts() -> Iterator[tuple[str]]:
        per = cfg.events_per_session
        for n in range(cfg.sessions):
            for i in range(per - 1):
                yield (corpus.content(n * per + i),)

    fts5_file = work / "fts5-floor.sqlite3"

    def fts5_insert() -> object:
        db = sqlean.connect(str(fts5_file), isolation_level=None)
        try:
            db.execute(FTS5_TABLE)
            db.execute("BEGIN")
            db.executemany("INSERT INTO texts (content) VALUES (?)", texts())
            db.execute("COMMIT")
        finally:
            db.close()
        return None

    def remove_fts5_file() -> None:
        for path in work.glob("fts5-floor.sqlite3*"):
            path.unlink()

    variants = [
        Variant("rebuild", rebuild, cfg.samples, warmup=0),
        Variant("scan_logs", scan_logs, cfg.samples, warmup=0),
        Variant("raw_decode", raw_decode, cfg.samples, warmup=0),
        Variant("fts5_insert", fts5_insert, cfg.samples, warmup=0, after=remove_fts5_file),
    ]
    try:
        progress.step(f"rebuild: {cfg.samples} rebuilds interleaved with the floors")
        interleave(variants, progress, "rebuild", seed=5, collect_every=0, pause_gc=False)
    finally:
        proj.close()
    series: dict[str, Json] = {}
    for v in variants:
        stats = summarize_ns(v.results, unit=1e9)
        median_s = stats["p50"]
        stats["unit"] = "s"
        # the bare insert holds the messages only, not each session's session_created
        events = total_events - cfg.sessions if v.key == "fts5_insert" else total_events
        stats["events_per_s"] = events / median_s if median_s else None
        stats["mb_per_s"] = log_bytes / 1e6 / median_s if median_s else None
        series[v.key] = stats
    for stats in series.values():
        for floor_key in ("scan_logs", "fts5_insert"):
            floor = series[floor_key]["events_per_s"]
            stats[f"vs_{floor_key}"] = (
                stats["events_per_s"] / floor if floor and stats["events_per_s"] else None
            )
    return {
        "sessions": cfg.sessions,
        "events": total_events,
        "log_bytes": log_bytes,
        "message_bytes": cfg.message_bytes,
        "labels": LABELS,
        "series": series,
    }
