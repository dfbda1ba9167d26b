"""The raw I/O calls the writer makes, behind one small class.

Tests subclass :class:`FileOps` to inject short writes, ``ENOSPC``, ``EIO`` and failed
``fdatasync`` calls exactly where the real ones happen; production uses the plain one.
"""

from __future__ import annotations

import os


class FileOps:
    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def fdatasync(self, fd: int) -> None:
        os.fdatasync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)


DEFAULT_FILE_OPS = FileOps()
