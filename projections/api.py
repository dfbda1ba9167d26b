"""``Projections``: the read side of chatlog, as other layers use it (REPL, server, CLI).

Every reader first brings the projections up to date with the logs (a stat per log when
nothing changed), so answers are never stale even when no watcher runs. One instance is
safe to share between threads; any number of processes can use the same home.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from types import TracebackType

from eventlog import EventLog, SessionNotFoundError, validate_session_id
from projections import fsck, retention
from projections import markdown as markdown_projection
from projections.catchup import Engine, Progress
from projections.records import (
    CatchUpReport,
    RebuildReport,
    SearchHit,
    SessionMeta,
    SessionSnapshot,
)
from projections.verify import remove_stale_asides, verify


class Projections:
    """Index, snapshots, markdown and search over one :class:`EventLog`'s home.

    ``durable=False`` skips fsync of projection files (they can always be rebuilt); for
    tests and throw-away homes."""

    def __init__(self, log: EventLog, *, durable: bool = True) -> None:
        self.log = log
        self.layout = log.layout
        self._engine = Engine(log.layout, durable=durable)
        self._mutex = threading.RLock()

    # ------------------------------------------------------------------ upkeep

    def catch_up(
        self, progress: Progress | None = None, *, sessions: Collection[str] | None = None
    ) -> CatchUpReport:
        """Fold every log's new events into every projection (notices new and deleted
        logs too); cheap when nothing changed. ``sessions`` limits the work to those ids
        (a file watcher knows which logs changed)."""
        with self._mutex:
            return self._engine.catch_up(progress, only=sessions)

    def rebuild(self, progress: Progress | None = None) -> RebuildReport:
        """Drop every projection and replay every log."""
        with self._mutex:
            return self._engine.rebuild(progress)

    def verify(self, progress: Progress | None = None) -> list[str]:
        """Rebuild aside and list the differences from the live files (none: all good)."""
        with self._mutex:
            return verify(self._engine, progress)

    # ------------------------------------------------------------------ reading

    def list_sessions(self, limit: int | None = None) -> list[SessionMeta]:
        """Sessions, newest updated first (at most ``limit``)."""
        with self._mutex:
            self._fresh()
            metas = self._engine.read_index(limit)
            if metas is None:  # index.json removed or damaged behind our back
                self._engine.rebuild()
                metas = self._engine.read_index(limit) or []
            return metas

    def session_meta(self, session_id: str) -> SessionMeta:
        with self._mutex:
            self._fresh(session_id)
            found = self._engine.read_metadata(session_id)
            if found is None and self._refold(session_id):
                found = self._engine.read_metadata(session_id)
            if found is None:
                raise self._not_found(session_id)
            return found

    def snapshot(self, session_id: str) -> SessionSnapshot:
        with self._mutex:
            self._fresh(session_id)
            found = self._engine.read_snapshot(session_id)
            if found is None and self._refold(session_id):
                found = self._engine.read_snapshot(session_id)
            if found is None:
                raise self._not_found(session_id)
            return found

    def snapshot_json(self, session_id: str) -> bytes:
        """Exactly the bytes of ``sessions/<id>.json``."""
        with self._mutex:
            self._fresh(session_id)
            path = self.layout.snapshot_path(session_id)
            try:
                return path.read_bytes()
            except FileNotFoundError:
                pass
            if self._refold(session_id):
                try:
                    return path.read_bytes()
                except FileNotFoundError:
                    pass
            raise self._not_found(session_id)

    def markdown(self, session_id: str) -> str:
        return markdown_projection.render(self.snapshot(session_id))

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Messages matching every word of ``query``, best (bm25) first."""
        with self._mutex:
            self._fresh()
            return self._engine.search.query(query, limit)

    # ------------------------------------------------------------------ deleting

    def delete_session(self, session_id: str) -> None:
        """Remove the session everywhere: log, snapshot, index entry, search rows, and any
        archived or quarantined copy; the search file keeps no trace of its text."""
        validate_session_id(session_id)
        with self._mutex, self._engine.lock.hold():
            found = False
            try:
                self.log.delete_session(session_id)
                found = True
            except SessionNotFoundError:
                pass
            found = retention.remove_traces(self.layout, session_id) or found
            remove_stale_asides(self.layout)  # a killed `rebuild --verify` left copies
            known = session_id in self._engine.checkpoints()
            self._engine.catch_up(only=(session_id,))
            if not (found or known):
                raise SessionNotFoundError(f"no session {session_id}")
            self._engine.search.scrub()

    # ------------------------------------------------------------------ retention, repair

    def cleanup(
        self,
        max_sessions: int = retention.DEFAULT_MAX_SESSIONS,
        *,
        dry_run: bool = False,
        purge: bool = False,
    ) -> retention.CleanupReport:
        """Archive the least recently updated sessions beyond ``max_sessions``; with
        ``purge``, then delete every archive for real."""
        with self._mutex, self._engine.lock.hold():
            metas = self.list_sessions()
            beyond = retention.sessions_beyond(metas, max_sessions)
            kept = len(metas) - len(beyond)
            if dry_run:
                would_purge = [entry.path for entry in retention.archived(self.layout)]
                would_purge += [str(retention.archive_path(self.layout, sid)) for sid in beyond]
                return retention.CleanupReport(beyond, would_purge if purge else [], kept, True)
            for sid in beyond:
                retention.archive_session(self.layout, sid)
            self._engine.catch_up()
            purged = retention.purge_archives(self.layout) if purge else []
            return retention.CleanupReport(beyond, purged, kept, False)

    def archived(self) -> list[retention.ArchivedSession]:
        return retention.archived(self.layout)

    def restore(self, session_id: str) -> SessionMeta | None:
        """Bring an archived session back; its metadata (None if it has no usable event)."""
        with self._mutex:
            retention.restore_session(self.layout, session_id)
            self._engine.catch_up(only=(session_id,))
            found = self._engine.read_snapshot(session_id)
            return found.metadata if found is not None else None

    def fsck(self, *, repair: bool = False, progress: Progress | None = None) -> fsck.FsckReport:
        """Check every log for damaged lines; with ``repair``, quarantine them."""
        with self._mutex:
            report = fsck.fsck(self.layout, repair=repair, progress=progress)
            if report.repairs:
                self._engine.catch_up()
            return report

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        with self._mutex:
            self._engine.close()

    def __enter__(self) -> Projections:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    @property
    def engine(self) -> Engine:
        return self._engine

    def _fresh(self, session_id: str | None = None) -> None:
        if session_id is not None:
            validate_session_id(session_id)
        if self._engine.is_stale(session_id):
            self._engine.catch_up(only=None if session_id is None else (session_id,))

    def _refold(self, session_id: str) -> bool:
        """Fold a session again when its log exists but its snapshot does not."""
        if not os.path.exists(self.layout.log_path(session_id)):
            return False
        self._engine.catch_up(only=(session_id,), refold=frozenset({session_id}))
        return True

    def _not_found(self, session_id: str) -> SessionNotFoundError:
        if retention.archive_path(self.layout, session_id).exists():
            return SessionNotFoundError(
                f"session {session_id} is archived (chatlog restore {session_id} brings it back)"
            )
        if os.path.exists(self.layout.log_path(session_id)):
            return SessionNotFoundError(f"session {session_id} has no readable events")
        return SessionNotFoundError(f"no session {session_id}")
