"""Session ids: generation and the one strict pattern every id passes before it meets a path.

Ids are readable and sortable like the replaced system's (``2025-10-04_150808``) and made
unique across processes by a random hex suffix (``2025-10-04_150808_7f3a9c``); the log
file is claimed with ``O_EXCL`` (see :mod:`eventlog.log`). The suffix-less form is accepted
for sessions imported from that system.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from eventlog.errors import InvalidSessionIdError

# ASCII only, anchored by fullmatch: no path separators, dots, NUL, look-alike digits.
SESSION_ID_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{6}(?:_[0-9a-f]{6})?", re.ASCII)
MAX_SESSION_ID_LENGTH = 24


def validate_session_id(session_id: object) -> str:
    """Return ``session_id`` unchanged if it is a valid id, else raise InvalidSessionIdError."""
    if not isinstance(session_id, str):
        raise InvalidSessionIdError(f"session id must be a string, not {type(session_id).__name__}")
    if len(session_id) > MAX_SESSION_ID_LENGTH or not SESSION_ID_PATTERN.fullmatch(session_id):
        shown = session_id if len(session_id) <= 40 else session_id[:40] + "..."
        raise InvalidSessionIdError(
            f"invalid session id {shown!r} (expected YYYY-MM-DD_HHMMSS or YYYY-MM-DD_HHMMSS_xxxxxx)"
        )
    return session_id


def is_valid_session_id(session_id: object) -> bool:
    try:
        validate_session_id(session_id)
    except InvalidSessionIdError:
        return False
    return True


def new_session_id(now: datetime | None = None) -> str:
    """A fresh id from the UTC clock and 24 random bits (the caller claims it with O_EXCL)."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y-%m-%d_%H%M%S}_{secrets.token_hex(3)}"


def short_id(session_id: str) -> str:
    """The part a person types and sees in a prompt: the random suffix, or HHMMSS."""
    return session_id.rsplit("_", 1)[-1]
