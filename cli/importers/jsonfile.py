"""Reading a whole JSON export (``conversations.json``): all of it, or nothing.

An export is one JSON document, so a truncated or malformed one cannot be trusted
anywhere: it raises :class:`ImportFormatError` naming the file and the byte, line and
column where it breaks, and nothing from it is imported. A conversation inside a good
document that does not have the expected shape is reported on its own and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import msgspec

from cli.importers.records import (
    ImportedConversation,
    ImportFormatError,
    Parsed,
    Problem,
    Skipped,
    decode_error_position,
)

T = TypeVar("T")


def decode_document(data: bytes, path: str) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        position = decode_error_position(data, exc)
        raise ImportFormatError(f"{path}: not valid JSON at {position}; nothing imported") from None


def conversation_list(document: Any, path: str, required: str = "") -> list[Any]:
    """The conversations of an export: a JSON array, an object holding one, or a single
    conversation (an object that has the ``required`` member)."""
    if isinstance(document, dict) and isinstance(document.get("conversations"), list):
        document = document["conversations"]
    if isinstance(document, dict) and required and required in document:
        return [document]
    if not isinstance(document, list):
        raise ImportFormatError(
            f"{path}: expected a JSON array of conversations or one conversation"
        )
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


def parse_conversations(
    data: bytes,
    path: str,
    kind: type[T],
    *,
    required: str,
    source: str,
    ident: Callable[[T], str | None],
    ident_name: str,
    convert: Callable[[T, str, list[Skipped]], Iterable[ImportedConversation]],
) -> Parsed:
    """A whole export: decode it, shape each conversation as ``kind`` and ``convert`` it;
    conversations without an ``ident`` (named ``ident_name`` in the report) are skipped.
    One conversation may give several (its branches)."""
    items = conversation_list(decode_document(data, path), path, required)
    conversations: list[ImportedConversation] = []
    skipped: list[Skipped] = []
    problems: list[Problem] = []
    for number, conversation, problem in convert_each(
        items, kind, path, required=required, source=source
    ):
        if problem is not None or conversation is None:
            problems += [problem] if problem else []
            continue
        if not ident(conversation):
            problems.append(
                Problem(f"{path}: conversation #{number}", f"skipped: it has no {ident_name}")
            )
            continue
        conversations += convert(conversation, path, skipped)
    return Parsed(tuple(conversations), tuple(skipped), tuple(problems))
