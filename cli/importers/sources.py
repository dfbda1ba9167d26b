"""The format table: every source chatlog imports, how it is recognised, and its units.

A unit is one file to parse (a transcript, a session file, an export, a database); a
directory becomes several, found recursively. Each :class:`Format` says how to recognise
one of its files from the first bytes (``sniff``), which files of a directory are its own
(``collect``) and how to read a file (``load``). Adding a format is one row in
:data:`FORMATS`.

Detection (``chatlog import PATH`` without ``--from``): a file is given to the first
format whose sniff accepts it; a directory is the replaced system's sessions directory
(``index.json`` or seed-style session files), a directory holding ``conversations.json``
or ``logs.db``, or else a tree whose first recognised file decides. When nothing matches,
the error says what the file looked like. With ``--from``, a single file that does not
look like that format is refused with one line; in a directory, files that are not of the
format are skipped and counted.

Reading happens here and in :mod:`cli.importers.inputs` (bounded, regular files only);
the parsers are pure functions of bytes or lines.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Final, NamedTuple

import msgspec

from cli.importers import aider, chatgpt, claude_ai, claude_code, codex, llm_db, seed
from cli.importers.inputs import (
    iter_lines,
    open_regular,
    read_document,
    read_head,
    read_zip_member,
    require_regular,
)
from cli.importers.records import ImportFormatError, NotThisFormat, Parsed

EXPORT_NAME: Final = "conversations.json"
LLM_NAME: Final = "logs.db"
_KEY = r'(?<!\\)"{}"\s*:'
_MAPPING = re.compile(_KEY.format("mapping").encode())
_CHAT_MESSAGES = re.compile(_KEY.format("chat_messages").encode())
_SEED_MESSAGES = re.compile(_KEY.format("messages").encode())
_SEED_ID = re.compile(_KEY.format("session_id").encode())
_TYPE = re.compile(rb'\A\{\s*(?:"timestamp"\s*:\s*"[^"]*"\s*,\s*)?"type"\s*:\s*"([a-z_-]+)"')
_CLAUDE_CODE_KEYS = re.compile(rb'"(?:sessionId|parentUuid|leafUuid|isSidechain|messageId)"\s*:')
CLAUDE_CODE_TYPES: Final = frozenset(
    {"user", "assistant", "summary", "system", "progress", "file-history-snapshot"}
    | {"queue-operation"}
)


class Unit(NamedTuple):
    """One file of a source; ``load`` reads and parses it."""

    label: str
    size: int
    load: Callable[[], Parsed]


class Format(NamedTuple):
    name: str
    label: str  # "a Claude Code transcript"
    sniff: Callable[[Path, bytes], bool]  # a regular file, from its first bytes
    collect: Callable[[Path], list[Path]]  # the files of this format under a directory
    load: Callable[[Path], Parsed]  # one file


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---------------------------------------------------------------------- sniffing


def first_line(head: bytes) -> tuple[bytes, object]:
    """The first non-empty line of ``head`` and its decoded JSON (None when it is not
    complete JSON: a long first line is cut by the head)."""
    for raw in head.split(b"\n"):
        if raw.strip():
            try:
                return raw, msgspec.json.decode(raw)
            except msgspec.DecodeError:
                return raw, None
    return b"", None


def _line_type(head: bytes) -> tuple[str | None, bytes, object]:
    raw, value = first_line(head)
    if isinstance(value, dict):
        kind = value.get("type")
        return (kind if isinstance(kind, str) else None), raw, value
    match = _TYPE.match(raw.lstrip())
    return (match.group(1).decode() if match else None), raw, value


def sniff_codex(_path: Path, head: bytes) -> bool:
    kind, raw, value = _line_type(head)
    if kind in codex.ENVELOPE_TYPES and (b'"payload"' in raw or isinstance(value, dict)):
        return not isinstance(value, dict) or isinstance(value.get("payload"), dict)
    if isinstance(value, dict) and kind is None:  # the metadata line of an older rollout
        return (
            "id" in value and "timestamp" in value and ("instructions" in value or "git" in value)
        )
    return False


def sniff_claude_code(_path: Path, head: bytes) -> bool:
    kind, raw, _value = _line_type(head)
    return kind in CLAUDE_CODE_TYPES and bool(_CLAUDE_CODE_KEYS.search(raw) or kind == "summary")


def sniff_aider(_path: Path, head: bytes) -> bool:
    return head.startswith(aider.HEADER.encode()) or f"\n{aider.HEADER}".encode() in head


def sniff_llm(_path: Path, head: bytes) -> bool:
    return head.startswith(llm_db.SQLITE_MAGIC)


def _export_head(path: Path, head: bytes) -> bytes:
    """The start of the JSON document: the file's, or its zip member's (a zip that cannot be
    read safely raises, so the error says why rather than "not an export")."""
    if head.startswith(b"PK\x03\x04"):
        return read_export(path)[: len(head)]
    return head


def _export_kind(path: Path, head: bytes) -> str | None:
    head = _export_head(path, head)
    if not head.lstrip().startswith((b"[", b"{")):
        return None
    found = [
        (match.start(), name)
        for name, pattern in (("chatgpt", _MAPPING), ("claude-ai", _CHAT_MESSAGES))
        if (match := pattern.search(head)) is not None
    ]
    if found:
        return min(found)[1]
    if _SEED_MESSAGES.search(head) and _SEED_ID.search(head):
        return "seed"
    return None


def describe(head: bytes) -> str:
    """What a file that matches no format looks like, for the error line."""
    if not head.strip():
        return "it is empty"
    if b"\x00" in head[:4096]:
        return "it holds binary data"
    kind, _raw, value = _line_type(head)
    if isinstance(value, dict) and b"\n" in head.strip():
        shown = kind or ", ".join(list(value)[:4])
        return f"JSON lines whose first record is {shown!r}, which no format here writes"
    if head.lstrip().startswith((b"{", b"[")):
        try:
            document = msgspec.json.decode(head)
        except msgspec.DecodeError:
            return "JSON without mapping, chat_messages or messages near its start"
        if isinstance(document, dict):
            keys = ", ".join(list(document)[:5]) or "no keys"
            return f"a JSON object with {keys}: no conversations in it"
        return "a JSON array without conversations"
    return "text that is not an aider history (no '# aider chat started at' line)"


# ---------------------------------------------------------------------- reading


def read_export(path: Path) -> bytes:
    """The bytes of ``conversations.json``: the file itself, or the member of an export zip
    (within the size and ratio limits of :mod:`cli.importers.inputs`)."""
    with open_regular(path) as file:
        is_zip = zipfile.is_zipfile(file)
    if not is_zip:
        return read_document(path)
    try:
        with open_regular(path) as file, zipfile.ZipFile(file) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == EXPORT_NAME]
    except zipfile.BadZipFile as exc:
        raise ImportFormatError(f"{path}: a damaged zip archive ({exc})") from None
    if not names:
        raise ImportFormatError(f"{path}: the archive holds no {EXPORT_NAME}")
    return read_zip_member(path, min(names, key=len))


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.rglob(pattern) if p.is_file() and not p.name.startswith("._"))


def _aider_files(root: Path) -> list[Path]:
    return _files(root, f"*{aider.HISTORY_NAME}")


def _codex_files(root: Path) -> list[Path]:
    sessions = root / "sessions"
    return _files(sessions if sessions.is_dir() else root, "*.jsonl")


def _export_file(root: Path) -> list[Path]:
    candidate = root / EXPORT_NAME
    return [candidate] if candidate.is_file() else []


def _llm_file(root: Path) -> list[Path]:
    candidate = root / LLM_NAME
    return [candidate] if candidate.is_file() else []


def _parse_export(parse: Callable[[bytes, str], Parsed]) -> Callable[[Path], Parsed]:
    return lambda path: parse(read_export(path), str(path))


FORMATS: Final[tuple[Format, ...]] = (
    Format(
        "llm",
        "an llm logs database",
        sniff_llm,
        _llm_file,
        llm_db.parse_database,
    ),
    Format(
        "codex",
        "a Codex CLI rollout",
        sniff_codex,
        _codex_files,
        lambda path: codex.parse_rollout(iter_lines(path), str(path)),
    ),
    Format(
        "claude-code",
        "a Claude Code transcript",
        sniff_claude_code,
        claude_code.find_transcripts,
        lambda path: claude_code.parse_transcript(iter_lines(path), str(path)),
    ),
    Format(
        "aider",
        "an aider chat history",
        sniff_aider,
        _aider_files,
        lambda path: aider.parse_history(iter_lines(path), str(path)),
    ),
    Format(
        "chatgpt",
        "a ChatGPT export",
        lambda path, head: _export_kind(path, head) == "chatgpt",
        _export_file,
        _parse_export(chatgpt.parse_export),
    ),
    Format(
        "claude-ai",
        "a Claude.ai export or conversation",
        lambda path, head: _export_kind(path, head) == "claude-ai",
        _export_file,
        _parse_export(claude_ai.parse_export),
    ),
    Format(
        "seed",
        "a session file of the replaced system",
        lambda path, head: path.name == seed.INDEX_NAME or _export_kind(path, head) == "seed",
        seed.session_files,
        lambda path: seed.parse_session_file(read_document(path), str(path)),
    ),
)
BY_NAME: Final = {fmt.name: fmt for fmt in FORMATS}
NAMES: Final = tuple(BY_NAME)


def get_format(name: str) -> Format:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ImportFormatError(f"unknown format {name!r} (one of {', '.join(NAMES)})") from None


def sniff(path: Path, head: bytes) -> Format | None:
    return next((fmt for fmt in FORMATS if fmt.sniff(path, head)), None)


def _is_seed_directory(path: Path) -> bool:
    return (path / seed.INDEX_NAME).is_file() or any(
        seed.chatlog_id(p.stem) for p in seed.session_files(path)
    )


def _candidates(path: Path) -> list[Path]:
    return sorted(
        p
        for pattern in ("*.jsonl", f"*{aider.HISTORY_NAME}")
        for p in path.rglob(pattern)
        if p.is_file()
    )


def detect(path: Path) -> str:
    """The format of ``path``, or ImportFormatError saying why it cannot tell."""
    if not path.exists():
        raise ImportFormatError(f"{path}: no such file or directory")
    if not path.is_dir():
        head = read_head(path)
        found = sniff(path, head)
        if found is None:
            raise ImportFormatError(
                f"{path}: not a format chatlog imports ({describe(head)}); "
                f"formats: {', '.join(NAMES)}"
            )
        return found.name
    if _is_seed_directory(path):
        return "seed"
    for name in (EXPORT_NAME, LLM_NAME):
        if (path / name).is_file():
            return detect(path / name)
    for candidate in _candidates(path):
        try:
            found = sniff(candidate, read_head(candidate))
        except ImportFormatError:
            continue
        if found is not None:
            return found.name
    raise ImportFormatError(
        f"{path}: no file chatlog can import in this directory (looked for Codex and "
        f"Claude Code .jsonl files, aider histories, {EXPORT_NAME}, {LLM_NAME}, seed sessions)"
    )


def _checked_load(fmt: Format, path: Path) -> Callable[[], Parsed]:
    """Load ``path`` as ``fmt`` after checking that it looks like one."""

    def load() -> Parsed:
        head = read_head(path)
        if not fmt.sniff(path, head):
            other = sniff(path, head)
            looks = f"it looks like {other.label}" if other else describe(head)
            raise NotThisFormat(f"{path}: not {fmt.label} ({looks}); check --from")
        return fmt.load(path)

    return load


def _seed_units(path: Path) -> list[Unit]:
    if path.is_file() and path.name == seed.INDEX_NAME:
        path = path.parent
    if not path.is_dir():
        require_regular(path)
        return [Unit(str(path), _size(path), _checked_load(BY_NAME["seed"], path))]
    seed.require_seed_directory(path)
    files = seed.session_files(path)

    def index() -> Parsed:
        skipped, problems = seed.index_problems(path, files)
        return Parsed((), tuple(skipped), tuple(problems))

    units = [Unit(str(path / seed.INDEX_NAME), 0, index)]
    units += [Unit(str(f), _size(f), _checked_load(BY_NAME["seed"], f)) for f in files]
    return units


def units_for(name: str, path: Path) -> list[Unit]:
    """The units to read for format ``name`` at ``path`` (a file or a directory)."""
    fmt = get_format(name)
    if not path.exists():
        raise ImportFormatError(f"{path}: no such file or directory")
    if name == "seed":
        return _seed_units(path)
    if not path.is_dir():
        require_regular(path)
        return [Unit(str(path), _size(path), _checked_load(fmt, path))]
    files = fmt.collect(path)
    if not files:
        raise ImportFormatError(f"{path}: no file of {fmt.label} found in this directory")
    return [Unit(str(f), _size(f), _checked_load(fmt, f)) for f in files]
