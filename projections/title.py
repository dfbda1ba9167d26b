"""Title projection: a set title wins; otherwise the first user message, as one line of at
most 60 characters (the seed left every session "Untitled Session").

The fold state is two facts, the title set by events (``explicit``) and the one derived
from the first user message (``automatic``). Both can be recovered from a snapshot (see
:func:`from_snapshot`), so no extra state is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from eventlog import AnyEvent, Message, SessionCreated, SessionTitled

TITLE_MAX_CHARS: Final = 60
ELLIPSIS: Final = "…"


class TitleState(msgspec.Struct, frozen=True):
    explicit: str | None = None
    automatic: str | None = None

    @property
    def title(self) -> str | None:
        return self.explicit or self.automatic


def derive_title(content: str) -> str | None:
    """The first non-blank line of ``content``, whitespace collapsed, cut to 60 characters."""
    for line in content.splitlines():
        text = " ".join(line.split())
        if text:
            if len(text) > TITLE_MAX_CHARS:
                text = text[: TITLE_MAX_CHARS - len(ELLIPSIS)].rstrip() + ELLIPSIS
            return text
    return None


def apply(state: TitleState, event: AnyEvent) -> TitleState:
    match event:
        case SessionCreated(title=title):
            return TitleState(title or None, state.automatic)
        case SessionTitled(title=title):
            # An empty title clears the set one: the automatic title shows again.
            return TitleState(title or None, state.automatic)
        case Message(role="user", content=content) if state.automatic is None:
            return TitleState(state.explicit, derive_title(content))
        case _:
            return state


def from_snapshot(title: str | None, user_messages: Iterable[str]) -> TitleState:
    """Recover the fold state from a snapshot's title and its user messages' contents.

    A title equal to the automatic one may have been set explicitly too; the difference
    never shows, because an explicit title only ever replaces or clears itself."""
    automatic = None
    for content in user_messages:
        automatic = derive_title(content)
        if automatic is not None:
            break
    return TitleState(None if title == automatic else title, automatic)
