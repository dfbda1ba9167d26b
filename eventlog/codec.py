"""Framing of events as checksummed JSONL lines.

A line is the event's JSON object with one extra trailing member, ``"crc"``: eight lower-case
hex digits of the CRC32 of every byte of the line before ``,"crc":``. The line stays plain
JSON (``jq`` reads it), the checksum field has a fixed width, and verifying it needs no
re-encoding::

    {"type":"message","v":1,"seq":2,...,"metadata":{},"crc":"1a2b3c4d"}\\n

Decoding never raises for bad data: it returns a :class:`LineProblem` naming what is wrong,
so readers can report and skip (forward compatibility: unknown types and newer versions
are reported, not crashes).
"""

from __future__ import annotations

import zlib
from typing import Final

import msgspec

from eventlog.events import KNOWN_TYPE_TAGS, SCHEMA_VERSION, AnyEvent

CRC_PREFIX: Final = b',"crc":"'
CRC_SUFFIX: Final = b'"}'
# ,"crc":"xxxxxxxx"}  -> 8 + 8 + 2 bytes after the checksummed prefix
CRC_TRAILER_LEN: Final = len(CRC_PREFIX) + 8 + len(CRC_SUFFIX)

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)


class _Envelope(msgspec.Struct):
    """The minimum a reader needs from a line it cannot fully decode."""

    type: str = ""
    v: int = 0
    seq: int = 0


_envelope_decoder = msgspec.json.Decoder(_Envelope)


class LineProblem(msgspec.Struct, frozen=True):
    """Why a line could not be used. ``kind`` is one of:

    - ``checksum``: the stored CRC does not match the bytes (bit rot, partial write);
    - ``malformed``: no checksum trailer, or not JSON / not an event object;
    - ``unknown_type``: a valid line of an event type this version does not know;
    - ``newer_version``: a valid line written with a newer schema version.

    ``seq`` is set when the line is intact (checksum good) but not understood, so writers
    can still continue the sequence after it.
    """

    kind: str
    detail: str
    seq: int | None = None


def encode_line(event: AnyEvent) -> bytes:
    """The event as one checksummed line, newline included."""
    body = _encoder.encode(event)
    prefix = body[:-1]  # drop the closing brace; the crc member closes the object
    return b"%s%s%08x%s\n" % (prefix, CRC_PREFIX, zlib.crc32(prefix), CRC_SUFFIX)


def encode_into(event: AnyEvent, buffer: bytearray) -> None:
    """Append the event's line to ``buffer`` (reusing its memory)."""
    start = len(buffer)
    _encoder.encode_into(event, buffer, start)
    del buffer[-1]
    crc = zlib.crc32(memoryview(buffer)[start:])
    buffer += b"%s%08x%s\n" % (CRC_PREFIX, crc, CRC_SUFFIX)


def checksum_ok(line: bytes | memoryview) -> bool:
    """True when ``line`` (without its newline) carries a matching checksum trailer."""
    n = len(line)
    if n <= CRC_TRAILER_LEN:
        return False
    view = memoryview(line)
    cut = n - CRC_TRAILER_LEN
    if bytes(view[cut : cut + len(CRC_PREFIX)]) != CRC_PREFIX or bytes(view[n - 2 :]) != CRC_SUFFIX:
        return False
    # Compare the exact bytes: int(..., 16) would also accept "A" for "a", spaces, "_"
    # and signs, letting a flipped bit in the trailer go unnoticed.
    return bytes(view[cut + len(CRC_PREFIX) : n - 2]) == b"%08x" % zlib.crc32(view[:cut])


decode_unchecked: Final = _decoder.decode
"""The typed decode of a line alone, without its checksum or schema-version checks (raises
``msgspec.DecodeError``). For readers that verify those themselves in bulk (see
:mod:`eventlog.scan`); a C-level callable, so ``map`` over it runs no Python per line."""


def decode_line(line: bytes | memoryview) -> AnyEvent | LineProblem:
    """Decode one line (without its newline) into an event, or say why it cannot be used."""
    if not checksum_ok(line):
        if len(line) > CRC_TRAILER_LEN and bytes(line[-CRC_TRAILER_LEN:]).startswith(CRC_PREFIX):
            return LineProblem("checksum", "checksum mismatch")
        return LineProblem("malformed", "no checksum trailer")
    try:
        event = _decoder.decode(line)
    except msgspec.DecodeError as exc:
        return _classify_undecodable(line, exc)
    if event.v > SCHEMA_VERSION:
        return LineProblem(
            "newer_version",
            f"schema version {event.v} is newer than this chatlog's {SCHEMA_VERSION}",
            event.seq,
        )
    return event


def _classify_undecodable(line: bytes | memoryview, exc: msgspec.DecodeError) -> LineProblem:
    try:
        envelope = _envelope_decoder.decode(line)
    except msgspec.DecodeError:
        return LineProblem("malformed", f"not a valid event: {exc}")
    if envelope.v > SCHEMA_VERSION:
        return LineProblem(
            "newer_version",
            f"schema version {envelope.v} is newer than this chatlog's {SCHEMA_VERSION}",
            envelope.seq or None,
        )
    if envelope.type not in KNOWN_TYPE_TAGS:
        return LineProblem(
            "unknown_type", f"unknown event type {envelope.type!r}", envelope.seq or None
        )
    return LineProblem("malformed", f"invalid {envelope.type} event: {exc}", envelope.seq or None)
