"""Snapshot projection: each session folded into the seed's session file format.

``fold`` is pure: it returns a new :class:`SessionSnapshot` and never changes its input. It
is also the state of the index projection (the index is every snapshot's metadata), and
the markdown export renders it.

Files are pretty-printed JSON (indent 2, UTF-8, trailing newline), like the seed's example.
Timestamps are the events' own (UTC, ISO-8601 with offset); ``token_count`` is 0 where a
message has none. The bytes depend only on the events, so a rebuild reproduces them.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from eventlog import AnyEvent, Message, SessionCreated, SessionTagged, SessionUntagged
from projections import title as title_projection
from projections.records import SessionMeta, SessionSnapshot, SnapshotMessage

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SessionSnapshot)
# Where the metadata object ends in an encoded snapshot (the layout is ours, fixed).
_METADATA_END = b'\n  },\n  "messages": '
METADATA_HEAD_BYTES = 64 * 1024


class _MetadataOnly(msgspec.Struct, frozen=True):
    metadata: SessionMeta


def fold(
    state: SessionSnapshot | None, events: Iterable[AnyEvent], session_id: str
) -> SessionSnapshot | None:
    """``state`` with ``events`` applied (None while the session has no usable event)."""
    if state is None:
        created: str | None = None
        updated = ""
        count = tokens = 0
        tags: list[str] = []
        messages: list[SnapshotMessage] = []
        titles = title_projection.TitleState()
    else:
        meta = state.metadata
        created, updated = meta.created_at, meta.updated_at
        count, tokens = meta.message_count, meta.total_tokens
        tags = list(meta.tags)
        messages = list(state.messages)
        titles = title_projection.from_snapshot(
            meta.title, (m.content for m in state.messages if m.role == "user")
        )
    applied = False
    for event in events:
        applied = True
        if created is None:
            created = event.ts  # the session_created line may be damaged
        updated = event.ts
        titles = title_projection.apply(titles, event)
        match event:
            case Message():
                messages.append(
                    SnapshotMessage(
                        role=event.role,
                        content=event.content,
                        timestamp=event.ts,
                        token_count=event.token_count or 0,
                        metadata=event.metadata,
                    )
                )
                count += 1
                tokens += event.token_count or 0
            case SessionCreated(tags=created_tags):
                created = event.ts
                tags.extend(t for t in created_tags if t not in tags)
            case SessionTagged(tag=tag) if tag not in tags:
                tags.append(tag)
            case SessionUntagged(tag=tag) if tag in tags:
                tags.remove(tag)
    if not applied or created is None:
        return state
    meta = SessionMeta(
        session_id=session_id,
        created_at=created,
        updated_at=updated,
        message_count=count,
        total_tokens=tokens,
        title=titles.title,
        tags=tags,
    )
    return SessionSnapshot(meta, messages)


def apply(state: SessionSnapshot | None, event: AnyEvent, session_id: str) -> SessionSnapshot:
    """One event folded in (``fold`` does a batch without copying per event)."""
    result = fold(state, (event,), session_id)
    assert result is not None
    return result


def encode(snapshot: SessionSnapshot) -> bytes:
    return msgspec.json.format(_encoder.encode(snapshot), indent=2) + b"\n"


def decode(data: bytes) -> SessionSnapshot:
    """Raises msgspec.DecodeError for a file that is not a snapshot."""
    return _decoder.decode(data)


def decode_metadata(head: bytes) -> SessionMeta | None:
    """The metadata from the first bytes of an encoded snapshot, without decoding its
    messages; None when ``head`` does not reach the end of the metadata."""
    end = head.find(_METADATA_END)
    if end < 0:
        return None
    try:
        return msgspec.json.decode(head[:end] + b"\n  }\n}", type=_MetadataOnly).metadata
    except msgspec.DecodeError:
        return None
