"""Stored text made safe to show on a terminal: control and bidi characters become visible.

Everything chatlog stores came from somewhere else (a model, an imported transcript, a
client of the server), so a title, a tag or a message can carry bytes a terminal obeys:
``ESC ] 0 ; … BEL`` retitles the window, ``ESC ] 52`` writes the clipboard, ``ESC ] 8``
plants a link, ``ESC [ 2 J`` clears the screen, a C1 ``CSI`` (U+009B) does the same in one
character, and bidi overrides (U+202E) make text read differently from what it is.

:func:`terminal_safe` is the one place that decides what reaches a terminal. It replaces
each of these characters with its escape, spelled as in a Python string literal:

- C0 controls except newline and tab, DEL and C1 controls: ``\\x1b``, ``\\x07``, ``\\r``
  is ``\\x0d``, ``\\x7f``, ``\\x9b`` (two hex digits);
- bidi embeddings, overrides, isolates and marks (U+202A-U+202E, U+2066-U+2069, U+200E,
  U+200F, U+061C) and lone surrogates: ``\\u202e`` (four hex digits).

So ``T\\x1b]0;PWNED\\x07`` shows exactly like that, every character of the text stays
visible and nothing is obeyed. Text without such characters comes back unchanged (the same
object), and the result never contains one, so applying it twice changes nothing more.
Newlines and tabs are kept: they are how messages are laid out.

The log keeps the text byte for byte; this is for display (and for the markdown export,
which is read in terminals and editors). JSON output is left to JSON's own escaping.
Pure functions; one compiled pattern, so it costs one scan over text that has nothing to
replace (it runs over whole exports).
"""

from __future__ import annotations

import re
from typing import Final

# Code points that are escaped (see the module docstring), as regex character ranges.
UNSAFE_RANGES: Final[tuple[tuple[int, int], ...]] = (
    (0x00, 0x08),  # C0 before tab
    (0x0B, 0x1F),  # C0 after newline (CR, ESC, ...)
    (0x7F, 0x9F),  # DEL and C1
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x200E, 0x200F),  # LEFT-TO-RIGHT / RIGHT-TO-LEFT MARK
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2066, 0x2069),  # bidi isolates
    (0xD800, 0xDFFF),  # surrogates (never valid on their own)
)

_UNSAFE: Final = re.compile(
    "[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in UNSAFE_RANGES) + "]"
)


def escape_code_point(char: str) -> str:
    """The visible spelling of one unsafe character: ``\\x1b`` or ``\\u202e``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_match(match: re.Match[str]) -> str:
    return escape_code_point(match.group())


def is_terminal_safe(text: str) -> bool:
    """Whether ``text`` holds no character :func:`terminal_safe` would replace."""
    return _UNSAFE.search(text) is None


def terminal_safe(text: str) -> str:
    """``text`` with every control, DEL, C1 and bidi control character spelled out."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape_match, text)
