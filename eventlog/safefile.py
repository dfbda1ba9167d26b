"""Opening files under the home without following symlinks or blocking on special files.

Everything chatlog opens under its home goes through :func:`open_regular`: ``O_NOFOLLOW``
(a symlink is refused, never followed), ``O_NONBLOCK`` (a FIFO planted at a log's name
cannot hang a reader) and a check that what was opened is a regular file. Anything else is
an :class:`UnsafeFileError` naming the path, which readers report once and skip.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path
from typing import Final, Literal

from eventlog.errors import UnsafeFileError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def open_regular(path: str | Path, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """A descriptor for the regular file at ``path`` (FileNotFoundError if missing).

    Raises UnsafeFileError for a symlink, FIFO, device, socket or directory."""
    try:
        fd = os.open(path, flags | NOFOLLOW | NONBLOCK | CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{path} is a symbolic link; not followed") from None
        if exc.errno == errno.EISDIR:
            raise UnsafeFileError(f"{path} is a directory, not a file") from None
        if exc.errno in (errno.ENXIO, errno.ENODEV):
            raise UnsafeFileError(f"{path} is not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{path} is not a regular file ({_kind(st.st_mode)})")
        if NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_regular(path: str | Path) -> bool:
    """Whether ``path`` is a regular file itself (a symlink to one is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def check_private_dir(path: Path) -> None:
    """Raise UnsafeFileError unless ``path`` is a real directory (not a symlink to one)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFileError(
            f"{path} is {_kind(st.st_mode)}, not a directory; chatlog does not use it"
        )


def private_dir_names(path: Path) -> list[str]:
    """The names in ``path``, one of chatlog's directories under the home: none when it
    is missing, and none (with one warning naming it) when it is not a real directory. A
    symlink is never followed, so nothing outside the home is listed, and so nothing
    outside it is removed by name from such a listing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW | NONBLOCK | CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        try:
            what = _kind(os.lstat(path).st_mode)
        except FileNotFoundError:
            return []
        warn_once(f"ignored {path}: it is {what}, not a directory; chatlog does not use it")
        return []
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log ``message`` as a warning, once per process."""
    if message not in _warned:
        _warned.add(message)
        logging.getLogger("chatlog").warning("%s", message)


def read_all(fd: int, start: int, stop: int) -> bytes:
    """Bytes ``start``..``stop`` of the file (fewer if it is shorter)."""
    chunks = []
    pos = start
    while pos < stop:
        chunk = os.pread(fd, stop - pos, pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


FileKind = Literal["file", "directory", "symlink", "fifo", "socket", "device", "other"]

KIND_NAMES: Final[dict[FileKind, str]] = {
    "file": "a regular file",
    "directory": "a directory",
    "symlink": "a symbolic link",
    "fifo": "a FIFO",
    "socket": "a socket",
    "device": "a device",
    "other": "not a regular file",
}


def file_kind(mode: int) -> FileKind:
    """What an ``st_mode`` (from ``lstat``) says the entry is."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


def _kind(mode: int) -> str:
    return KIND_NAMES[file_kind(mode)]
