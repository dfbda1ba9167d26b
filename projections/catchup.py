"""Catch-up and rebuild: fold what the logs gained since the checkpoints into every
projection (snapshots, index, search), or replay everything from the start.

One catch-up, under the projection lock:

1. list the logs (size, inode and mtime of each) and compare them with the checkpoints; stop if
   nothing changed (this check is also run lock-free by readers, see :meth:`is_stale`);
2. write the *pending* file naming the sessions about to change;
3. per changed session, read the log from its checkpoint cursor, fold the new events into
   its snapshot (written atomically) and add its new messages to the search index (one
   SQLite transaction for the whole catch-up);
4. write ``index.json``, then ``checkpoints.json``, then drop the pending file.

A crash at any point leaves projection files that are whole (old or new); sessions named
in the pending file are folded from the start next time, so the result always converges
to what a full rebuild produces, byte for byte. A missing or unreadable checkpoints file
means "trust nothing": everything is rebuilt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Final, NamedTuple

import msgspec

from eventlog import HomeLayout, LogIssue, Message, is_valid_session_id
from eventlog.atomic import write_atomic
from eventlog.home import LOG_SUFFIX, ensure_private_dir
from eventlog.scan import START
from projections import checkpoints, snapshot
from projections import index as index_projection
from projections.checkpoints import Checkpoint, LogStamp, stamp_of
from projections.files import LogRead, ProjectionLock, lock_path, pending_path, read_log
from projections.records import CatchUpReport, RebuildReport, SessionMeta, SessionSnapshot
from projections.search import SearchIndex

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with counts of sessions."""

# Above this many sessions in one catch-up, files are written without a fsync each and
# made durable by one sync() before the checkpoints are written.
BULK_SESSIONS: Final = 32

logger = logging.getLogger("chatlog")


class _Folded(NamedTuple):
    checkpoint: Checkpoint
    meta: SessionMeta | None  # None: the session has no usable event (yet)
    changed: bool  # the session's projections changed
    events: int
    issues: list[LogIssue]


