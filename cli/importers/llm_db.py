"""Simon Willison's ``llm``: its SQLite ``logs.db`` (``llm logs path``).

Two schemas, both read:

- llm >= 0.32 keeps a content-addressed message tree: ``threads`` (id, name,
  ``tip_message_hash``, ``forked_from``, datetime_utc), ``messages`` (hash, parent_hash,
  role: system | user | assistant | tool) and their ``parts`` (position, type: text,
  reasoning, tool_call, tool_result, attachment; ``text`` or a JSON ``payload`` whose
  ``text_ref`` pieces point at ``fragments``), and ``turns`` (one model call: the thread,
  the message it answered and the tip it produced, model, input/output tokens,
  duration_ms, datetime_utc). Each thread becomes a session: its chain of messages from
  the root to its tip. A message's time is that of the first turn that included it; the
  tip of each turn carries the turn's output token count. Tool calls keep their id, name
  and arguments in the assistant message's metadata, and each tool result becomes a
  ``tool`` message linked by ``tool_call_id``; reasoning goes to ``metadata["reasoning"]``;
  the fragments a turn used are named in its answer's ``metadata["fragments"]``. A thread
  ``forked_from`` another is imported as a session of its own, its origin naming the
  parent thread.
- older llm (and rows written before 0.32): ``conversations`` (id, name, model) and
  ``responses`` (one prompt and its answer: id, model, prompt, system, response,
  conversation_id, datetime_utc, and since 0.19 input_tokens and output_tokens). Each
  response becomes a user message and an assistant message with the token counts, after a
  system message when its system prompt differs from the previous one. ``datetime_utc`` is
  UTC without an offset.

The database is untrusted: it is opened read-only with ``trusted_schema`` off, every
value is read through an explicit ``CAST`` (a BLOB where text belongs is decoded, never
crashes), text that is not UTF-8 is decoded with replacement characters, no value may be
longer than :data:`MAX_VALUE` bytes (SQLite's length limit, so a generated column cannot
build gigabytes), and tables with generated columns are refused.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

from cli.importers.inputs import require_regular
from cli.importers.records import (
    ImportedConversation,
    ImportedMessage,
    ImportFormatError,
    Parsed,
    Problem,
    Skipped,
    common_prefix,
)
from cli.importers.timestamps import from_iso, now_iso, to_datetime
from projections.toolcalls import call_line

SOURCE = "llm"
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_VALUE: Final = 64 * 1024 * 1024
MAX_CHAIN: Final = 1_000_000
RESPONSE_COLUMNS: Final = {
    "id": "TEXT",
    "model": "TEXT",
    "prompt": "TEXT",
    "system": "TEXT",
    "response": "TEXT",
    "conversation_id": "TEXT",
    "datetime_utc": "TEXT",
    "duration_ms": "INTEGER",
    "input_tokens": "INTEGER",
    "output_tokens": "INTEGER",
}
TREE_TABLES: Final = ("threads", "messages", "parts", "turns")

Row = Mapping[str, Any]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def connect(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only, with the limits described in the module docstring."""
    require_regular(path)
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportFormatError(f"{path}: cannot open the database ({exc})") from None
    db.text_factory = _text
    db.row_factory = sqlite3.Row
    db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE)
    try:
        db.execute("PRAGMA trusted_schema = OFF")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise ImportFormatError(f"{path}: not an SQLite database ({exc})") from None
    return db


def _columns(db: sqlite3.Connection, table: str, path: Path) -> set[str]:
    """The table's stored columns; a table with generated columns is refused."""
    columns: set[str] = set()
    for row in db.execute(f"PRAGMA table_xinfo([{table}])"):
        if row["hidden"] in (2, 3):
            raise ImportFormatError(
                f"{path}: table {table} has a generated column ({row['name']}); "
                "not a database llm wrote"
            )
        columns.add(row["name"])
    return columns


def _tables(db: sqlite3.Connection) -> set[str]:
    return {
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND CAST(sql AS TEXT) NOT LIKE 'CREATE VIRTUAL%'"
        )
    }


def _select(columns: Mapping[str, str], present: set[str]) -> str:
    return ", ".join(
        f"CAST([{c}] AS {kind}) AS [{c}]" if c in present else f"NULL AS [{c}]"
        for c, kind in columns.items()
    )


