"""The session the REPL is talking in, as the REPL knows it from the log.

The view holds the session's messages (titles, tags and counts for display come from the
projections, as everywhere else). It is read incrementally from a scan cursor, so another
process's appends (a second REPL on the same session, ``chatlog append``) show up on the
next :meth:`SessionView.refresh` and become part of the context sent to the model. A fresh
session is *pending* until its first write: its id is reserved (shown in the prompt) but
no log exists, so starting the REPL and leaving without a word leaves no empty session.
"""

from __future__ import annotations

from typing import NamedTuple

from cli.backends import ChatMessage
from eventlog import (
    Cursor,
    EventLog,
    LogIssue,
    Message,
    SessionExistsError,
    new_session_id,
    short_id,
)

# Roles a chat-completions server accepts without extra fields (tool messages need ids).
CONTEXT_ROLES = frozenset({"system", "user", "assistant"})


class Refresh(NamedTuple):
    new_messages: int  # messages this process did not write
    issues: list[LogIssue]  # damaged lines met for the first time


class SessionView:
    def __init__(self, log: EventLog, session_id: str | None = None) -> None:
        self.log = log
        self.pending = session_id is None
        self.session_id = session_id or new_session_id()
        self.messages: list[Message] = []
        self.issues: list[LogIssue] = []
        self.unseen_from_others = 0
        self._cursor = Cursor()
        self._own_seqs: set[int] = set()

    @property
    def short_id(self) -> str:
        return short_id(self.session_id)

    @property
    def message_count(self) -> int:
        return len(self.messages)

    @property
    def total_tokens(self) -> int:
        return sum(m.token_count or 0 for m in self.messages)

    def ensure_created(self) -> str:
        """Create the pending session's log (under its reserved id when still free)."""
        if self.pending:
            try:
                self.session_id = self.log.create_session(session_id=self.session_id)
            except SessionExistsError:
                self.session_id = self.log.create_session()
            self.pending = False
            self._own_seqs.add(1)
        return self.session_id

    def note_own(self, seq: int) -> None:
        """Remember that this process wrote ``seq`` (so it is not announced as news)."""
        self._own_seqs.add(seq)

    def refresh(self) -> Refresh:
        """Fold in whatever was appended since the last look (by anyone)."""
        if self.pending:
            return Refresh(0, [])
        scan = self.log.scan(self.session_id, self._cursor)
        new_from_others = 0
        for entry in scan.entries:
            event = entry.event
            if isinstance(event, Message):
                self.messages.append(event)
                if event.seq not in self._own_seqs:
                    new_from_others += 1
        self._cursor = scan.cursor
        self.issues.extend(scan.issues)
        self.unseen_from_others += new_from_others
        return Refresh(new_from_others, scan.issues)

    def context(self) -> list[ChatMessage]:
        """The whole conversation as the model should see it."""
        return [ChatMessage(m.role, m.content) for m in self.messages if m.role in CONTEXT_ROLES]
