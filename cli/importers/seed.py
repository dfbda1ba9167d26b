"""The replaced system's sessions: ``~/.config/openagent-terminal/sessions/``.

The directory holds ``index.json`` (``{"sessions": [metadata...], "version": "1.0"}``)
and one ``<session_id>.json`` per session: ``{"metadata": {session_id, created_at,
updated_at, message_count, total_tokens, title, tags}, "messages": [{role, content,
timestamp, token_count, tool_calls, metadata}]}``.

Session ids are kept (``2025-10-04_150808`` is a valid chatlog id; the replaced system's
collision form ``2025-10-04_150808_1`` becomes ``2025-10-04_150808_000001``). Timestamps
were written naive in the machine's local time: they are stored in UTC with an offset, and
each message keeps the original string as ``metadata["source_ts"]``. The session files
are the truth: a session in the index without a file is reported as skipped; a file the
index does not list is imported. A damaged session file is reported with its position and
imported not at all; the others are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from cli.importers.records import (
    ImportedConversation,
    ImportedMessage,
    ImportFormatError,
    Parsed,
    Problem,
    Skipped,
    as_role,
    decode_error_position,
)
from cli.importers.timestamps import from_iso, now_iso
from eventlog import ROLES, is_valid_session_id

SOURCE = "seed"
INDEX_NAME = "index.json"
MAX_TAG = 100
SEED_ID = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{6})(?:_([0-9]{1,6}))?", re.ASCII)


class _Message(msgspec.Struct):
    role: str
    content: str
    timestamp: str | None = None
    token_count: int | None = None
    tool_calls: list[Any] | None = None
    metadata: dict[str, Any] | None = None


class _Metadata(msgspec.Struct):
    session_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    title: str | None = None
    tags: list[str] = []


class _Session(msgspec.Struct):
    metadata: _Metadata = msgspec.field(default_factory=_Metadata)
    messages: list[_Message] = []


class _IndexEntry(msgspec.Struct):
    session_id: str


class _Index(msgspec.Struct):
    sessions: list[_IndexEntry] = []


_session_decoder = msgspec.json.Decoder(_Session)
_index_decoder = msgspec.json.Decoder(_Index)


def chatlog_id(seed_id: str) -> str | None:
    """The chatlog id that keeps a seed id, or None when the id cannot be kept."""
    match = SEED_ID.fullmatch(seed_id)
    if match is None:
        return None
    base, counter = match.groups()
    candidate = base if counter is None else f"{base}_{int(counter):06d}"
    return candidate if is_valid_session_id(candidate) else None


def session_files(directory: Path) -> list[Path]:
    """The session files of a seed directory (everything ``*.json`` but the index)."""
    return sorted(
        p for p in directory.glob("*.json") if p.name != INDEX_NAME and not p.name.startswith(".")
    )


def index_problems(directory: Path, files: list[Path]) -> tuple[list[Skipped], list[Problem]]:
    """Sessions listed in ``index.json`` that have no file (created, never saved)."""
    index = directory / INDEX_NAME
    if not index.exists():
        return [], []
    data = index.read_bytes()
    try:
        listed = _index_decoder.decode(data).sessions
    except msgspec.DecodeError as exc:
        position = (
            decode_error_position(data, exc)
            if not isinstance(exc, msgspec.ValidationError)
            else str(exc)
        )
        return [], [Problem(str(index), f"unreadable index ignored ({position})")]
    stems = {p.stem for p in files}
    return [
        Skipped(f"{index}: {entry.session_id}", "listed in index.json but has no session file")
        for entry in listed
        if entry.session_id not in stems
    ], []


def _message(
    message: _Message, where: str, fallback_ts: str, skipped: list[Skipped]
) -> ImportedMessage | None:
    if message.role not in ROLES:
        skipped.append(Skipped(where, f"unknown role {message.role!r}"))
        return None
    metadata = dict(message.metadata or {})
    if message.timestamp:
        metadata["source_ts"] = message.timestamp
    if message.tool_calls:
        metadata["tool_calls"] = message.tool_calls
    tokens = message.token_count
    return ImportedMessage(
        role=as_role(message.role),
        content=message.content,
        ts=from_iso(message.timestamp, "local") or fallback_ts,
        token_count=tokens if tokens is not None and tokens >= 0 else None,
        metadata=metadata,
    )


def _tags(tags: list[str], path: str, skipped: list[Skipped]) -> tuple[str, ...]:
    """The tags chatlog can store (1-100 characters, no NUL); others are skipped."""
    kept: list[str] = []
    for tag in tags:
        if tag.strip() and len(tag.strip()) <= MAX_TAG and "\x00" not in tag:
            kept.append(tag.strip())
        else:
            skipped.append(Skipped(f"{path}: tag {tag[:20]!r}", "tag chatlog cannot store"))
    return tuple(kept)


def parse_session_file(data: bytes, path: str) -> Parsed:
    """One ``<session_id>.json``: all of it, or (damaged) a Problem and nothing."""
    try:
        session = _session_decoder.decode(data)
    except msgspec.ValidationError as exc:
        return Parsed(problems=(Problem(path, f"not a session file, not imported: {exc}"),))
    except msgspec.DecodeError as exc:
        position = decode_error_position(data, exc)
        return Parsed(problems=(Problem(path, f"not valid JSON at {position}; not imported"),))
    meta = session.metadata
    original_id = meta.session_id or Path(path).stem
    created = from_iso(meta.created_at, "local")
    skipped: list[Skipped] = []
    messages: list[ImportedMessage] = []
    last_ts = created or now_iso()
    for number, message in enumerate(session.messages, 1):
        imported = _message(message, f"{path}: message {number}", last_ts, skipped)
        if imported is not None:
            messages.append(imported)
            last_ts = imported.ts or last_ts
    origin: dict[str, Any] = {"original_id": original_id}
    for name in ("created_at", "updated_at"):
        value = getattr(meta, name)
        if value:
            origin[name] = value
    conversation = ImportedConversation(
        source=SOURCE,
        key=f"{SOURCE}:{original_id}",
        path=path,
        title=meta.title or None,
        created_at=created or (messages[0].ts if messages and messages[0].ts else now_iso()),
        tags=_tags(meta.tags, path, skipped),
        messages=tuple(messages),
        session_id=chatlog_id(original_id),
        origin=origin,
    )
    return Parsed((conversation,), tuple(skipped), ())


def require_seed_directory(directory: Path) -> None:
    if not (directory / INDEX_NAME).exists() and not session_files(directory):
        raise ImportFormatError(f"{directory}: no index.json or session files here")
