"""The projection database: every projection's state as rows in one SQLite file
(``projections.sqlite3``), updated per new event in transactions, never rewritten whole.

Tables:

- ``sessions``: one row per session — the index entry, counters, title, tags, the
  ``session_created`` metadata, and the store position folded so far (the checkpoint);
- ``messages``: one row per message — seq, role, time (also as microseconds since
  the epoch, indexed, for statistics by time range), tokens, usage, and its *locator*
  (where the store can read it again); the text itself stays in the log; a redacted
  message keeps its row, marked with when (and why) it was redacted, but loses its
  full-text row;
- ``messages_fts``: a contentless FTS5 index of the messages' text (rowid = the message
  row's), so search costs no second copy of every message; snippets are cut from the log;
- ``meta``: the schema version and the change feed position.

SQLite comes from ``sqlean.py`` (a current SQLite with FTS5; ``contentless_delete``
needs 3.43+). WAL mode with ``synchronous=NORMAL``: a crash never corrupts the file, and
a commit lost with the page cache at a power cut is caught up again from the logs (after
a reboot the change feed asks for a full check, and every row's position says how far it
got). ``secure_delete`` zeroes freed pages, so deleted text leaves no trace in the file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

import msgspec
import sqlean  # type: ignore[import-untyped]

from eventlog import StorageError
from eventlog.home import FILE_MODE
from eventlog.safefile import open_regular
from eventlog.store import SessionPosition
from projections.fold import MessageRow, SessionRow, instant_us

SCHEMA_VERSION: Final = 6
_CANNOT_WRITE: Final = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC})

logger = logging.getLogger("chatlog")
BUSY_TIMEOUT_MS: Final = 30_000
CACHE_KIB: Final = 16 * 1024  # SQLite's page cache

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_us INTEGER NOT NULL,
    message_count INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    title_set TEXT,
    title_auto TEXT,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    position_seq INTEGER NOT NULL,
    position TEXT NOT NULL,
    parent TEXT,
    parent_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_update ON sessions (updated_us DESC, session_id DESC);
CREATE INDEX IF NOT EXISTS sessions_by_parent ON sessions (parent) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_by_import_key
    ON sessions (json_extract(metadata, '$.import.key'))
    WHERE json_extract(metadata, '$.import.key') IS NOT NULL;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    ts TEXT NOT NULL,
    token_count INTEGER NOT NULL,
    locator INTEGER NOT NULL,
    model TEXT,
    backend TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    estimated INTEGER NOT NULL,
    ts_us INTEGER NOT NULL,
    redacted_at TEXT,
    redacted_reason TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_session ON messages (session, seq);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (ts_us);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
    content,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
"""

MESSAGES_BY_TIME: Final = next(
    statement for statement in SCHEMA.split(";") if "messages_by_time" in statement
)
IMPORT_KEY_INDEX: Final = next(
    statement for statement in SCHEMA.split(";") if "sessions_by_import_key" in statement
)
_IMPORT_KEY: Final = "json_extract(metadata, '$.import.key')"  # the index's expression

_TABLES: Final = ("messages_fts", "messages", "sessions", "meta")
_tags_encoder = msgspec.json.Encoder()
_tags_decoder = msgspec.json.Decoder(tuple[str, ...])
_meta_decoder = msgspec.json.Decoder(dict[str, Any])

ROW_COLUMNS: Final = (
    "session_id, created_at, updated_at, message_count, total_tokens, title_set, title_auto,"
    " tags, metadata, position_seq, position, parent, parent_seq"
)


def _row(values: tuple[Any, ...]) -> tuple[SessionRow, SessionPosition]:
    (sid, created, updated, count, tokens, title_set, title_auto, tags, meta, pseq, pos) = values[
        :11
    ]
    parent, parent_seq = values[11:13]
    row = SessionRow(
        session_id=sid,
        created_at=created,
        updated_at=updated,
        message_count=count,
        total_tokens=tokens,
        title_set=title_set,
        title_auto=title_auto,
        tags=_tags_decoder.decode(tags),
        metadata=_meta_decoder.decode(meta),
        parent=parent,
        parent_seq=parent_seq,
    )
    return row, SessionPosition(pseq, pos)


_SESSION_FIELDS: Final = (
    "session_id",
    "created_at",
    "updated_at",
    "updated_us",
    "message_count",
    "total_tokens",
    "title_set",
    "title_auto",
    "tags",
    "metadata",
    "position_seq",
    "position",
    "parent",
    "parent_seq",
)
_SESSION_COLUMNS: Final = ", ".join(_SESSION_FIELDS)
LOOKUP_IDS: Final = 500  # session ids per lookup query


