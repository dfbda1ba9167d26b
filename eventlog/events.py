"""Events: the only facts chatlog stores.

Every log line is one event, a frozen msgspec Struct in a tagged union on ``type``. Every
event carries ``v`` (schema version), ``seq`` (1-based, contiguous per session) and ``ts``
(UTC ISO-8601 with offset). Schema evolution follows msgspec's rules: new fields are added
at the end with defaults; a type never changes in place (a new ``v`` and an upcaster would).

These are pure values. How they are framed on disk (checksums, newlines) lives in
:mod:`eventlog.codec`; where they are stored lives in :mod:`eventlog.log`.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

SCHEMA_VERSION: Final = 1

Role = Literal["user", "assistant", "system", "tool"]
ROLES: Final[tuple[str, ...]] = ("user", "assistant", "system", "tool")


class Event(msgspec.Struct, tag_field="type", frozen=True, kw_only=True):
    """Fields every event has. ``type`` is the tag, written first on the line."""

    v: int = SCHEMA_VERSION
    seq: int
    ts: str


class SessionCreated(Event, tag="session_created", frozen=True, kw_only=True):
    session_id: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = {}


class Message(Event, tag="message", frozen=True, kw_only=True):
    role: Role
    content: str
    token_count: int | None = None
    metadata: dict[str, Any] = {}


class SessionTitled(Event, tag="session_titled", frozen=True, kw_only=True):
    title: str


class SessionTagged(Event, tag="session_tagged", frozen=True, kw_only=True):
    tag: str


class SessionUntagged(Event, tag="session_untagged", frozen=True, kw_only=True):
    tag: str


class SessionForked(Event, tag="session_forked", frozen=True, kw_only=True):
    """This session is a fork: it starts as ``parent`` was right after its event
    ``parent_seq`` (the events up to there are copied into this log, so a fork stays whole
    whatever happens to its parent). Written second, right after ``session_created``."""

    parent: str
    parent_seq: int


class MessageRedacted(Event, tag="message_redacted", frozen=True, kw_only=True):
    """The message at seq ``target`` is redacted: from this event on no view shows its
    text, and ``compact`` removes the text from the log. (Readers older than this type
    skip its line as a foreign one, as they skip every type they do not know.)"""

    target: int
    reason: str | None = None


AnyEvent = (
    SessionCreated
    | Message
    | SessionTitled
    | SessionTagged
    | SessionUntagged
    | SessionForked
    | MessageRedacted
)
EVENT_TYPES: Final[tuple[type[AnyEvent], ...]] = (
    SessionCreated,
    Message,
    SessionTitled,
    SessionTagged,
    SessionUntagged,
    SessionForked,
    MessageRedacted,
)
KNOWN_TYPE_TAGS: Final[frozenset[str]] = frozenset(
    str(t.__struct_config__.tag) for t in EVENT_TYPES
)


def event_type(event: AnyEvent) -> str:
    """The ``type`` tag of an event, as written on its line."""
    return str(type(event).__struct_config__.tag)
