"""Search: what a query means, and the snippet shown with each hit.

The full-text index is a contentless FTS5 table in the projection database (see
:mod:`projections.db`); the text of a hit is read back from the log at the message's
locator and its snippet is cut here, so search keeps no second copy of every message.

Tokenizer: ``unicode61 remove_diacritics 2`` — whole words, case- and accent-insensitive
("cafe" finds "Café"), with ``word*`` for prefixes. The snippet finder follows the same
rules (Unicode word characters, case-folded, accents removed) to mark matched words.

User input is never passed to FTS5 as syntax: every word (or "quoted phrase") becomes a
quoted FTS5 string, so ``"``, ``*``, ``(``, ``NEAR``, ``-``, ``:`` are just text. All words
must match; a trailing ``*`` on a word keeps its meaning as a prefix search.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final, NamedTuple

from eventlog import InvalidArgumentError

HIGHLIGHT_START: Final = "«"
HIGHLIGHT_END: Final = "»"
SNIPPET_TOKENS: Final = 16
ELLIPSIS: Final = "…"

_QUERY_PART = re.compile(r'"([^"]*)"?|(\S+)')
# unicode61's token characters: letters, digits (and the private-use/other categories it
# keeps); close enough with \w, which adds "_" — a separator for unicode61.
_TOKEN = re.compile(r"[^\W_]+")


class Term(NamedTuple):
    text: str  # folded (see fold)
    prefix: bool


def match_expression(query: str) -> str:
    """The FTS5 MATCH expression for a user's query: each word or "phrase" quoted.

    Raises InvalidArgumentError when the query has nothing to search for."""
    parts: list[str] = []
    for phrase, word in _QUERY_PART.findall(query.replace("\x00", " ")):
        text = phrase if phrase or not word else word
        prefix = not phrase and len(word) > 1 and word.endswith("*")
        text = text.rstrip("*") if prefix else text
        if text.strip():
            parts.append('"' + text.replace('"', '""') + '"' + ("*" if prefix else ""))
    if not parts:
        raise InvalidArgumentError("the search query is empty")
    return " ".join(parts)


def query_terms(query: str) -> list[Term]:
    """The words a query looks for, folded like the index folds them."""
    terms: list[Term] = []
    for phrase, word in _QUERY_PART.findall(query.replace("\x00", " ")):
        text = phrase if phrase or not word else word
        prefix = not phrase and len(word) > 1 and word.endswith("*")
        words = _TOKEN.findall(text.rstrip("*") if prefix else text)
        for index, token in enumerate(words):
            terms.append(Term(fold(token), prefix and index == len(words) - 1))
    return terms


@lru_cache(maxsize=4096)
def fold(token: str) -> str:
    """Case-folded, accents removed (``remove_diacritics 2``)."""
    decomposed = unicodedata.normalize("NFKD", token.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _matches(token: str, terms: list[Term]) -> bool:
    folded = fold(token)
    return any(folded.startswith(t.text) if t.prefix else folded == t.text for t in terms)


def snippet(content: str, terms: list[Term], size: int = SNIPPET_TOKENS) -> str:
    """A window of about ``size`` words of ``content`` around its matches, matched words
    marked « », ``…`` where text was cut, whitespace collapsed to single spaces."""
    tokens = list(_TOKEN.finditer(content))
    if not tokens:
        return " ".join(content.split())[:200]
    hits = [i for i, token in enumerate(tokens) if _matches(token.group(), terms)]
    if hits:
        # The window with the most matches, starting a little before a match.
        best, best_count = 0, -1
        for first in hits:
            start = max(0, min(first - size // 4, len(tokens) - size))
            count = sum(1 for h in hits if start <= h < start + size)
            if count > best_count:
                best, best_count = start, count
        start = best
    else:
        start = 0
    end = min(len(tokens), start + size)
    hit_set = set(hits)
    pieces: list[str] = []
    cursor = tokens[start].start() if start else 0
    for index in range(start, end):
        token = tokens[index]
        pieces.append(content[cursor : token.start()])
        word = token.group()
        pieces.append(f"{HIGHLIGHT_START}{word}{HIGHLIGHT_END}" if index in hit_set else word)
        cursor = token.end()
    if end == len(tokens):
        pieces.append(content[cursor:])
    text = " ".join("".join(pieces).split())
    return (ELLIPSIS if start else "") + text + (ELLIPSIS if end < len(tokens) else "")
