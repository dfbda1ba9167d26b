"""The file store's change feed: which sessions may have changed since a reader last looked.

Writers. Every process that writes keeps one *journal* under ``<home>/changes/``, a small
file it holds an exclusive ``flock`` on for as long as it uses it. Before the first write
to a session (append, create, delete, archive, restore, repair) the process adds one line,
the session's id, to its journal; later writes to that session add nothing. So the save
path costs one more small ``write()`` per session per journal, and nothing after that.
A journal is retired (closed, its lock released) after ``ROTATE_SESSIONS`` sessions or
``ROTATE_SECONDS``, once no write that relied on it is still in flight, and a new one is
started.

Readers. A journal whose lock is held is *live*: its writer may still write to every
session it names without adding a line, so those sessions are reported on every call. A
journal whose lock is free is *dead*: its writer retired it or died, and every write it
made is complete; its sessions are reported once and the file is removed after the reader
has applied them (:meth:`ChangeFeed.applied`). The lock is tested before the file is read,
so nothing a dead writer wrote can be missed. A journal line is written before the write
it announces, so a writer killed in between only costs the reader one needless check.

Reboots. Nothing here is fsynced: within one boot the page cache is shared by every
process, and after a reboot (or on a first call) the feed answers "check everything"
(``sessions=None``), because lines may have been lost with the cache while the logs they
announced were made durable. The feed position is the kernel's boot id.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Final

from eventlog.home import FILE_MODE, ensure_private_dir
from eventlog.ids import is_valid_session_id
from eventlog.safefile import CLOEXEC, NOFOLLOW, open_regular, private_dir_names
from eventlog.store import Changes

ROTATE_SESSIONS: Final = 256
ROTATE_SECONDS: Final = 60.0
MAX_JOURNAL_BYTES: Final = 1 << 20  # a reader never reads more of one journal than this
BOOT_ID_FILE: Final = "/proc/sys/kernel/random/boot_id"

logger = logging.getLogger("chatlog")


def boot_id() -> str:
    """An id of the running kernel boot (changes at every reboot)."""
    try:
        with open(BOOT_ID_FILE, encoding="ascii") as file:
            return file.read().strip()
    except OSError:
        # No boot id: the boot time, to the 10 s (a changed estimate only costs a rescan).
        return f"boot-{int((time.time() - time.monotonic()) // 10)}"


class _Journal:
    __slots__ = ("fd", "in_flight", "path", "recorded", "retired", "started")

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.recorded: set[str] = set()
        self.in_flight = 0
        self.retired = False
        self.started = time.monotonic()


class Journal:
    """The writer side: one journal at a time for this process (thread-safe)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._current: _Journal | None = None
        self._pid = os.getpid()

    def begin(self, session_id: str) -> _Journal:
        """Announce a write to ``session_id``; call :meth:`end` with the result once the
        write is done (or failed). The announcement precedes the write."""
        with self._lock:
            journal = self._current
            if journal is None or self._pid != os.getpid() or self._due(journal):
                journal = self._rotate()
            journal.in_flight += 1
            if session_id not in journal.recorded:
                try:
                    os.write(journal.fd, session_id.encode("ascii") + b"\n")
                except BaseException:
                    journal.in_flight -= 1
                    raise
                journal.recorded.add(session_id)
            return journal

    def end(self, journal: _Journal) -> None:
        with self._lock:
            journal.in_flight -= 1
            if journal.retired and journal.in_flight == 0:
                _close(journal)

    def close(self) -> None:
        with self._lock:
            journal, self._current = self._current, None
            if journal is not None:
                journal.retired = True
                if journal.in_flight == 0:
                    _close(journal)

    def _due(self, journal: _Journal) -> bool:
        return (
            len(journal.recorded) >= ROTATE_SESSIONS
            or time.monotonic() - journal.started > ROTATE_SECONDS
        )

    def _rotate(self) -> _Journal:
        old = self._current
        if old is not None and self._pid == os.getpid():
            old.retired = True
            if old.in_flight == 0:
                _close(old)
        self._pid = os.getpid()
        ensure_private_dir(self.directory)
        name = f"{self._pid}.{time.time_ns()}.{secrets.token_hex(4)}"
        path = self.directory / name
        # Locked under a hidden name first: readers skip dot-names, so none can take a
        # journal for dead in the moment between its creation and its lock.
        hidden = self.directory / f".{name}"
        fd = os.open(
            hidden,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | NOFOLLOW | CLOEXEC,
            FILE_MODE,
        )
        try:
            os.fchmod(fd, FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(hidden, path)
        except BaseException:
            os.close(fd)
            hidden.unlink(missing_ok=True)
            raise
        self._current = _Journal(fd, path)
        return self._current


def _close(journal: _Journal) -> None:
    if journal.fd >= 0:
        with contextlib.suppress(OSError):
            os.close(journal.fd)  # releases the lock: the journal is now dead
        journal.fd = -1


class ChangeFeed:
    """The reader side."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def changes(self, since: str | None) -> Changes:
        position = boot_id()
        names = sorted(private_dir_names(self.directory))
        sessions: set[str] = set()
        consumed: list[str] = []
        for name in names:
            if name.startswith("."):
                continue
            found = self._read_journal(name)
            if found is None:
                continue
            dead, ids = found
            sessions.update(ids)
            if dead:
                consumed.append(name)
        if since != position:
            return Changes(None, position, tuple(consumed))
        return Changes(frozenset(sessions), position, tuple(consumed))

    def applied(self, changes: Changes) -> None:
        for name in changes.consumed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.directory / name)

    def _read_journal(self, name: str) -> tuple[bool, list[str]] | None:
        path = self.directory / name
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            return None
        except OSError as exc:  # UnsafeFileError included: not ours, leave it alone
            logger.warning("ignored %s: %s", path, exc)
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                dead = True
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                dead = False
            data = os.pread(fd, MAX_JOURNAL_BYTES, 0)
        finally:
            os.close(fd)
        complete = data[: data.rfind(b"\n") + 1]
        ids = [
            line.decode("ascii")
            for line in complete.split(b"\n")
            if line and line.isascii() and is_valid_session_id(line.decode("ascii"))
        ]
        return dead, ids
