"""SQLite per-message logging, as ``llm`` logs conversations: one row per message, each
insert committed on its own, in WAL mode with ``synchronous=NORMAL`` or ``FULL``.

With WAL, ``NORMAL`` does not sync on commit (only at checkpoints), so it is compared with
chatlog's no-fsync policies; ``FULL`` syncs the WAL on every commit, the like-for-like
peer of ``fsync="always"``. The connection stays open across inserts (the peer's best
case), and the schema is the minimum: no full-text triggers.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Literal

Synchronous = Literal["NORMAL", "FULL"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    datetime_utc TEXT NOT NULL,
    token_count INTEGER,
    metadata_json TEXT
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, id);
"""

INSERT = (
    "INSERT INTO messages (conversation_id, role, content, datetime_utc, token_count,"
    " metadata_json) VALUES (?, ?, ?, ?, ?, ?)"
)

Row = tuple[str, str, str, str, int | None, str]


def message_row(
    conversation_id: str, role: str, content: str, ts: str, tokens: int | None, meta: Any
) -> Row:
    return (conversation_id, role, content, ts, tokens, json.dumps(meta))


def create_database(path: Path, rows: list[Row] | None = None) -> None:
    """Create the database (WAL mode is persistent) and bulk-load ``rows`` untimed."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        if rows:
            conn.execute("BEGIN")
            conn.executemany(INSERT, rows)
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    path.chmod(0o600)


class SqliteLog:
    """An open connection that logs one message per committed transaction."""

    def __init__(self, path: Path, synchronous: Synchronous) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")

    def log(self, row: Row) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        conn.execute(INSERT, row)
        conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
