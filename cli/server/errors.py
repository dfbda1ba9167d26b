"""JSON-RPC error codes, and the one table that maps chatlog's errors onto them.

Standard codes come from the JSON-RPC 2.0 specification. Application codes live in the
range the specification reserves for implementation-defined server errors (-32000 to
-32099) and are derived from the :mod:`eventlog.errors` classes in ``APPLICATION_ERRORS``
(first match wins, so subclasses come before their bases). Server and client share this
module: the client raises the same :class:`RpcError` the server turned into a response.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from eventlog import (
    AmbiguousSessionIdError,
    ChatlogError,
    InvalidArgumentError,
    InvalidSessionIdError,
    SeqConflictError,
    SessionNotFoundError,
    StorageError,
)

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603

SESSION_NOT_FOUND: Final = -32001
INVALID_SESSION_ID: Final = -32002
SEQ_CONFLICT: Final = -32003
PAYLOAD_TOO_LARGE: Final = -32004
STORAGE_ERROR: Final = -32005
ALREADY_SUBSCRIBED: Final = -32006


class RpcError(Exception):
    """A JSON-RPC error object as an exception: raised by handlers, sent as a response,
    and raised again on the client side when a call comes back with an error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


def _seq_conflict_data(error: ChatlogError) -> dict[str, Any]:
    assert isinstance(error, SeqConflictError)
    return {
        "session_id": error.session_id,
        "expected_seq": error.expected_seq,
        "actual_seq": error.actual_seq,
    }


DataBuilder = Callable[[ChatlogError], Any]

# (error class, code, data builder or None). Subclasses before bases.
APPLICATION_ERRORS: Final[tuple[tuple[type[ChatlogError], int, DataBuilder | None], ...]] = (
    (SessionNotFoundError, SESSION_NOT_FOUND, None),
    (AmbiguousSessionIdError, SESSION_NOT_FOUND, None),
    (InvalidSessionIdError, INVALID_SESSION_ID, None),
    (SeqConflictError, SEQ_CONFLICT, _seq_conflict_data),
    (InvalidArgumentError, INVALID_PARAMS, None),
    (StorageError, STORAGE_ERROR, None),
)


def rpc_error_for(error: ChatlogError) -> RpcError:
    """The error response a chatlog error becomes (internal error when unmapped)."""
    for cls, code, data in APPLICATION_ERRORS:
        if isinstance(error, cls):
            return RpcError(code, str(error), data(error) if data else None)
    return RpcError(INTERNAL_ERROR, str(error))
