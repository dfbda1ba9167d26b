"""Helpers shared by the event log tests: reading a log file raw, hand-made lines, and I/O
fault injection through :class:`eventlog.fileops.FileOps`."""

from __future__ import annotations

import os
import random
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import msgspec

from eventlog import EventLog, Scan, scan_bytes
from eventlog.codec import CRC_PREFIX, CRC_SUFFIX, checksum_ok
from eventlog.fileops import FileOps

WRITER_SCRIPT = Path(__file__).with_name("eventlog_writer.py")
PYTHON = sys.executable


def log_file(log: EventLog, session_id: str) -> Path:
    return log.layout.log_path(session_id)


def raw_scan(path: Path) -> Scan:
    """Scan a log file's bytes exactly as they are on disk (no EventLog involved)."""
    return scan_bytes(path.read_bytes(), path=str(path))


def assert_log_valid(path: Path) -> Scan:
    """Every complete line passes its checksum and decodes; seqs are 1..n; only the tail
    may be torn. Returns the scan for further checks."""
    scan = raw_scan(path)
    assert scan.issues == [], [issue.describe() for issue in scan.issues]
    seqs = [entry.event.seq for entry in scan.entries]
    assert seqs == list(range(1, len(seqs) + 1))
    return scan


def checksummed_line(fields: dict[str, Any]) -> bytes:
    """A hand-written log line with a valid checksum trailer (for event types or schema
    versions this chatlog does not know)."""
    body = msgspec.json.encode(fields)
    prefix = body[:-1]
    line = b"%s%s%08x%s" % (prefix, CRC_PREFIX, zlib.crc32(prefix), CRC_SUFFIX)
    assert checksum_ok(line)
    return line + b"\n"


def quarantined(log: EventLog) -> list[bytes]:
    """Contents of every file in the home's quarantine/ (oldest name first)."""
    directory = log.layout.quarantine_dir
    if not directory.exists():
        return []
    return [(directory / name).read_bytes() for name in sorted(os.listdir(directory))]


def os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class CountingFileOps(FileOps):
    """The real I/O calls, counted (thread-safe: the interval flusher calls fdatasync)."""

    def __init__(self) -> None:
        self.writes = 0
        self.fdatasyncs = 0
        self.truncates = 0
        self.synced = threading.Event()
        self._lock = threading.Lock()

    def write(self, fd: int, data: bytes) -> int:
        with self._lock:
            self.writes += 1
        return super().write(fd, data)

    def fdatasync(self, fd: int) -> None:
        super().fdatasync(fd)
        with self._lock:
            self.fdatasyncs += 1
        self.synced.set()

    def ftruncate(self, fd: int, size: int) -> None:
        with self._lock:
            self.truncates += 1
        super().ftruncate(fd, size)


class FaultyFileOps(CountingFileOps):
    """Real I/O, except for the faults armed on it (each fires once unless ``sticky``)."""

    def __init__(self) -> None:
        super().__init__()
        self.write_error: int | None = None
        self.short_write = False
        self.fdatasync_error: int | None = None
        self.fdatasync_only_for: Path | None = None  # fail only syncs of this file
        self.ftruncate_error: int | None = None
        self.sticky = False
        self.failed = threading.Event()
        self.write_fds: list[int] = []
        self.sync_fds: list[int] = []

    def write(self, fd: int, data: bytes) -> int:
        self.write_fds.append(fd)
        if self.write_error is not None:
            code = self.write_error
            self._disarm("write_error")
            raise os_error(code)
        if self.short_write:
            self._disarm("short_write", False)
            # Really write the first half to the descriptor, as a full disk would.
            return super().write(fd, data[: len(data) // 2])
        return super().write(fd, data)

    def fdatasync(self, fd: int) -> None:
        self.sync_fds.append(fd)
        if self.fdatasync_error is not None and self._targets(fd):
            code = self.fdatasync_error
            self._disarm("fdatasync_error")
            self.failed.set()
            raise os_error(code)
        super().fdatasync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        if self.ftruncate_error is not None:
            code = self.ftruncate_error
            self._disarm("ftruncate_error")
            raise os_error(code)
        super().ftruncate(fd, size)

    def _targets(self, fd: int) -> bool:
        target = self.fdatasync_only_for
        return target is None or os.readlink(f"/proc/self/fd/{fd}") == str(target)

    def _disarm(self, name: str, value: object = None) -> None:
        if not self.sticky:
            setattr(self, name, value)


class SeededRandom(random.Random):
    """A random generator whose repr names its seed, so a failure can be replayed with
    ``CHATLOG_TEST_SEED=<seed>``."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is None:
            env = os.environ.get("CHATLOG_TEST_SEED")
            seed = int(env) if env else random.randrange(2**32)
        self.seed_value = seed
        super().__init__(seed)

    def __repr__(self) -> str:
        return f"SeededRandom({self.seed_value})"
