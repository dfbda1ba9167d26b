"""Results too large to hold: sent as they are read, at the client's pace.

``session.load`` and ``session.export`` of a long session would otherwise hold the whole
session (decoded, then encoded) for one response. A method returns :class:`Streamed`
instead: the JSON of its result as pieces, read from a blocking iterator on an I/O thread
one at a time, each written to the connection's outbox before the next is read. The
outbox is held for the response's duration (no notification can land inside it), and its
limit bounds what the connection holds, so memory stays constant whatever the session's
length. The frame on the wire is an ordinary JSON-RPC response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

import msgspec

from eventlog.chunks import batched as join_pieces
from projections.records import SessionMeta, SnapshotMessage

PIECE_BYTES: Final = 256 * 1024

_encoder = msgspec.json.Encoder()


class Streamed:
    """A result as JSON pieces (``next_piece`` blocks; call it off the event loop)."""

    def __init__(self, pieces: Iterator[bytes], close: Callable[[], None] | None = None) -> None:
        self._pieces = pieces
        self._close = close

    def next_piece(self) -> bytes | None:
        return next(self._pieces, None)

    def whole(self) -> msgspec.Raw:
        """Every piece at once (for a response inside a batch)."""
        return msgspec.Raw(b"".join(self._pieces))

    def close(self) -> None:
        if self._close is not None:
            self._close()


def batched(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Pieces joined into blocks of about ``PIECE_BYTES`` (one outbox frame each)."""
    return join_pieces(pieces, PIECE_BYTES)


def load_result(meta: SessionMeta, messages: Iterable[SnapshotMessage]) -> Iterator[bytes]:
    """``{"status", "session_id", "message_count", "metadata", "messages"}``, streamed."""
    yield (
        b'{"status":"success","session_id":'
        + _encoder.encode(meta.session_id)
        + b',"message_count":'
        + str(meta.message_count).encode()
        + b',"metadata":'
        + _encoder.encode(meta)
        + b',"messages":['
    )
    first = True
    for message in messages:
        yield (b"" if first else b",") + _encoder.encode(message)
        first = False
    yield b"]}"


def export_result(session_id: str, fmt: str, content: Iterable[str]) -> Iterator[bytes]:
    """``{"status", "session_id", "format", "content"}`` with the content streamed as one
    JSON string (escaping is per character, so pieces escape on their own)."""
    yield (
        b'{"status":"success","session_id":'
        + _encoder.encode(session_id)
        + b',"format":'
        + _encoder.encode(fmt)
        + b',"content":"'
    )
    for piece in content:
        yield _encoder.encode(piece)[1:-1]
    yield b'"}'
