"""Joining many small pieces of bytes into writes of about one size (a MiB by default),
for whoever writes or sends a stream of lines: one place for that loop."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

WRITE_BYTES: Final = 1 << 20


def batched(pieces: Iterable[bytes], size: int = WRITE_BYTES) -> Iterator[bytes]:
    """``pieces`` joined into blocks of at least ``size`` bytes (the last one shorter)."""
    pending: list[bytes] = []
    held = 0
    for piece in pieces:
        pending.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)
