"""The terminal sanitizer on its own: what it escapes, what it keeps, and how it spells it."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from projections.safe_text import escape_code_point, is_terminal_safe, terminal_safe

# Written out from the rule, not taken from the module: C0 but newline and tab, DEL, C1,
# the bidi controls and marks, and surrogates.
BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def forbidden(char: str) -> bool:
    code = ord(char)
    if char in "\n\t":
        return False
    return (
        unicodedata.category(char) == "Cc"  # C0, DEL, C1
        or code in BIDI
        or 0xD800 <= code <= 0xDFFF
    )


hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0xA0),  # C0, DEL, C1 and ASCII
        st.sampled_from(sorted(chr(c) for c in BIDI)),
        st.sampled_from(["\ud800", "\udc00", "\udfff"]),
        st.characters(),  # anything else (no surrogates)
    )
)


@given(hostile_text)
def test_the_output_never_holds_a_forbidden_character(text: str) -> None:
    safe = terminal_safe(text)
    assert not any(forbidden(char) for char in safe)
    assert is_terminal_safe(safe)


@given(st.text(alphabet=st.characters().filter(lambda c: not forbidden(c))))
def test_text_without_controls_comes_back_unchanged(text: str) -> None:
    assert terminal_safe(text) is text
    assert is_terminal_safe(text)


@given(hostile_text)
def test_sanitizing_twice_changes_nothing_more(text: str) -> None:
    once = terminal_safe(text)
    assert terminal_safe(once) == once


@given(hostile_text)
def test_every_character_stays_visible_as_itself_or_its_escape(text: str) -> None:
    expected = "".join(escape_code_point(c) if forbidden(c) else c for c in text)
    assert terminal_safe(text) == expected


def test_escapes_are_spelled_as_in_a_python_string() -> None:
    title = "T\x1b]0;PWNED\x07\x1b]52;c;cHduZWQ=\x07"
    assert terminal_safe(title) == "T\\x1b]0;PWNED\\x07\\x1b]52;c;cHduZWQ=\\x07"
    assert terminal_safe("a\x9b2Jb\x7f\r\n\tc") == "a\\x9b2Jb\\x7f\\x0d\n\tc"
    assert terminal_safe("\u202eevil\u202c \u2066x\u2069 \u200f\u061c") == (
        "\\u202eevil\\u202c \\u2066x\\u2069 \\u200f\\u061c"
    )


def test_emoji_accents_and_joiners_are_not_controls() -> None:
    text = "👩\u200d💻 café 日本語 «hit» \u00a0nbsp"
    assert terminal_safe(text) is text
