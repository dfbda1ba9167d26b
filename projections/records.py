"""The values projections produce: the seed's session metadata and session file, search hits,
and the reports of catch-up and rebuild.

These are pure values (frozen Structs). Field order is the seed's JSON key order, so encoding
a record gives the seed's files exactly; how they are folded and stored lives elsewhere.
"""

from __future__ import annotations

from typing import Any

import msgspec

from eventlog import LogIssue


class ForkOrigin(msgspec.Struct, frozen=True):
    """Where a fork came from: its parent session and the parent's seq it branches at."""

    session_id: str
    seq: int


class SessionMeta(msgspec.Struct, frozen=True, omit_defaults=True):
    """One session's metadata, as in the seed's index and session files.

    ``title``: the title set on the session, else its first user message (one line of at
    most 60 characters), else None. ``forked_from`` is ours, only written for forks (the
    seed's files never have it otherwise).
    """

    session_id: str
    created_at: str
    updated_at: str
    message_count: int
    total_tokens: int
    title: str | None
    tags: list[str]
    forked_from: ForkOrigin | None = None


class TreeEntry(msgspec.Struct, frozen=True):
    """One session of a family of forks, as ``chatlog tree --json`` and ``session.tree``
    give it: ``parent`` and ``parent_seq`` (the parent's seq it branches at) are None for
    the family's root, ``depth`` counts the forks between it and the root."""

    session_id: str
    parent: str | None
    parent_seq: int | None
    depth: int
    title: str | None
    message_count: int
    updated_at: str


class SnapshotMessage(msgspec.Struct, frozen=True):
    role: str
    content: str
    timestamp: str
    token_count: int
    metadata: dict[str, Any]


class SessionSnapshot(msgspec.Struct, frozen=True):
    """The seed's session file: ``{"metadata": {...}, "messages": [...]}``."""

    metadata: SessionMeta
    messages: list[SnapshotMessage]


class SearchHit(msgspec.Struct, frozen=True):
    """One matching message. ``rank`` is SQLite's bm25 score: lower is a better match.
    ``snippet`` marks matched words with « and »."""

    session_id: str
    title: str | None
    seq: int
    role: str
    timestamp: str
    snippet: str
    rank: float


class CatchUpReport(msgspec.Struct, frozen=True):
    """What one catch-up did: sessions whose projections changed or were removed, how many
    events were folded, and the damaged lines it skipped (each reported once, when first
    read)."""

    updated: list[str] = []
    removed: list[str] = []
    events: int = 0
    issues: list[LogIssue] = []

    @property
    def changed(self) -> set[str]:
        return set(self.updated) | set(self.removed)


class RebuildReport(msgspec.Struct, frozen=True):
    sessions: int
    events: int
    issues: list[LogIssue]
    seconds: float
