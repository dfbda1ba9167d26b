"""Secrets: detected and replaced before text is stored; redacted messages as shown.

The detectors are Yelp's ``detect-secrets`` plugins, run on a string in memory (their
``analyze_string``: no files, no baseline, no network verification). Each finding is
replaced by ``[REDACTED:<kind>]``. Kinds:

- ``aws_key`` (access key ids, and secret keys assigned to an ``aws..key`` name),
  ``github_token``, ``gitlab_token``, ``openai_key``, ``slack_token``, ``stripe_key``,
  ``jwt``, ``basic_auth`` (the password of ``scheme://user:password@host``): the library's
  plugins;
- ``anthropic_key`` (``sk-ant-...``) and fine-grained GitHub tokens (``github_pat_...``):
  plugins of ours on the library's ``RegexBasedDetector`` (the library has none);
- ``private_key``: the library finds the ``BEGIN ... PRIVATE KEY`` header; the whole block,
  up to its ``END`` line (or the end of the text when there is none), is redacted;
- ``secret``: a value assigned to a secret-sounding name (the library's keyword list:
  password, secret, api_key, ... plus token and credential) that looks random (at least
  8 characters and 3 bits of Shannon entropy per character), so ``password: required`` is
  left alone. Metadata values under such keys are checked the same way.

Hashes, UUIDs and base64 data (images) are not secrets by shape alone and are kept: the
library's generic high-entropy plugins are not used.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import msgspec

from eventlog.events import AnyEvent, Message, MessageRedacted

if TYPE_CHECKING:
    from detect_secrets.plugins.base import RegexBasedDetector

MARKER_PREFIX: Final = "[REDACTED:"
MIN_SECRET_LENGTH: Final = 8
MIN_SECRET_ENTROPY: Final = 3.0
MAX_DEPTH: Final = 32  # metadata nesting walked (deeper values are kept as they are)


def marker(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


class _Detectors(NamedTuple):
    plugins: tuple[tuple[str, RegexBasedDetector, tuple[str, ...]], ...]
    assignment: re.Pattern[str]
    name: re.Pattern[str]
    jwt_valid: Callable[[str], bool]


@functools.cache
def _detectors() -> _Detectors:
    """The plugins, loaded on first use (detect-secrets takes ~0.1 s to import, which
    commands that store nothing should not pay)."""
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.keyword import DENYLIST
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.stripe import StripeDetector

    class AnthropicDetector(RegexBasedDetector):
        """Anthropic API and admin keys (``sk-ant-api03-...``, ``sk-ant-admin01-...``)."""

        secret_type = "Anthropic Key"
        denylist = (re.compile(r"sk-ant-[a-z]+\d{2}-[A-Za-z0-9_\-]{20,}"),)

    class GitHubFineGrainedDetector(RegexBasedDetector):
        """GitHub fine-grained personal access tokens (the library knows the classic ones)."""

        secret_type = "GitHub Token"
        denylist = (re.compile(r"github_pat_[A-Za-z0-9_]{22,}"),)

    # Each plugin with the lower-case literals one of which any text it finds contains:
    # a plugin runs only on text holding one of them, so most messages cost a few
    # substring tests (the library's regexes are far slower than ``in`` on long prose).
    plugins: tuple[tuple[str, RegexBasedDetector, tuple[str, ...]], ...] = (
        ("private_key", PrivateKeyDetector(), ("private key", "putty-user-key")),
        ("aws_key", AWSKeyDetector(), ("a3t", "abia", "acca", "akia", "asia", "aws")),
        ("github_token", GitHubTokenDetector(), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
        ("github_token", GitHubFineGrainedDetector(), ("github_pat_",)),
        ("gitlab_token", GitLabTokenDetector(), ("gl", "gr1348941")),
        ("openai_key", OpenAIDetector(), ("t3blbkfj",)),
        ("anthropic_key", AnthropicDetector(), ("sk-ant-",)),
        ("slack_token", SlackDetector(), ("xox", "hooks.slack")),
        ("stripe_key", StripeDetector(), ("k_live_",)),
        ("jwt", JwtTokenDetector(), ("eyj",)),
        ("basic_auth", BasicAuthDetector(), ("@",)),
    )
    names = "|".join((*DENYLIST, r"token", r"credentials?", r"bearer"))
    # Matched on the ASCII-lower-cased text (same length, so the same positions).
    # A name (not inside a longer word: ``_`` and ``-`` may join it to others), then an
    # assignment; ``bearer`` is followed by a space alone.
    assignment = re.compile(
        rf"(?<![a-z0-9])(?:(?:{names})\w*['\"\]]{{0,2}}[ \t]*(?::=|=>|==|=|:)|bearer[ \t])[ \t]*"
        r"(?:(?P<q>['\"`])(?P<quoted>[^'\"`\n]{1,500})(?P=q)"
        r"|(?P<bare>[^\s'\"`,;)}\]]{1,500}))"
    )
    return _Detectors(
        plugins, assignment, re.compile(names, re.IGNORECASE), JwtTokenDetector.is_formally_valid
    )


# Plugins whose first group is the secret (the rest of the match is context to keep).
_GROUP_IS_SECRET: Final = frozenset({"basic_auth", "aws_key"})
_NAME_LITERALS: Final = (
    "key",
    "pass",
    "pwd",
    "secret",
    "token",
    "credential",
    "bearer",
    "contrase",
)
_TOKEN_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "_-")
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PRIVATE_KEY_BLOCK: Final = re.compile(
    r"-*\s*BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-*.*?(?:END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-*|\Z)"
    r"|PuTTY-User-Key-File-\d.*?(?:Private-MAC:\s*\S+|\Z)",
    re.DOTALL,
)


class Finding(NamedTuple):
    kind: str
    start: int
    end: int


def entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def looks_random(value: str) -> bool:
    value = value.strip()
    return (
        len(value) >= MIN_SECRET_LENGTH
        and not value.startswith(MARKER_PREFIX)
        and entropy(value) >= MIN_SECRET_ENTROPY
    )


def _lines_holding(lowered: str, literals: tuple[str, ...]) -> list[tuple[int, int]]:
    """The spans of the lines of ``lowered`` holding one of ``literals``, in order."""
    spans: set[tuple[int, int]] = set()
    for literal in literals:
        at = lowered.find(literal)
        while at >= 0:
            start = lowered.rfind("\n", 0, at) + 1
            end = lowered.find("\n", at)
            end = len(lowered) if end < 0 else end
            spans.add((start, end))
            at = lowered.find(literal, end)
    return sorted(spans)


def _plugin_findings(
    kind: str, plugin: RegexBasedDetector, text: str, lines: list[tuple[int, int]]
) -> Iterator[Finding]:
    if kind == "private_key":
        if any(True for _ in plugin.analyze_string(text)):
            for block in _PRIVATE_KEY_BLOCK.finditer(text):
                yield Finding(kind, block.start(), block.end())
        return
    for start, stop in lines:  # the plugins' patterns never span lines
        for regex in plugin.denylist:
            for match in regex.finditer(text, start, stop):
                if kind == "jwt" and not _detectors().jwt_valid(match.group()):
                    continue
                group = 1 if kind in _GROUP_IS_SECRET and match.lastindex else 0
                if match.group(group):
                    end = match.end(group)
                    if kind not in _GROUP_IS_SECRET:  # a token runs to the end of its word
                        while end < stop and text[end] in _TOKEN_CHARACTERS:
                            end += 1
                    yield Finding(kind, match.start(group), end)


def find_secrets(text: str) -> list[Finding]:
    """Every secret in ``text``, as non-overlapping spans in text order. Each pattern runs
    only on the lines holding one of its literals (as detect-secrets scans files line by
    line), so a long text costs little more than a few substring searches."""
    lowered = text.translate(_ASCII_LOWER)
    found: list[Finding] = []
    detectors = _detectors()
    for kind, plugin, literals in detectors.plugins:
        lines = _lines_holding(lowered, literals)
        if lines:
            found += _plugin_findings(kind, plugin, text, lines)
    for start, stop in _lines_holding(lowered, _NAME_LITERALS):
        for match in detectors.assignment.finditer(lowered, start, stop):
            group = "quoted" if match.group("quoted") is not None else "bare"
            if looks_random(text[match.start(group) : match.end(group)]):
                found.append(Finding("secret", match.start(group), match.end(group)))
    return _merged(found)


def _merged(found: list[Finding]) -> list[Finding]:
    """Overlapping spans become one, named by a specific kind rather than ``secret``."""
    merged: list[Finding] = []
    for finding in sorted(found, key=lambda f: (f.start, f.kind == "secret", -f.end)):
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            kind = finding.kind if last.kind == "secret" else last.kind
            merged[-1] = Finding(kind, last.start, max(last.end, finding.end))
        else:
            merged.append(finding)
    return merged


def redact_text(text: str) -> tuple[str, list[str]]:
    """``text`` with every secret replaced by its marker, and the kinds replaced."""
    found = find_secrets(text)
    if not found:
        return text, []
    pieces: list[str] = []
    cursor = 0
    for finding in found:
        pieces += [text[cursor : finding.start], marker(finding.kind)]
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces), [f.kind for f in found]


def redact_value(value: Any, kinds: list[str], key: str = "", depth: int = 0) -> Any:
    """A copy of a metadata value (JSON-like) with secrets in its strings replaced; the
    kinds replaced are added to ``kinds``."""
    if isinstance(value, str):
        text, found = redact_text(value)
        if not found and key and _detectors().name.search(key) and looks_random(value):
            text, found = marker("secret"), ["secret"]
        kinds += found
        return text
    if depth >= MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {k: redact_value(v, kinds, str(k), depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v, kinds, key, depth + 1) for v in value)
    return value


class Redacted(NamedTuple):
    content: str
    metadata: dict[str, Any]
    kinds: list[str]  # what was replaced (empty: nothing)


def redact_message(content: str, metadata: Mapping[str, Any]) -> Redacted:
    """A message's content and metadata with every secret replaced."""
    text, kinds = redact_text(content)
    meta = redact_value(dict(metadata), kinds) if metadata else {}
    return Redacted(text, meta, kinds)


