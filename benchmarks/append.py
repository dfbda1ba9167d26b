"""Save latency: ``EventLog.append`` under each fsync policy against its floors and peers,
at several session lengths, every (variant, length) pair interleaved in one loop.

- session length L: the session holds L messages (1 KB each) when sampling starts. Long
  sessions are built in bulk with the codec (no fsync), then appended to through a
  *fresh* ``EventLog`` whose first append has to verify the log's tail (that cold first
  append is reported on its own; samples start after a few warm-up appends).
- floors: ``os.write`` of the same line bytes on an ``O_APPEND`` descriptor, and
  ``os.write`` + ``os.fdatasync``, each on a copy of the same log file.
- peers: the replaced system's save (:mod:`benchmarks.peers.seed_save`), kept at exactly
  L messages (the added message is popped after each sample, untimed, and its files are
  flushed, untimed, so its writeback does not land in another variant's fdatasync); SQLite
  WAL one committed insert per message at ``synchronous=NORMAL`` and ``FULL``
  (:mod:`benchmarks.peers.sqlite_log`).
- chatlog's sessions, the floors and SQLite grow by one message per sample (their cost
  does not depend on length; that is what is being shown).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from benchmarks.harness import (
    TOKENS,
    Corpus,
    Json,
    Progress,
    Variant,
    build_log,
    human_count,
    interleave,
    message_event,
    session_id_for,
    summarize_ns,
    synthetic_ts,
    time_once,
)
from benchmarks.peers.seed_save import SeedMessage, SeedRole, SeedSessionManager
from benchmarks.peers.sqlite_log import SqliteLog, create_database, message_row
from eventlog import EventLog
from eventlog.clock import utc_now_iso
from eventlog.codec import encode_line
from eventlog.log import FsyncPolicy

POLICIES: tuple[FsyncPolicy, ...] = ("always", "interval", "never")

# variant key -> (label, durable per save?)
VARIANTS: dict[str, tuple[str, bool]] = {
    "chatlog_always": ("chatlog append, fsync=always", True),
    "chatlog_interval": ("chatlog append, fsync=interval", False),
    "chatlog_never": ("chatlog append, fsync=never", False),
    "floor_write": ("floor: os.write (O_APPEND)", False),
    "floor_write_fdatasync": ("floor: os.write + fdatasync", True),
    "sqlite_full": ("SQLite WAL insert, synchronous=FULL", True),
    "sqlite_normal": ("SQLite WAL insert, synchronous=NORMAL", False),
    "seed_save": ("seed save (rewrite session JSON + index)", False),
}
# which floor each variant is divided by
FLOOR_OF: dict[str, str] = {
    "chatlog_always": "floor_write_fdatasync",
    "chatlog_interval": "floor_write",
    "chatlog_never": "floor_write",
    "floor_write": "floor_write",
    "floor_write_fdatasync": "floor_write_fdatasync",
    "sqlite_full": "floor_write_fdatasync",
    "sqlite_normal": "floor_write",
    "seed_save": "floor_write",
}


@dataclass(frozen=True)
class AppendConfig:
    lengths: tuple[int, ...]
    samples_fast: int  # no-fsync variants
    samples_sync: int  # per-save fsync variants
    seed_samples: dict[int, int]  # by length: the seed's save costs O(length)
    message_bytes: int = 1024
    warmup: int = 5


def _seed_samples(cfg: AppendConfig, length: int) -> int:
    return cfg.seed_samples.get(length, min(cfg.seed_samples.values(), default=1))


def run(cfg: AppendConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes)
    build_dir = work / "append-build"
    build_dir.mkdir(parents=True)
    logs = {p: EventLog(work / f"append-{p}", fsync=p) for p in POLICIES}
    floor_dir = work / "append-floors"
    floor_dir.mkdir()
    sqlite_dir = work / "append-sqlite"
    sqlite_dir.mkdir()
    cleanups: list[Callable[[], object]] = [log.close for log in logs.values()]
    variants: list[Variant] = []
    cold: dict[str, dict[str, float]] = {p: {} for p in POLICIES}
    line = encode_line(message_event(corpus, 0, 2, synthetic_ts(0)))
    try:
        for index, length in enumerate(cfg.lengths):
            label = human_count(length)
            sid = session_id_for(100 + index)
            progress.step(f"append: building a {label}-message session for every variant")
            built = build_dir / f"{length}.jsonl"
            build_log(built, sid, length, corpus)
            for log in logs.values():
                shutil.copyfile(built, log.layout.log_path(sid))
            for name in ("write", "fdatasync"):
                shutil.copyfile(built, floor_dir / f"{name}-{length}.jsonl")
            rows = [
                message_row(
                    sid,
                    ("user", "assistant")[i % 2],
                    corpus.content(i),
                    synthetic_ts(i + 1),
                    TOKENS,
                    {"query_id": f"q{i:07d}"},
                )
                for i in range(length)
            ]
            create_database(sqlite_dir / f"normal-{length}.db", rows)
            del rows
            shutil.copyfile(sqlite_dir / f"normal-{length}.db", sqlite_dir / f"full-{length}.db")
            seed = SeedSessionManager(work / f"append-seed-{length}" / "sessions")
            session = seed.create_session(sid, datetime(2025, 1, 1))
            base = datetime(2025, 1, 1)
            for i in range(length):
                session.messages.append(
                    SeedMessage(
                        SeedRole.USER if i % 2 == 0 else SeedRole.ASSISTANT,
                        corpus.content(i),
                        base + timedelta(seconds=i + 1),
                        TOKENS,
                        {"query_id": f"q{i:07d}"},
                    )
                )
            session.metadata.message_count = length
            session.metadata.total_tokens = TOKENS * length
            seed.save_session(session)
            seed.settle(sid)
            # Written in bulk and not yet flushed: flush every copy now (untimed), so no
            # timed fdatasync (the cold first append's included) writes back set-up data.
            for path in (
                *(log.layout.log_path(sid) for log in logs.values()),
                *(floor_dir / f"{name}-{length}.jsonl" for name in ("write", "fdatasync")),
                *(sqlite_dir / f"{mode}-{length}.db" for mode in ("normal", "full")),
                built,
            ):
                _flush(path)

            # cold first append on a fresh EventLog: opens the log and verifies its tail
            for policy, log in logs.items():
                first = partial(log.append, sid, "user", corpus.content(1), TOKENS)
                cold[policy][str(length)] = time_once(first) / 1e6

            variants.extend(
                _variants_for(
                    cfg,
                    length,
                    sid,
                    logs,
                    corpus,
                    line,
                    floor_dir,
                    sqlite_dir,
                    seed,
                    session,
                    cleanups,
                )
            )
        total = sum(v.samples for v in variants)
        progress.step(
            f"append: {len(variants)} variant x length pairs, {total} samples, interleaved"
        )
        interleave(variants, progress, "append", seed=1)
    finally:
        for cleanup in cleanups:
            cleanup()

    series: dict[str, dict[str, Json]] = {key: {} for key in VARIANTS}
    pooled_samples: dict[str, list[int]] = {key: [] for key in VARIANTS}
    for v in variants:
        name, length_text = v.key.rsplit("@", 1)
        series[name][length_text] = summarize_ns(v.results)
        pooled_samples[name] += v.results
    # Every length together: a p99 of 4x the samples, for the comparisons that do not
    # depend on length (each length's own figures stay in ``series``).
    pooled = {key: summarize_ns(samples) for key, samples in pooled_samples.items()}
    for name, stats in pooled.items():
        ref = pooled[FLOOR_OF[name]]
        for q in ("p50", "p99"):
            stats[f"{q}_vs_floor"] = stats[q] / ref[q] if stats[q] and ref[q] else None
    for name, per_length in series.items():
        floor = series[FLOOR_OF[name]]
        for length_text, stats in per_length.items():
            ref = floor.get(length_text, {})
            for q in ("p50", "p99"):
                value, base_value = stats.get(q), ref.get(q)
                stats[f"{q}_vs_floor"] = (
                    value / base_value if value is not None and base_value else None
                )
    return {
        "unit": "ms",
        "message_bytes": cfg.message_bytes,
        "line_bytes": len(line),
        "lengths": list(cfg.lengths),
        "labels": {k: v[0] for k, v in VARIANTS.items()},
        "durable": {k: v[1] for k, v in VARIANTS.items()},
        "floor_of": FLOOR_OF,
        "series": series,
        "pooled": pooled,
        "cold_first_append_ms": cold,
        "notes": [
            "session length = messages in the session when sampling starts",
            "the seed's session is reset to exactly that length after every sample",
            "automatic GC paused during timed loops (collected between rounds)",
        ],
    }


def _flush(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _variants_for(
    cfg: AppendConfig,
    length: int,
    sid: str,
    logs: dict[FsyncPolicy, EventLog],
    corpus: Corpus,
    line: bytes,
    floor_dir: Path,
    sqlite_dir: Path,
    seed: SeedSessionManager,
    session: object,
    cleanups: list[Callable[[], object]],
) -> list[Variant]:
    from benchmarks.peers.seed_save import SeedSession

    assert isinstance(session, SeedSession)
    out: list[Variant] = []
    content = corpus.content(7)
    meta = {"query_id": "q0000007"}

    for policy, log in logs.items():

        def op(log: EventLog = log) -> object:
            return log.append(sid, "assistant", content, TOKENS, meta)

        samples = cfg.samples_sync if policy == "always" else cfg.samples_fast
        out.append(Variant(f"chatlog_{policy}@{length}", op, samples, cfg.warmup))

    flags = os.O_WRONLY | os.O_APPEND
    fd_write = os.open(floor_dir / f"write-{length}.jsonl", flags)
    fd_sync = os.open(floor_dir / f"fdatasync-{length}.jsonl", flags)
    cleanups.append(lambda: os.close(fd_write))
    cleanups.append(lambda: os.close(fd_sync))

    def floor_write() -> object:
        return os.write(fd_write, line)

    def floor_sync() -> object:
        n = os.write(fd_sync, line)
        os.fdatasync(fd_sync)
        return n

    out.append(Variant(f"floor_write@{length}", floor_write, cfg.samples_fast, cfg.warmup))
    out.append(Variant(f"floor_write_fdatasync@{length}", floor_sync, cfg.samples_sync, cfg.warmup))

    for mode, key, samples in (
        ("NORMAL", "sqlite_normal", cfg.samples_fast),
        ("FULL", "sqlite_full", cfg.samples_sync),
    ):
        db = SqliteLog(
            sqlite_dir / f"{mode.lower()}-{length}.db", "FULL" if mode == "FULL" else "NORMAL"
        )
        cleanups.append(db.close)

        def sqlite_op(db: SqliteLog = db) -> object:
            db.log(message_row(sid, "assistant", content, utc_now_iso(), TOKENS, meta))
            return None

        out.append(Variant(f"{key}@{length}", sqlite_op, samples, cfg.warmup))

    def seed_op() -> object:
        seed.add_and_save(
            session, SeedMessage(SeedRole.ASSISTANT, content, datetime.now(), TOKENS, dict(meta))
        )
        return None

    def seed_reset() -> object:
        session.pop_message()
        seed.settle(sid)
        return None

    out.append(
        Variant(
            f"seed_save@{length}",
            seed_op,
            _seed_samples(cfg, length),
            min(cfg.warmup, 2),
            after=seed_reset,
        )
    )
    return out
