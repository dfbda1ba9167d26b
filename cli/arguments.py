"""How commands take their arguments: the help texts several commands share (so every
command describes them alike) and the one reading of a session id a user typed."""

from __future__ import annotations

from typing import Final

from eventlog import InvalidSessionIdError, SessionNotFoundError
from eventlog.store import EventStore

SESSION_ID_HELP: Final = "session id, unique prefix, or its 6-hex suffix"
ROLE_HELP: Final = "who wrote the message"
JSON_HELP: Final = "print JSON instead of text (for scripts)"
AT_HELP: Final = "the session exactly as it was right after its event SEQ (see `chatlog tail`)"
LIST_HINT: Final = "`chatlog list` shows the sessions"
REPL_LIST_HINT: Final = "/list shows the sessions"


def resolve_session(log: EventStore, text: str, list_hint: str = LIST_HINT) -> str:
    """The full id a user meant by ``text`` (a full id, a unique prefix, or the 6-hex
    suffix), with errors that say what may be typed instead of the strict id pattern."""
    try:
        return log.resolve(text)
    except InvalidSessionIdError:
        raise InvalidSessionIdError(
            f"{text!r} is not a session id: give a full id (YYYY-MM-DD_HHMMSS_xxxxxx), "
            f"a unique prefix of one, or its 6-hex suffix ({list_hint})"
        ) from None
    except SessionNotFoundError as exc:
        raise SessionNotFoundError(f"{exc} ({list_hint})") from None
