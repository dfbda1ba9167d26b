"""The neutral records every importer produces, and the importers' error.

A parser turns foreign bytes into :class:`Parsed`: the conversations it understood, the
items it left out on purpose (:class:`Skipped`, counted by reason in the summary) and the
damage it found (:class:`Problem`, each naming a file and a position). These are pure
values; writing them into the event log lives in :mod:`cli.importers.writer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, cast

import msgspec

from eventlog import ROLES, InvalidArgumentError
from eventlog.events import Role

# The names of the formats in cli.importers.sources.FORMATS (kept here for the command
# line, which must not load the parsers to build its help).
FORMATS: Final = ("llm", "codex", "claude-code", "aider", "chatgpt", "claude-ai", "seed")


class ImportFormatError(InvalidArgumentError):
    """An input file cannot be read at all (wrong format, truncated or malformed JSON,
    not a database): nothing from it was imported. The message names the file and, where
    the format has one, the position."""


class NotThisFormat(ImportFormatError):
    """A file read with a format (``--from``, or the format of its directory) that it
    does not have: one line for a single file; skipped and counted in a directory."""


# Branches of one conversation imported at most (a ChatGPT tree, a Claude Code
# transcript's rewinds): each is compared with the family's sessions when written, so a
# hostile source with a million leaves cannot make an import quadratic. The rest are
# reported as a problem.
MAX_BRANCHES: Final = 256


def as_role(name: str) -> Role:
    """``name`` as a chatlog role; callers check membership in ROLES first."""
    if name not in ROLES:
        raise InvalidArgumentError(f"not a chatlog role: {name!r}")
    return cast(Role, name)


class ImportedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One message as chatlog will store it. ``ts`` is UTC ISO-8601 with an offset (or
    None when the source has no time for it); ``metadata["source_id"]``, when present, is
    the message's id in the source and identifies it across imports."""

    role: Role
    content: str
    ts: str | None = None
    token_count: int | None = None
    metadata: dict[str, Any] = {}


class ImportedConversation(msgspec.Struct, frozen=True, kw_only=True):
    """One conversation from a source: becomes one chatlog session.

    ``key`` is stable across exports of the same conversation (``chatgpt:<id>``); it is
    what makes a second import add nothing. ``session_id`` is set only when the source's
    own id must be kept (the replaced system's sessions). ``origin`` holds provenance for
    the session's metadata (original id, model, original timestamps).

    Branches. ``messages`` is always the whole path from the conversation's start. A
    source whose conversations branch gives each branch (a leaf of a ChatGPT tree, a
    rewound Claude Code turn) as a conversation of its own, after the one it branches
    from, all with the same ``family`` (the key of the family's main conversation, which
    has it too); the writer forks each from the family's session sharing most of its
    messages. ``fork_of`` is the key of the one conversation a branch forks from when the
    source names it (an llm thread's ``forked_from``). ``shared`` is how many leading
    messages the branch shares with the conversation it branches from in the source."""

    source: str
    key: str
    path: str
    title: str | None
    created_at: str
    tags: tuple[str, ...] = ()
    messages: tuple[ImportedMessage, ...] = ()
    session_id: str | None = None
    origin: dict[str, Any] = {}
    family: str | None = None
    fork_of: str | None = None
    shared: int = 0

    @property
    def branched(self) -> bool:
        """Part of a family of branches: written as a fork where the source branches."""
        return self.family is not None or self.fork_of is not None


class Skipped(msgspec.Struct, frozen=True):
    """Something in the source that is not imported on purpose, e.g. a progress line."""

    where: str
    reason: str


class Problem(msgspec.Struct, frozen=True):
    """Damaged input that was left out: a corrupt line, an unreadable conversation."""

    where: str
    message: str

    def describe(self) -> str:
        return f"{self.where}: {self.message}"


class Parsed(msgspec.Struct, frozen=True):
    conversations: tuple[ImportedConversation, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    problems: tuple[Problem, ...] = ()


def common_prefix(mine: Sequence[object], theirs: Sequence[object]) -> int:
    """How many leading items two sequences share (a branch and the one it leaves)."""
    count = 0
    for a, b in zip(mine, theirs, strict=False):
        if a != b:
            break
        count += 1
    return count


def decode_error_position(data: bytes, error: msgspec.DecodeError) -> str:
    """Where a JSON syntax error is, from msgspec's message: ``byte N, line L, column C``.

    msgspec reports ``(byte N)`` for malformed input and nothing for truncated input,
    which is then at the end of the data."""
    text = str(error)
    marker = text.rfind("(byte ")
    if marker >= 0 and text.endswith(")"):
        try:
            offset = int(text[marker + 6 : -1])
        except ValueError:
            offset = len(data)
        reason = text[:marker].strip().removeprefix("JSON is malformed: ")
    else:
        offset = len(data)
        reason = "truncated: the data ends early" if "truncated" in text else text
    offset = max(0, min(offset, len(data)))
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"byte {offset} (line {line}, column {column}): {reason}"
