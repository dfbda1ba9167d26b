"""File plumbing shared by the projections: the cross-process lock, exclusive creation,
and reading log bytes with the identity (size, inode) they were read at.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NamedTuple

from eventlog import Cursor, HomeLayout, Scan, scan_bytes
from eventlog.atomic import fsync_dir
from eventlog.home import FILE_MODE

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


def write_exclusive(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` (0600, durable), failing with FileExistsError if it
    exists: written aside, then hard-linked into place, so nobody sees a partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.link(tmp, path)
        fsync_dir(path.parent)
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)


class LogRead(NamedTuple):
    scan: Scan
    size: int  # the log's size when read (bytes past it were not looked at)
    ino: int


def read_log(
    layout: HomeLayout, session_id: str, cursor: Cursor, end: int | None = None
) -> LogRead | None:
    """Scan a log from ``cursor`` up to its current size (or ``end``); None if it is gone.

    The size and inode come from the descriptor that was read, so they describe exactly
    the bytes scanned even while other processes append, delete or replace the log."""
    try:
        fd = os.open(layout.log_path(session_id), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        size = st.st_size if end is None else min(end, st.st_size)
        chunks = []
        pos = cursor.offset
        while pos < size:
            chunk = os.pread(fd, size - pos, pos)
            if not chunk:
                break
            chunks.append(chunk)
            pos += len(chunk)
    finally:
        os.close(fd)
    scan = scan_bytes(
        b"".join(chunks),
        base_offset=cursor.offset,
        base_line=cursor.line,
        base_seq=cursor.seq,
        path=str(layout.log_path(session_id)),
    )
    return LogRead(scan, size, st.st_ino)
