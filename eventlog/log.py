"""EventLog: create, append to, read and delete per-session append-only logs.

Invariants (DESIGN §4):

- An append is one ``write()`` of one checksummed line on an ``O_APPEND`` descriptor, made
  under an exclusive ``flock`` on the session's log, so any number of processes can append
  to one session: no lost events, no interleaved bytes, seqs contiguous.
- Under the lock the writer first checks the path still names the file it holds (a deleted
  session is never written to), learns the current last seq from the log's tail, and moves
  a torn tail (a crashed writer's partial line) to ``quarantine/`` before truncating it.
- A failed or short write is truncated back to the last good size; a failed fdatasync
  fails the append, truncates its line away and drops the handle: it is never retried as
  if it had worked.
- Readers take no lock: a line being written is seen as a torn tail and ignored.

Projections never run here; they catch up from the logs on their own (see projections/).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, get_args

import msgspec

from eventlog import reading, upkeep
from eventlog.atomic import fsync_dir, write_atomic, write_exclusive
from eventlog.chunks import batched
from eventlog.clock import utc_now_iso
from eventlog.errors import (
    DiskFullError,
    DurabilityError,
    InvalidArgumentError,
    SeqConflictError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
)
from eventlog.events import (
    AnyEvent,
)
from eventlog.feed import ChangeFeed, Journal
from eventlog.fileops import DEFAULT_FILE_OPS, FileOps
from eventlog.home import FILE_MODE, LOG_SUFFIX, HomeLayout, ensure_private_dir, resolve_home
from eventlog.ids import new_session_id, validate_session_id
from eventlog.safefile import NOFOLLOW, open_regular, read_all
from eventlog.scan import START, Cursor, LogEntry, LogIssue, Scan, read_tail_state, scan_bytes
from eventlog.store import (
    ArchivedSession,
    Changes,
    Compaction,
    DamageReport,
    EventStore,
    Follower,
    Repair,
    SessionPosition,
    SessionRead,
    Tombstone,
    encode_event,
    event_fingerprint,
)

FsyncPolicy = Literal["always", "interval", "never"]
FSYNC_POLICIES: Final[tuple[str, ...]] = get_args(FsyncPolicy)
MAX_CREATE_ATTEMPTS: Final = 32
MAX_CACHED_PATHS: Final = 4096
TOMBSTONE_LIMIT: Final = 4096  # bytes read of a tombstone file

logger = logging.getLogger("chatlog")
E = TypeVar("E", bound=AnyEvent)
T = TypeVar("T")

if TYPE_CHECKING:
    import asyncio


class _Handle:
    """An open append descriptor and what this process knows of the log's tail."""

    __slots__ = ("broken", "dirty", "fd", "ino", "last_seq", "lock", "size")

    def __init__(self, fd: int, ino: int) -> None:
        self.fd = fd
        self.ino = ino
        self.size = -1  # good end of the log as last verified; -1 = unknown
        self.last_seq = 0
        self.dirty = False  # written since the last fdatasync (interval policy)
        self.broken: str | None = None  # a background fdatasync failed
        self.lock = threading.Lock()


def _translate_os_error(exc: OSError, what: str) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"{what}: disk full ({exc.strerror})")
    return StorageError(f"{what}: {exc.strerror or exc}")


