"""The replaced system's files, as views: ``sessions/<id>.json`` and ``index.json``,
produced a piece at a time from the projection rows and the log, byte-identical to
encoding the whole value at once (``msgspec.json.format(..., indent=2)``), so a view of a
session of any length is written with bounded memory.

These files are never rewritten per event: they are materialized when asked for
(``chatlog views``, ``chatlog watch --views``, ``rebuild --views``), and ``show --json``,
``export --format json`` and ``session.load`` stream the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import msgspec

from eventlog import AnyEvent, Message
from eventlog.redaction import redacted_message
from projections.records import SessionMeta, SnapshotMessage

_encoder = msgspec.json.Encoder()


def snapshot_message(event: Message) -> SnapshotMessage:
    return SnapshotMessage(
        role=event.role,
        content=event.content,
        timestamp=event.ts,
        token_count=event.token_count or 0,
        metadata=event.metadata,
    )


Redactions = Mapping[int, tuple[str, str | None]]
"""A session's redacted messages: seq -> (when, reason) (see ProjectionDB.redactions)."""


def shown(event: AnyEvent, redactions: Redactions) -> AnyEvent:
    """``event`` as views show it: a redacted message without its text."""
    if isinstance(event, Message) and event.seq in redactions:
        return redacted_message(event, *redactions[event.seq])
    return event


def messages_of(
    events: Iterable[AnyEvent], redactions: Redactions | None = None
) -> Iterator[SnapshotMessage]:
    return (
        snapshot_message(shown(e, redactions) if redactions else e)  # type: ignore[arg-type]
        for e in events
        if isinstance(e, Message)
    )


def _indented(value: object, prefix: bytes) -> bytes:
    """``value`` pretty-printed (indent 2), every line after the first indented by
    ``prefix``: how it appears nested inside a pretty-printed object."""
    text = msgspec.json.format(_encoder.encode(value), indent=2)
    return text.replace(b"\n", b"\n" + prefix)


def snapshot_chunks(meta: SessionMeta, messages: Iterable[SnapshotMessage]) -> Iterator[bytes]:
    """The session file (``{"metadata": ..., "messages": [...]}``, indent 2, trailing
    newline), a message at a time."""
    yield b'{\n  "metadata": ' + _indented(meta, b"  ") + b',\n  "messages": '
    first = True
    for message in messages:
        yield (b"[\n    " if first else b",\n    ") + _indented(message, b"    ")
        first = False
    yield b"[]\n}\n" if first else b"\n  ]\n}\n"


def index_chunks(metas: Iterable[SessionMeta]) -> Iterator[bytes]:
    """``index.json``: a JSON array with one session per line, newest updated first."""
    yield b"[\n"
    first = True
    for meta in metas:
        yield (b"" if first else b",\n") + _encoder.encode(meta)
        first = False
    yield b"]\n" if first else b"\n]\n"