# ---------------------------------------------------------------------- on request

REDACTED_CONTENT: Final = "[REDACTED]"  # what a title taken from a redacted message becomes


def redacted_content(at: str) -> str:
    """The text a redacted message shows: that it was redacted, and when."""
    return f"{REDACTED_CONTENT[:-1]} at {at}]"


def redacted_message(message: Message, at: str, reason: str | None) -> Message:
    """``message`` as every view shows it once it is redacted (``at``: the redaction's
    time), and as ``compact`` rewrites it: its text and metadata gone, only when (and
    why) it was redacted left."""
    return msgspec.structs.replace(
        message,
        content=redacted_content(at),
        metadata={"redacted": {"at": at, "reason": reason}},
    )


# ---------------------------------------------------------------------- compaction

# A quarantined line's start, torn or damaged as it may be: the type and seq are written
# first, so even a partial message line says which message it was.
_MESSAGE_LINE_START = re.compile(rb'^\{"type":"message","v":\d+,"seq":(\d{1,19})[,}]')


def note_redaction(found: dict[int, MessageRedacted], event: AnyEvent) -> None:
    """Keep ``event`` in ``found`` (redactions by the seq they redact) if it is one; the
    first redaction of a message counts."""
    if isinstance(event, MessageRedacted):
        found.setdefault(event.target, event)


def compacted_version(event: AnyEvent, redactions: Mapping[int, MessageRedacted]) -> Message | None:
    """What ``compact`` stores instead of ``event``: None when it holds no redacted text
    (not redacted, or compacted already)."""
    redaction = redactions.get(event.seq)
    if redaction is None or not isinstance(event, Message):
        return None
    replaced = redacted_message(event, redaction.ts, redaction.reason)
    return replaced if replaced != event else None


def is_redacted_message_line(line: bytes, seqs: set[int]) -> bool:
    """Whether a (possibly damaged or partial) line is, or begins, a message at ``seqs``."""
    match = _MESSAGE_LINE_START.match(line)
    return match is not None and int(match.group(1)) in seqs
