"""Timing, interleaving, progress and machine facts shared by every benchmark variant.

Invariants every variant keeps:

- Everything that is compared is timed in the same process run, *interleaved*: one round
  takes one sample of every (variant, size) pair in a fresh random order, so machine noise
  (other processes on a shared box, writeback, thermal drift) hits every side alike.
- Timings are wall-clock ``perf_counter_ns`` around exactly one operation; set-up, resets
  and settling (flushing a peer's dirty pages) happen outside the timed region.
- Automatic garbage collection is paused during timed loops (as ``timeit`` does), so one
  variant's garbage is not collected inside another's sample; it runs between rounds.
- Nothing here asserts on a time: results are data, judged only in :mod:`benchmarks.report`.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec

from eventlog.codec import encode_into
from eventlog.events import Message, SessionCreated

Json = dict[str, Any]

# ---------------------------------------------------------------------------- statistics


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of already sorted values."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return float(sorted_values[lo] * (1 - frac) + sorted_values[hi] * frac)


def summarize_ns(samples_ns: Sequence[int], unit: float = 1e6) -> Json:
    """p50/p99/mean/min/max of nanosecond samples, in milliseconds by default."""
    ordered = sorted(samples_ns)
    if not ordered:
        return {"n": 0, "p50": None, "p99": None, "mean": None, "min": None, "max": None}
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50) / unit,
        "p99": percentile(ordered, 99) / unit,
        "mean": sum(ordered) / len(ordered) / unit,
        "min": ordered[0] / unit,
        "max": ordered[-1] / unit,
    }


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0 or math.isnan(value):
        return None
    return value / reference


# ---------------------------------------------------------------------------- progress


class Progress:
    """Progress on stderr: one line per step, elapsed time first. Loops report at most
    a few times a second (overwriting the line on a terminal)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.started = time.monotonic()
        self._tty = self.stream.isatty()
        self._last_tick = 0.0
        self._open_line = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, message: str) -> None:
        if self.quiet:
            return
        self._close_line()
        print(f"[{self.elapsed():6.1f}s] {message}", file=self.stream, flush=True)

    def tick(self, message: str, done: int, total: int) -> None:
        """A throttled progress update inside a loop."""
        if self.quiet:
            return
        now = time.monotonic()
        if done < total and now - self._last_tick < (0.25 if self._tty else 5.0):
            return
        self._last_tick = now
        pct = 100.0 * done / total if total else 100.0
        text = f"[{self.elapsed():6.1f}s]   {message}: {done}/{total} ({pct:3.0f}%)"
        if self._tty:
            print("\r\x1b[2K" + text, end="", file=self.stream, flush=True)
            self._open_line = done < total
            if not self._open_line:
                print(file=self.stream, flush=True)
        else:
            print(text, file=self.stream, flush=True)

    def _close_line(self) -> None:
        if self._open_line:
            print(file=self.stream, flush=True)
            self._open_line = False


# ---------------------------------------------------------------------------- interleaving


@dataclass
class Variant:
    """One thing to time: ``op`` is the timed operation, ``before`` an untimed step run
    right before each sample (e.g. the append whose catch-up is timed), ``after`` an
    untimed reset or settle step run right after it (e.g. flushing a peer's dirty pages)."""

    key: str
    op: Callable[[], object]
    samples: int
    warmup: int = 3
    after: Callable[[], object] | None = None
    before: Callable[[], object] | None = None
    results: list[int] = field(default_factory=list)


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def interleave(
    variants: Sequence[Variant],
    progress: Progress,
    label: str,
    *,
    seed: int = 0,
    collect_every: int = 50,
    pause_gc: bool = True,
) -> None:
    """Time every variant, interleaved: each round samples every variant that still owes
    samples (variants with fewer samples are spread evenly over the rounds), in a fresh
    random order. Warm-up operations are interleaved the same way and discarded."""
    rng = random.Random(seed)
    warm = max((v.warmup for v in variants), default=0)
    for i in range(warm):
        order = [v for v in variants if i < v.warmup]
        rng.shuffle(order)
        for v in order:
            if v.before is not None:
                v.before()
            v.op()
            if v.after is not None:
                v.after()
    rounds = max((v.samples for v in variants), default=0)
    total = sum(v.samples for v in variants)
    done = 0
    clock = time.perf_counter_ns
    with gc_paused() if pause_gc else nullcontext():
        for r in range(rounds):
            order = [v for v in variants if (r + 1) * v.samples // rounds > r * v.samples // rounds]
            rng.shuffle(order)
            for v in order:
                if v.before is not None:
                    v.before()
                op = v.op
                t0 = clock()
                op()
                t1 = clock()
                v.results.append(t1 - t0)
                if v.after is not None:
                    v.after()
            done += len(order)
            if collect_every and r % collect_every == collect_every - 1:
                gc.collect(0)
            progress.tick(label, done, total)
    progress.tick(label, total, total)


def time_once(op: Callable[[], object]) -> int:
    t0 = time.perf_counter_ns()
    op()
    return time.perf_counter_ns() - t0


# ---------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _filesystem(path: Path) -> Json:
    """The mount holding ``path`` (longest matching mount point in /proc/mounts)."""
    best: Json = {"mount": "?", "type": "?", "device": "?", "options": ""}
    target = str(path.resolve())
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return best
    best_len = -1
    for parts in mounts:
        if len(parts) < 4:
            continue
        device, mount, fstype, options = parts[:4]
        mount = mount.replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > best_len:
            best_len = len(mount)
            best = {"mount": mount, "type": fstype, "device": device, "options": options}
    return best


def machine_info(workdir: Path) -> Json:
    import sqlite3

    import sqlean  # type: ignore[import-untyped]

    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "filesystem": _filesystem(workdir),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "msgspec": msgspec.__version__,
        "sqlite": sqlite3.sqlite_version,  # the peers' and floors' (the standard library's)
        "sqlite_projections": sqlean.sqlite_version,  # the projection database's
        "loadavg_at_start": [round(x, 2) for x in load],
    }


