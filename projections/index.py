"""Index projection: every session's metadata, newest updated first (``index.json``).

The state is a mapping of session id to :class:`SessionMeta` (each snapshot's metadata);
``apply`` returns a new mapping. The file is a JSON array with one session per line::

    [
    {"session_id":"2025-10-04_152345_3f9a1c","created_at":...},
    {"session_id":"2025-10-04_150808_7f3a9c","created_at":...}
    ]

so it stays valid JSON for any reader while ``read_top`` can decode just the first N
sessions without parsing the rest (``chatlog list --limit 20`` with 10,000 sessions).
Order: ``updated_at`` newest first (compared as instants, not strings), then session id.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import msgspec

from eventlog.clock import parse_timestamp
from projections.records import SessionMeta

IndexState = Mapping[str, SessionMeta]

_encoder = msgspec.json.Encoder()
_list_decoder = msgspec.json.Decoder(list[SessionMeta])
_EPOCH = datetime.min.replace(tzinfo=UTC)


def apply(state: IndexState, session_id: str, meta: SessionMeta | None) -> dict[str, SessionMeta]:
    """``state`` with one session's metadata replaced (or removed when ``meta`` is None)."""
    new = dict(state)
    if meta is None:
        new.pop(session_id, None)
    else:
        new[session_id] = meta
    return new


@functools.lru_cache(maxsize=1 << 16)
def _instant(ts: str) -> datetime:
    try:
        return parse_timestamp(ts)
    except ValueError:
        return _EPOCH


def ordered(metas: Iterable[SessionMeta]) -> list[SessionMeta]:
    """Newest updated first; ties broken by session id (newest id first)."""
    return sorted(metas, key=lambda m: (_instant(m.updated_at), m.session_id), reverse=True)


def encode(state: IndexState) -> bytes:
    return encode_ordered(ordered(state.values()))


def encode_ordered(metas: list[SessionMeta]) -> bytes:
    """The file for sessions already in index order (see :func:`ordered`)."""
    lines = [_encoder.encode(meta) for meta in metas]
    return b"[\n" + b",\n".join(lines) + (b"\n]\n" if lines else b"]\n")


def decode(data: bytes) -> list[SessionMeta]:
    """Raises msgspec.DecodeError for a file that is not an index."""
    return _list_decoder.decode(data)


def read_top(data: bytes, limit: int) -> list[SessionMeta]:
    """The first ``limit`` sessions of an encoded index, decoding only those lines."""
    if limit <= 0:
        return []
    head = data.split(b"\n", limit + 1)[1 : limit + 1]
    entries = [line.removesuffix(b",") for line in head if line.startswith(b"{")]
    return decode(b"[" + b",".join(entries) + b"]")
