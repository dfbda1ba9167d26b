"""Where a JetStream store keeps what, and how its messages turn back into log entries.

One stream (``CHATLOG`` by default) holds every session; the subject names the session
and what the message is:

- ``<stream>.s.<session_id>``: the session's events, one per message, in seq order. The
  data is the same checksummed line the file store writes (:func:`eventlog.codec.encode_line`);
  the header ``Chatlog-Seq`` repeats the event's seq so the tail is known without decoding.
  A compaction's copies also carry ``Chatlog-Rewrite`` (the session's last seq when it was
  made) and ``Chatlog-Rewrite-Until`` (see :mod:`eventlog.jetstream_compact`).
- ``<stream>.m.<session_id>``: markers (``deleted``, ``archived``, ``restored``,
  ``repaired``, ``compacted``), so other machines learn of a purge through the change feed; only the
  newest marker of a session is kept.
- ``<stream>.a.<session_id>``: an archived session: gzip chunks of its lines, then a
  manifest message (header ``Chatlog-Archive: end``).
- ``<stream>.q.<session_id>``: lines a repair removed (quarantine).

Positions: a session position's token is ``js:<stream sequence>`` of the last message it
covers; a change-feed position is ``js:<stream creation time>:<stream sequence>``.
"""

from __future__ import annotations

import json
from typing import Final, Literal, NamedTuple

from eventlog.codec import LineProblem, decode_line
from eventlog.events import AnyEvent
from eventlog.ids import is_valid_session_id, validate_session_id
from eventlog.jetstream_client import StoredMessage
from eventlog.scan import LogEntry, LogIssue
from eventlog.store import SessionPosition

SEQ_HEADER: Final = "Chatlog-Seq"
# On a copy a compaction wrote: the session's last seq when that compaction began.
REWRITE_HEADER: Final = "Chatlog-Rewrite"
LEASE_HEADER: Final = "Chatlog-Rewrite-Until"
ARCHIVE_HEADER: Final = "Chatlog-Archive"
TOKEN_PREFIX: Final = "js:"
FOREIGN_KINDS: Final = frozenset({"unknown_type", "newer_version"})

Kind = Literal["s", "m", "a", "q"]
MarkerOp = Literal["deleted", "archived", "restored", "repaired", "compacted"]


class Subjects:
    def __init__(self, stream: str) -> None:
        self.stream = stream

    def of(self, kind: Kind, session_id: str) -> str:
        return f"{self.stream}.{kind}.{validate_session_id(session_id)}"

    def events(self, session_id: str) -> str:
        return self.of("s", session_id)

    def markers(self, session_id: str) -> str:
        return self.of("m", session_id)

    def archive(self, session_id: str) -> str:
        return self.of("a", session_id)

    def quarantine(self, session_id: str) -> str:
        return self.of("q", session_id)

    def every(self, kind: Kind) -> str:
        return f"{self.stream}.{kind}.*"

    def session_of(self, subject: str, kind: Kind | None = None) -> str | None:
        """The session id a subject names (None for a subject chatlog did not make)."""
        parts = subject.split(".")
        if len(parts) != 3 or parts[0] != self.stream or (kind and parts[1] != kind):
            return None
        return parts[2] if is_valid_session_id(parts[2]) else None


class Tail(NamedTuple):
    stream_seq: int  # stream sequence of the session's last message
    seq: int  # the session's last seq
    # When the last message is a compaction's copy: until when (Unix time) that
    # compaction asks appends to wait for it (0: not a copy).
    lease: float = 0.0


def rewrite_lease(message: StoredMessage) -> float:
    """The ``Chatlog-Rewrite-Until`` of a compaction's copy (0.0 for any other message)."""
    try:
        return float(message.headers.get(LEASE_HEADER, "0"))
    except ValueError:
        return 0.0


def stored_seq(message: StoredMessage) -> int | None:
    """The event seq a message carries: its header, else its decoded line."""
    header = message.headers.get(SEQ_HEADER)
    if header is not None and header.isdigit() and len(header) < 19:
        return int(header)
    decoded = decode(message.data)
    if isinstance(decoded, LineProblem):
        return decoded.seq
    return decoded.seq