# ---------------------------------------------------------------------------- data

_WORDS_SEED = 20251004


class Corpus:
    """Deterministic message text: words drawn from a Zipf-like vocabulary, so full-text
    queries hit realistic numbers of messages. Contents are pre-generated and cycled."""

    def __init__(self, message_bytes: int = 1024, variety: int = 256, seed: int = 1) -> None:
        rng = random.Random(_WORDS_SEED)
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.vocabulary = [
            "".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(20000)
        ]
        weights = [1.0 / (rank + 1) for rank in range(len(self.vocabulary))]
        rng = random.Random(seed)
        self.contents: list[str] = []
        for _ in range(variety):
            words = rng.choices(self.vocabulary, weights=weights, k=message_bytes // 3)
            parts: list[str] = []
            size = 0
            for i, w in enumerate(words):
                sep = "\n" if i % 23 == 22 else " "
                parts.append(w)
                parts.append(sep)
                size += len(w) + 1
                if size >= message_bytes:
                    break
            text = "".join(parts)[:message_bytes]
            # a quote and a backslash, as code in chat does: JSON has to escape them
            text = text[: message_bytes - 8] + ' "x\\y" .'
            self.contents.append(text[:message_bytes])
        self.message_bytes = message_bytes

    def content(self, i: int) -> str:
        return self.contents[i % len(self.contents)]


ROLES_CYCLE = ("user", "assistant")
TOKENS = 256


def message_event(corpus: Corpus, i: int, seq: int, ts: str) -> Message:
    return Message(
        seq=seq,
        ts=ts,
        role=ROLES_CYCLE[i % 2],  # type: ignore[arg-type]
        content=corpus.content(i),
        token_count=TOKENS,
        metadata={"query_id": f"q{i:07d}"},
    )


def synthetic_ts(i: int) -> str:
    """Increasing UTC timestamps, one second apart from 2025-01-01."""
    seconds = i
    day, rem = divmod(seconds, 86400)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    month_days = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    month = 0
    day_of_year = day % 365
    while day_of_year >= month_days[month]:
        day_of_year -= month_days[month]
        month += 1
    year = 2025 + day // 365
    return (
        f"{year:04d}-{month + 1:02d}-{day_of_year + 1:02d}T{hh:02d}:{mm:02d}:{ss:02d}.000000+00:00"
    )


def session_id_for(n: int) -> str:
    """A valid, unique session id for synthetic session number ``n`` (< 10**6 * 2**24)."""
    day, sec = (n // 86400) % 28, n % 86400
    hh, rem = divmod(sec, 3600)
    mm, ss = divmod(rem, 60)
    return f"2025-01-{1 + day:02d}_{hh:02d}{mm:02d}{ss:02d}_{(n * 2654435761) % 16**6:06x}"


def build_log(
    path: Path,
    session_id: str,
    messages: int,
    corpus: Corpus,
    *,
    first: int = 0,
    title: str | None = None,
    chunk_bytes: int = 8 << 20,
) -> int:
    """Write a session's log directly with the codec (bulk, no fsync): a session_created
    event and ``messages`` message events. Returns the file size."""
    buffer = bytearray()
    size = 0
    encode_into(
        SessionCreated(seq=1, ts=synthetic_ts(first), session_id=session_id, title=title), buffer
    )
    with open(path, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        for i in range(messages):
            encode_into(
                message_event(corpus, first + i, i + 2, synthetic_ts(first + i + 1)), buffer
            )
            if len(buffer) >= chunk_bytes:
                f.write(buffer)
                size += len(buffer)
                buffer.clear()
        f.write(buffer)
        size += len(buffer)
    return size


def human_count(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)
