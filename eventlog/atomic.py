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
from pathlib import Path

from eventlog.home import FILE_MODE


def _write_aside(path: Path, data: bytes, *, durable: bool) -> Path:
    """Write ``data`` to a fresh hidden temp file beside ``path``; return the temp path."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
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


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    tmp = _write_aside(path, data, durable=durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_exclusive(path: Path, data: bytes) -> None:
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