def _session_values(row: SessionRow, position: SessionPosition) -> tuple[Any, ...]:
    """A session row's column values, in ``_SESSION_FIELDS`` order."""
    return (
        row.session_id,
        row.created_at,
        row.updated_at,
        instant_us(row.updated_at),
        row.message_count,
        row.total_tokens,
        row.title_set,
        row.title_auto,
        _tags_encoder.encode(row.tags).decode(),
        _tags_encoder.encode(row.metadata).decode(),
        position.seq,
        position.token,
        row.parent,
        row.parent_seq,
    )


class StoredPosition(NamedTuple):
    """A session's key (its row id) and the store position folded into its row."""

    key: int
    position: SessionPosition


class PendingSession(NamedTuple):
    new: bool  # no row yet: inserted under its key
    row: SessionRow
    position: SessionPosition


class RowBatch:
    """Rows of many sessions that a catch-up collects and :meth:`ProjectionDB.write_rows`
    writes at once, so folding 100,000 small sessions costs a few statements per batch,
    not several per session. A session's row is kept once, as last folded (with the
    position its messages here reach); messages keep their text only until written."""

    __slots__ = ("messages", "sessions", "text_bytes", "texts")

    def __init__(self) -> None:
        self.sessions: dict[int, PendingSession] = {}
        self.messages: list[tuple[Any, ...]] = []
        self.texts: list[tuple[int, str]] = []
        self.text_bytes = 0

    def put_session(
        self, key: int, row: SessionRow, position: SessionPosition, *, new: bool
    ) -> None:
        earlier = self.sessions.get(key)
        new = new or (earlier is not None and earlier.new)
        self.sessions[key] = PendingSession(new, row, position)

    def add_message(self, rowid: int, key: int, m: MessageRow, text: str) -> None:
        self.messages.append(
            (
                rowid,
                key,
                m.seq,
                m.role,
                m.ts,
                m.token_count,
                m.locator,
                m.model,
                m.backend,
                m.input_tokens,
                m.output_tokens,
                int(m.estimated),
                instant_us(m.ts),
            )
        )
        self.texts.append((rowid, text))
        self.text_bytes += len(text)

    def __len__(self) -> int:
        return len(self.sessions) + len(self.messages)

    def clear(self) -> None:
        self.sessions.clear()
        self.messages.clear()
        self.texts.clear()
        self.text_bytes = 0


