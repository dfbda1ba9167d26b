"""Token estimates for when no server count exists (the user's message, the echo backend, a
server that sends no ``usage``). Stored counts made this way are marked ``usage_estimated``.
"""

from __future__ import annotations

from typing import Final

# OpenAI's rule of thumb for English text: one token is about four characters.
CHARS_PER_TOKEN: Final = 4


def estimate_tokens(text: str) -> int:
    """A rough token count: about one per four characters, at least one for any text."""
    if not text:
        return 0
    return max(1, -(-len(text) // CHARS_PER_TOKEN))