class Engine:
    """Projections of the logs under ``source`` kept in the files of ``target`` (the same
    home, except for ``rebuild --verify``, which builds aside).

    ``bounds`` limits each log to its first N bytes and the sessions to those named: a
    rebuild of exactly what the live projections have seen."""

    def __init__(
        self,
        source: HomeLayout,
        target: HomeLayout | None = None,
        *,
        durable: bool = True,
        bounds: Mapping[str, int] | None = None,
    ) -> None:
        self.source = source
        self.target = target or source
        self.durable = durable
        self.bounds = bounds
        self.search = SearchIndex(self.target.search_db, durable=durable)
        self.lock = ProjectionLock(lock_path(self.target))
        self._checkpoints_cache: (
            tuple[
                tuple[int, int, int],
                tuple[dict[str, Checkpoint], dict[str, tuple[int, int, int]]],
            ]
            | None
        ) = None
        self._index_cache: tuple[tuple[int, int, int], list[SessionMeta]] | None = None
        # The snapshot this engine wrote last, with its file's identity: the next catch-up
        # of a session being chatted in extends it without reading and decoding the file.
        self._snapshot_cache: tuple[str, tuple[int, int, int], SessionSnapshot] | None = None

    def close(self) -> None:
        self.search.close()

    # ------------------------------------------------------------------ freshness

    def is_stale(self, only: str | None = None) -> bool:
        """Whether a catch-up would change anything (no lock, no log is read): a stat of
        every log (or of ``only``'s) compared with the checkpoints."""
        if pending_path(self.target).exists() or not self.search.exists():
            return True
        loaded = self._cached_checkpoints()
        if loaded is None:
            return True
        saved, expected = loaded
        if only is not None:
            cp = saved.get(only)
            try:
                st = os.stat(self.source.log_path(only))
            except FileNotFoundError:
                return cp is not None
            return cp is None or cp.stamp != stamp_of(st)
        seen = 0
        try:
            entries = os.scandir(self.source.events_dir)
        except FileNotFoundError:
            return bool(saved)
        # The hot loop of every read with 10,000 sessions: plain tuples, no allocations
        # beyond the stat itself.
        with entries:
            for entry in entries:
                stamp = expected.get(entry.name)
                if stamp is None:
                    name = entry.name
                    if name.endswith(LOG_SUFFIX) and is_valid_session_id(name[: -len(LOG_SUFFIX)]):
                        return True
                    continue
                st = entry.stat()
                if st.st_size != stamp[0] or st.st_mtime_ns != stamp[2] or st.st_ino != stamp[1]:
                    return True
                seen += 1
        return seen != len(saved)

    def _cached_checkpoints(
        self,
    ) -> tuple[dict[str, Checkpoint], dict[str, tuple[int, int, int]]] | None:
        """The saved checkpoints, and each log file name's expected (size, ino, mtime)."""
        try:
            key = _file_key(self.target.checkpoints_file)
        except FileNotFoundError:
            return None
        if self._checkpoints_cache is not None and self._checkpoints_cache[0] == key:
            return self._checkpoints_cache[1]
        saved = checkpoints.load(self.target.checkpoints_file)
        if saved is None:
            return None
        return self._remember_checkpoints(saved, key)

    def _remember_checkpoints(
        self, saved: dict[str, Checkpoint], key: tuple[int, int, int] | None = None
    ) -> tuple[dict[str, Checkpoint], dict[str, tuple[int, int, int]]]:
        expected = {sid + LOG_SUFFIX: (cp.size, cp.ino, cp.mtime_ns) for sid, cp in saved.items()}
        loaded = (dict(saved), expected)
        self._checkpoints_cache = (key or _file_key(self.target.checkpoints_file), loaded)
        return loaded

    def checkpoints(self) -> dict[str, Checkpoint]:
        loaded = self._cached_checkpoints()
        return dict(loaded[0]) if loaded is not None else {}

    # ------------------------------------------------------------------ reading outputs

    def read_index(self, limit: int | None = None) -> list[SessionMeta] | None:
        """The index file's sessions (the first ``limit``); None if it is missing or bad."""
        path = self.target.index_file
        try:
            key = _file_key(path)
            if self._index_cache is not None and self._index_cache[0] == key:
                metas = self._index_cache[1]
                return list(metas if limit is None else metas[: max(limit, 0)])
            if limit is not None:
                return index_projection.read_top(path.read_bytes(), limit)
            if self._index_cache is None or self._index_cache[0] != key:
                self._index_cache = (key, index_projection.decode(path.read_bytes()))
            return list(self._index_cache[1])
        except (FileNotFoundError, msgspec.DecodeError):
            return None

    def read_snapshot(self, session_id: str) -> SessionSnapshot | None:
        try:
            return snapshot.decode(self.target.snapshot_path(session_id).read_bytes())
        except (FileNotFoundError, msgspec.DecodeError):
            return None

    def _current_snapshot(self, session_id: str) -> SessionSnapshot | None:
        """The session's snapshot: the one this engine wrote last if the file is still
        that version (no other process replaced it), else read from the file."""
        cached = self._snapshot_cache
        if cached is not None and cached[0] == session_id:
            try:
                if _file_key(self.target.snapshot_path(session_id)) == cached[1]:
                    return cached[2]
            except FileNotFoundError:
                return None
        return self.read_snapshot(session_id)

    def read_metadata(self, session_id: str) -> SessionMeta | None:
        """A snapshot's metadata, read from the head of its file (a session with 100,000
        messages is not decoded to answer how many it has)."""
        try:
            with open(self.target.snapshot_path(session_id), "rb") as file:
                head = file.read(snapshot.METADATA_HEAD_BYTES)
        except FileNotFoundError:
            return None
        meta = snapshot.decode_metadata(head)
        if meta is None:
            found = self.read_snapshot(session_id)
            meta = found.metadata if found is not None else None
        return meta

    # ------------------------------------------------------------------ catching up

    def catch_up(
        self,
        progress: Progress | None = None,
        *,
        only: Collection[str] | None = None,
        refold: frozenset[str] = frozenset(),
    ) -> CatchUpReport:
        """Fold new events of every log (or of the sessions in ``only``, e.g. those a file
        watcher named); sessions in ``refold`` are folded again from the start."""
        if isinstance(only, str):
            raise TypeError("only= takes a collection of session ids, not one id")
        with self.lock.hold():
            return self._catch_up_locked(progress, only, refold)

    def rebuild(self, progress: Progress | None = None) -> RebuildReport:
        started = time.perf_counter()
        with self.lock.hold():
            self._reset_locked()
            report = self._catch_up_locked(progress, None, frozenset())
            sessions = len(self._load_index_state() or {})
        return RebuildReport(sessions, report.events, report.issues, time.perf_counter() - started)

    def _catch_up_locked(
        self, progress: Progress | None, only: Collection[str] | None, refold: frozenset[str]
    ) -> CatchUpReport:
        self.search.refresh()
        saved = checkpoints.load(self.target.checkpoints_file)
        pending = checkpoints.load_pending(pending_path(self.target))
        state = self._load_index_state() if saved is not None else None
        # Any projection file missing or unreadable: trust none of them, rebuild all.
        reset = saved is None or pending is None or state is None or not self.search.exists()
        if reset or saved is None or pending is None or state is None:
            self._reset_locked()
            saved, pending, state, only = {}, set(), {}, None
        logs = self._list_logs(only)
        redo = pending | refold
        in_scope = pending | saved.keys() if only is None else set(only)
        removed = sorted(sid for sid in in_scope if sid not in logs)
        changed = sorted(
            sid
            for sid, stamp in logs.items()
            if sid in redo or (cp := saved.get(sid)) is None or not cp.matches(stamp)
        )
        if not changed and not removed and not reset:
            return CatchUpReport()
        touched = set(changed) | set(removed)
        checkpoints.save_pending(pending_path(self.target), pending | touched, durable=self.durable)
        ensure_private_dir(self.target.sessions_dir)
        bulk = len(changed) > BULK_SESSIONS
        updated: list[str] = []
        events = 0
        issues: list[LogIssue] = []
        # From scratch, the full-text index is built once at the end instead of row by row.
        filling = self.search.bulk_load() if reset else contextlib.nullcontext()
        with self.search.transaction(), filling:
            for sid in removed:
                self._remove_outputs(sid)
                state = index_projection.apply(state, sid, None)
                saved.pop(sid, None)
            for done, sid in enumerate(changed, 1):
                folded = self._fold_session(
                    sid, None if sid in redo else saved.get(sid), durable=self.durable and not bulk
                )
                if folded is None:  # deleted since it was listed
                    self._remove_outputs(sid)
                    state = index_projection.apply(state, sid, None)
                    saved.pop(sid, None)
                    removed.append(sid)
                else:
                    saved[sid] = folded.checkpoint
                    if folded.changed:
                        state = index_projection.apply(state, sid, folded.meta)
                        updated.append(sid)
                    events += folded.events
                    issues += folded.issues
                if progress is not None:
                    progress(done, len(changed))
        if bulk and self.durable:
            os.sync()
        metas = index_projection.ordered(state.values())
        write_atomic(
            self.target.index_file, index_projection.encode_ordered(metas), durable=self.durable
        )
        self._index_cache = (_file_key(self.target.index_file), metas)
        checkpoints.save(self.target.checkpoints_file, saved, durable=self.durable)
        self._remember_checkpoints(saved)
        checkpoints.save_pending(pending_path(self.target), pending - touched, durable=False)
        return CatchUpReport(updated, sorted(removed), events, issues)

    def _list_logs(self, only: Collection[str] | None) -> dict[str, LogStamp]:
        """The stamp of every log (or of those in ``only``), as bounded by ``bounds``."""
        logs: dict[str, LogStamp] = {}
        if only is not None:
            for sid in only:
                with contextlib.suppress(FileNotFoundError):
                    logs[sid] = stamp_of(os.stat(self.source.log_path(sid)))
        else:
            loaded = self._cached_checkpoints()
            known = loaded[1] if loaded is not None else {}
            try:
                entries = os.scandir(self.source.events_dir)
            except FileNotFoundError:
                return logs
            with entries:
                for entry in entries:
                    name = entry.name
                    if not name.endswith(LOG_SUFFIX):
                        continue
                    sid = name[: -len(LOG_SUFFIX)]
                    if name in known or is_valid_session_id(sid):
                        logs[sid] = stamp_of(entry.stat())
        if self.bounds is not None:
            logs = {
                sid: stamp._replace(size=min(self.bounds[sid], stamp.size))
                for sid, stamp in logs.items()
                if sid in self.bounds
            }
        return logs

    def _read(self, session_id: str, cp: Checkpoint | None) -> LogRead | None:
        end = self.bounds.get(session_id) if self.bounds is not None else None
        return read_log(self.source, session_id, cp.cursor if cp else START, end)

    def _fold_session(self, sid: str, cp: Checkpoint | None, *, durable: bool) -> _Folded | None:
        """Fold what ``sid``'s log gained since ``cp`` (everything when ``cp`` is None)."""
        state: SessionSnapshot | None = None
        if cp is not None:
            state = self._current_snapshot(sid)
            if state is None and cp.offset > 0:
                cp = None  # its snapshot is missing: fold it again
        read = self._read(sid, cp)
        if read is not None and cp is not None and not _continues(read, cp):
            cp = None  # another file than the one folded: fold it again from the start
            read = self._read(sid, None)
        if read is None:
            return None
        if cp is None:
            state = None
            self.search.remove_session(sid)
        scan = read.scan
        for issue in scan.issues:
            logger.warning("skipped damaged line %s", issue.describe())
        new = snapshot.fold(state, (entry.event for entry in scan.entries), sid)
        checkpoint = Checkpoint(
            *read.stamp, scan.good_end, scan.lines, scan.last_seq, read.head if scan.lines else 0
        )
        fresh = cp is None
        if new is None:
            if fresh:
                self.target.snapshot_path(sid).unlink(missing_ok=True)
            return _Folded(checkpoint, None, fresh, 0, scan.issues)
        if new is state:
            return _Folded(checkpoint, new.metadata, False, 0, scan.issues)
        path = self.target.snapshot_path(sid)
        write_atomic(path, snapshot.encode(new), durable=durable)
        self._snapshot_cache = (sid, _file_key(path), new)
        self.search.add_messages(
            (sid, e.seq, e.role, e.ts, e.content)
            for e in (entry.event for entry in scan.entries)
            if isinstance(e, Message)
        )
        if fresh or state is None or state.metadata.title != new.metadata.title:
            self.search.set_title(sid, new.metadata.title)
        return _Folded(checkpoint, new.metadata, True, len(scan.entries), scan.issues)

    # ------------------------------------------------------------------ outputs

    def _load_index_state(self) -> dict[str, SessionMeta] | None:
        metas = self.read_index()
        return None if metas is None else {meta.session_id: meta for meta in metas}

    def _remove_outputs(self, sid: str) -> None:
        self.target.snapshot_path(sid).unlink(missing_ok=True)
        self.search.remove_session(sid)

    def _reset_locked(self) -> None:
        """Forget every projection (checkpoints first, so a crash here still means
        'rebuild everything')."""
        self.target.checkpoints_file.unlink(missing_ok=True)
        self._checkpoints_cache = None
        with self.search.transaction():
            self.search.clear()
        _remove_files(self.target.sessions_dir, ".json")
        pending_path(self.target).unlink(missing_ok=True)


def _file_key(path: Path) -> LogStamp:
    """Identifies one version of a file written by ``write_atomic`` (a new inode each)."""
    return stamp_of(os.stat(path))


def _continues(read: LogRead, cp: Checkpoint) -> bool:
    """Whether ``read`` is the file ``cp`` was taken from, grown or not."""
    return (
        read.stamp.ino == cp.ino
        and read.stamp.size >= cp.offset
        and (cp.offset == 0 or read.head == cp.head)
    )


def _remove_files(directory: Path, suffix: str) -> None:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith((suffix, ".tmp")):
            (directory / name).unlink(missing_ok=True)
