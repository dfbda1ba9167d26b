"""Title projection: a set title wins; otherwise the first user message, as one line of at
most 60 characters (the seed left every session "Untitled Session").

The fold (:mod:`projections.fold`) keeps two facts, the title set by events and the one
derived from the first user message, and shows the first that is set.
"""

from __future__ import annotations

from typing import Final

TITLE_MAX_CHARS: Final = 60
ELLIPSIS: Final = "…"


def derive_title(content: str) -> str | None:
    """The first non-blank line of ``content``, whitespace collapsed, cut to 60 characters."""
    for line in content.splitlines():
        text = " ".join(line.split())
        if text:
            if len(text) > TITLE_MAX_CHARS:
                text = text[: TITLE_MAX_CHARS - len(ELLIPSIS)].rstrip() + ELLIPSIS
            return text
    return None