def read_database(path: Path) -> tuple[list[Row], list[Row]]:
    """(conversation rows, response rows) of the pre-0.32 tables, read-only."""
    db = connect(path)
    try:
        tables = _tables(db)
        if "responses" not in tables:
            raise ImportFormatError(f"{path}: not an llm logs database (no responses table)")
        return _read_responses(db, tables, path)
    except sqlite3.DatabaseError as exc:
        raise ImportFormatError(f"{path}: cannot read the database ({exc})") from None
    finally:
        db.close()


def _read_responses(
    db: sqlite3.Connection, tables: set[str], path: Path
) -> tuple[list[Row], list[Row]]:
    columns = _select(RESPONSE_COLUMNS, _columns(db, "responses", path))
    responses = db.execute(
        f"SELECT {columns} FROM responses ORDER BY conversation_id, datetime_utc, rowid"
    ).fetchall()
    conversations: list[Row] = []
    if "conversations" in tables:
        present = _columns(db, "conversations", path)
        select = _select({"id": "TEXT", "name": "TEXT", "model": "TEXT"}, present)
        conversations = db.execute(f"SELECT {select} FROM conversations").fetchall()
    return [dict(c) for c in conversations], [dict(r) for r in responses]


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


TREE_SQL: Final = {
    "threads": "SELECT CAST(id AS TEXT) AS id, CAST(name AS TEXT) AS name, "
    "CAST(tip_message_hash AS TEXT) AS tip, CAST(forked_from AS TEXT) AS forked_from, "
    "CAST(datetime_utc AS TEXT) AS datetime_utc FROM threads ORDER BY datetime_utc, rowid",
    "message": "SELECT CAST(parent_hash AS TEXT) AS parent, CAST(role AS TEXT) AS role "
    "FROM messages WHERE hash = ?",
    "parts": "SELECT CAST(position AS INTEGER) AS position, CAST(type AS TEXT) AS type, "
    "CAST(tool_name AS TEXT) AS tool_name, CAST(text AS TEXT) AS text, "
    "CAST(payload AS TEXT) AS payload FROM parts WHERE message_hash = ? ORDER BY position",
    "fragment": "SELECT CAST(content AS TEXT) AS content FROM fragments WHERE id = ?",
    "turns": "SELECT CAST(id AS TEXT) AS id, CAST(tip_message_hash AS TEXT) AS tip, "
    "CAST(model AS TEXT) AS model, CAST(resolved_model AS TEXT) AS resolved_model, "
    "CAST(input_tokens AS INTEGER) AS input_tokens, "
    "CAST(output_tokens AS INTEGER) AS output_tokens, "
    "CAST(duration_ms AS INTEGER) AS duration_ms, "
    "CAST(datetime_utc AS TEXT) AS datetime_utc FROM turns WHERE thread_id = ? "
    "ORDER BY datetime_utc, rowid",
    "turn_fragments": "SELECT CAST(tf.kind AS TEXT) AS kind, CAST(f.source AS TEXT) AS source, "
    "CAST(f.hash AS TEXT) AS hash FROM turn_fragments tf JOIN fragments f "
    "ON f.id = tf.fragment_id WHERE tf.turn_id = ? ORDER BY tf.kind, tf.[order]",
}


