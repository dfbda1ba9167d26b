"""Private, crash-safe file creation: write aside in the same directory, then publish.

- :func:`write_atomic` replaces a file (temp file, fsync, ``os.replace``): a crash leaves
  the old file or the new one, never a mix.
- :func:`write_exclusive` creates a file that must not exist yet (temp file, fsync, hard
  link into place, which fails like ``O_EXCL`` if the name is taken): nobody ever sees a
  partial file.

Either way the file is 0600 whatever the umask, and the directory is fsynced so the new
name itself is durable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from eventlog.home import FILE_MODE
from eventlog.safefile import NOFOLLOW


def temp_name(path: Path) -> Path:
    """The hidden temp file a writer of ``path`` uses (``.<name>.<pid>.<thread>.tmp``)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _write_aside(path: Path, data: bytes | Iterable[bytes], *, durable: bool) -> Path:
    """Write ``data`` (bytes, or chunks of them) to a fresh hidden temp file beside
    ``path``; return the temp path."""
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        for chunk in [data] if isinstance(data, bytes | bytearray) else data:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def write_atomic(path: Path, data: bytes | Iterable[bytes], *, durable: bool = True) -> None:
    tmp = _write_aside(path, data, durable=durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_exclusive(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Create ``path`` holding ``data``; FileExistsError if it exists already."""
    tmp = _write_aside(path, data, durable=True)
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
