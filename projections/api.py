"""``Projections``: the read side of chatlog, as other layers use it (REPL, server, CLI).

Every reader first brings the projection database up to date with the store (through the
store's change feed: O(new events), nothing at all when nothing changed), so answers are
never stale even when no watcher runs. Messages are never held whole: listings come from
rows, and message text is streamed from the store (the last N read from the end). One
instance is safe to share between threads; any number of processes can use one home.

When the database cannot be written (a read-only home, a full disk), readers answer from
what it holds and say once, with the path and the reason, that it could not be updated.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import msgspec

from eventlog import (
    AnyEvent,
    EventStore,
    InvalidArgumentError,
    Message,
    SessionNotFoundError,
    StorageError,
    home_audit,
    redaction,
    validate_session_id,
)
from eventlog.atomic import write_atomic
from eventlog.events import MessageRedacted
from eventlog.home import HomeLayout, ensure_private_dir
from eventlog.store import ArchivedSession, Compaction, DamageReport, Repair, SessionPosition
from projections import deletion, fold, stats, views
from projections import markdown as markdown_projection
from projections import search as search_text
from projections.catchup import CatchUp, Progress, candidates, is_stale
from projections.db import ProjectionDB
from projections.records import (
    CatchUpReport,
    RebuildReport,
    SearchHit,
    SessionMeta,
    SnapshotMessage,
    TreeEntry,
)
from projections.retention import DEFAULT_MAX_SESSIONS, CleanupReport, FsckReport
from projections.stats import Price, StatsQuery, StatsReport

logger = logging.getLogger("chatlog")


class SecretFinding(NamedTuple):
    """A message holding secrets: where, and of which kinds (never the secret)."""

    session_id: str
    seq: int
    kinds: list[str]


class Projections:
    """Index, counters, search and the views over one store, kept in the home's
    projection database."""

    def __init__(
        self, log: EventStore, *, durable: bool = True, layout: HomeLayout | None = None
    ) -> None:
        self.log = log
        found = layout if layout is not None else getattr(log, "layout", None)
        if not isinstance(found, HomeLayout):
            raise InvalidArgumentError("Projections needs a home (layout=) for this store")
        self.layout = found
        self.durable = durable
        self._db = ProjectionDB(self.layout.projections_db)
        self._mutex = threading.RLock()
        self._warned = False
        self._stale = False  # the database lags the logs (it could not be written)

    # ------------------------------------------------------------------ upkeep

    def catch_up(self, progress: Progress | None = None) -> CatchUpReport:
        """Fold every session's new events into the projections; cheap when nothing
        changed."""
        with self._mutex:
            self._db.refresh()
            return CatchUp(self.log, self._db).run(progress)

    def rebuild(self, progress: Progress | None = None) -> RebuildReport:
        """Replay every session from the store. Done in one transaction: readers see the
        old projections until the new ones are complete, and a failure (a full disk, a
        kill) leaves the old ones as they were."""
        started = time.perf_counter()
        with self._mutex:
            self._db.refresh()
            report = CatchUp(self.log, self._db).run(progress, full=True)
            sessions = self._db.count_sessions()
        return RebuildReport(sessions, report.events, report.issues, time.perf_counter() - started)

    def verify(self, progress: Progress | None = None) -> list[str]:
        """Rebuild aside from exactly what the live projections have folded, and name
        every difference (none: all good)."""
        with self._mutex:
            self._fresh()
            live = self._db.contents()
            bounds = {
                sid: position
                for sid, position in (
                    (sid, self._position(sid)) for sid in self._db.known_sessions()
                )
                if position is not None
            }
            aside = self._aside_path("verify")
            fresh = ProjectionDB(aside)
            try:
                with fresh.write():
                    CatchUp(self.log, fresh).fold_sessions(
                        sorted(bounds), until=bounds, progress=progress, whole=True
                    )
                rebuilt = fresh.contents()
            finally:
                fresh.close()
                _remove_db_files(aside)
        differences = []
        live_set, rebuilt_set = set(live), set(rebuilt)
        for row in sorted(live_set - rebuilt_set, key=repr)[:20]:
            differences.append(
                f"{self.layout.projections_db}: row not produced by a rebuild: {row[:3]}"
            )
        for row in sorted(rebuilt_set - live_set, key=repr)[:20]:
            differences.append(f"{self.layout.projections_db}: row missing: {row[:3]}")
        return differences

    # ------------------------------------------------------------------ reading

    def list_sessions(self, limit: int | None = None) -> list[SessionMeta]:
        """Sessions, newest updated first (at most ``limit``)."""
        with self._mutex:
            self._fresh()
            rows = self._db.listing(limit)
            if self._stale:  # the database could not be updated: add what the logs say
                rows = self._with_overlay(rows, limit)
            return [row.meta() for row in rows]

    def count_sessions(self) -> int:
        with self._mutex:
            self._fresh()
            return self._db.count_sessions()

    def iter_sessions(self) -> Iterator[SessionMeta]:
        """Every session, newest updated first, a batch at a time."""
        with self._mutex:
            self._fresh()
            rows = list(self._db.listing(None)) if False else None
            del rows
        for row in self._db.iter_listing():
            yield row.meta()

    def session_row(self, session_id: str) -> fold.SessionRow:
        with self._mutex:
            validate_session_id(session_id)
            self._fresh()
            found = self._current(session_id)
            if found is None:
                raise self._not_found(session_id)
            return found[0]

    def session_meta(self, session_id: str) -> SessionMeta:
        return self.session_row(session_id).meta()

    def _position(self, session_id: str) -> SessionPosition | None:
        found = self._db.session(session_id)
        return found[1] if found is not None else None

    def _view(self, session_id: str) -> tuple[SessionMeta, SessionPosition, views.Redactions]:
        with self._mutex:
            validate_session_id(session_id)
            self._fresh()
            redactions = self._db.redactions(session_id)
            found = self._current(session_id, redactions)
            if found is None:
                raise self._not_found(session_id)
            return found[0].meta(), found[1], redactions

    def redactions(self, session_id: str) -> views.Redactions:
        """The session's redacted messages, seq -> (when, reason): readers that stream
        its events themselves show those through :func:`projections.views.shown`."""
        return self._view(session_id)[2]

    def messages(self, session_id: str) -> tuple[SessionMeta, Iterator[SnapshotMessage]]:
        """The session's metadata and its messages, streamed, exactly as of that metadata
        (appends made meanwhile are not included); redacted ones without their text."""
        meta, position, redactions = self._view(session_id)
        result = self.log.read_from(session_id, None, until=position)
        if result.state == "missing":
            raise self._not_found(session_id)
        events = (entry.event for batch in result.batches for entry in batch.entries)
        return meta, views.messages_of(events, redactions)

    def messages_at(
        self, session_id: str, seq: int
    ) -> tuple[SessionMeta, Iterator[SnapshotMessage]]:
        """The session exactly as it was right after its event ``seq``: metadata and
        messages (streamed: two passes over the log up to ``seq``, constant memory). A
        message redacted since is shown redacted: redaction hides text from every view."""
        redactions = self.redactions(session_id)  # exists (or a clear not-found error)
        row: fold.SessionRow | None = None
        title_seq = None  # the message the automatic title comes from
        for event in self.log.read(session_id):
            if event.seq > seq:
                break
            row = fold.apply(row, event, session_id)
            if title_seq is None and row.title_auto is not None:
                title_seq = event.seq
        last = self.log.last_seq(session_id)
        if row is None or not 1 <= seq <= last:
            raise InvalidArgumentError(
                f"seq {seq} is not an event of {session_id} (its seqs are 1 to {last})"
            )
        if title_seq in redactions:
            row = fold.title_redacted(row)
        events = _until_seq(self.log.read(session_id), seq)
        return row.meta(), views.messages_of(events, redactions)

    def messages_as_of(
        self, session_id: str, seq: int | None
    ) -> tuple[SessionMeta, Iterator[SnapshotMessage]]:
        """:meth:`messages_at` ``seq``, or :meth:`messages` (now) when ``seq`` is None."""
        return self.messages(session_id) if seq is None else self.messages_at(session_id, seq)

    def message_seq(self, session_id: str, number: int) -> int:
        """The seq of the session's ``number``-th message (1-based)."""
        with self._mutex:
            self._fresh()
            seq = self._db.message_seq(session_id, number)
            if seq is None:
                count = self.session_meta(session_id).message_count
                raise InvalidArgumentError(
                    f"message {number} does not exist ({session_id} has {count})"
                )
            return seq

    def tree(self, session_id: str) -> list[TreeNode]:
        """The family of forks ``session_id`` belongs to, from its oldest ancestor still
        here, depth first (each fork after its parent, by branch point)."""
        with self._mutex:
            self._fresh()
            found = self._db.session(session_id)
            if found is None:
                raise self._not_found(session_id)
            root = found[0]
            seen = {root.session_id}
            while root.parent is not None and root.parent not in seen:
                parent = self._db.session(root.parent)
                if parent is None:
                    break
                root = parent[0]
                seen.add(root.session_id)
            nodes: list[TreeNode] = []
            stack = [(root, 0)]
            visited: set[str] = set()
            while stack:
                row, depth = stack.pop()
                if row.session_id in visited:
                    continue
                visited.add(row.session_id)
                nodes.append(TreeNode(row.meta(), depth, row.parent, row.parent_seq))
                stack += [(fork, depth + 1) for fork in reversed(self._db.forks_of(row.session_id))]
            return nodes

    def imported_session(self, key: str) -> str | None:
        """The session imported under ``key`` (of several, the oldest id), from the index
        as it stands: :meth:`catch_up` first. O(log sessions)."""
        with self._mutex:
            return self._db.imported_session(key)

    def imported_branches(self, family: str) -> list[str]:
        """The sessions imported under the keys of ``family``'s branches (``family#...``;
        of several under one key, the oldest id), oldest id first, from the index as it
        stands: :meth:`catch_up` first."""
        with self._mutex:
            return [
                sid
                for key, sid in self._db.imported_with_prefix(f"{family}#")
                if key.split("#", 1)[0] == family
            ]

    def last_messages(self, session_id: str, n: int) -> tuple[SessionMeta, list[SnapshotMessage]]:
        """The metadata and the last ``n`` messages, read from the end of the log."""
        meta, _position, redactions = self._view(session_id)
        entries = self.log.read_last(session_id, n, messages_only=True)
        return meta, list(views.messages_of((entry.event for entry in entries), redactions))

    def snapshot_chunks(self, session_id: str, at_seq: int | None = None) -> Iterator[bytes]:
        """``sessions/<id>.json``'s bytes, a piece at a time (as of event ``at_seq``, when
        given)."""
        meta, messages = self.messages_as_of(session_id, at_seq)
        return views.snapshot_chunks(meta, messages)

    def snapshot_json(self, session_id: str) -> bytes:
        """``sessions/<id>.json``'s bytes (whole: for small sessions and tests)."""
        return b"".join(self.snapshot_chunks(session_id))

    def markdown_chunks(self, session_id: str, at_seq: int | None = None) -> Iterator[str]:
        meta, messages = self.messages_as_of(session_id, at_seq)
        return markdown_projection.render_chunks(meta, messages)

    def markdown(self, session_id: str) -> str:
        return "".join(self.markdown_chunks(session_id))

    def index_chunks(self) -> Iterator[bytes]:
        return views.index_chunks(self.iter_sessions())

    def write_views(self, session_ids: list[str] | None = None) -> list[Path]:
        """Materialize ``index.json`` and ``sessions/<id>.json`` (all sessions, or those
        named) in the replaced system's formats; returns the files written."""
        written = []
        with self._mutex:
            self._fresh()
            write_atomic(self.layout.index_file, self.index_chunks(), durable=self.durable)
            written.append(self.layout.index_file)
            ensure_private_dir(self.layout.sessions_dir)
            wanted = session_ids if session_ids is not None else self._db.known_sessions()
            for sid in wanted:
                path = self.layout.snapshot_path(sid)
                write_atomic(path, self.snapshot_chunks(sid), durable=self.durable)
                written.append(path)
            if session_ids is None:
                keep = {f"{sid}.json" for sid in wanted}
                for name in os.listdir(self.layout.sessions_dir):
                    if name.endswith(".json") and name not in keep:
                        (self.layout.sessions_dir / name).unlink(missing_ok=True)
        return written

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Messages matching every word of ``query``, best (bm25) first."""
        expression = search_text.match_expression(query)
        if limit <= 0:
            return []
        terms = search_text.query_terms(query)
        with self._mutex:
            self._fresh()
            rows = self._db.search(expression, limit)
        hits = []
        for sid, title_set, title_auto, seq, role, ts, locator, rank in rows:
            event = self.log.read_at(sid, locator)
            content = event.content if isinstance(event, Message) else ""
            hits.append(
                SearchHit(
                    session_id=sid,
                    title=title_set or title_auto,
                    seq=seq,
                    role=role,
                    timestamp=ts,
                    snippet=search_text.snippet(content, terms),
                    rank=rank,
                )
            )
        return hits

    def stats(self, query: StatsQuery, prices: Mapping[str, Price]) -> StatsReport:
        """Messages, sessions, tokens and cost, grouped (see :mod:`projections.stats`)."""
        with self._mutex:
            self._fresh()
            return stats.compute(self._db, query, prices)

    # ------------------------------------------------------------------ deleting

    def delete_session(self, session_id: str, *, expected_seq: int | None = None) -> None:
        """Remove the session everywhere: log, rows, search index (no trace of its text
        left in the database files), archived and quarantined copies, temp files. The
        intent is recorded first, so a delete interrupted at any point is finished by the
        next ``delete`` of the same id (or by the next catch-up). With ``expected_seq``,
        only if the session's last seq is that (else SeqConflictError, nothing removed)."""
        validate_session_id(session_id)
        with self._mutex:
            known = self._db.exists() and self._db.session(session_id) is not None
            found = deletion.delete(self.log, self.layout, session_id, expected_seq)
            if not (found or known):
                raise SessionNotFoundError(f"no session {session_id}")
            self.catch_up()
            deletion.finish(self.layout, session_id, self._db)

    # ------------------------------------------------------------------ redacting

    def redact(self, session_id: str, seq: int, reason: str | None = None) -> MessageRedacted:
        """Redact message ``seq``: from now on no view shows its text (search loses it,
        materialized views under the home are written again); ``compact`` then removes
        it from every byte of the home."""
        with self._mutex:
            validate_session_id(session_id)
            self._fresh()
            if self._db.session(session_id) is None:
                raise self._not_found(session_id)
            state = self._db.message_redacted(session_id, seq)
            if state is None:
                raise InvalidArgumentError(f"session {session_id} has no message {seq}")
            if state:
                raise InvalidArgumentError(f"message {seq} of {session_id} is redacted already")
            event = self.log.redact(session_id, seq, reason)
            self.catch_up()
            self._rewrite_views([session_id])
            return event

    def compact(self, session_id: str | None = None) -> list[Compaction]:
        """Remove redacted text for good from one session (or every one holding some,
        archived ones too): its log, archive and quarantined lines, the search database
        (its deleted pages zeroed, the full-text index merged, the write-ahead log
        emptied) and the materialized views. Returns what changed in the store."""
        if session_id is not None:
            validate_session_id(session_id)
            wanted = [session_id]
        else:  # the live sessions the database knows to hold redactions, and every archive
            with self._mutex:
                self._fresh()
                live = set(self._db.redacted_sessions())
            wanted = sorted(live | {entry.session_id for entry in self.log.archived()})
        done: list[Compaction] = []
        for sid in wanted:
            found = self.log.compact(sid)
            if found is None and session_id is not None:
                raise SessionNotFoundError(f"no session {sid}")
            if found is not None and (found.messages or found.archived or found.quarantined):
                done.append(found)
        with self._mutex:
            self._fresh()
            self._db.scrub()
            self._rewrite_views([entry.session_id for entry in done])
        return done

    def find_secrets(self, session_id: str | None = None) -> Iterator[SecretFinding]:
        """Secrets in the history (messages not redacted yet): session, seq and kinds,
        never the secret itself."""
        with self._mutex:
            self._fresh()
            wanted = [session_id] if session_id is not None else self._db.known_sessions()
        for sid in sorted(wanted):
            _meta, position, redactions = self._view(sid)
            result = self.log.read_from(sid, None, until=position)
            for batch in result.batches:
                for entry in batch.entries:
                    event = entry.event
                    if isinstance(event, Message) and event.seq not in redactions:
                        kinds = redaction.redact_message(event.content, event.metadata).kinds
                        if kinds:
                            yield SecretFinding(sid, event.seq, sorted(set(kinds)))

    def _rewrite_views(self, session_ids: list[str]) -> None:
        """Write again the materialized views that exist of these sessions (and the index,
        which holds their titles); remove those of sessions archived since."""
        existing = [sid for sid in session_ids if self.layout.snapshot_path(sid).exists()]
        live = [sid for sid in existing if self._db.session(sid) is not None]
        for sid in set(existing) - set(live):  # archived since: `views` would remove it too
            self.layout.snapshot_path(sid).unlink(missing_ok=True)
        if live or (session_ids and self.layout.index_file.exists()):
            self.write_views(live)

    # ------------------------------------------------------------------ retention, repair

    def cleanup(
        self,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        *,
        dry_run: bool = False,
        purge: bool = False,
    ) -> CleanupReport:
        """Archive the least recently updated sessions beyond ``max_sessions``; with
        ``purge``, then delete every archive for real."""
        with self._mutex:
            self._fresh()
            total = self._db.count_sessions()
            beyond = [row.session_id for row in self._db.listing(None)[max(max_sessions, 0) :]]
            kept = total - len(beyond)
            if dry_run:
                would_purge = [entry.path for entry in self.log.archived()]
                would_purge += [self.log.archive_location(sid) for sid in beyond]
                return CleanupReport(beyond, would_purge if purge else [], kept, True)
            for sid in beyond:
                self.log.archive(sid)
            self.catch_up()
            purged = self.log.purge_archives() if purge else []
            return CleanupReport(beyond, purged, kept, False)

    def archived(self) -> list[ArchivedSession]:
        return self.log.archived()

    def restore(self, session_id: str) -> SessionMeta | None:
        """Bring an archived session back; its metadata (None if it has no usable event)."""
        with self._mutex:
            self.log.restore(session_id)
            self.catch_up()
            found = self._db.session(session_id)
            return found[0].meta() if found is not None else None

    def fsck(self, *, repair: bool = False, progress: Progress | None = None) -> FsckReport:
        """Check every session for damaged lines (with ``repair``, quarantine them), remove
        stale temp files, and list what under the home chatlog does not use."""
        findings: list[DamageReport] = []
        repairs: list[Repair] = []
        session_ids = self.log.session_ids()
        for done, sid in enumerate(session_ids, 1):
            check = self.log.check(sid)
            if check is not None and (check.damaged or check.foreign):
                findings.append(check)
                if repair and check.damaged:
                    fixed = self.log.repair(sid)
                    if fixed is not None:
                        repairs.append(fixed)
            if progress is not None:
                progress(done, len(session_ids), "sessions")
        stale = self.log.remove_stale_temps()
        if repairs:
            self.catch_up()
        return FsckReport(
            len(session_ids), findings, repairs, stale, home_audit.unsafe_entries(self.layout)
        )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        with self._mutex:
            self._db.close()

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
    def db(self) -> ProjectionDB:
        return self._db

    def _fresh(self) -> None:
        """Catch up when anything changed; if the database cannot be written, say so once
        and answer from what it holds."""
        self._db.refresh()
        try:
            unfinished = deletion.pending(self.layout)
            if unfinished:  # a delete was interrupted: finish it first
                deletion.finish_pending(self.log, self.layout, self._db)
            if unfinished or is_stale(self.log, self._db):
                CatchUp(self.log, self._db).run()
            self._stale = False
            for session_id in unfinished:
                deletion.finish(self.layout, session_id, self._db)
        except StorageError as exc:
            if not self._db.exists():
                raise
            self._stale = True
            if not self._warned and not self._db.readonly:  # (it said why when opened)
                self._warned = True
                logger.warning("projections could not be updated (answers may lag): %s", exc)

    def _current(
        self, session_id: str, redactions: dict[int, tuple[str, str | None]] | None = None
    ) -> tuple[fold.SessionRow, SessionPosition] | None:
        """The session's row and position; when the database could not be updated, with
        the events it lacks folded in (in memory: one row, whatever the session's length),
        and the redactions among them added to ``redactions``."""
        found = self._db.session(session_id)
        if not self._stale:
            return found
        row, position = found if found is not None else (None, None)
        result = self.log.read_from(session_id, position)
        if result.state == "missing":
            result.close()
            return None
        key = self._db.session_key(session_id)
        title_seq = self._db.first_user_seq(key) if key is not None else None
        if result.state == "restarted":
            row, title_seq = None, None
        try:
            for batch in result.batches:
                for entry in batch.entries:
                    event = entry.event
                    row = fold.apply(row, event, session_id)
                    if isinstance(event, Message) and event.role == "user" and title_seq is None:
                        title_seq = event.seq
                    elif isinstance(event, MessageRedacted):
                        if redactions is not None:
                            redactions.setdefault(event.target, (event.ts, event.reason))
                        if event.target == title_seq:
                            row = fold.title_redacted(row)
                position = batch.position
        finally:
            result.close()
        return (row, position) if row is not None and position is not None else None

    def _with_overlay(
        self, rows: list[fold.SessionRow], limit: int | None
    ) -> list[fold.SessionRow]:
        found = candidates(self.log, self._db)
        changed = set(found.sessions)
        merged = {row.session_id: row for row in rows if row.session_id not in changed}
        for sid in changed:
            current = self._current(sid)
            if current is not None:
                merged[sid] = current[0]
        ordered = sorted(
            merged.values(),
            key=lambda row: (fold.instant_us(row.updated_at), row.session_id),
            reverse=True,
        )
        return ordered if limit is None else ordered[: max(limit, 0)]

    def _aside_path(self, purpose: str) -> Path:
        handle, name = tempfile.mkstemp(
            prefix=f".{purpose}-", suffix=".sqlite3", dir=self.layout.root
        )
        os.close(handle)
        os.unlink(name)
        return Path(name)

    def _not_found(self, session_id: str) -> SessionNotFoundError:
        if any(entry.session_id == session_id for entry in self.log.archived()):
            return SessionNotFoundError(
                f"session {session_id} is archived (chatlog restore {session_id} brings it back)"
            )
        if self.log.exists(session_id):
            return SessionNotFoundError(f"session {session_id} has no readable events")
        return SessionNotFoundError(f"no session {session_id}")


class TreeNode(msgspec.Struct, frozen=True):
    """One session of a family of forks (``parent`` None for the family's root)."""

    meta: SessionMeta
    depth: int
    parent: str | None
    parent_seq: int

    def entry(self) -> TreeEntry:
        """This node as ``chatlog tree --json`` and ``session.tree`` give it."""
        meta = self.meta
        return TreeEntry(
            session_id=meta.session_id,
            parent=self.parent,
            parent_seq=self.parent_seq if self.parent else None,
            depth=self.depth,
            title=meta.title,
            message_count=meta.message_count,
            updated_at=meta.updated_at,
        )


def _until_seq(events: Iterator[AnyEvent], seq: int) -> Iterator[AnyEvent]:
    for event in events:
        if event.seq > seq:
            return
        yield event


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
