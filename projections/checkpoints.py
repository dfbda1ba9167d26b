"""Checkpoints: how far each session's log has been folded into the projections.

Per session: the resumable scan cursor (byte offset, line count, last seq), the log's
*stamp* when it was read (size, inode, mtime in ns) and a fingerprint of its first line. A
reader that finds every log's stamp equal to its checkpoint knows the projections are
current without reading any log. When a stamp differs, the catch-up reads on from the
cursor, unless the log is another file than the one folded: a different inode (rewritten
by ``fsck --repair``), a size below the cursor, or a different first line (deleted and
re-created under the same id: filesystems reuse inode numbers at once). Then the session
is folded again from the start.

``checkpoints.json`` is written after every projection file it describes. A catch-up that
crashes midway leaves the checkpoint behind the files; the *pending* file, written before
any projection file changes, names the sessions being changed, and the next catch-up
folds those from the start again, so the result always equals a full rebuild.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, NamedTuple

import msgspec

from eventlog import Cursor
from eventlog.atomic import write_atomic

FORMAT_VERSION: Final = 2


class LogStamp(NamedTuple):
    """What a stat tells about a log: any append, truncation or replacement changes it."""

    size: int
    ino: int
    mtime_ns: int


def stamp_of(st: os.stat_result) -> LogStamp:
    return LogStamp(st.st_size, st.st_ino, st.st_mtime_ns)


class Checkpoint(msgspec.Struct, frozen=True, array_like=True):
    size: int
    ino: int
    mtime_ns: int
    offset: int
    line: int
    seq: int
    head: int  # CRC32 of the log's first line (0 while it has none)

    @property
    def stamp(self) -> LogStamp:
        return LogStamp(self.size, self.ino, self.mtime_ns)

    def matches(self, stamp: LogStamp) -> bool:
        return stamp.size == self.size and stamp.mtime_ns == self.mtime_ns and stamp.ino == self.ino

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.offset, self.line, self.seq)


class CheckpointFile(msgspec.Struct, frozen=True):
    version: int
    sessions: dict[str, Checkpoint]


_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(CheckpointFile)
_pending_decoder = msgspec.json.Decoder(list[str])


def load(path: Path) -> dict[str, Checkpoint] | None:
    """The saved checkpoints, or None when there are none to trust (missing, unreadable,
    or another format version): the caller then rebuilds everything."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        saved = _decoder.decode(data)
    except msgspec.DecodeError:
        return None
    return dict(saved.sessions) if saved.version == FORMAT_VERSION else None


def save(path: Path, sessions: dict[str, Checkpoint], *, durable: bool) -> None:
    write_atomic(path, _encoder.encode(CheckpointFile(FORMAT_VERSION, sessions)), durable=durable)


def load_pending(path: Path) -> set[str] | None:
    """Sessions a crashed catch-up was changing; None when that cannot be told (the
    caller then distrusts every checkpoint)."""
    try:
        return set(_pending_decoder.decode(path.read_bytes()))
    except FileNotFoundError:
        return set()
    except msgspec.DecodeError:
        return None


def save_pending(path: Path, session_ids: set[str], *, durable: bool) -> None:
    if session_ids:
        write_atomic(path, _encoder.encode(sorted(session_ids)), durable=durable)
    else:
        path.unlink(missing_ok=True)
