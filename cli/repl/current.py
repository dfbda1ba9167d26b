"""The session the REPL is talking in, as the REPL knows it from the log.

The view holds the session's messages (titles, tags and counts for display come from the
projections, as everywhere else). It is read incrementally from the store's position
(:meth:`EventStore.read_from`), so another process's appends (a second REPL on the same
session, ``chatlog append``, another machine on the same JetStream store) show up on the
next :meth:`SessionView.refresh` and become part of the context sent to the model; a read
sees every append acknowledged before it, this process's own included. A fresh
session is *pending* until its first write: its id is reserved (shown in the prompt) but
no log exists, so starting the REPL and leaving without a word leaves no empty session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, NamedTuple

from cli.backends import ChatMessage
from eventlog import (
    EventStore,
    LogIssue,
    Message,
    SessionExistsError,
    SessionNotFoundError,
    new_session_id,
    short_id,
)
from eventlog.events import MessageRedacted
from eventlog.redaction import redacted_message
from eventlog.store import SessionPosition

# Roles a chat-completions server accepts without extra fields (tool messages need ids).
CONTEXT_ROLES = frozenset({"system", "user", "assistant"})


class Refresh(NamedTuple):
    new_messages: int  # messages this process did not write
    issues: list[LogIssue]  # damaged lines met for the first time


KEPT_MESSAGES: Final = 400  # messages held for the screen and the model's context
CONTEXT_CHARS: Final = 400_000  # the most recent text sent to the model, at most


class SessionView:
    """The current session's recent messages (at most ``KEPT_MESSAGES``: memory does not
    grow with the session) and its counts, followed as the log grows. Opening a session
    streams its log once (counting, keeping only the most recent messages)."""

    def __init__(self, log: EventStore, session_id: str | None = None) -> None:
        self.log = log
        self.pending = session_id is None
        # A pending id names the moment the session began: it is created with that time,
        # so the id, `chatlog list` and /info agree on when.
        self._reserved_at = datetime.now(UTC)
        self.session_id = session_id or new_session_id(self._reserved_at)
        self.messages: list[Message] = []
        self.issues: list[LogIssue] = []
        self.unseen_from_others = 0
        self.message_count = 0
        self.total_tokens = 0
        self._position: SessionPosition | None = None  # where the next read starts
        self._own_seqs: set[int] = set()
        # The user's message of the turn under way, as typed, when what was stored differs
        # (secrets redacted on save): the model gets the typed text in this turn only.
        self.typed: tuple[int, str] | None = None

    @property
    def short_id(self) -> str:
        return short_id(self.session_id)

    def ensure_created(self) -> str:
        """Create the pending session's log (under its reserved id when still free)."""
        if self.pending:
            try:
                self.session_id = self.log.create_session(
                    session_id=self.session_id, ts=self._reserved_at.isoformat()
                )
            except SessionExistsError:
                self.session_id = self.log.create_session()
            self.pending = False
            self._own_seqs.add(1)
        return self.session_id

    def note_own(self, seq: int) -> None:
        """Remember that this process wrote ``seq`` (so it is not announced as news)."""
        self._own_seqs.add(seq)

    def refresh(self) -> Refresh:
        """Fold in whatever was appended since the last look (by anyone). Raises
        SessionNotFoundError once the session was deleted."""
        if self.pending:
            return Refresh(0, [])
        seen = self._position.seq if self._position is not None else 0
        result = self.log.read_from(self.session_id, self._position)
        new_from_others = 0
        issues: list[LogIssue] = []
        try:
            if result.state == "missing":
                raise SessionNotFoundError(f"no session {self.session_id} (it was deleted)")
            if result.state == "restarted":  # rewritten (repaired, compacted): read anew
                self._forget_messages()
            for batch in result.batches:
                issues += batch.issues
                for entry in batch.entries:
                    event = entry.event
                    if isinstance(event, Message):
                        self._add(event)
                        if event.seq > seen and event.seq not in self._own_seqs:
                            new_from_others += 1
                    elif isinstance(event, MessageRedacted):
                        self._redact(event)
                self._position = batch.position
        finally:
            result.close()
        seq = self._position.seq if self._position is not None else 0
        self._own_seqs = {own for own in self._own_seqs if own > seq}
        self.issues.extend(issues)
        self.unseen_from_others += new_from_others
        return Refresh(new_from_others, issues)

    def _forget_messages(self) -> None:
        self.messages = []
        self.message_count = 0
        self.total_tokens = 0
        self._position = None

    def _add(self, message: Message) -> None:
        self.messages.append(message)
        if len(self.messages) > KEPT_MESSAGES:
            del self.messages[: len(self.messages) - KEPT_MESSAGES]
        self.message_count += 1
        self.total_tokens += message.token_count or 0

    def _redact(self, redaction: MessageRedacted) -> None:
        """A redacted message loses its text here too (the screen, the model's context)."""
        for index, message in enumerate(self.messages):
            if message.seq == redaction.target:
                self.messages[index] = redacted_message(message, redaction.ts, redaction.reason)
        if self.typed is not None and self.typed[0] == redaction.target:
            self.typed = None

    def context(self) -> list[ChatMessage]:
        """The conversation as the model should see it: the system messages and the most
        recent turns, up to ``CONTEXT_CHARS`` of text."""
        kept: list[ChatMessage] = []
        budget = CONTEXT_CHARS
        for message in reversed(self.messages):
            if message.role not in CONTEXT_ROLES:
                continue
            content = message.content
            if self.typed is not None and self.typed[0] == message.seq:
                content = self.typed[1]
            budget -= len(content)
            if budget < 0 and kept:
                break
            kept.append(ChatMessage(message.role, content))
        kept.reverse()
        return kept
