"""Load latency: reading a whole session back, ours against the replaced system and the floor.

Per session length (messages of 1 KB), interleaved:

- ``chatlog_read``: ``list(EventLog.read(sid))``: read the file, verify every line's
  checksum, decode it into a typed event, check seq order;
- ``snapshot_json_load`` / ``snapshot_msgspec``: our projection ``sessions/<id>.json``
  loaded with ``json.load`` / ``msgspec.json.decode`` (what the seed's frontend reads);
- ``seed_json_load``: ``json.load`` of the seed's own session file (``indent=2``), and
  ``seed_load_session``: the seed's full ``load_session`` (``json.load`` + ``from_dict``);
- the floor, raw msgspec over the log's bytes with no checksum, no checks, no line
  bookkeeping: ``raw_lines_typed`` (each line decoded to the same typed event, one
  ``map`` over ``split``), ``raw_array_typed`` (the lines joined into one JSON array,
  one decode) and ``raw_lines_dict`` (each line to a dict). The floor of each length is
  whichever of these was fastest there (the strictest), and the results say which.

Every sample includes opening and reading the file. GC stays enabled here (it is part of
what a load costs, for every variant alike).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import msgspec

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
from benchmarks.peers.seed_save import SeedMessage, SeedRole, SeedSessionManager
from eventlog import AnyEvent, EventLog
from projections import Projections

RAW_VARIANTS = ("raw_lines_typed", "raw_array_typed", "raw_lines_dict")
LABELS = {
    "chatlog_read": "chatlog EventLog.read (checksums, typed events)",
    "snapshot_json_load": "chatlog snapshot sessions/<id>.json, json.load",
    "snapshot_msgspec": "chatlog snapshot sessions/<id>.json, msgspec decode",
    "seed_json_load": "seed session file, json.load",
    "seed_load_session": "seed load_session (json.load + from_dict)",
    "raw_lines_typed": "raw: msgspec decode of each log line, typed",
    "raw_array_typed": "raw: msgspec decode of the lines joined as one array, typed",
    "raw_lines_dict": "raw: msgspec decode of each log line to a dict",
}

_line_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)
_array_decoder = msgspec.json.Decoder(list[AnyEvent])


@dataclass(frozen=True)
class LoadConfig:
    lengths: tuple[int, ...]
    samples: dict[int, int]
    message_bytes: int = 1024


def raw_lines_typed(path: Path) -> list[AnyEvent]:
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    lines.pop()
    return list(map(_line_decoder.decode, lines))


def raw_array_typed(path: Path) -> list[AnyEvent]:
    with open(path, "rb") as f:
        data = f.read()
    return _array_decoder.decode(b"[" + data[:-1].replace(b"\n", b",") + b"]")


def raw_lines_dict(path: Path) -> list[object]:
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    lines.pop()
    decode = msgspec.json.decode
    return [decode(line) for line in lines]


def _projections_snapshot(log: EventLog, sid: str) -> Path:
    """Write the session's snapshot through the projections; return its path."""
    proj = Projections(log)
    try:
        proj.catch_up()
        (path,) = [p for p in proj.write_views([sid]) if p.name == f"{sid}.json"]
        return path
    finally:
        proj.close()


def run(cfg: LoadConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes)
    variants: list[Variant] = []
    sizes: dict[str, Json] = {}
    for index, length in enumerate(cfg.lengths):
        label = human_count(length)
        progress.step(f"load: building a {label}-message session (log, snapshot, seed file)")
        home = work / f"load-{length}"
        log = EventLog(home, fsync="never")
        sid = session_id_for(200 + index)
        log_path = log.layout.log_path(sid)
        build_log(log_path, sid, length, corpus)
        snapshot = _projections_snapshot(log, sid)
        seed = SeedSessionManager(home / "seed-sessions")
        session = seed.create_session(sid, datetime(2025, 1, 1))
        base = datetime(2025, 1, 1)
        for i in range(length):
            session.add_message(
                SeedMessage(
                    SeedRole.USER if i % 2 == 0 else SeedRole.ASSISTANT,
                    corpus.content(i),
                    base + timedelta(seconds=i + 1),
                    TOKENS,
                    {"query_id": f"q{i:07d}"},
                )
            )
        seed.save_session(session)
        del session
        seed_file = seed.session_file(sid)
        sizes[str(length)] = {
            "log_bytes": log_path.stat().st_size,
            "snapshot_bytes": snapshot.stat().st_size,
            "seed_bytes": seed_file.stat().st_size,
        }
        n = cfg.samples.get(length, 3)

        def add(key: str, op: Callable[[], object], length: int = length, n: int = n) -> None:
            variants.append(Variant(f"{key}@{length}", op, n, warmup=1))

        add("chatlog_read", partial(_read_all, log, sid))
        add("snapshot_json_load", partial(_json_load, snapshot))
        add("snapshot_msgspec", partial(_msgspec_load, snapshot))
        add("seed_json_load", partial(_json_load, seed_file))
        add("seed_load_session", partial(seed.load_session, sid))
        add("raw_lines_typed", partial(raw_lines_typed, log_path))
        add("raw_array_typed", partial(raw_array_typed, log_path))
        add("raw_lines_dict", partial(raw_lines_dict, log_path))
        log.close()

    total = sum(v.samples for v in variants)
    progress.step(f"load: {len(variants)} variant x length pairs, {total} samples, interleaved")
    interleave(variants, progress, "load", seed=2, collect_every=0, pause_gc=False)

    series: dict[str, dict[str, Json]] = {key: {} for key in LABELS}
    for v in variants:
        name, length_text = v.key.rsplit("@", 1)
        series[name][length_text] = summarize_ns(v.results)
    floor: dict[str, Json] = {}
    for length in cfg.lengths:
        key = str(length)
        best = min(RAW_VARIANTS, key=lambda name: series[name][key]["p50"])
        floor[key] = {"variant": best, **series[best][key]}
    for per_length in series.values():
        for key, stats in per_length.items():
            for q in ("p50", "p99"):
                stats[f"{q}_vs_floor"] = stats[q] / floor[key][q] if floor[key][q] else None
    return {
        "unit": "ms",
        "message_bytes": cfg.message_bytes,
        "lengths": list(cfg.lengths),
        "labels": LABELS,
        "series": {k: v for k, v in series.items() if v},
        "floor": floor,
        "sizes": sizes,
    }


def _read_all(log: EventLog, sid: str) -> list[AnyEvent]:
    return list(log.read(sid))


def _msgspec_load(path: Path) -> object:
    return msgspec.json.decode(path.read_bytes())


def _json_load(path: Path) -> object:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
