"""File plumbing shared by the projections: the cross-process lock, and reading log bytes
with the identity (size, inode) they were read at.

Writers of projection files hold :class:`ProjectionLock` (an exclusive ``flock`` on
``<home>/.projections.lock``), so any number of processes (REPL, server, ``chatlog watch``,
one-shot commands) can catch up at once without interleaving their writes. Readers take no
lock: every file is replaced atomically, so they see the old or the new version.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NamedTuple

from eventlog import Cursor, HomeLayout, Scan, scan_bytes
from eventlog.home import FILE_MODE
from projections.checkpoints import LogStamp, stamp_of

LOCK_NAME: Final = ".projections.lock"
PENDING_NAME: Final = ".projections.pending"


def lock_path(layout: HomeLayout) -> Path:
    return layout.root / LOCK_NAME


def pending_path(layout: HomeLayout) -> Path:
    return layout.root / PENDING_NAME


class ProjectionLock:
    """The exclusive projection-writer lock: re-entrant within a process, ``flock``
    between processes (flock is per open file, so one descriptor is shared by threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd = -1

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._mutex:
            if self._depth == 0:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
                try:
                    os.fchmod(fd, FILE_MODE)
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fd, self._fd = self._fd, -1
                    with contextlib.suppress(OSError):
                        fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)


class LogRead(NamedTuple):
    scan: Scan
    stamp: LogStamp  # the log when read (size capped by ``end``); bytes past it unread
    head: int  # CRC32 of the first line (0 when there is no complete one)


def read_log(
    layout: HomeLayout, session_id: str, cursor: Cursor, end: int | None = None
) -> LogRead | None:
    """Scan a log from ``cursor`` up to its current size (or ``end``); None if it is gone.

    The stamp comes from the descriptor that was read, so it describes exactly the bytes
    scanned even while other processes append, delete or replace the log."""
    try:
        fd = os.open(layout.log_path(session_id), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        stamp = stamp_of(os.fstat(fd))
        if end is not None and end < stamp.size:
            stamp = stamp._replace(size=end)
        data = _pread_range(fd, cursor.offset, stamp.size)
        head = _first_line_crc(data if cursor.offset == 0 else _pread_first_line(fd, stamp.size))
    finally:
        os.close(fd)
    scan = scan_bytes(
        data,
        base_offset=cursor.offset,
        base_line=cursor.line,
        base_seq=cursor.seq,
        path=str(layout.log_path(session_id)),
    )
    return LogRead(scan, stamp, head)


def _pread_range(fd: int, start: int, stop: int) -> bytes:
    chunks = []
    pos = start
    while pos < stop:
        chunk = os.pread(fd, stop - pos, pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def _pread_first_line(fd: int, size: int) -> bytes:
    chunk = 4096
    while True:
        data = os.pread(fd, min(chunk, size), 0)
        if b"\n" in data or len(data) >= size:
            return data
        chunk *= 4


def _first_line_crc(data: bytes) -> int:
    newline = data.find(b"\n")
    return zlib.crc32(data[: newline + 1]) if newline >= 0 else 0
