"""Opening files under the home without following symlinks or blocking on special files.

Everything chatlog opens under its home goes through :func:`open_regular`: ``O_NOFOLLOW``
(a symlink is refused, never followed), ``O_NONBLOCK`` (a FIFO planted at a log's name
cannot hang a reader) and a check that what was opened is a regular file. Anything else is
an :class:`UnsafeFileError` naming the path, which readers report once and skip.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

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
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else _kind(st.st_mode)
        raise UnsafeFileError(f"{path} is {what}, not a directory; chatlog does not use it")


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


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"