class EventLog(EventStore):
    """The file store: every session's events as one append-only log file under the home."""

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        fsync: FsyncPolicy = "always",
        *,
        interval_ms: int = 1000,
        max_open: int = 64,
        file_ops: FileOps = DEFAULT_FILE_OPS,
        redact_secrets: bool = True,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise InvalidArgumentError(
                f"fsync policy must be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r}"
            )
        if interval_ms <= 0:
            raise InvalidArgumentError("interval_ms must be positive")
        self.layout = HomeLayout(resolve_home(home))
        self.home = self.layout.root
        self.fsync: FsyncPolicy = fsync
        self.interval = interval_ms / 1000.0
        # Secrets in messages (and new sessions' titles and metadata) are replaced by
        # [REDACTED:<kind>] before anything is written (see eventlog.redaction).
        self.redact_secrets = redact_secrets
        self._ops = file_ops
        self._max_open = max_open
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._handles_lock = threading.Lock()
        # Background/eviction fdatasync failures of sessions whose handle is gone: the
        # next handle opened for the session inherits them (its next append fails).
        self._failed_syncs: dict[str, str] = {}
        self._closed = False
        self._flusher: threading.Thread | None = None
        self._flusher_stop = threading.Event()
        self._log_paths: dict[str, str] = {}  # validated session id -> log path
        self._events_dir = str(self.layout.events_dir)
        self._unsynced: set[str] = set()  # fsync="never" logs written, then evicted
        try:
            self.layout.ensure()
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot prepare home {self.home}") from exc
        self._journal = Journal(self.layout.changes_dir)
        self._feed = ChangeFeed(self.layout.changes_dir)

    # ------------------------------------------------------------------ sessions

    def create_session(
        self,
        title: str | None = None,
        tags: Sequence[str] = (),
        *,
        session_id: str | None = None,
        ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a session and return its id.

        Without ``session_id`` a fresh id is generated (retrying on the rare collision).
        With one (importers) it must be valid and unused, else SessionExistsError.
        """
        first = self.first_event_for(title, tags, session_id, ts, metadata)
        for _attempt in range(MAX_CREATE_ATTEMPTS):
            sid = session_id if session_id is not None else new_session_id()
            event = first(sid)
            if self._claim_new_log(sid, encode_event(event)):
                return sid
            if session_id is not None:
                raise SessionExistsError(f"session {sid} already exists")
        raise StorageError("could not claim a unique session id")

    def _claim_new_log(self, session_id: str, first_line: bytes) -> bool:
        """Create the session's log already holding its first line, or return False if the
        id is taken. The line is written to a hidden temp file that is then hard-linked
        into place (atomic, and fails if the name exists, like O_EXCL), so no crash can
        leave an empty or half-written log behind."""
        return self._claim_with_lines(session_id, [first_line], 1) is not None

    def _claim_with_lines(
        self, session_id: str, lines: Iterable[bytes], last_seq: int | None
    ) -> int | None:
        """:meth:`_claim_new_log` for any number of lines (written in batches of about
        1 MiB); returns the log's last seq (``last_seq``, or the count of lines), or None if
        the id is taken."""
        path = self.layout.log_path(session_id)
        tmp = self.layout.events_dir / f".{session_id}.{os.getpid()}.{time.time_ns()}.creating"
        size = count = 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)
                for batch in batched(lines):
                    if self._ops.write(fd, batch) != len(batch):
                        raise DiskFullError(f"cannot create session {session_id}: short write")
                    size += len(batch)
                    count += batch.count(b"\n")
                if self.fsync == "always":
                    self._ops.fdatasync(fd)
            finally:
                os.close(fd)
            journal = self._journal.begin(session_id)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return None
            finally:
                self._journal.end(journal)
            if self.fsync != "never":
                fsync_dir(self.layout.events_dir)
            handle = self._open_handle(session_id, path)
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot create session {session_id}") from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        handle.size = size
        handle.last_seq = last_seq if last_seq is not None else count
        handle.dirty = self.fsync != "always"  # the interval flusher or sync() covers it
        self._remember(session_id, handle)
        return handle.last_seq

    def create_from_events(self, session_id: str, events: Iterable[AnyEvent]) -> str:
        """The whole log written aside and linked into place at once: a fork of a long
        session costs one write per MiB and one fsync, and is all there or not at all."""
        validate_session_id(session_id)
        last = [0]

        def lines() -> Iterator[bytes]:
            for event in events:
                last[0] = event.seq
                yield encode_event(event)

        if self._claim_with_lines(session_id, lines(), None) is None:
            raise SessionExistsError(f"session {session_id} already exists")
        handle = self._handles.get(session_id)
        if handle is not None:
            handle.last_seq = last[0]
        return session_id

    def delete_session(self, session_id: str, *, expected_seq: int | None = None) -> None:
        """Remove a session's log. Taken under the log's lock, so no append is lost into
        an unlinked file: a writer holding a handle sees the path gone and fails. Its
        tombstone (``deleted/<id>``) is written first."""
        path = self.layout.log_path(session_id)
        self._forget(session_id)
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            raise SessionNotFoundError(f"no session {session_id}") from None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot delete session {session_id}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            journal = self._journal.begin(session_id)
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    self._bury(session_id, fd, str(path), expected_seq)
                    path.unlink()
            except FileNotFoundError:
                raise SessionNotFoundError(f"no session {session_id}") from None
            finally:
                self._journal.end(journal)
            if self.fsync != "never":
                fsync_dir(self.layout.events_dir)
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot delete session {session_id}") from exc
        finally:
            os.close(fd)

    def _bury(self, session_id: str, fd: int, path: str, expected_seq: int | None) -> None:
        """Under the log's lock: check ``expected_seq`` and write the tombstone."""
        _good_end, last_seq, _torn = read_tail_state(fd, os.fstat(fd).st_size, None, path)
        if expected_seq is not None and expected_seq != last_seq:
            raise SeqConflictError(session_id, expected_seq, last_seq)
        last = reading.read_last(path, 1)
        tombstone = Tombstone(
            session_id, utc_now_iso(), last_seq, event_fingerprint(last[0].event if last else None)
        )
        ensure_private_dir(self.layout.deleted_dir)
        write_atomic(
            self.layout.tombstone_path(session_id),
            msgspec.json.encode(tombstone) + b"\n",
            durable=self.fsync != "never",
        )

    def deletion(self, session_id: str) -> Tombstone | None:
        try:
            fd = open_regular(self.layout.tombstone_path(session_id))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read the tombstone of {session_id}") from exc
        try:
            data = read_all(fd, 0, TOMBSTONE_LIMIT)
        finally:
            os.close(fd)
        try:
            return msgspec.json.decode(data, type=Tombstone)
        except msgspec.ValidationError:
            return None  # damaged: as if there were none (sync then copies, never deletes)

    def exists(self, session_id: str) -> bool:
        return os.path.lexists(self.layout.log_path(session_id))

    def session_ids(self) -> list[str]:
        return self.layout.session_ids()

    # ------------------------------------------------------------------ reading

    def read_from(
        self,
        session_id: str,
        position: SessionPosition | None = None,
        *,
        until: SessionPosition | None = None,
    ) -> SessionRead:
        path = self._path_of(session_id)
        try:
            return reading.read_from(path, position, until)
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read session {session_id}") from exc

    def stored_bytes(self, session_ids: Sequence[str]) -> int | None:
        total = 0
        for session_id in session_ids:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(self._path_of(session_id)).st_size
        return total

    def read_last(self, session_id: str, n: int, *, messages_only: bool = False) -> list[LogEntry]:
        path = str(self.layout.log_path(session_id))
        try:
            return reading.read_last(path, n, messages_only=messages_only)
        except FileNotFoundError:
            raise SessionNotFoundError(f"no session {session_id}") from None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read session {session_id}") from exc

    def read_at(self, session_id: str, locator: int) -> AnyEvent | None:
        try:
            return reading.read_at(str(self.layout.log_path(session_id)), locator)
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read session {session_id}") from exc

    def first_event(self, session_id: str) -> AnyEvent | None:
        if not self.exists(session_id):
            raise SessionNotFoundError(f"no session {session_id}")
        try:
            return reading.first_event(str(self.layout.log_path(session_id)))
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read session {session_id}") from exc

    def last_event(self, session_id: str) -> AnyEvent | None:
        entries = self.read_last(session_id, 1)
        return entries[0].event if entries else None

    def position_after(self, session_id: str, entry: LogEntry) -> SessionPosition:
        validate_session_id(session_id)
        return reading.FilePosition(
            entry.end, entry.line, entry.event.seq, 0, reading.NO_SIZE, 0, 0
        ).encode()

    def open_follower(self, session_id: str, position: SessionPosition | None = None) -> Follower:
        path = str(self.layout.log_path(session_id))
        try:
            return reading.FileFollower(path, position)
        except FileNotFoundError:
            raise SessionNotFoundError(f"no session {session_id}") from None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read session {session_id}") from exc

    def scan(self, session_id: str, cursor: Cursor = START) -> Scan:
        """Scan the log from a cursor (e.g. a projection checkpoint; default: the start).

        ``result.cursor`` is where the next call should resume. See :mod:`eventlog.scan`."""
        offset, line, seq = cursor
        path = self.layout.log_path(session_id)
        try:
            fd = open_regular(path)
            try:
                with open(fd, "rb", closefd=False) as file:
                    if offset:
                        file.seek(offset)
                    data = file.read()
            finally:
                os.close(fd)
        except FileNotFoundError:
            raise SessionNotFoundError(f"no session {session_id}") from None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read session {session_id}") from exc
        result = scan_bytes(data, base_offset=offset, base_line=line, base_seq=seq, path=str(path))
        for issue in result.issues:
            logger.warning("skipped damaged line %s", issue.describe())
        return result

    def last_seq(self, session_id: str) -> int:
        """The session's current last seq (as the next appender would see it)."""
        path = self.layout.log_path(session_id)
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            raise SessionNotFoundError(f"no session {session_id}") from None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read session {session_id}") from exc
        try:
            _good_end, last_seq, _torn = read_tail_state(fd, os.fstat(fd).st_size, None, str(path))
            return last_seq
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ change feed

    def changes(self, since: str | None) -> Changes:
        return self._feed.changes(since)

    def changes_applied(self, changes: Changes) -> None:
        self._feed.applied(changes)

    def follow(self, stop: threading.Event, tick_ms: int) -> Iterator[set[str]]:
        from eventlog.watch import iter_changes

        return iter_changes(self.layout, stop, tick_ms)

    def afollow(self, stop: asyncio.Event, tick_ms: int) -> AsyncIterator[set[str]]:
        from eventlog.watch import aiter_changes

        return aiter_changes(self.layout, stop, tick_ms)

    # ------------------------------------------------------------------ upkeep

    def check(self, session_id: str) -> DamageReport | None:
        return upkeep.check(self.layout, session_id)

    def repair(self, session_id: str) -> Repair | None:
        return self._exclusive(session_id, upkeep.repair)

    def compact(self, session_id: str) -> Compaction | None:
        live = self._exclusive(session_id, upkeep.compact_log)
        archived = upkeep.compact_archive(self.layout, session_id)
        if live is None and not os.path.lexists(upkeep.archive_path(self.layout, session_id)):
            return None
        seqs = (live[1] if live is not None else set()) | archived[1]
        quarantined = upkeep.compact_quarantine(self.layout, session_id, seqs) if seqs else 0
        return Compaction(session_id, live[0] if live else 0, archived[0], quarantined)

    def archive(self, session_id: str) -> ArchivedSession:
        found = self._exclusive(session_id, upkeep.archive)
        if found is None:
            raise SessionNotFoundError(f"no session {session_id}")
        return found

    def restore(self, session_id: str) -> None:
        journal = self._journal.begin(session_id)
        try:
            upkeep.restore(self.layout, session_id)
        finally:
            self._journal.end(journal)

    def archived(self) -> list[ArchivedSession]:
        return upkeep.archived(self.layout)

    def purge_archives(self, session_ids: Sequence[str] | None = None) -> list[str]:
        return upkeep.purge_archives(self.layout, session_ids)

    def remove_stale_temps(self) -> list[str]:
        return upkeep.remove_stale_temps(self.layout)

    def _exclusive(
        self, session_id: str, operation: Callable[[HomeLayout, str, int], T]
    ) -> T | None:
        """Run ``operation(layout, id, fd)`` holding the log's lock (as appends do), the
        change announced first; None when the session has no log."""
        path = self.layout.log_path(session_id)
        self._forget(session_id)
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot open session {session_id}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                raise StorageError(f"{path} was replaced meanwhile; try again")
            journal = self._journal.begin(session_id)
            try:
                return operation(self.layout, session_id, fd)
            finally:
                self._journal.end(journal)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot change session {session_id}") from exc
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ durability

    def session_location(self, session_id: str) -> str:
        return str(self.layout.log_path(session_id))

    def archive_location(self, session_id: str | None = None) -> str:
        if session_id is None:
            return str(self.layout.archive_dir)
        return str(upkeep.archive_path(self.layout, session_id))

    def sync(self, session_id: str | None = None) -> None:
        """fdatasync pending appends now (all sessions, or one).

        Raises DurabilityError if a sync failed, now or earlier in the background (a
        failure is never papered over by a later sync that succeeds): appends since the
        session's last successful sync may be lost. Each failure is reported once."""
        with self._handles_lock:
            items = [(sid, h) for sid, h in self._handles.items() if session_id in (None, sid)]
            earlier = [
                (sid, why) for sid, why in self._failed_syncs.items() if session_id in (None, sid)
            ]
            for sid, _why in earlier:
                del self._failed_syncs[sid]
            closed = sorted(sid for sid in self._unsynced if session_id in (None, sid))
            self._unsynced.difference_update(closed)
        errors = [_earlier_sync_failed(sid, why) for sid, why in earlier]
        for sid in closed:
            try:
                fd = os.open(self.layout.log_path(sid), os.O_RDONLY)
            except FileNotFoundError:
                continue  # deleted since: nothing left to make durable
            try:
                self._ops.fdatasync(fd)
            except OSError as exc:
                errors.append(_earlier_sync_failed(sid, exc.strerror or str(exc)))
            finally:
                os.close(fd)
        for sid, handle in items:
            with handle.lock:
                if handle.fd < 0:
                    continue
                if handle.broken is not None:
                    errors.append(_earlier_sync_failed(sid, handle.broken))
                    self._drop(sid, handle)
                elif handle.dirty:
                    try:
                        self._fdatasync(sid, handle)
                    except DurabilityError as exc:
                        errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise DurabilityError("; ".join(str(error) for error in errors))

    def close(self) -> None:
        """Flush pending appends and close every descriptor."""
        if self._closed:
            return
        self._flusher_stop.set()
        if self._flusher is not None:
            self._flusher.join()
        try:
            if self.fsync == "interval":
                self.sync()
        finally:
            with self._handles_lock:
                handles = list(self._handles.values())
                self._handles.clear()
            for handle in handles:
                with handle.lock:
                    _close_quietly(handle)
            self._journal.close()
            self._closed = True

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def append_event(
        self, session_id: str, build: Callable[[int, str], E], expected_seq: int | None = None
    ) -> E:
        path = self._log_path(session_id)  # validates before any filesystem access
        if self._closed:
            raise StorageError("this EventLog is closed")
        while True:
            handle = self._handle(session_id, path)
            with handle.lock:
                if handle.fd < 0:  # evicted or dropped while we waited for its lock
                    continue
                event = self._append_locked(session_id, path, handle, build, expected_seq)
                if event is not None:
                    return event
            # The session was deleted and re-created under the same id: the stale handle
            # was dropped; go round again so the new file's handle is taken under *its*
            # lock (threads sharing one descriptor share its flock, so that lock is what
            # keeps them from writing the same seq).

    def _append_locked(
        self,
        session_id: str,
        path: str,
        handle: _Handle,
        build: Callable[[int, str], E],
        expected_seq: int | None,
    ) -> E | None:
        """Append under ``handle.lock`` and the flock; None if the path names a new file."""
        try:
            fcntl.flock(handle.fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot lock session {session_id}") from exc
        try:
            if not self._verify_locked(session_id, path, handle):
                self._drop(session_id, handle)
                return None
            if expected_seq is not None and expected_seq != handle.last_seq:
                raise SeqConflictError(session_id, expected_seq, handle.last_seq)
            event = build(handle.last_seq + 1, utc_now_iso())
            line = encode_event(event)
            journal = self._journal.begin(session_id)
            try:
                self._write_locked(session_id, handle, line)
            finally:
                self._journal.end(journal)
            handle.last_seq = event.seq
            return event
        finally:
            if handle.fd >= 0:
                with contextlib.suppress(OSError):
                    fcntl.flock(handle.fd, fcntl.LOCK_UN)

    def _log_path(self, session_id: str) -> str:
        """The session's log path as a string, validated once and then remembered (building
        it with pathlib on every append cost more than the write itself)."""
        path = self._log_paths.get(session_id) if isinstance(session_id, str) else None
        if path is None:
            path = self._path_of(session_id)
            if len(self._log_paths) >= MAX_CACHED_PATHS:
                self._log_paths.clear()
            self._log_paths[session_id] = path
        return path

    def _path_of(self, session_id: str) -> str:
        """The session's log path as a string, the id validated (no pathlib: readers of
        100,000 sessions build as many paths)."""
        return f"{self._events_dir}{os.sep}{validate_session_id(session_id)}{LOG_SUFFIX}"

    def _open_handle(self, session_id: str, path: str | Path) -> _Handle:
        try:
            fd = open_regular(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            raise SessionNotFoundError(f"no session {session_id}") from None
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot open session {session_id}") from exc
        return _Handle(fd, os.fstat(fd).st_ino)

    def _handle(self, session_id: str, path: str) -> _Handle:
        with self._handles_lock:
            handle = self._handles.get(session_id)
            if handle is not None:
                self._handles.move_to_end(session_id)
                return handle
        return self._remember(session_id, self._open_handle(session_id, path))

    def _remember(self, session_id: str, handle: _Handle) -> _Handle:
        evicted: list[tuple[str, _Handle]] = []
        with self._handles_lock:
            existing = self._handles.get(session_id)
            if existing is not None and existing is not handle:
                evicted.append((session_id, handle))  # another thread opened it first
                handle = existing
            else:
                self._handles[session_id] = handle
                if session_id in self._unsynced:  # its unsynced writes are this inode's
                    self._unsynced.discard(session_id)
                    handle.dirty = True
                failed = self._failed_syncs.pop(session_id, None)
                if failed is not None and handle.broken is None:
                    handle.broken = failed
            while len(self._handles) > self._max_open:
                evicted.append(self._handles.popitem(last=False))
        for old_sid, old in evicted:
            with old.lock:
                failed = old.broken
                if failed is None and old.dirty and old.fd >= 0 and self.fsync == "never":
                    with self._handles_lock:
                        self._unsynced.add(old_sid)  # for a later explicit sync()
                elif failed is None and old.dirty and old.fd >= 0:
                    try:
                        self._ops.fdatasync(old.fd)
                    except OSError as exc:
                        failed = exc.strerror or str(exc)
                _close_quietly(old)
            if failed is not None:
                with self._handles_lock:
                    self._failed_syncs.setdefault(old_sid, failed)
        if self.fsync == "interval":
            self._start_flusher()
        return handle

    def _forget(self, session_id: str) -> None:
        with self._handles_lock:
            handle = self._handles.pop(session_id, None)
            self._failed_syncs.pop(session_id, None)
        if handle is not None:
            with handle.lock:
                _close_quietly(handle)

    def _verify_locked(self, session_id: str, path: str, handle: _Handle) -> bool:
        """Under the flock: make sure ``handle`` is still the session's file and that
        ``handle.size``/``last_seq`` describe its tail; cut away a torn tail.

        Returns False when the path now names another file (the caller reopens)."""
        if handle.broken is not None:
            reason = handle.broken
            self._drop(session_id, handle)
            raise _earlier_sync_failed(session_id, reason)
        try:
            on_disk = os.stat(path)
        except FileNotFoundError:
            self._drop(session_id, handle)
            raise SessionNotFoundError(f"no session {session_id} (it was deleted)") from None
        if on_disk.st_ino != handle.ino:
            return False
        size = on_disk.st_size
        if size == handle.size:
            return True
        known = handle.size if 0 <= handle.size <= size else None
        try:
            good_end, last_seq, torn = read_tail_state(
                handle.fd, size, known, path, handle.last_seq if known is not None else 0
            )
        except OSError as exc:
            raise _translate_os_error(exc, f"cannot read {path}") from exc
        if torn is not None:
            self._cut_torn_tail(session_id, handle, torn)
        handle.size = good_end
        handle.last_seq = last_seq
        return True

    def _cut_torn_tail(self, session_id: str, handle: _Handle, torn: LogIssue) -> None:
        """Preserve a torn tail's bytes in quarantine/, then truncate the log to its good end."""
        try:
            data = os.pread(handle.fd, torn.length, torn.offset)
            if data:
                quarantine = ensure_private_dir(self.layout.quarantine_dir)
                write_exclusive(quarantine / f"{session_id}.{time.time_ns()}.torn", data)
            self._ops.ftruncate(handle.fd, torn.offset)
            if self.fsync != "never":
                self._ops.fdatasync(handle.fd)
        except OSError as exc:
            self._drop(session_id, handle)
            raise _translate_os_error(exc, f"cannot repair torn tail of {session_id}") from exc
        logger.info("removed torn tail of %s (%d bytes kept in quarantine)", torn.path, torn.length)

    def _write_locked(self, session_id: str, handle: _Handle, line: bytes) -> None:
        start = handle.size
        try:
            written = self._ops.write(handle.fd, line)
        except OSError as exc:
            self._roll_back(session_id, handle, start)
            raise _translate_os_error(exc, f"cannot append to {session_id}") from exc
        if written != len(line):
            self._roll_back(session_id, handle, start)
            raise DiskFullError(
                f"cannot append to {session_id}: short write ({written} of {len(line)} bytes); "
                "the log was truncated back to its last good size"
            )
        handle.size = start + written
        if self.fsync == "always":
            self._fdatasync(session_id, handle, roll_back_to=start)
        else:
            handle.dirty = True  # synced by the interval flusher, or by an explicit sync()

    def _fdatasync(self, session_id: str, handle: _Handle, roll_back_to: int = -1) -> None:
        try:
            self._ops.fdatasync(handle.fd)
        except OSError as exc:
            # Never retried as if it had worked: the kernel may have dropped the pages.
            if roll_back_to >= 0:
                self._roll_back(session_id, handle, roll_back_to)
            self._drop(session_id, handle)
            raise DurabilityError(
                f"cannot make {session_id} durable: fdatasync failed ({exc.strerror or exc}); "
                + (
                    "the append did not happen"
                    if roll_back_to >= 0
                    else "appends since the last successful sync may be lost"
                )
            ) from exc
        handle.dirty = False

    def _roll_back(self, session_id: str, handle: _Handle, size: int) -> None:
        try:
            self._ops.ftruncate(handle.fd, size)
            handle.size = size
        except OSError:
            # The next writer re-verifies the tail and cuts whatever was left.
            self._drop(session_id, handle)

    def _drop(self, session_id: str, handle: _Handle) -> None:
        """Close a handle whose state can no longer be trusted (caller holds handle.lock)."""
        with self._handles_lock:
            if self._handles.get(session_id) is handle:
                del self._handles[session_id]
        _close_quietly(handle)

    def _start_flusher(self) -> None:
        if self._flusher is not None or self._closed:
            return
        with self._handles_lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(
                target=self._flush_periodically, name="chatlog-fsync", daemon=True
            )
            self._flusher.start()

    def _flush_periodically(self) -> None:
        """Background fdatasync of dirty logs every ``interval`` (Redis ``everysec``)."""
        while not self._flusher_stop.wait(self.interval):
            with self._handles_lock:
                handles = [h for h in self._handles.values() if h.dirty]
            for handle in handles:
                with handle.lock:
                    if handle.fd < 0 or not handle.dirty:
                        continue
                    try:
                        self._ops.fdatasync(handle.fd)
                        handle.dirty = False
                    except OSError as exc:
                        handle.broken = exc.strerror or str(exc)


def _earlier_sync_failed(session_id: str, reason: str) -> DurabilityError:
    return DurabilityError(
        f"session {session_id}: an earlier background fdatasync failed ({reason}); "
        "appends since the last successful sync may be lost"
    )


def _close_quietly(handle: _Handle) -> None:
    if handle.fd >= 0:
        with contextlib.suppress(OSError):
            os.close(handle.fd)
        handle.fd = -1
