"""Search projection: an SQLite FTS5 index of every message's content (``search.sqlite3``).

Tables: ``messages`` (one row per message event: session id, seq, role, time, content),
``sessions`` (each session's current title, shown with hits) and ``messages_fts``, an
external-content FTS5 index over ``messages.content`` kept in step by triggers.

Tokenizer: ``unicode61 remove_diacritics 2`` — whole words, case- and accent-insensitive
("cafe" finds "Café"), with ``word*`` for prefixes. Trigram would add substring matches
but needs three-character queries and a ~3x larger index; people search chats by words.

User input is never passed to FTS5 as syntax: every word (or "quoted phrase") becomes a
quoted FTS5 string, so ``"``, ``*``, ``(``, ``NEAR``, ``-``, ``:`` are just text. All words
must match; a trailing ``*`` on a word keeps its meaning as a prefix search.

Deleting a session must leave no trace of its text in the file (DESIGN §6):
``secure_delete`` zeroes freed pages, an FTS5 ``optimize`` merges away the segments that
still held the deleted terms, and a ``TRUNCATE`` checkpoint empties the write-ahead log.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from eventlog import InvalidArgumentError, StorageError
from eventlog.home import FILE_MODE
from projections.records import SearchHit

HIGHLIGHT_START: Final = "«"
HIGHLIGHT_END: Final = "»"
SNIPPET_TOKENS: Final = 16
BUSY_TIMEOUT_MS: Final = 10_000

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    ts TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, seq);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    title TEXT
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
    content,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
"""

_QUERY_PART = re.compile(r'"([^"]*)"?|(\S+)')

MessageRow = tuple[str, int, str, str, str]  # session_id, seq, role, ts, content


def match_expression(query: str) -> str:
    """The FTS5 MATCH expression for a user's query: each word or "phrase" quoted.

    Raises InvalidArgumentError when the query has nothing to search for."""
    parts: list[str] = []
    for phrase, word in _QUERY_PART.findall(query.replace("\x00", " ")):
        text = phrase if phrase or not word else word
        prefix = not phrase and len(word) > 1 and word.endswith("*")
        text = text.rstrip("*") if prefix else text
        if text.strip():
            parts.append('"' + text.replace('"', '""') + '"' + ("*" if prefix else ""))
    if not parts:
        raise InvalidArgumentError("the search query is empty")
    return " ".join(parts)


class SearchIndex:
    """The search database. Opened on first use; one connection, used under the caller's
    serialization (Projections holds a lock around every call)."""

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self.path = path
        self.durable = durable
        self._db: sqlite3.Connection | None = None
        self._ino = 0

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def exists(self) -> bool:
        return self.path.exists()

    def refresh(self) -> None:
        """Reopen if the file was removed or replaced since it was opened (a connection
        would go on using the old, unlinked file)."""
        if self._db is None:
            return
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = 0
        if current != self._ino:
            self.close()

    def _open(self) -> sqlite3.Connection:
        try:
            # Created 0600 before SQLite opens it; SQLite gives -wal/-shm the same mode.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
            os.fchmod(fd, FILE_MODE)
            self._ino = os.fstat(fd).st_ino
            os.close(fd)
            db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {'FULL' if self.durable else 'OFF'}")
            db.execute("PRAGMA secure_delete = ON")
            with _transaction(db):
                for statement in _schema_statements():
                    db.execute(statement)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the search index {self.path}: {exc}") from exc
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with _transaction(self.db):
                yield
        except sqlite3.Error as exc:
            raise StorageError(f"cannot update the search index {self.path}: {exc}") from exc

    # -- writes (inside ``transaction``) ------------------------------------------------

    def add_messages(self, rows: Iterable[MessageRow]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO messages (session_id, seq, role, ts, content)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def set_title(self, session_id: str, title: str | None) -> None:
        self.db.execute(
            "INSERT INTO sessions (session_id, title) VALUES (?, ?)"
            " ON CONFLICT (session_id) DO UPDATE SET title = excluded.title",
            (session_id, title),
        )

    def remove_session(self, session_id: str) -> None:
        self.db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
        self.db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[None]:
        """For filling an emptied index inside ``transaction``: rows go in without the
        per-row FTS triggers and the full-text index is built once at the end (FTS5
        ``rebuild``), several times faster. DDL is transactional in SQLite, so a failure
        or crash rolls the triggers back with everything else."""
        self.db.execute("DROP TRIGGER IF EXISTS messages_fts_insert")
        self.db.execute("DROP TRIGGER IF EXISTS messages_fts_delete")
        yield
        self.db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
        for statement in _schema_statements():  # IF NOT EXISTS: re-creates the triggers
            self.db.execute(statement)

    def clear(self) -> None:
        """Drop every row (tables dropped and re-created: far faster than deleting)."""
        for table in ("messages_fts", "messages", "sessions"):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in _schema_statements():
            self.db.execute(statement)

    # -- maintenance ----------------------------------------------------------------------

    def scrub(self) -> None:
        """Leave no deleted text anywhere in the files (outside any transaction)."""
        try:
            self.db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            while True:
                busy, _log, _done = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy or time.monotonic() > deadline:
                    break
                time.sleep(0.05)  # another process is reading; its snapshot ends soon
        except sqlite3.Error as exc:
            raise StorageError(f"cannot compact the search index {self.path}: {exc}") from exc
        if busy:
            raise StorageError(
                f"the search index {self.path} is busy; deleted text may remain in its "
                "write-ahead log until the next `chatlog delete` or `chatlog rebuild`"
            )

    # -- reads ------------------------------------------------------------------------------

    def query(self, query: str, limit: int = 20) -> list[SearchHit]:
        expression = match_expression(query)
        if limit <= 0:
            return []
        self.refresh()
        try:
            rows = self.db.execute(
                "SELECT m.session_id, s.title, m.seq, m.role, m.ts,"
                " snippet(messages_fts, 0, ?, ?, '…', ?), rank"
                " FROM messages_fts"
                " JOIN messages AS m ON m.id = messages_fts.rowid"
                " LEFT JOIN sessions AS s ON s.session_id = m.session_id"
                " WHERE messages_fts MATCH ?"
                " ORDER BY rank, m.session_id DESC, m.seq"
                " LIMIT ?",
                (HIGHLIGHT_START, HIGHLIGHT_END, SNIPPET_TOKENS, expression, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"search failed: {exc}") from exc
        return [SearchHit(*row) for row in rows]

    def contents(self) -> list[tuple[object, ...]]:
        """Every message row and title row, in a stable order (for verification)."""
        messages = self.db.execute(
            "SELECT session_id, seq, role, ts, content FROM messages ORDER BY session_id, seq"
        ).fetchall()
        titles = self.db.execute(
            "SELECT session_id, title FROM sessions ORDER BY session_id"
        ).fetchall()
        return [("message", *row) for row in messages] + [("title", *row) for row in titles]


def _schema_statements() -> list[str]:
    """SCHEMA split into statements (trigger bodies contain semicolons of their own)."""
    statements: list[str] = []
    current = ""
    for line in SCHEMA.strip().splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
