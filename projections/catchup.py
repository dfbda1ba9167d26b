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
event or a million, and whether the home holds one session or 100,000. A very long
catch-up commits every ``COMMIT_EVENTS`` events (each commit consistent: rows and
positions together), so nothing is lost to a crash but the uncommitted batch, which the
next catch-up folds again from the last committed position. A crash at any point leaves
the database as it was at a commit, and the result always equals a full rebuild.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, NamedTuple

from eventlog import EventStore, LogIssue, Message, SessionNotFoundError
from eventlog.events import MessageRedacted
from eventlog.store import Changes, SessionPosition, SessionRead
from projections import fold
from projections.db import ProjectionDB
from projections.records import CatchUpReport

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with counts of sessions."""

COMMIT_EVENTS: Final = 50_000
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
    for sid in found.sessions:
        stored = db.session(sid)
        try:
            result = store.read_from(sid, stored[1] if stored else None)
        except SessionNotFoundError:
            return stored is not None
        result.close()
        if result.state == "missing":
            if stored is not None:
                return True
        elif result.state != "unchanged":
            return True
    return False


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

    def run(self, progress: Progress | None = None, *, full: bool = False) -> CatchUpReport:
        self._batched = not full
        with self.db.write():
            if full:  # rebuild: everything again, committed at once at the end
                self.db.reset()
            found = candidates(self.store, self.db)
            for done, sid in enumerate(found.sessions, 1):
                self.session(sid)
                if progress is not None:
                    progress(done, len(found.sessions))
            self.db.set_meta(FEED_KEY, found.changes.position)
        self.store.changes_applied(found.changes)
        return CatchUpReport(self.updated, sorted(self.removed), self.events, self.issues)

    def session(self, sid: str, until: SessionPosition | None = None) -> None:
        stored = self.db.session(sid)
        row, position = stored if stored is not None else (None, None)
        try:
            result = self.store.read_from(sid, position, until=until)
        except SessionNotFoundError:
            result = SessionRead("missing")
        if result.state == "missing":
            if stored is not None:
                self.db.remove_session(sid)
                self.removed.append(sid)
            return
        if result.state == "unchanged":
            return
        if result.state == "restarted" and stored is not None:
            self.db.remove_session(sid)
            row = None
        self._fold(sid, row, stored is not None, result)

    def _fold(
        self, sid: str, row: fold.SessionRow | None, known: bool, result: SessionRead
    ) -> None:
        key: int | None = None
        changed = False
        try:
            for batch in result.batches:
                messages: list[tuple[fold.MessageRow, str]] = []
                redactions: list[MessageRedacted] = []
                for entry in batch.entries:
                    event = entry.event
                    row = fold.apply(row, event, sid)
                    if isinstance(event, Message):
                        messages.append((fold.message_row(event, entry.offset), event.content))
                    elif isinstance(event, MessageRedacted):
                        redactions.append(event)
                for issue in batch.issues:
                    logger.warning("skipped damaged line %s", issue.describe())
                self.issues += batch.issues
                if row is None:
                    continue  # no usable event yet: nothing to show, read again next time
                if batch.entries or (key is None and not known):
                    key = self.db.put_session(row, batch.position)
                    changed = changed or bool(batch.entries)
                else:
                    self.db.put_position(sid, batch.position)
                if messages:
                    assert key is not None
                    self.db.add_messages(key, messages)
                if redactions:
                    assert key is not None
                    row = self._redact(key, row, redactions, batch.position)
                self.events += len(batch.entries)
                self._uncommitted += len(batch.entries)
                if self._batched and self._uncommitted >= COMMIT_EVENTS:
                    self.db.commit_and_continue()
                    self._uncommitted = 0
        finally:
            result.close()
        if changed:
            self.updated.append(sid)

    def _redact(
        self,
        key: int,
        row: fold.SessionRow,
        redactions: list[MessageRedacted],
        position: SessionPosition,
    ) -> fold.SessionRow:
        """Fold redactions (after the messages of their batch, which they follow): each
        message loses its search row, and a title taken from it is replaced."""
        title_seq = self.db.first_user_seq(key)
        for event in redactions:
            found = self.db.redact(key, event.target, event.ts, event.reason)
            if found and event.target == title_seq and row.title_auto is not None:
                row = fold.title_redacted(row)
                self.db.put_session(row, position)
        return row