class ProjectionDB:
    """One connection to the projection database (use it from one thread at a time)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._db: sqlite3.Connection | None = None
        self._ino = 0
        self.in_memory = False

    # ------------------------------------------------------------------ connection

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        try:
            if self.readonly:
                return self._open_readonly()
            try:
                # Created 0600 before SQLite opens it (never through a symlink); SQLite
                # gives the -wal and -shm files the same mode.
                fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
            except OSError as exc:
                if exc.errno not in _CANNOT_WRITE:
                    raise StorageError(f"cannot open {self.path}: {exc.strerror}") from exc
                return self._open_fallback(exc)
            os.fchmod(fd, FILE_MODE)
            self._ino = os.fstat(fd).st_ino
            os.close(fd)
            db = cast(
                "sqlite3.Connection",
                sqlean.connect(str(self.path), isolation_level=None, check_same_thread=False),
            )
            try:
                return self._prepare(db)
            except sqlean.OperationalError as exc:
                # Read-only, full, or failing: the database cannot be written here.
                db.close()
                return self._open_fallback(OSError(errno.EIO, str(exc)))
        except sqlean.Error as exc:
            raise StorageError(f"cannot open {self.path}: {exc}") from exc

    def _prepare(self, db: sqlite3.Connection) -> sqlite3.Connection:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA secure_delete = ON")
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            # New, or laid out by another chatlog version: projections can always be
            # folded again from the logs, so the tables are made anew (and the empty feed
            # position makes the next catch-up check every session).
            with _transaction(db):
                for table in _TABLES:
                    db.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in _statements(SCHEMA):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        else:
            db.execute(IMPORT_KEY_INDEX)  # databases made before this index was
        return db

    def _open_readonly(self) -> sqlite3.Connection:
        fd = open_regular(self.path)
        self._ino = os.fstat(fd).st_ino
        os.close(fd)
        for options in ("mode=ro", "mode=ro&immutable=1"):
            try:
                db = cast(
                    "sqlite3.Connection",
                    sqlean.connect(
                        f"file:{self.path}?{options}",
                        uri=True,
                        isolation_level=None,
                        check_same_thread=False,
                    ),
                )
                db.execute("SELECT count(*) FROM sessions").fetchone()
            except sqlean.Error:
                continue
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            return db
        raise StorageError(f"cannot read {self.path}")

    def _open_fallback(self, why: OSError) -> sqlite3.Connection:
        """The home cannot be written: read the database as it is, or, when there is none,
        fold into one held in memory for this process."""
        self.readonly = True
        if os.path.lexists(self.path):
            logger.warning("cannot update %s (%s): answers may lag", self.path, why.strerror)
            return self._open_readonly()
        logger.warning(
            "cannot create %s (%s): projections are built in memory for this command",
            self.path,
            why.strerror,
        )
        self.readonly = False
        self.in_memory = True
        db = cast(
            "sqlite3.Connection",
            sqlean.connect(":memory:", isolation_level=None, check_same_thread=False),
        )
        return self._prepare(db)

    def refresh(self) -> None:
        """Reopen if the file was replaced (``rebuild`` swaps in a new one) or removed."""
        if self._db is None or self.in_memory:
            return
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = 0
        if current != self._ino:
            self.close()

    def exists(self) -> bool:
        return self.in_memory or os.path.lexists(self.path)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction (waits for other writers up to the busy timeout)."""
        try:
            with _transaction(self.db):
                yield
        except sqlean.Error as exc:
            raise StorageError(f"cannot update {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Inside :meth:`write`: drop every row (tables dropped and made anew: far faster
        than deleting row by row; undone with the transaction if it fails), then let the
        caller fold everything again. Meanwhile the index of messages by time (used only
        by statistics) is left out; it is built once at the end, in the same transaction,
        which is cheaper than keeping it per row."""
        for table in _TABLES:
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in _statements(SCHEMA):
            if "messages_by_time" not in statement:
                self.db.execute(statement)
        yield
        self.db.execute(MESSAGES_BY_TIME)

    def commit_and_continue(self) -> None:
        """Inside :meth:`write`: commit what is done so far and go on in a new
        transaction (long catch-ups keep their write-ahead log bounded)."""
        self.db.execute("COMMIT")
        self.db.execute("BEGIN IMMEDIATE")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query of the tables above, for the read side's own reports
        (statistics); a failure is a :class:`StorageError`."""
        return self._query(sql, params)

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return cast("list[tuple[Any, ...]]", self.db.execute(sql, tuple(params)).fetchall())
        except sqlean.Error as exc:
            raise StorageError(f"cannot read {self.path}: {exc}") from exc

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # ------------------------------------------------------------------ sessions

    def session(self, session_id: str) -> tuple[SessionRow, SessionPosition] | None:
        rows = self._query(
            f"SELECT {ROW_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
        )
        return _row(rows[0]) if rows else None

    def session_key(self, session_id: str) -> int | None:
        rows = self._query("SELECT id FROM sessions WHERE session_id = ?", (session_id,))
        return int(rows[0][0]) if rows else None

    def known_sessions(self) -> list[str]:
        return [row[0] for row in self._query("SELECT session_id FROM sessions")]

    def listing(self, limit: int | None = None) -> list[SessionRow]:
        """Sessions newest updated first (instants, then ids, newest first)."""
        sql = f"SELECT {ROW_COLUMNS} FROM sessions ORDER BY updated_us DESC, session_id DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (max(limit, 0),)
        return [_row(values)[0] for values in self._query(sql, params)]

    def iter_listing(self, batch: int = 1000) -> Iterator[SessionRow]:
        """Every session in listing order, a batch at a time (bounded memory)."""
        last: tuple[int, str] | None = None
        while True:
            if last is None:
                rows = self._query(
                    f"SELECT {ROW_COLUMNS}, updated_us FROM sessions"
                    " ORDER BY updated_us DESC, session_id DESC LIMIT ?",
                    (batch,),
                )
            else:
                rows = self._query(
                    f"SELECT {ROW_COLUMNS}, updated_us FROM sessions"
                    " WHERE (updated_us, session_id) < (?, ?)"
                    " ORDER BY updated_us DESC, session_id DESC LIMIT ?",
                    (*last, batch),
                )
            if not rows:
                return
            for values in rows:
                yield _row(values[:-1])[0]
            last = (rows[-1][-1], rows[-1][0])

    def forks_of(self, session_id: str) -> list[SessionRow]:
        """The sessions forked from ``session_id``, oldest fork point first."""
        rows = self._query(
            f"SELECT {ROW_COLUMNS} FROM sessions WHERE parent = ?"
            " ORDER BY parent_seq, created_at, session_id",
            (session_id,),
        )
        return [_row(values)[0] for values in rows]

    def imported_session(self, key: str) -> str | None:
        """The oldest id of the sessions whose ``session_created`` metadata names import
        key ``key`` (an index lookup)."""
        rows = self._query(f"SELECT min(session_id) FROM sessions WHERE {_IMPORT_KEY} = ?", (key,))
        return rows[0][0] if rows else None

    def imported_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """(key, the oldest id of its sessions) of every import key starting with
        ``prefix``, oldest id first (an index range)."""
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else ""
        rows = self._query(
            f"SELECT {_IMPORT_KEY} AS k, min(session_id) AS sid FROM sessions"
            f" WHERE {_IMPORT_KEY} >= ? AND {_IMPORT_KEY} < ? GROUP BY k ORDER BY sid",
            (prefix, after),
        )
        return [(key, sid) for key, sid in rows if isinstance(key, str)]

    def count_sessions(self) -> int:
        return int(self._query("SELECT count(*) FROM sessions")[0][0])

    def stored_positions(self, session_ids: Sequence[str]) -> dict[str, StoredPosition]:
        """The key and folded position of each of ``session_ids`` that has a row, in a
        few queries (one per ``LOOKUP_IDS`` ids)."""
        found: dict[str, StoredPosition] = {}
        for start in range(0, len(session_ids), LOOKUP_IDS):
            part = session_ids[start : start + LOOKUP_IDS]
            marks = ",".join("?" * len(part))
            for sid, key, seq, token in self._query(
                "SELECT session_id, id, position_seq, position FROM sessions"
                f" WHERE session_id IN ({marks})",
                part,
            ):
                found[sid] = StoredPosition(int(key), SessionPosition(seq, token))
        return found

    def next_keys(self) -> tuple[int, int]:
        """The next free session key and message row id (inside :meth:`write`, where no
        other connection can take them)."""
        (sessions,) = self._query("SELECT coalesce(max(id), 0) + 1 FROM sessions")[0]
        (messages,) = self._query("SELECT coalesce(max(id), 0) + 1 FROM messages")[0]
        return int(sessions), int(messages)

    def write_rows(self, rows: RowBatch) -> None:
        """Inside :meth:`write`: write everything ``rows`` collected (one statement per
        table for the whole batch), then empty it."""
        db = self.db
        new = [
            (key, *_session_values(pending.row, pending.position))
            for key, pending in rows.sessions.items()
            if pending.new
        ]
        known = [
            (*_session_values(pending.row, pending.position), key)
            for key, pending in rows.sessions.items()
            if not pending.new
        ]
        if new:
            db.executemany(
                f"INSERT INTO sessions (id, {_SESSION_COLUMNS})"
                f" VALUES (?, {', '.join('?' * len(_SESSION_FIELDS))})",
                new,
            )
        if known:
            db.executemany(
                f"UPDATE sessions SET {', '.join(f'{c} = ?' for c in _SESSION_FIELDS)}"
                " WHERE id = ?",
                known,
            )
        if rows.messages:
            db.executemany(
                "INSERT INTO messages (id, session, seq, role, ts, token_count, locator, model,"
                " backend, input_tokens, output_tokens, estimated, ts_us)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows.messages,
            )
            db.executemany("INSERT INTO messages_fts (rowid, content) VALUES (?, ?)", rows.texts)
        rows.clear()

    def remove_session(self, session_id: str) -> None:
        """Drop the session and its messages (search rows included)."""
        key = self.session_key(session_id)
        if key is None:
            return
        self.db.execute(
            "DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE session = ?)",
            (key,),
        )
        self.db.execute("DELETE FROM messages WHERE session = ?", (key,))
        self.db.execute("DELETE FROM sessions WHERE id = ?", (key,))

    # ------------------------------------------------------------------ messages

    def message_seq(self, session_id: str, number: int) -> int | None:
        """The seq of the session's ``number``-th message (1-based), None if it has none."""
        rows = self._query(
            "SELECT m.seq FROM messages AS m JOIN sessions AS s ON s.id = m.session"
            " WHERE s.session_id = ? ORDER BY m.seq LIMIT 1 OFFSET ?",
            (session_id, max(number - 1, 0)),
        )
        return int(rows[0][0]) if rows and number >= 1 else None

    def message_locators(self, session_id: str) -> list[tuple[int, int]]:
        return [
            (int(seq), int(loc))
            for seq, loc in self._query(
                "SELECT m.seq, m.locator FROM messages AS m JOIN sessions AS s"
                " ON s.id = m.session WHERE s.session_id = ? ORDER BY m.seq",
                (session_id,),
            )
        ]

    def redact(self, key: int, target: int, at: str, reason: str | None) -> bool:
        """Mark message ``target`` of session ``key`` redacted and drop its full-text row
        (the first redaction of a message counts); False if there is no such message."""
        rows = self._query(
            "SELECT id, redacted_at FROM messages WHERE session = ? AND seq = ?", (key, target)
        )
        if not rows:
            return False
        rowid, already = rows[0]
        if already is None:
            self.db.execute("DELETE FROM messages_fts WHERE rowid = ?", (rowid,))
            self.db.execute(
                "UPDATE messages SET redacted_at = ?, redacted_reason = ? WHERE id = ?",
                (at, reason, rowid),
            )
        return True

    def redactions(self, session_id: str) -> dict[int, tuple[str, str | None]]:
        """The session's redacted messages: seq -> (when, reason)."""
        return {
            int(seq): (at, reason)
            for seq, at, reason in self._query(
                "SELECT m.seq, m.redacted_at, m.redacted_reason FROM messages AS m"
                " JOIN sessions AS s ON s.id = m.session"
                " WHERE s.session_id = ? AND m.redacted_at IS NOT NULL",
                (session_id,),
            )
        }

    def message_redacted(self, session_id: str, seq: int) -> bool | None:
        """Whether message ``seq`` of the session is redacted (None: no such message)."""
        rows = self._query(
            "SELECT m.redacted_at FROM messages AS m JOIN sessions AS s ON s.id = m.session"
            " WHERE s.session_id = ? AND m.seq = ?",
            (session_id, seq),
        )
        return None if not rows else rows[0][0] is not None

    def redacted_sessions(self) -> list[str]:
        """Sessions holding at least one redacted message."""
        return [
            row[0]
            for row in self._query(
                "SELECT s.session_id FROM sessions AS s WHERE EXISTS (SELECT 1 FROM messages"
                " AS m WHERE m.session = s.id AND m.redacted_at IS NOT NULL)"
            )
        ]

    def first_user_seq(self, key: int) -> int | None:
        rows = self._query(
            "SELECT min(seq) FROM messages WHERE session = ? AND role = 'user'", (key,)
        )
        return None if rows[0][0] is None else int(rows[0][0])

    def search(self, expression: str, limit: int) -> list[tuple[Any, ...]]:
        """(session_id, title_set, title_auto, seq, role, ts, locator, rank) per hit."""
        return self._query(
            "SELECT s.session_id, s.title_set, s.title_auto, m.seq, m.role, m.ts, m.locator,"
            " f.rank FROM messages_fts AS f"
            " JOIN messages AS m ON m.id = f.rowid"
            " JOIN sessions AS s ON s.id = m.session"
            " WHERE messages_fts MATCH ?"
            " ORDER BY f.rank, s.session_id DESC, m.seq"
            " LIMIT ?",
            (expression, limit),
        )

    def contents(self) -> list[tuple[Any, ...]]:
        """Every row but positions, in a stable order (rebuild --verify compares them)."""
        sessions = self._query(
            "SELECT session_id, created_at, updated_at, message_count, total_tokens,"
            " title_set, title_auto, tags, metadata, parent, parent_seq"
            " FROM sessions ORDER BY session_id"
        )
        messages = self._query(
            "SELECT s.session_id, m.seq, m.role, m.ts, m.token_count, m.locator, m.model,"
            " m.backend, m.input_tokens, m.output_tokens, m.estimated, m.redacted_at,"
            " m.redacted_reason FROM messages AS m JOIN sessions AS s ON s.id = m.session"
            " ORDER BY s.session_id, m.seq"
        )
        return [("session", *row) for row in sessions] + [("message", *row) for row in messages]

    def fts_rows(self) -> int:
        return int(self._query("SELECT count(*) FROM messages_fts")[0][0])

    def scrub(self) -> None:
        """Leave no deleted text anywhere in the files: merge the full-text segments that
        still hold deleted terms, and empty the write-ahead log."""
        try:
            self.db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            while True:
                busy, _log, _done = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy or time.monotonic() > deadline:
                    break
                time.sleep(0.05)  # another process is reading; its snapshot ends soon
        except sqlean.Error as exc:
            raise StorageError(f"cannot compact {self.path}: {exc}") from exc
        if busy:
            raise StorageError(
                f"{self.path} is busy; deleted text may remain in its write-ahead log until "
                "the next `chatlog delete` or `chatlog rebuild`"
            )


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
