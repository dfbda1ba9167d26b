"""Reading a whole JSON export (``conversations.json``): all of it, or nothing.

An export is one JSON document, so a truncated or malformed one cannot be trusted
anywhere: it raises :class:`ImportFormatError` naming the file and the byte, line and
column where it breaks, and nothing from it is imported. A conversation inside a good
document that does not have the expected shape is reported on its own and skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import msgspec

from cli.importers.records import ImportFormatError, Problem, decode_error_position

T = TypeVar("T")


def decode_document(data: bytes, path: str) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        position = decode_error_position(data, exc)
        raise ImportFormatError(f"{path}: not valid JSON at {position}; nothing imported") from None


def conversation_list(document: Any, path: str) -> list[Any]:
    """The conversations of an export: a JSON array (or an object holding one)."""
    if isinstance(document, dict) and isinstance(document.get("conversations"), list):
        document = document["conversations"]
    if not isinstance(document, list):
        raise ImportFormatError(f"{path}: expected a JSON array of conversations")
    return document


def convert_each(
    items: list[Any], kind: type[T], path: str, *, required: str, source: str
) -> Iterator[tuple[int, T | None, Problem | None]]:
    """Convert each raw conversation to ``kind``; a misshapen one yields a Problem.

    ``required`` is the member that marks the source's conversations (``mapping``); when
    no conversation has it the file is another format and nothing is imported."""
    if items and not any(isinstance(item, dict) and required in item for item in items):
        raise ImportFormatError(
            f"{path}: not a {source} export (no conversation has {required!r}); check --from"
        )
    for number, item in enumerate(items, 1):
        ident = (item.get("id") or item.get("uuid")) if isinstance(item, dict) else None
        where = f"{path}: conversation #{number}" + (f" ({ident})" if ident else "")
        if not isinstance(item, dict) or required not in item:
            yield number, None, Problem(where, f"skipped: it has no {required!r}")
            continue
        try:
            yield number, msgspec.convert(item, kind), None
        except msgspec.ValidationError as exc:
            yield number, None, Problem(where, f"skipped: {exc}")