class _Tree:
    """Reads threads from the 0.32+ tables of an open database."""

    def __init__(self, db: sqlite3.Connection, path: str, tables: set[str]) -> None:
        self.db = db
        self.path = path
        self.has_fragments = {"fragments", "turn_fragments"} <= tables
        self.skipped: list[Skipped] = []
        self.problems: list[Problem] = []

    def chain(self, tip: str | None, where: str) -> list[tuple[str, str]]:
        """(hash, role) from the root to ``tip``."""
        chain: list[tuple[str, str]] = []
        seen: set[str] = set()
        current = tip
        while current is not None:
            if current in seen or len(chain) >= MAX_CHAIN:
                self.problems.append(Problem(where, "its message chain loops; cut there"))
                break
            seen.add(current)
            row = self.db.execute(TREE_SQL["message"], (current,)).fetchone()
            if row is None:
                self.problems.append(Problem(where, f"message {current[:40]} is missing"))
                break
            chain.append((current, row["role"] or ""))
            current = row["parent"]
        chain.reverse()
        return chain

    def fragment(self, ident: object) -> str:
        if not self.has_fragments or not isinstance(ident, int | str):
            return ""
        row = self.db.execute(TREE_SQL["fragment"], (ident,)).fetchone()
        return (row["content"] or "") if row is not None else ""

    def part_text(self, part: Row) -> str:
        if part["text"] is not None:
            return str(part["text"])
        payload = _payload(part["payload"])
        pieces = payload.get("text_ref")
        if isinstance(pieces, list):
            out: list[str] = []
            for piece in pieces:
                if isinstance(piece, Mapping) and isinstance(piece.get("literal"), str):
                    out.append(piece["literal"])
                elif isinstance(piece, Mapping) and "fragment" in piece:
                    out.append(self.fragment(piece["fragment"]))
            return "".join(out)
        text = payload.get("text")
        return text if isinstance(text, str) else ""

    def messages(self, thread: Row, where: str) -> list[ImportedMessage]:
        chain = self.chain(thread["tip"], where)
        turns = [dict(t) for t in self.db.execute(TREE_SQL["turns"], (thread["id"],))]
        position = {h: i for i, (h, _role) in enumerate(chain)}
        turn_at: dict[int, dict[str, Any]] = {}
        for row in turns:
            if row["tip"] in position:
                turn_at.setdefault(position[row["tip"]], row)
        stops = sorted(turn_at)
        fallback = from_iso(thread["datetime_utc"]) or now_iso()
        messages: list[ImportedMessage] = []
        for index, (digest, role) in enumerate(chain):
            after = bisect.bisect_left(stops, index)
            stop = stops[after] if after < len(stops) else None
            turn: dict[str, Any] | None = turn_at.get(stop) if stop is not None else None
            ts = (from_iso(turn["datetime_utc"]) if turn else None) or fallback
            parts = self.db.execute(TREE_SQL["parts"], (digest,)).fetchall()
            messages += self._message(digest, role, parts, ts, turn if stop == index else None)
        return messages

    def _message(
        self, digest: str, role: str, parts: list[Row], ts: str, turn: dict[str, Any] | None
    ) -> list[ImportedMessage]:
        where = f"{self.path}: message {digest[:40]}"
        texts: list[str] = []
        reasoning: list[str] = []
        calls: list[dict[str, Any]] = []
        results: list[ImportedMessage] = []
        for part in parts:
            kind = part["type"]
            if kind == "text":
                texts.append(self.part_text(part))
            elif kind == "reasoning":
                reasoning.append(self.part_text(part))
            elif kind == "tool_call":
                payload = _payload(part["payload"])
                name = str(payload.get("name") or part["tool_name"] or "tool")
                arguments = payload.get("arguments")
                calls.append(
                    {
                        "id": str(payload.get("tool_call_id") or ""),
                        "name": name,
                        "arguments": arguments,
                    }
                )
                texts.append(call_line(name, arguments))
            elif kind == "tool_result":
                results.append(self._result(digest, part, ts))
            else:
                self.skipped.append(Skipped(where, f"{kind} part"))
        text = "\n\n".join(t for t in texts if t)
        if role not in ("system", "user", "assistant", "tool"):
            self.skipped.append(Skipped(where, f"message with role {role[:20]!r}"))
            return []
        if role == "tool" or (results and not text):
            return results
        if not text and not reasoning:
            self.skipped.append(Skipped(where, f"empty {role} message"))
            return results
        metadata: dict[str, Any] = {"source_id": digest}
        if calls:
            metadata["tool_calls"] = calls
        if reasoning:
            metadata["reasoning"] = "\n\n".join(reasoning)
        tokens = None
        if turn is not None and role == "assistant":
            tokens = _int(turn["output_tokens"])
            metadata.update(self._turn_metadata(turn))
        message = ImportedMessage(
            role=role,  # type: ignore[arg-type]
            content=text,
            ts=ts,
            token_count=tokens,
            metadata=metadata,
        )
        return [message, *results]

    def _turn_metadata(self, turn: dict[str, Any]) -> dict[str, Any]:
        metadata: dict[str, Any] = {"turn_id": turn["id"]}
        if turn["model"]:
            metadata["model"] = turn["model"]
        if turn["resolved_model"]:
            metadata["resolved_model"] = turn["resolved_model"]
        for name in ("input_tokens", "output_tokens", "duration_ms"):
            if _int(turn[name]) is not None:
                metadata[name] = turn[name]
        if self.has_fragments:
            fragments = [
                {k: row[k] for k in ("kind", "source", "hash") if row[k]}
                for row in self.db.execute(TREE_SQL["turn_fragments"], (turn["id"],))
            ]
            if fragments:
                metadata["fragments"] = fragments
        return metadata

    def _result(self, digest: str, part: Row, ts: str) -> ImportedMessage:
        payload = _payload(part["payload"])
        output = payload.get("output")
        if not isinstance(output, str):
            output = "" if output is None else msgspec.json.encode(output).decode()
        metadata: dict[str, Any] = {
            "source_id": f"{digest}:{part['position']}",
            "tool_call_id": str(payload.get("tool_call_id") or ""),
            "tool_name": str(payload.get("name") or part["tool_name"] or "tool"),
        }
        if payload.get("exception"):
            metadata["is_error"] = True
            metadata["exception"] = str(payload["exception"])
        return ImportedMessage(role="tool", content=output, ts=ts, metadata=metadata)

    def conversations(self) -> Iterator[ImportedConversation]:
        """Every thread; a thread forked from another (that is in the database) is a
        branch of it, sharing the messages of its chain that the other's chain has."""
        threads = self.db.execute(TREE_SQL["threads"]).fetchall()
        ids = {str(thread["id"]) for thread in threads}
        chains: dict[str, list[str]] = {}  # thread id -> source ids of its messages
        for thread in threads:
            where = f"{self.path}: thread {thread['id']}"
            messages = self.messages(thread, where)
            chains[str(thread["id"])] = [str(m.metadata.get("source_id")) for m in messages]
            origin: dict[str, Any] = {"original_id": thread["id"]}
            model = next((m.metadata["model"] for m in messages if "model" in m.metadata), None)
            if model:
                origin["model"] = model
            parent = str(thread["forked_from"]) if thread["forked_from"] else None
            shared = 0
            if parent is not None:
                origin["forked_from"] = f"{SOURCE}:{parent}"
                shared = common_prefix(chains[str(thread["id"])], chains.get(parent, []))
            yield ImportedConversation(
                source=SOURCE,
                key=f"{SOURCE}:{thread['id']}",
                path=self.path,
                title=thread["name"] or None,
                created_at=from_iso(thread["datetime_utc"])
                or (messages[0].ts if messages and messages[0].ts else now_iso()),
                tags=(SOURCE,),
                messages=tuple(messages),
                origin=origin,
                fork_of=f"{SOURCE}:{parent}" if parent in ids and parent != thread["id"] else None,
                shared=shared,
            )


