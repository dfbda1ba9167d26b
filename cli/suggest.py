"""The one "did you mean …?" rule, for the command line and the REPL's slash commands."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` was most likely a typo of, or None when none is close."""
    found = difflib.get_close_matches(word.lower(), list(choices), n=1)
    return found[0] if found else None