def covered_seq(message: StoredMessage) -> int | None:
    """The session's last seq as of ``message``: its own seq, or for a compaction's copy
    the last seq when that compaction began (its copies follow the session's tail)."""
    seq = stored_seq(message)
    rewrite = message.headers.get(REWRITE_HEADER)
    if rewrite is not None and rewrite.isdigit() and len(rewrite) < 19:
        return max(seq or 0, int(rewrite))
    return seq


def decode(data: bytes) -> AnyEvent | LineProblem:
    return decode_line(data[:-1] if data.endswith(b"\n") else data)


def session_token(stream_seq: int) -> str:
    return f"{TOKEN_PREFIX}{stream_seq}"


def token_stream_seq(position: SessionPosition) -> int | None:
    """The stream sequence a position of this store names; None for any other token."""
    text = position.token
    if not text.startswith(TOKEN_PREFIX) or not text[len(TOKEN_PREFIX) :].isdigit():
        return None
    return int(text[len(TOKEN_PREFIX) :])


def feed_token(created: str, stream_seq: int) -> str:
    return f"{TOKEN_PREFIX}{created}:{stream_seq}"


def parse_feed_token(token: str | None, created: str) -> int | None:
    """The stream sequence of a change-feed position made for this incarnation of the
    stream; None when it belongs to another (or is not one of ours)."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    stamp, _, seq = token[len(TOKEN_PREFIX) :].rpartition(":")
    if stamp != created or not seq.isdigit():
        return None
    return int(seq)


def marker_data(op: MarkerOp, extra: bytes | None = None) -> bytes:
    """A marker's JSON: ``{"op": op}``, with the fields of the JSON object ``extra``."""
    fields = json.loads(extra) if extra else {}
    return json.dumps({**fields, "op": op}).encode()


def marker_op(data: bytes) -> str:
    try:
        value = json.loads(data)
    except ValueError:
        return ""
    return str(value.get("op", "")) if isinstance(value, dict) else ""


class EntryDecoder:
    """Turns a session's messages, read in order, into entries and issues (like
    :func:`eventlog.scan.scan_bytes` does for a file's lines)."""

    def __init__(self, subject: str, last_seq: int = 0) -> None:
        self.subject = subject
        self.last_seq = last_seq
        self.last_stream_seq = 0

    def feed(self, messages: list[StoredMessage]) -> tuple[list[LogEntry], list[LogIssue]]:
        entries: list[LogEntry] = []
        issues: list[LogIssue] = []
        for message in messages:
            found = self.take(message)
            if isinstance(found, LogEntry):
                entries.append(found)
            elif found is not None:
                issues.append(found)
        return entries, issues

    def take(self, message: StoredMessage) -> LogEntry | LogIssue | None:
        """The next message in stream order as an entry or an issue; None for a copy a
        compaction wrote of an event already delivered (see :mod:`eventlog.jetstream_compact`)."""
        self.last_stream_seq = message.seq
        if REWRITE_HEADER in message.headers:
            seq = stored_seq(message)
            if seq is None or seq <= self.last_seq:
                return None
        decoded = decode(message.data)
        if isinstance(decoded, LineProblem):
            issue = self._issue(message, decoded.kind, decoded.detail, decoded.seq)
            if decoded.seq is not None and decoded.seq > self.last_seq:
                self.last_seq = decoded.seq
            return issue
        if decoded.seq <= self.last_seq:
            detail = f"seq {decoded.seq} does not follow seq {self.last_seq}"
            return self._issue(message, "out_of_order", detail, decoded.seq)
        self.last_seq = decoded.seq
        return LogEntry(decoded, decoded.seq, message.seq, message.seq + 1)

    def _issue(self, message: StoredMessage, kind: str, detail: str, seq: int | None) -> LogIssue:
        return LogIssue(
            self.subject, self.last_seq + 1, message.seq, len(message.data), kind, detail, seq
        )

    @property
    def position(self) -> SessionPosition:
        return SessionPosition(self.last_seq, session_token(self.last_stream_seq))
