"""From a path on disk to the units an import reads, and detection of the format.

A unit is one file to parse (a transcript, a session file, an export, a database); a
directory becomes several. Reading happens here, at the edge; the parsers are pure.
Detection (``chatlog import PATH`` without ``--from``):

- a directory with ``index.json`` or seed-style session files -> seed;
- a directory with ``conversations.json`` or ``logs.db`` -> what that file is;
- ``~/.claude``, its ``projects`` directory, or a directory of ``.jsonl`` files -> claude-code;
- an SQLite file -> llm; a ``.jsonl`` file -> claude-code;
- a JSON file (or a ``.zip`` export holding ``conversations.json``) whose conversations
  have ``mapping`` -> chatgpt, ``chat_messages`` -> claude-ai; one with ``metadata`` and
  ``messages`` -> a single seed session file.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Final, NamedTuple

from cli.importers import chatgpt, claude_ai, claude_code, llm_db, seed
from cli.importers.records import FORMATS, ImportFormatError, Parsed

EXPORT_NAME: Final = "conversations.json"
SNIFF_BYTES: Final = 1024 * 1024
_KEY = r'(?<!\\)"{}"\s*:'
_MAPPING = re.compile(_KEY.format("mapping").encode())
_CHAT_MESSAGES = re.compile(_KEY.format("chat_messages").encode())
_SEED_MESSAGES = re.compile(_KEY.format("messages").encode())
_SEED_ID = re.compile(_KEY.format("session_id").encode())


class Unit(NamedTuple):
    """One file of a source; ``load`` reads and parses it."""

    label: str
    size: int
    load: Callable[[], Parsed]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_export(path: Path, limit: int = -1) -> bytes:
    """The bytes of ``conversations.json`` (its first ``limit`` bytes, if given): the file
    itself, or the member of an export zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == EXPORT_NAME]
            if not names:
                raise ImportFormatError(f"{path}: the archive holds no {EXPORT_NAME}")
            with archive.open(min(names, key=len)) as member:
                return member.read(limit)
    with open(path, "rb") as file:
        return file.read(limit)


def _sniff_export(head: bytes) -> str | None:
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


def detect(path: Path) -> str:
    """The format of ``path``, or ImportFormatError saying it cannot tell."""
    if not path.exists():
        raise ImportFormatError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / seed.INDEX_NAME).is_file() or any(
            seed.chatlog_id(p.stem) for p in seed.session_files(path)
        ):
            return "seed"
        if (path / EXPORT_NAME).is_file():
            return detect(path / EXPORT_NAME)
        if (path / "logs.db").is_file():
            return "llm"
        if claude_code.find_transcripts(path):
            return "claude-code"
        raise ImportFormatError(f"{path}: cannot tell what this directory holds; use --from")
    with open(path, "rb") as file:
        head = file.read(len(llm_db.SQLITE_MAGIC))
    if head == llm_db.SQLITE_MAGIC:
        return "llm"
    if path.suffix == ".jsonl":
        return "claude-code"
    if path.name == seed.INDEX_NAME:
        return "seed"
    try:
        found = _sniff_export(read_export(path, SNIFF_BYTES))
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFormatError(f"{path}: cannot read it ({exc})") from None
    if found is None:
        raise ImportFormatError(f"{path}: cannot tell its format; use --from")
    return found


def _seed_units(path: Path) -> list[Unit]:
    if path.is_file() and path.name == seed.INDEX_NAME:
        path = path.parent
    if path.is_file():
        return [_file_unit(path, seed.parse_session_file)]
    seed.require_seed_directory(path)
    files = seed.session_files(path)

    def index() -> Parsed:
        skipped, problems = seed.index_problems(path, files)
        return Parsed((), tuple(skipped), tuple(problems))

    units = [Unit(str(path / seed.INDEX_NAME), 0, index)]
    units += [_file_unit(f, seed.parse_session_file) for f in files]
    return units


def _file_unit(path: Path, parse: Callable[[bytes, str], Parsed]) -> Unit:
    return Unit(str(path), _size(path), lambda: parse(path.read_bytes(), str(path)))


def _claude_code_units(path: Path) -> list[Unit]:
    files = [path] if path.is_file() else claude_code.find_transcripts(path)
    if not files:
        raise ImportFormatError(f"{path}: no .jsonl transcripts found")
    return [_file_unit(f, claude_code.parse_transcript) for f in files]


def _export_units(path: Path, parse: Callable[[bytes, str], Parsed]) -> list[Unit]:
    if path.is_dir():
        path = path / EXPORT_NAME
    if not path.is_file():
        raise ImportFormatError(f"{path}: no such file")
    return [Unit(str(path), _size(path), lambda: parse(read_export(path), str(path)))]


def _llm_units(path: Path) -> list[Unit]:
    if path.is_dir():
        path = path / "logs.db"
    if not path.is_file():
        raise ImportFormatError(f"{path}: no such file")
    return [Unit(str(path), _size(path), lambda: llm_db.parse_database(path))]


def units_for(fmt: str, path: Path) -> list[Unit]:
    """The units to read for ``fmt`` at ``path`` (a file or a directory)."""
    if not path.exists():
        raise ImportFormatError(f"{path}: no such file or directory")
    if fmt == "seed":
        return _seed_units(path)
    if fmt == "claude-code":
        return _claude_code_units(path)
    if fmt == "chatgpt":
        return _export_units(path, chatgpt.parse_export)
    if fmt == "claude-ai":
        return _export_units(path, claude_ai.parse_export)
    if fmt == "llm":
        return _llm_units(path)
    raise ImportFormatError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
