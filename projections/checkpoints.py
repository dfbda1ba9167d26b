"""Checkpoints: how far each session's log has been folded into the projections.

Per session: the resumable scan cursor (byte offset, line count, last seq) and the log's
size and inode when it was read. A reader that finds every log's size and inode equal to
its checkpoint knows the projections are current without reading any log; a different
inode means the log was deleted and re-created (or rewritten by ``fsck --repair``), and
the session is folded again from the start.

``checkpoints.json`` is written after every projection file it describes. A catch-up that
crashes midway leaves the checkpoint behind the files; the *pending* file, written before
any projection file changes, names the sessions being changed, and the next catch-up
folds those from the start again, so the result always equals a full rebuild.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import msgspec

from eventlog import Cursor
from eventlog.atomic import write_atomic

FORMAT_VERSION: Final = 1


class Checkpoint(msgspec.Struct, frozen=True, array_like=True):
    size: int
    ino: int
    offset: int
    line: int
    seq: int

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
