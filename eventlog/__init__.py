"""chatlog's event log: the append-only source of truth (DESIGN §3-5, §8).

This package imports nothing from ``projections`` or ``cli``.
"""

from eventlog.codec import decode_line, encode_line
from eventlog.errors import (
    AmbiguousSessionIdError,
    ChatlogError,
    DiskFullError,
    DurabilityError,
    InvalidArgumentError,
    InvalidSessionIdError,
    SeqConflictError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    UnsafeFileError,
)
from eventlog.events import (
    ROLES,
    SCHEMA_VERSION,
    AnyEvent,
    Event,
    Message,
    SessionCreated,
    SessionForked,
    SessionTagged,
    SessionTitled,
    SessionUntagged,
)
from eventlog.home import HomeLayout, resolve_home
from eventlog.ids import is_valid_session_id, new_session_id, short_id, validate_session_id
from eventlog.log import FSYNC_POLICIES, EventLog, FsyncPolicy
from eventlog.scan import Cursor, LogEntry, LogIssue, Scan, scan_bytes
from eventlog.store import (
    START_POSITION,
    ArchivedSession,
    Changes,
    DamageReport,
    EventStore,
    Follower,
    ReadBatch,
    Repair,
    SessionPosition,
    SessionRead,
)

__all__ = [
    "FSYNC_POLICIES",
    "ROLES",
    "SCHEMA_VERSION",
    "START_POSITION",
    "AmbiguousSessionIdError",
    "AnyEvent",
    "ArchivedSession",
    "Changes",
    "ChatlogError",
    "Cursor",
    "DamageReport",
    "DiskFullError",
    "DurabilityError",
    "Event",
    "EventLog",
    "EventStore",
    "Follower",
    "FsyncPolicy",
    "HomeLayout",
    "InvalidArgumentError",
    "InvalidSessionIdError",
    "LogEntry",
    "LogIssue",
    "Message",
    "ReadBatch",
    "Repair",
    "Scan",
    "SeqConflictError",
    "SessionCreated",
    "SessionExistsError",
    "SessionForked",
    "SessionNotFoundError",
    "SessionPosition",
    "SessionRead",
    "SessionTagged",
    "SessionTitled",
    "SessionUntagged",
    "StorageError",
    "UnsafeFileError",
    "decode_line",
    "encode_line",
    "is_valid_session_id",
    "new_session_id",
    "resolve_home",
    "scan_bytes",
    "short_id",
    "validate_session_id",
]
