"""Projection catch-up after one append, against session length.

Readers (and the watcher) bring the projections up to date before answering. After one
message is appended to a session of L messages, ``Projections.catch_up()`` folds it into
that session's snapshot, the index and the search index. Interleaved per length:

- ``catch_up``: the catch-up after one append (the append itself is untimed);
- floor ``scan_new``: ``EventLog.scan`` from the previous cursor, i.e. reading just the
  new line: what folding one event has to read;
- peer ``seed_save``: the replaced system's per-message save at the same length (it also
  rewrote the whole session file, but on the save path).

A catch-up that grows with L shows a projection rewriting per-session state in full.
"""

from __future__ import annotations

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
    session_id_for,
    summarize_ns,
)
from benchmarks.peers.seed_save import SeedMessage, SeedRole, SeedSession, SeedSessionManager
from eventlog import Cursor, EventLog
from projections import Projections

LABELS = {
    "catch_up": "Projections.catch_up() after one append",
    "scan_new": "floor: EventLog.scan of the new line",
    "seed_save": "seed save at the same length",
}


@dataclass(frozen=True)
class CatchUpConfig:
    lengths: tuple[int, ...]
    samples: dict[int, int]
    message_bytes: int = 1024


class _Session:
    """One session of a given length with its projections, growing by one message per
    sample (appended untimed, after each timed catch-up)."""

    def __init__(self, work: Path, index: int, length: int, corpus: Corpus) -> None:
        self.log = EventLog(work / f"catchup-{length}", fsync="never")
        self.sid = session_id_for(300 + index)
        build_log(self.log.layout.log_path(self.sid), self.sid, length, corpus)
        self.proj = Projections(self.log)
        self.proj.catch_up()
        self.content = corpus.content(5)
        self.cursor: Cursor = self.log.scan(self.sid).cursor
        self.log.append(self.sid, "assistant", self.content, TOKENS)

    def catch_up(self) -> object:
        return self.proj.catch_up()

    def scan_new(self) -> object:
        return self.log.scan(self.sid, self.cursor)

    def grow(self) -> object:
        self.cursor = self.log.scan(self.sid).cursor
        return self.log.append(self.sid, "assistant", self.content, TOKENS)

    def close(self) -> None:
        self.proj.close()
        self.log.close()


def run(cfg: CatchUpConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes)
    sessions: list[_Session] = []
    variants: list[Variant] = []
    try:
        for index, length in enumerate(cfg.lengths):
            progress.step(f"catch-up: a {human_count(length)}-message session and its projections")
            session = _Session(work, index, length, corpus)
            sessions.append(session)
            seed = SeedSessionManager(work / f"catchup-seed-{length}" / "sessions")
            seed_session = seed.create_session(session.sid, datetime(2025, 1, 1))
            base = datetime(2025, 1, 1)
            seed_session.messages.extend(
                SeedMessage(SeedRole.USER, corpus.content(i), base + timedelta(seconds=i), TOKENS)
                for i in range(length)
            )
            n = cfg.samples.get(length, 3)
            variants += [
                Variant(f"catch_up@{length}", session.catch_up, n, warmup=1, after=session.grow),
                Variant(f"scan_new@{length}", session.scan_new, n, warmup=1),
                Variant(
                    f"seed_save@{length}",
                    partial(_seed_save, seed, seed_session, corpus.content(5)),
                    n,
                    warmup=1,
                    after=partial(_seed_reset, seed, seed_session),
                ),
            ]
        total = sum(v.samples for v in variants)
        progress.step(f"catch-up: {len(variants)} variant x length pairs, {total} samples")
        interleave(variants, progress, "catch-up", seed=9, collect_every=0, pause_gc=False)
    finally:
        for session in sessions:
            session.close()
    series: dict[str, dict[str, Json]] = {key: {} for key in LABELS}
    for v in variants:
        name, length_text = v.key.rsplit("@", 1)
        series[name][length_text] = summarize_ns(v.results)
    for per_length in series.values():
        for length_text, stats in per_length.items():
            ref = series["scan_new"][length_text]
            for q in ("p50", "p99"):
                stats[f"{q}_vs_floor"] = stats[q] / ref[q] if ref[q] else None
    return {
        "unit": "ms",
        "message_bytes": cfg.message_bytes,
        "lengths": list(cfg.lengths),
        "labels": LABELS,
        "floor_of": dict.fromkeys(LABELS, "scan_new"),
        "series": series,
    }


def _seed_save(seed: SeedSessionManager, session: SeedSession, content: str) -> object:
    seed.add_and_save(session, SeedMessage(SeedRole.ASSISTANT, content, datetime.now(), TOKENS))
    return None


def _seed_reset(seed: SeedSessionManager, session: SeedSession) -> object:
    session.pop_message()
    seed.settle(session.metadata.session_id)
    return None
