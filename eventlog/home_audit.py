"""What under a home chatlog will not use: entries that are not what chatlog keeps there.

chatlog keeps regular files and directories of its own under its home. Anything else at a
name it uses — a symbolic link, a FIFO, a device, a socket that is not a chatlog server's,
a directory where a file belongs, a file where one of its directories belongs — is never
followed, opened for reading or changed (see :mod:`eventlog.safefile`); readers skip it
with a warning. :func:`unsafe_entries` lists them all, for ``chatlog fsck``.

Only ``lstat`` is used: nothing is opened or followed. The home's top level and chatlog's
own directories are looked at; directories of someone else's under the home are not
entered.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec

from eventlog.home import HomeLayout
from eventlog.safefile import KIND_NAMES, FileKind, file_kind


class UnsafeEntry(msgspec.Struct, frozen=True):
    """The entry at ``path`` is of ``kind`` where chatlog keeps an ``expected`` ("file",
    "directory", or "file or directory" for a name chatlog does not use itself)."""

    path: str
    kind: FileKind
    expected: str

    def describe(self) -> str:
        return (
            f"{self.path} is {KIND_NAMES[self.kind]} where a {self.expected} is expected; "
            "chatlog does not use it"
        )


def unsafe_entries(layout: HomeLayout) -> list[UnsafeEntry]:
    """Every entry of the home's top level and of chatlog's directories that is not what
    chatlog keeps there, sorted by path (directories are read an entry at a time)."""
    found: list[UnsafeEntry] = []
    private_dirs = {path.name for path in layout.private_dirs}
    top_files = {path.name for path in layout.top_files}
    for entry, kind in _entries(layout.root):
        if entry.name in private_dirs:
            if kind != "directory":
                found.append(UnsafeEntry(entry.path, kind, "directory"))
                continue
            found += (
                UnsafeEntry(inner.path, inner_kind, "file")
                for inner, inner_kind in _entries(Path(entry.path))
                if inner_kind != "file"
            )
        elif kind == "file" or (kind == "socket" and _is_server_socket(Path(entry.path))):
            continue
        elif entry.name in top_files:
            found.append(UnsafeEntry(entry.path, kind, "file"))
        elif kind != "directory":  # someone else's directories are theirs
            found.append(UnsafeEntry(entry.path, kind, "file or directory"))
    return sorted(found, key=lambda item: item.path)


def _entries(directory: Path) -> Iterator[tuple[os.DirEntry[str], FileKind]]:
    """The entries of ``directory`` with what each is (``lstat``: links not followed)."""
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    with entries:
        for entry in entries:
            try:
                yield entry, file_kind(entry.stat(follow_symlinks=False).st_mode)
            except FileNotFoundError:  # removed meanwhile: nothing there any more
                continue


def _is_server_socket(path: Path) -> bool:
    """A socket ``chatlog serve`` made: it keeps ``<socket>.lock``, a regular file, beside it."""
    lock = path.with_name(path.name + ".lock")
    try:
        return stat.S_ISREG(os.lstat(lock).st_mode)
    except FileNotFoundError:
        return False
