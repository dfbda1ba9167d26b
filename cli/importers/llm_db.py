"""Simon Willison's ``llm``: its SQLite ``logs.db`` (``llm logs path``).

Tables ``conversations`` (id, name, model) and ``responses`` (one row per prompt and
answer: id, model, prompt, system, response, conversation_id, datetime_utc and, since llm
0.19, input_tokens and output_tokens). Each response becomes a user message (its prompt)
and an assistant message (its response, with the token counts), preceded by a system
message when it carries a system prompt that differs from the conversation's previous
one. Responses are ordered by ``datetime_utc``; a response without a conversation is a
conversation of its own. ``datetime_utc`` is UTC without an offset.

The database is opened read-only; columns a version of llm lacks are simply absent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from cli.importers.records import (
    ImportedConversation,
    ImportedMessage,
    ImportFormatError,
    Parsed,
    Skipped,
)
from cli.importers.timestamps import from_iso, now_iso, to_datetime

SOURCE = "llm"
SQLITE_MAGIC = b"SQLite format 3\x00"
RESPONSE_COLUMNS = (
    "id",
    "model",
    "prompt",
    "system",
    "response",
    "conversation_id",
    "datetime_utc",
    "duration_ms",
    "input_tokens",
    "output_tokens",
)

Row = Mapping[str, Any]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_database(path: Path) -> tuple[list[Row], list[Row]]:
    """(conversation rows, response rows ordered by conversation and time), read-only."""
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportFormatError(f"{path}: cannot open the database ({exc})") from None
    try:
        db.row_factory = sqlite3.Row
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "responses" not in tables:
            raise ImportFormatError(f"{path}: not an llm logs database (no responses table)")
        present = {row[1] for row in db.execute("PRAGMA table_info(responses)")}
        columns = ", ".join(
            f"[{c}]" if c in present else f"NULL AS [{c}]" for c in RESPONSE_COLUMNS
        )
        responses = db.execute(
            f"SELECT {columns} FROM responses ORDER BY conversation_id, datetime_utc, rowid"
        ).fetchall()
        conversations: list[Row] = []
        if "conversations" in tables:
            conversations = db.execute("SELECT * FROM conversations").fetchall()
        return [dict(c) for c in conversations], [dict(r) for r in responses]
    except sqlite3.DatabaseError as exc:
        raise ImportFormatError(f"{path}: cannot read the database ({exc})") from None
    finally:
        db.close()


def _messages(responses: list[Row], where: str, skipped: list[Skipped]) -> list[ImportedMessage]:
    messages: list[ImportedMessage] = []
    system: str | None = None
    for row in responses:
        ident = str(row["id"])
        ts = from_iso(row["datetime_utc"], "utc")
        model = row["model"]
        if row["system"] and row["system"] != system:
            messages.append(
                ImportedMessage(
                    role="system", content=row["system"], ts=ts, metadata={"source_id": ident}
                )
            )
        system = row["system"] or system
        if row["prompt"]:
            messages.append(
                ImportedMessage(
                    role="user", content=row["prompt"], ts=ts, metadata={"source_id": ident}
                )
            )
        else:
            skipped.append(Skipped(f"{where} response {ident}", "empty prompt"))
        if not row["response"]:
            skipped.append(Skipped(f"{where} response {ident}", "empty response"))
            continue
        done = ts
        if ts and _int(row["duration_ms"]) is not None:
            done = (to_datetime(ts) + timedelta(milliseconds=row["duration_ms"])).isoformat()
        metadata: dict[str, Any] = {"source_id": ident}
        if model:
            metadata["model"] = model
        for name in ("input_tokens", "output_tokens", "duration_ms"):
            if _int(row[name]) is not None:
                metadata[name] = row[name]
        if row["datetime_utc"]:
            metadata["datetime_utc"] = row["datetime_utc"]
        messages.append(
            ImportedMessage(
                role="assistant",
                content=row["response"],
                ts=done,
                token_count=_int(row["output_tokens"]),
                metadata=metadata,
            )
        )
    return messages


def conversations_from_rows(
    conversations: Iterable[Row], responses: Iterable[Row], path: str
) -> Parsed:
    """Rows as read by :func:`read_database` to conversations (pure)."""
    names = {str(c["id"]): c for c in conversations}
    grouped: dict[str, list[Row]] = {}
    for row in responses:
        group = row["conversation_id"]
        grouped.setdefault(str(group) if group else f"response:{row['id']}", []).append(row)
    result: list[ImportedConversation] = []
    skipped: list[Skipped] = []
    for ident, rows in grouped.items():
        rows.sort(key=lambda r: (r["datetime_utc"] or "",))
        conversation = names.get(ident, {})
        messages = _messages(rows, f"{path}: conversation {ident}", skipped)
        origin: dict[str, Any] = {"original_id": ident}
        model = conversation.get("model") or rows[0]["model"]
        if model:
            origin["model"] = model
        created = from_iso(rows[0]["datetime_utc"], "utc")
        result.append(
            ImportedConversation(
                source=SOURCE,
                key=f"{SOURCE}:{ident}",
                path=path,
                title=conversation.get("name") or None,
                created_at=created
                or (messages[0].ts if messages and messages[0].ts else now_iso()),
                tags=(SOURCE,),
                messages=tuple(messages),
                origin=origin,
            )
        )
    result.sort(key=lambda c: c.created_at)
    return Parsed(tuple(result), tuple(skipped), ())


def parse_database(path: Path) -> Parsed:
    conversations, responses = read_database(path)
    return conversations_from_rows(conversations, responses, str(path))
