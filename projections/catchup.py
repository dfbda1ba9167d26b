"""Catch-up: fold what the store gained since the projection database last looked.

One catch-up, in write transactions of the projection database:

1. ask the store's change feed which sessions may have changed since the feed position
   stored in the database (every session, after a reboot or on a new database);
2. per such session, read its events after the position stored in its row (nothing is
   read when the position says "unchanged"), fold them into its row, add its messages to
   the search index (and take redacted ones out of it), and store the new position — in
   the same transaction as the rows;
3. store the feed's new position, commit, and let the store forget what it reported.

So the cost is O(new events): the same after one append whether the session holds one
event or a million, and whether the home holds one session or 100,000.

Rows are written in batches (:class:`projections.db.RowBatch`): the stored positions of
``LOOKUP_SESSIONS`` candidates come from one query, and the rows folded from many
sessions go out in one statement per table once ``FLUSH_ROWS`` rows or
``FLUSH_TEXT_BYTES`` of message text are waiting, so a first build over 100,000 small
sessions costs a few statements per thousand sessions, not several per session. Memory
stays bounded by those limits whatever the sessions' number and length.

A very long catch-up commits every ``COMMIT_EVENTS`` events, always right after writing
every waiting row (each commit consistent: rows and positions together), so nothing is
lost to a crash but the uncommitted batch, which the next catch-up folds again from the
last committed position. A crash at any point leaves the database as it was at a commit,
and the result always equals a full rebuild.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, Literal, NamedTuple, Protocol

from eventlog import EventStore, LogIssue, Message, SessionNotFoundError
from eventlog.events import MessageRedacted
from eventlog.store import Changes, SessionPosition, SessionRead
from projections import fold
from projections.db import ProjectionDB, RowBatch, StoredPosition
from projections.records import CatchUpReport

ProgressUnit = Literal["sessions", "bytes"]


class Progress(Protocol):
    """Called as ``progress(done, total, unit)``: how much of ``total`` is done, counted
    in sessions or in bytes read from the store."""

    def __call__(self, done: int, total: int, unit: ProgressUnit) -> None: ...


COMMIT_EVENTS: Final = 50_000
FLUSH_ROWS: Final = 20_000  # session and message rows waiting to be written
FLUSH_TEXT_BYTES: Final = 16 << 20  # message text waiting to be indexed
LOOKUP_SESSIONS: Final = 500  # candidates whose stored positions one query fetches
FEED_KEY: Final = "feed"

logger = logging.getLogger("chatlog")


class Candidates(NamedTuple):
    changes: Changes
    sessions: list[str]


def candidates(store: EventStore, db: ProjectionDB) -> Candidates:
    """The sessions a catch-up must look at, per the change feed."""
    changes = store.changes(db.get_meta(FEED_KEY))
    if changes.sessions is None:
        sessions = set(store.session_ids()) | set(db.known_sessions())
    else:
        sessions = set(changes.sessions)
    return Candidates(changes, sorted(sessions))


def is_stale(store: EventStore, db: ProjectionDB) -> bool:
    """Whether a catch-up would change anything (nothing is written to find out)."""
    if not db.exists():
        return True
    found = candidates(store, db)
    if found.changes.sessions is None or found.changes.consumed:
        return True
    stored = db.stored_positions(found.sessions)
    for sid in found.sessions:
        known = stored.get(sid)
        try:
            result = store.read_from(sid, known.position if known else None)
        except SessionNotFoundError:
            return known is not None
        result.close()
        if result.state == "missing":
            if known is not None:
                return True
        elif result.state != "unchanged":
            return True
    return False


class _Meter:
    """Progress of one catch-up: bytes read against the store's size of every session
    when the store can tell it and every session is read whole (a rebuild), else
    sessions done."""

    def __init__(
        self, progress: Progress | None, store: EventStore, sessions: Sequence[str], whole: bool
    ) -> None:
        self.progress = progress
        self.sessions_total = len(sessions)
        self.sessions_done = 0
        self.bytes_done = 0
        size = store.stored_bytes(sessions) if progress is not None and whole else None
        self.bytes_total = size

    def read(self, size: int) -> None:
        if self.progress is not None and self.bytes_total is not None and size:
            self.bytes_done += size
            self.bytes_total = max(self.bytes_total, self.bytes_done)  # grown meanwhile
            self.progress(self.bytes_done, self.bytes_total, "bytes")

    def session_done(self) -> None:
        self.sessions_done += 1
        if self.progress is not None and self.bytes_total is None:
            self.progress(self.sessions_done, self.sessions_total, "sessions")


class CatchUp:
    """One run of a catch-up (see the module docstring)."""

    def __init__(self, store: EventStore, db: ProjectionDB) -> None:
        self.store = store
        self.db = db
        self.updated: list[str] = []
        self.removed: list[str] = []
        self.events = 0
        self.issues: list[LogIssue] = []
        self._uncommitted = 0
        self._batched = True
        self._rows = RowBatch()
        self._next_key = 1
        self._next_message = 1
        self._committed = False  # a commit happened since the stored positions were read
        self._meter = _Meter(None, store, (), False)
        # Rows are written on one worker thread while the next ones are read and folded
        # (SQLite releases the GIL while it inserts and indexes): at most one batch in
        # flight, and every other use of the database waits for it (``_drain``).
        self._writer: ThreadPoolExecutor | None = None
        self._writing: Future[None] | None = None

    def run(self, progress: Progress | None = None, *, full: bool = False) -> CatchUpReport:
        self._batched = not full
        with self.db.write():
            # A rebuild folds everything again and commits it at once at the end.
            with self.db.rebuilding() if full else contextlib.nullcontext():
                found = candidates(self.store, self.db)
                self.fold_sessions(found.sessions, progress=progress, whole=full)
            self.db.set_meta(FEED_KEY, found.changes.position)
        self.store.changes_applied(found.changes)
        return CatchUpReport(self.updated, sorted(self.removed), self.events, self.issues)

    def fold_sessions(
        self,
        session_ids: Sequence[str],
        *,
        until: Mapping[str, SessionPosition] | None = None,
        progress: Progress | None = None,
        whole: bool = False,
    ) -> None:
        """Inside ``db.write()``: bring each session's rows up to date (up to its
        position in ``until`` when given), then write every waiting row. ``whole``: every
        session is read from its start (progress then counts bytes when it can)."""
        self._meter = _Meter(progress, self.store, session_ids, whole)
        self._next_key, self._next_message = self.db.next_keys()
        any_rows = self._next_key > 1
        try:
            for start in range(0, len(session_ids), LOOKUP_SESSIONS):
                part = session_ids[start : start + LOOKUP_SESSIONS]
                stored = self._stored_positions(part) if any_rows else {}
                self._committed = False
                for n, sid in enumerate(part):
                    if self._committed:  # another writer may have written rows meanwhile
                        stored = self._stored_positions(part[n:])
                        self._committed = False
                    self._session(sid, stored.get(sid), until.get(sid) if until else None)
                    self._meter.session_done()
            self._flush(last=True)
        finally:
            self._stop_writer()

    def _stored_positions(self, part: Sequence[str]) -> dict[str, StoredPosition]:
        self._drain()
        return self.db.stored_positions(part)

    def _session(
        self, sid: str, stored: StoredPosition | None, until: SessionPosition | None
    ) -> None:
        try:
            result = self.store.read_from(sid, stored.position if stored else None, until=until)
        except SessionNotFoundError:
            result = SessionRead("missing")
        if result.state == "missing":
            if stored is not None:
                self._drain()
                self.db.remove_session(sid)
                self.removed.append(sid)
            return
        if result.state == "unchanged":
            return
        row: fold.SessionRow | None = None
        key: int | None = None
        if stored is not None:
            self._drain()
            if result.state == "restarted":
                self.db.remove_session(sid)
            else:
                found = self.db.session(sid)
                if found is not None:
                    row, key = found[0], stored.key
        self._fold(sid, key, row, result)

    def _fold(
        self, sid: str, key: int | None, row: fold.SessionRow | None, result: SessionRead
    ) -> None:
        new = key is None
        changed = False
        try:
            for batch in result.batches:
                redactions: list[MessageRedacted] = []
                for entry in batch.entries:
                    event = entry.event
                    row = fold.apply(row, event, sid)
                    if isinstance(event, Message):
                        if key is None:
                            key = self._new_key()
                        self._rows.add_message(
                            self._next_message,
                            key,
                            fold.message_row(event, entry.offset),
                            event.content,
                        )
                        self._next_message += 1
                    elif isinstance(event, MessageRedacted):
                        redactions.append(event)
                for issue in batch.issues:
                    logger.warning("skipped damaged line %s", issue.describe())
                self.issues += batch.issues
                self._meter.read(batch.size)
                if row is None:
                    continue  # no usable event yet: nothing to show, read again next time
                if key is None:
                    key = self._new_key()
                self._rows.put_session(key, row, batch.position, new=new)
                changed = changed or bool(batch.entries)
                if redactions:
                    self._flush()  # the messages they redact are rows first
                    new = False
                    row = self._redact(key, row, redactions, batch.position)
                self.events += len(batch.entries)
                self._uncommitted += len(batch.entries)
                if len(self._rows) >= FLUSH_ROWS or self._rows.text_bytes >= FLUSH_TEXT_BYTES:
                    self._flush()
                    new = False
                if self._batched and self._uncommitted >= COMMIT_EVENTS:
                    self._flush()
                    new = False
                    self._commit()
        finally:
            result.close()
        if changed:
            self.updated.append(sid)

    def _new_key(self) -> int:
        key = self._next_key
        self._next_key += 1
        return key

    def _flush(self, *, last: bool = False) -> None:
        """Write the waiting rows: the ``last`` ones here, the others on the writer
        thread (after the batch before them) while the next ones are collected in a new
        batch. Small catch-ups never start the thread."""
        if not len(self._rows):
            self._drain()
            return
        rows, self._rows = self._rows, RowBatch()
        self._drain()
        if last:
            self.db.write_rows(rows)
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catch-up")
        self._writing = self._writer.submit(self.db.write_rows, rows)

    def _drain(self) -> None:
        """Wait until the batch in flight is written (its error, if any, raised here)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def _stop_writer(self) -> None:
        """Wait for the writer thread whatever happened: nothing may still be writing
        when the transaction is committed or rolled back."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writing, self._writing = self._writing, None
        if writing is not None:
            exception = writing.exception()  # waits; an error is already on its way up
            if exception is not None:
                logger.debug("rows not written after an earlier error: %s", exception)
        writer.shutdown(wait=True)

    def _commit(self) -> None:
        """Commit what is written and go on in a new transaction; another writer may
        have added rows in between, so the free keys are read again."""
        self._drain()
        self.db.commit_and_continue()
        self._uncommitted = 0
        self._committed = True
        self._next_key, self._next_message = self.db.next_keys()

    def _redact(
        self,
        key: int,
        row: fold.SessionRow,
        redactions: list[MessageRedacted],
        position: SessionPosition,
    ) -> fold.SessionRow:
        """Fold redactions (after the messages of their batch, which they follow): each
        message loses its search row, and a title taken from it is replaced."""
        self._drain()
        title_seq = self.db.first_user_seq(key)
        for event in redactions:
            found = self.db.redact(key, event.target, event.ts, event.reason)
            if found and event.target == title_seq and row.title_auto is not None:
                row = fold.title_redacted(row)
                self._rows.put_session(key, row, position, new=False)
        return row
