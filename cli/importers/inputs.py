"""Reading import sources with bounds: the only place an importer opens an input file.

Everything an import reads is untrusted. This module enforces, before and while reading:

- only regular files are read: a FIFO, a device (``/dev/zero``), a socket or a directory
  named as a source is refused with one line before a byte is read (the file is opened
  ``O_NONBLOCK`` and checked with ``fstat``, so a FIFO cannot hang the open either);
- a whole-document source (a JSON export) is read only up to :data:`MAX_DOCUMENT` bytes;
- line-oriented sources (JSONL transcripts, aider histories) are streamed in chunks and
  a line longer than :data:`MAX_LINE` is skipped and reported, never held whole;
- a zip member is read only when its declared size is at most :data:`MAX_DOCUMENT` and
  at most :data:`MAX_RATIO` times its compressed size, and the bytes actually inflated
  are counted against the same limits (a lying header does not help a zip bomb).

Every refusal is an :class:`ImportFormatError` naming the file and what was wrong.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO, Final, NamedTuple

from cli.importers.records import ImportFormatError

MAX_DOCUMENT: Final = 1024 * 1024 * 1024  # 1 GiB: a whole JSON export, or a zip member
MAX_LINE: Final = 64 * 1024 * 1024  # one line of a JSONL transcript
MAX_RATIO: Final = 100  # uncompressed / compressed size of a zip member
CHUNK: Final = 1024 * 1024
SNIFF_BYTES: Final = 64 * 1024

_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Line(NamedTuple):
    """One line of a line-oriented source. ``data`` is empty when ``too_long``."""

    number: int  # 1-based
    data: bytes
    terminated: bool  # False for a last line without its newline
    too_long: bool = False


def kind_of(mode: int) -> str | None:
    """What a non-regular file is ("a FIFO (named pipe)"), or None for a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, refusing anything but a regular file before reading."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        kind = kind_of(os.fstat(fd).st_mode)
        if kind is not None:
            raise ImportFormatError(f"{path}: {kind}, not a file chatlog can import")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def require_regular(path: Path) -> None:
    """Refuse ``path`` unless it is a regular file (checked without opening it)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    kind = kind_of(mode)
    if kind is not None:
        raise ImportFormatError(f"{path}: {kind}, not a file chatlog can import")


def read_head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a regular file."""
    with open_regular(path) as file:
        return file.read(size)


def _read_bounded(file: IO[bytes], path: Path, limit: int, what: str) -> bytes:
    data = bytearray()
    while chunk := file.read(min(CHUNK, limit + 1 - len(data))):
        data += chunk
        if len(data) > limit:
            raise ImportFormatError(f"{path}: {what} is larger than {limit:,} bytes; not imported")
    return bytes(data)


def read_document(path: Path, limit: int = MAX_DOCUMENT) -> bytes:
    """A whole-document source, at most ``limit`` bytes."""
    with open_regular(path) as file:
        return _read_bounded(file, path, limit, "the file")


def read_zip_member(path: Path, name: str, limit: int = MAX_DOCUMENT) -> bytes:
    """Member ``name`` of the zip archive at ``path``, within the size and ratio limits."""
    with open_regular(path) as raw, zipfile.ZipFile(raw) as archive:
        info = archive.getinfo(name)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limit or ratio > MAX_RATIO:
            raise ImportFormatError(
                f"{path}: {name} would inflate to {info.file_size:,} bytes "
                f"({ratio:,.0f} times its compressed size); not imported"
            )
        bound = min(limit, max(info.compress_size, 1) * MAX_RATIO)
        with archive.open(info) as member:
            return _read_bounded(member, path, bound, f"{name} (inflated)")


def iter_lines(path: Path, max_line: int | None = None) -> Iterator[Line]:
    """The lines of a regular file, streamed; a line longer than ``max_line`` (default
    :data:`MAX_LINE`) comes as ``too_long``."""
    with open_regular(path) as file:
        yield from lines_of_stream(file, max_line)


def lines_of_stream(file: BinaryIO, max_line: int | None = None) -> Iterator[Line]:
    max_line = MAX_LINE if max_line is None else max_line
    number = 0
    pending = bytearray()
    skipping = False  # inside a line already found too long
    while chunk := file.read(CHUNK):
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not skipping:
                pending += piece
                if len(pending) > max_line:
                    skipping = True
                    pending.clear()
            if end < 0:
                break
            number += 1
            yield Line(number, b"", True, True) if skipping else Line(number, bytes(pending), True)
            pending.clear()
            skipping = False
            start = end + 1
    if pending or skipping:
        number += 1
        yield Line(number, b"", False, True) if skipping else Line(number, bytes(pending), False)


def lines_of(data: bytes) -> Iterator[Line]:
    """The lines of bytes already in memory (for tests and small inputs)."""
    start = 0
    number = 0
    while start < len(data):
        number += 1
        end = data.find(b"\n", start)
        if end < 0:
            yield Line(number, data[start:], False)
            return
        yield Line(number, data[start:end], True)
        start = end + 1
