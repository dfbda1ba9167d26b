"""The replaced system's save path, re-implemented faithfully for comparison.

Its ``SessionManager`` kept the whole session in memory as dataclasses and, on every
message, converted every message back to a dict (``to_dict``, ``datetime.isoformat``),
rewrote the whole session file with ``json.dump(..., indent=2)`` (which streams through
the pure-Python encoder, chunk by chunk, into the open file), ``chmod``-ed it 0600, then
replaced the session's entry in the in-memory index and rewrote ``index.json`` the same
way. No temp file, no fsync: a crash mid-write leaves a truncated session file.

Only what the save and load paths need is reproduced; the behaviour of each step (and so
its cost) follows the original.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any


class SeedRole(Enum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


@dataclass
class SeedMessage:
    role: SeedRole
    content: str
    timestamp: datetime
    token_count: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role.value,
            "content": self.content,
            "timestamp": self.timestamp.isoformat(),
            "token_count": self.token_count,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeedMessage:
        return cls(
            role=SeedRole(data["role"]),
            content=data["content"],
            timestamp=datetime.fromisoformat(data["timestamp"]),
            token_count=data.get("token_count"),
            metadata=data.get("metadata", {}),
        )


@dataclass
class SeedMetadata:
    session_id: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    total_tokens: int
    title: str | None = None
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "message_count": self.message_count,
            "total_tokens": self.total_tokens,
            "title": self.title,
            "tags": self.tags,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeedMetadata:
        return cls(
            session_id=data["session_id"],
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            message_count=data["message_count"],
            total_tokens=data["total_tokens"],
            title=data.get("title"),
            tags=data.get("tags", []),
        )


@dataclass
class SeedSession:
    metadata: SeedMetadata
    messages: list[SeedMessage] = field(default_factory=list)

    def add_message(self, message: SeedMessage) -> None:
        self.messages.append(message)
        self.metadata.message_count = len(self.messages)
        self.metadata.updated_at = datetime.now()
        if message.token_count:
            self.metadata.total_tokens += message.token_count
        if (
            self.metadata.title is None
            and message.role is SeedRole.USER
            and len(self.messages) == 1
        ):
            title = " ".join(message.content.split())
            self.metadata.title = title if len(title) <= 50 else title[:47] + "..."

    def pop_message(self) -> None:
        """Undo the last add (benchmark reset, untimed): keeps the session at length N."""
        message = self.messages.pop()
        self.metadata.message_count = len(self.messages)
        if message.token_count:
            self.metadata.total_tokens -= message.token_count

    def to_dict(self) -> dict[str, Any]:
        return {
            "metadata": self.metadata.to_dict(),
            "messages": [m.to_dict() for m in self.messages],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeedSession:
        return cls(
            metadata=SeedMetadata.from_dict(data["metadata"]),
            messages=[SeedMessage.from_dict(m) for m in data["messages"]],
        )


class SeedSessionManager:
    """The replaced ``SessionManager``: ``sessions/`` holds ``index.json`` and one
    ``<id>.json`` per session, each rewritten whole on every save."""

    def __init__(self, sessions_dir: Path) -> None:
        self.sessions_dir = sessions_dir
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.sessions_dir, 0o700)
        self.index_file = sessions_dir / "index.json"
        self.index: dict[str, Any]
        if self.index_file.exists():
            with open(self.index_file, encoding="utf-8") as f:
                self.index = json.load(f)
        else:
            self.index = {"sessions": [], "version": "1.0"}
            self._save_index()

    def session_file(self, session_id: str) -> Path:
        return self.sessions_dir / f"{session_id}.json"

    def _save_index(self) -> None:
        with open(self.index_file, "w", encoding="utf-8") as f:
            json.dump(self.index, f, indent=2)
        os.chmod(self.index_file, 0o600)

    def create_session(self, session_id: str, created_at: datetime) -> SeedSession:
        metadata = SeedMetadata(session_id, created_at, created_at, 0, 0)
        session = SeedSession(metadata)
        self.index["sessions"].append(metadata.to_dict())
        self._save_index()
        return session

    def save_session(self, session: SeedSession) -> None:
        """The per-message save: the whole session file, then the whole index."""
        path = self.session_file(session.metadata.session_id)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(session.to_dict(), f, indent=2)
        os.chmod(path, 0o600)
        self._update_index_entry(session.metadata)

    def _update_index_entry(self, metadata: SeedMetadata) -> None:
        sessions = self.index["sessions"]
        for i, entry in enumerate(sessions):
            if entry["session_id"] == metadata.session_id:
                sessions[i] = metadata.to_dict()
                break
        self._save_index()

    def add_and_save(self, session: SeedSession, message: SeedMessage) -> None:
        """What the chat loop did for each user or assistant message."""
        session.add_message(message)
        self.save_session(session)

    def load_session(self, session_id: str) -> SeedSession:
        with open(self.session_file(session_id), encoding="utf-8") as f:
            data = json.load(f)
        return SeedSession.from_dict(data)

    def list_sessions(self, limit: int | None = None) -> list[SeedMetadata]:
        sessions = [SeedMetadata.from_dict(s) for s in self.index["sessions"]]
        sessions.sort(key=lambda s: s.updated_at, reverse=True)
        return sessions[:limit] if limit else sessions

    def reload_index(self) -> None:
        """What a fresh process did before listing: read index.json."""
        with open(self.index_file, encoding="utf-8") as f:
            self.index = json.load(f)

    def settle(self, session_id: str) -> None:
        """Untimed: flush this peer's dirty pages so they do not land in another
        variant's fdatasync (ext4 ordered mode would write them in its journal commit)."""
        for path in (self.session_file(session_id), self.index_file):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
