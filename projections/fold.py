"""The session fold: one session's events folded into the state every projection reads.

``apply(row, event)`` is pure: it returns a new :class:`SessionRow` (or the same one when
the event changes nothing) and never touches its input. A row holds what the index, the
counters, the title and the views' headers need — never the messages themselves, so its
size does not grow with the session. Messages are handed on one by one as
:class:`MessageRow` (for search and statistics) as they are folded.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from eventlog import AnyEvent, Message, SessionCreated, SessionTagged, SessionUntagged
from eventlog.clock import parse_timestamp
from eventlog.events import SessionForked, SessionTitled
from eventlog.redaction import REDACTED_CONTENT
from projections.records import ForkOrigin, SessionMeta
from projections.title import derive_title

_EPOCH_US: Final = 0


class SessionRow(msgspec.Struct, frozen=True):
    """One session's folded state (see the module docstring)."""

    session_id: str
    created_at: str
    updated_at: str
    message_count: int = 0
    total_tokens: int = 0
    title_set: str | None = None  # set by session_created / session_titled
    title_auto: str | None = None  # from the first user message
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = {}  # the session_created event's metadata
    parent: str | None = None  # a fork's parent session
    parent_seq: int = 0  # and the parent's seq it branches at

    @property
    def title(self) -> str | None:
        return self.title_set or self.title_auto

    def meta(self) -> SessionMeta:
        return SessionMeta(
            session_id=self.session_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
            message_count=self.message_count,
            total_tokens=self.total_tokens,
            title=self.title,
            tags=list(self.tags),
            forked_from=ForkOrigin(self.parent, self.parent_seq) if self.parent else None,
        )


class MessageRow(msgspec.Struct, frozen=True):
    """A message as search and statistics keep it (its text stays in the log)."""

    seq: int
    role: str
    ts: str
    token_count: int
    locator: int  # where the store can read the message again
    model: str | None
    backend: str | None
    input_tokens: int | None
    output_tokens: int | None
    estimated: bool


def instant_us(ts: str) -> int:
    """``ts`` as microseconds since the epoch, for ordering (0 when it is no timestamp)."""
    try:
        moment = parse_timestamp(ts)
    except ValueError:
        return _EPOCH_US
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def apply(row: SessionRow | None, event: AnyEvent, session_id: str) -> SessionRow:
    """``row`` with ``event`` folded in (a new row from the session's first event)."""
    if row is None:
        row = SessionRow(session_id=session_id, created_at=event.ts, updated_at=event.ts)
    match event:
        case Message(role=role, content=content, token_count=tokens):
            auto = row.title_auto
            if auto is None and role == "user":
                auto = derive_title(content)
            return msgspec.structs.replace(
                row,
                updated_at=event.ts,
                message_count=row.message_count + 1,
                total_tokens=row.total_tokens + (tokens or 0),
                title_auto=auto,
            )
        case SessionCreated(title=title, tags=tags, metadata=metadata):
            merged = row.tags + tuple(t for t in tags if t not in row.tags)
            return msgspec.structs.replace(
                row,
                created_at=event.ts,
                updated_at=event.ts,
                title_set=title or None,
                tags=merged,
                metadata=metadata,
            )
        case SessionTitled(title=title):
            # An empty title clears the set one: the automatic title shows again.
            return msgspec.structs.replace(row, updated_at=event.ts, title_set=title or None)
        case SessionTagged(tag=tag):
            tags = row.tags if tag in row.tags else (*row.tags, tag)
            return msgspec.structs.replace(row, updated_at=event.ts, tags=tags)
        case SessionUntagged(tag=tag):
            tags = tuple(t for t in row.tags if t != tag)
            return msgspec.structs.replace(row, updated_at=event.ts, tags=tags)
        case SessionForked(parent=parent, parent_seq=parent_seq):
            return msgspec.structs.replace(
                row, updated_at=event.ts, parent=parent, parent_seq=parent_seq
            )
        case _:
            return msgspec.structs.replace(row, updated_at=event.ts)


# Where backends and importers put the usage a model reported (the one place it is read):
# the REPL's backends (openai, llm) write {"usage": {"prompt_tokens", "completion_tokens"}};
# the Claude Code and Codex importers {"usage": {"input_tokens", "output_tokens", ...}}
# (cache reads and writes are not counted as input); the llm logs.db importer top-level
# "input_tokens" / "output_tokens"; the aider importer "tokens_sent" / "tokens_received" as
# aider printed them ("5,244", "1.1k": a "k" count is rounded, so it is marked estimated).
INPUT_KEYS: Final = ("prompt_tokens", "input_tokens")
OUTPUT_KEYS: Final = ("completion_tokens", "output_tokens")
_AIDER_COUNT: Final = re.compile(r"([0-9]{1,3}(?:,[0-9]{3})*|[0-9]{1,12})(?:\.([0-9]{1,3}))?(k?)")


def title_redacted(row: SessionRow) -> SessionRow:
    """``row`` once the message its automatic title was taken from is redacted."""
    if row.title_auto is None:
        return row
    return msgspec.structs.replace(row, title_auto=REDACTED_CONTENT)


def message_row(event: Message, locator: int) -> MessageRow:
    meta = event.metadata
    usage = meta.get("usage")
    usage = usage if isinstance(usage, dict) else meta
    input_tokens = _first_count(usage, INPUT_KEYS)
    output_tokens = _first_count(usage, OUTPUT_KEYS)
    estimated = meta.get("usage_estimated") is True
    if input_tokens is None and output_tokens is None and "tokens_received" in meta:
        input_tokens, sent_rounded = _aider_count(meta.get("tokens_sent"))
        output_tokens, received_rounded = _aider_count(meta.get("tokens_received"))
        estimated = estimated or sent_rounded or received_rounded
    return MessageRow(
        seq=event.seq,
        role=event.role,
        ts=event.ts,
        token_count=event.token_count or 0,
        locator=locator,
        model=_text(meta.get("model")),
        backend=_text(meta.get("backend")),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        estimated=estimated,
    )


def _first_count(usage: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        found = _count(usage.get(key))
        if found is not None:
            return found
    return None


def _aider_count(value: object) -> tuple[int | None, bool]:
    """``"5,244"`` -> (5244, exact), ``"1.1k"`` -> (1100, rounded); anything else None."""
    if not isinstance(value, str):
        return None, False
    match = _AIDER_COUNT.fullmatch(value.strip())
    if match is None:
        return None, False
    whole, fraction, thousands = match.groups()
    if not thousands:
        return (None, False) if fraction else (int(whole.replace(",", "")), False)
    scaled = int(whole.replace(",", "")) * 1000 + int((fraction or "").ljust(3, "0"))
    return scaled, True


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
