"""Watcher lag: an append in this process until another process has it in ``index.json``.

``chatlog watch`` runs as a separate process on a home of ``sessions`` short sessions
(and, optionally, one long one of ``long_messages``, reported on its own). This process
appends one message at a time (``fsync="always"``, to a random session, at random
intervals so appends are not coalesced by the watcher's debounce) and polls
``index.json`` (a ``stat`` every 0.5 ms; decoded only when its inode, size or mtime
changed) until the session's entry shows the new message count. Lag = from ``append``
returning to the index showing it. A sample that takes longer than ``timeout_s`` counts
as a timeout (and as infinitely late in the percentiles).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.harness import (
    Corpus,
    Json,
    Progress,
    build_log,
    session_id_for,
    summarize_ns,
)
from benchmarks.processes import chatlog_command, subprocess_env
from eventlog import EventLog
from projections import Projections


@dataclass(frozen=True)
class WatcherConfig:
    sessions: int
    samples: int
    long_messages: int = 0  # one more session this long, appended to as well
    long_samples: int = 0
    gap_ms: tuple[int, int] = (40, 250)
    timeout_s: float = 5.0
    message_bytes: int = 1024


def _entries(data: bytes) -> list[Any]:
    decoded = msgspec.json.decode(data)
    if isinstance(decoded, dict):
        decoded = decoded.get("sessions", [])
    return decoded if isinstance(decoded, list) else []


def _count_in_index(index: Path, sid: str) -> int | None:
    try:
        data = index.read_bytes()
        for entry in _entries(data):
            if isinstance(entry, dict) and entry.get("session_id") == sid:
                count = entry.get("message_count")
                return count if isinstance(count, int) else None
    except (OSError, msgspec.DecodeError):
        return None
    return None


def _wait_visible(index: Path, sid: str, expected: int, timeout_s: float) -> int | None:
    """Nanoseconds until index.json shows ``expected`` messages for ``sid`` (None: timeout)."""
    t0 = time.perf_counter_ns()
    deadline = t0 + int(timeout_s * 1e9)
    seen: tuple[int, int, int] | None = None
    while True:
        now = time.perf_counter_ns()
        try:
            st = os.stat(index)
            ident = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            ident = (0, 0, 0)
        if ident != seen:
            seen = ident
            count = _count_in_index(index, sid)
            if count is not None and count >= expected:
                return time.perf_counter_ns() - t0
        if now > deadline:
            return None
        time.sleep(0.0005)


def run(cfg: WatcherConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes, variety=64, seed=11)
    home = work / "watch-home"
    log = EventLog(home, fsync="always")
    sids = [session_id_for(70_000 + n) for n in range(cfg.sessions)]
    progress.step(f"watcher: building {cfg.sessions} sessions and their projections")
    counts: dict[str, int] = {}
    for n, sid in enumerate(sids):
        build_log(log.layout.log_path(sid), sid, 4, corpus, first=n * 5)
        counts[sid] = 4
    long_sid = session_id_for(79_999)
    if cfg.long_samples:
        build_log(log.layout.log_path(long_sid), long_sid, cfg.long_messages, corpus, first=9)
        counts[long_sid] = cfg.long_messages
    proj = Projections(log)
    try:
        proj.catch_up()
    finally:
        proj.close()
    index = log.layout.index_file
    rng = random.Random(13)
    cmd = [*chatlog_command(), "--home", str(home), "watch", "--views", "0"]
    progress.step("watcher: starting `chatlog watch` in another process")
    watcher = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=subprocess_env(work, CHATLOG_HOME=str(home)),
    )
    lags: dict[str, list[int]] = {"short": [], "long": []}
    timeouts = {"short": 0, "long": 0}
    plan = ["short"] * cfg.samples + ["long"] * cfg.long_samples
    rng.shuffle(plan)
    try:
        # readiness: the first append the watcher picks up (it may still be starting)
        probe = sids[0]
        ready = None
        for _ in range(20):
            log.append(probe, "user", corpus.content(0), 1)
            counts[probe] += 1
            ready = _wait_visible(index, probe, counts[probe], 3.0)
            if ready is not None or watcher.poll() is not None:
                break
        if ready is None:
            err = ""
            if watcher.poll() is not None and watcher.stderr is not None:
                err = watcher.stderr.read().decode(errors="replace").strip()
            raise RuntimeError(f"chatlog watch never updated index.json {err.strip()}".strip())
        for i, kind in enumerate(plan):
            time.sleep(rng.uniform(*cfg.gap_ms) / 1000.0)
            sid = rng.choice(sids) if kind == "short" else long_sid
            log.append(sid, "assistant", corpus.content(i), 256)
            counts[sid] += 1
            lag = _wait_visible(index, sid, counts[sid], cfg.timeout_s)
            if lag is None:
                timeouts[kind] += 1
                lag = int(cfg.timeout_s * 1e9)  # a miss counts as the whole timeout
            lags[kind].append(lag)
            progress.tick("watcher lag", i + 1, len(plan))
    finally:
        watcher.terminate()
        try:
            watcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
        if watcher.stderr is not None:
            watcher.stderr.close()
        log.close()
    return {
        "unit": "ms",
        "sessions": cfg.sessions,
        "samples": cfg.samples,
        "timeouts": timeouts["short"],
        "timeout_s": cfg.timeout_s,
        "gap_ms": list(cfg.gap_ms),
        "lag": summarize_ns(lags["short"]),
        "long_session_messages": cfg.long_messages if cfg.long_samples else None,
        "long_session_timeouts": timeouts["long"],
        "lag_long_session": summarize_ns(lags["long"]) if cfg.long_samples else None,
        "command": "chatlog watch",
    }