def parents_first(conversations: Sequence[ImportedConversation]) -> list[ImportedConversation]:
    """``conversations`` in their order, except that each fork comes after the one it
    forks from (forks whose parents form a loop come last, as they are)."""
    keys = {c.key for c in conversations}
    ordered: list[ImportedConversation] = []
    done: set[str] = set()
    waiting: dict[str, list[ImportedConversation]] = {}
    for conversation in conversations:
        parent = conversation.fork_of
        if parent is not None and parent in keys and parent not in done:
            waiting.setdefault(parent, []).append(conversation)
            continue
        stack = [conversation]
        while stack:
            current = stack.pop()
            ordered.append(current)
            done.add(current.key)
            stack += reversed(waiting.pop(current.key, []))
    ordered += [c for children in waiting.values() for c in children]
    return ordered


def _payload(raw: object) -> dict[str, Any]:
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_database(path: Path) -> Parsed:
    """Every conversation of an llm ``logs.db``, in either schema (or both)."""
    db = connect(path)
    try:
        tables = _tables(db)
        has_tree = set(TREE_TABLES) <= tables
        if "responses" not in tables and not has_tree:
            raise ImportFormatError(f"{path}: not an llm logs database (no responses table)")
        parsed = Parsed()
        if "responses" in tables:
            parsed = conversations_from_rows(*_read_responses(db, tables, path), str(path))
        if not has_tree:
            return parsed
        for table in TREE_TABLES:
            _columns(db, table, path)
        tree = _Tree(db, str(path), tables)
        threads = tuple(tree.conversations())
        return Parsed(
            tuple(
                parents_first(sorted(parsed.conversations + threads, key=lambda c: c.created_at))
            ),
            parsed.skipped + tuple(tree.skipped),
            parsed.problems + tuple(tree.problems),
        )
    except sqlite3.DatabaseError as exc:
        raise ImportFormatError(f"{path}: cannot read the database ({exc})") from None
    finally:
        db.close()
