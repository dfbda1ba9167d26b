"""Which sessions hold which imported conversations, by import key.

Each imported session's ``session_created`` names its conversation's key (see
:mod:`cli.importers.writer`). An import looks keys up one by one, as it meets them, in the
projections' index of that metadata, brought up to date with the store once, through its
change feed, before the first lookup: O(log sessions) each, so an import costs O(what it
imports) however many sessions the store holds, on files and on JetStream alike. What this
run wrote is kept on top.

Without the projections the first event of every session is read once instead
(O(sessions)): in a dry run (it writes nothing, not even the projections), in a home whose
projections were never built (building them reads every event, far more than the first
ones; the next command that reads builds them) or cannot be updated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventlog import AnyEvent, SessionCreated, SessionNotFoundError, StorageError

if TYPE_CHECKING:
    from eventlog import EventStore
    from projections import Projections


def import_key(header: AnyEvent | None) -> str | None:
    """The source key of an imported session, from its first event."""
    info = header.metadata.get("import") if isinstance(header, SessionCreated) else None
    key = info.get("key") if isinstance(info, dict) else None
    return key if isinstance(key, str) else None


def family_of(key: str) -> str | None:
    """The family key of a branch's key (``<family>#<what names the branch>``)."""
    return key.split("#", 1)[0] if "#" in key else None


class ImportedKeys:
    """Source key -> session id (of several sessions under one key, the oldest id; one
    this run wrote replaces it), and a family's branches' sessions.

    ``index``: the store's projections, where keys are looked up; without it (a dry run),
    ``reader``'s sessions are scanned once; neither: nothing is there."""

    def __init__(self, index: Projections | None, reader: EventStore | None = None) -> None:
        self._index = index
        self._reader = reader
        self._caught_up = False
        self._scanned: dict[str, str] | None = None
        self._found: dict[str, str | None] = {}
        self._branches: dict[str, list[str]] = {}  # family key -> its branches' sessions

    def get(self, key: str) -> str | None:
        if key not in self._found:
            index = self._caught_up_index()
            if index is not None:
                self._found[key] = index.imported_session(key)
            else:
                self._found[key] = self._scan().get(key)
        return self._found[key]

    def __setitem__(self, key: str, session_id: str) -> None:
        self._found[key] = session_id

    def branches(self, family: str) -> list[str]:
        """The sessions of ``family``'s branches (keys ``family#...``), oldest id first,
        then those this run added (the list is kept: append to it)."""
        if family not in self._branches:
            index = self._caught_up_index()
            if index is not None:
                self._branches[family] = index.imported_branches(family)
            else:
                found = (sid for key, sid in self._scan().items() if family_of(key) == family)
                self._branches[family] = sorted(found)
        return self._branches[family]

    def _caught_up_index(self) -> Projections | None:
        if self._index is not None and not self._caught_up:
            self._caught_up = True
            try:
                self._index.catch_up()
            except StorageError:
                self._index = None  # the projections cannot be updated here: scan instead
        return self._index

    def _scan(self) -> dict[str, str]:
        if self._scanned is None:
            self._scanned = {}
            reader = self._reader
            if reader is None:
                return self._scanned
            for sid in reader.session_ids():
                try:
                    key = import_key(reader.first_event(sid))
                except SessionNotFoundError:
                    continue  # deleted meanwhile
                if key is not None:
                    self._scanned.setdefault(key, sid)
        return self._scanned
