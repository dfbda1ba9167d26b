"""The chatlog error tree.

Every error chatlog raises on purpose derives from :class:`ChatlogError`. Lower layers
translate OS and decoding errors into these at the boundary (``raise DiskFullError(...)
from exc``); only the command line turns them into user-facing messages.
"""

from __future__ import annotations


class ChatlogError(Exception):
    """Base of every error chatlog raises on purpose."""


class InvalidSessionIdError(ChatlogError, ValueError):
    """A session id failed the strict id pattern; raised before any path is built."""


class InvalidArgumentError(ChatlogError, ValueError):
    """A caller passed a value chatlog cannot store (unknown role, negative tokens, ...)."""


class SessionNotFoundError(ChatlogError, LookupError):
    """No log exists for the session id (never created, deleted, or archived)."""


class SessionExistsError(ChatlogError):
    """create_session was asked for an explicit id whose log already exists."""


class AmbiguousSessionIdError(ChatlogError, LookupError):
    """A session id prefix matched more than one session."""


class SeqConflictError(ChatlogError):
    """append(expected_seq=N) found the log at another seq (optimistic concurrency)."""

    def __init__(self, session_id: str, expected_seq: int, actual_seq: int) -> None:
        self.session_id = session_id
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq
        super().__init__(
            f"session {session_id} is at seq {actual_seq}, not the expected {expected_seq}"
        )


class StorageError(ChatlogError):
    """An I/O operation failed; the log was left at its last good size."""


class DiskFullError(StorageError):
    """The disk (or quota) is full: ENOSPC / EDQUOT, or a short write."""


class DurabilityError(StorageError):
    """fsync/fdatasync failed: the append is reported as failed and the handle reopened.

    A failed fsync is never retried as if it had worked (the kernel may already have
    dropped the dirty pages), so the caller must treat the event as not written.
    """


class UnsafeFileError(StorageError):
    """A path under the home is not what chatlog keeps there (a symlink, FIFO, device or
    directory where a file belongs): it is refused, never followed, opened or changed."""
