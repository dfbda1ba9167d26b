"""Rebuild throughput: replay every log and rewrite every projection (``chatlog rebuild``).

The home holds ``sessions`` x ``events_per_session`` events (1,000 x 1,000 = 1M by
default, 1 KB messages). Interleaved with the rebuild, two floors over the same logs:

- ``scan_logs``: ``EventLog.scan`` of every session (read, verify checksums, decode):
  the event log's own read path, which any rebuild has to pay;
- ``raw_decode``: read every log and msgspec-decode each line to a typed event with no
  checks (the decode floor of :mod:`benchmarks.load`).

Throughput is events per second of the median sample (and MB/s of log read).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
}


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
        return proj.rebuild(progress=lambda done, total: progress.tick("rebuild", done, total))

    def scan_logs() -> int:
        return sum(len(log.scan(sid).entries) for sid in sids)

    def raw_decode() -> int:
        return sum(len(raw_lines_typed(log.layout.log_path(sid))) for sid in sids)

    variants = [
        Variant("rebuild", rebuild, cfg.samples, warmup=0),
        Variant("scan_logs", scan_logs, cfg.samples, warmup=0),
        Variant("raw_decode", raw_decode, cfg.samples, warmup=0),
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
        stats["events_per_s"] = total_events / median_s if median_s else None
        stats["mb_per_s"] = log_bytes / 1e6 / median_s if median_s else None
        series[v.key] = stats
    for stats in series.values():
        floor = series["scan_logs"]["events_per_s"]
        stats["vs_scan_logs"] = (
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
