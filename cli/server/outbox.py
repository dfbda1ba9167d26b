"""A connection's bounded send queue.

Producers (the request loop's responses, each subscription's events) ``put`` frames; the
connection's writer task ``take``s them in order and calls ``written`` once the transport
has drained them. Frames count against ``limit`` from ``put`` until ``written``, so when
more than ``limit`` bytes are queued or still in the transport's buffer, ``put`` waits: a
client that reads slowly slows down only its own producers, and the memory a connection
holds for sending stays at about ``limit`` plus one frame. Nothing is ever dropped: a
subscription that waits here simply reads the log later, so the log itself is the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class OutboxClosedError(Exception):
    """The connection is closing; nothing more will be sent."""


class Outbox:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frames: deque[bytes | bytearray] = deque()
        self._size = 0  # bytes queued or taken and not yet written
        self._taken = 0  # bytes of the last take() not yet written
        self._closed = False
        self._ready = asyncio.Event()  # set while frames are queued (or when closed)
        self._room = asyncio.Event()  # set while under the limit (or when closed)
        self._room.set()
        self._holder: asyncio.Task[object] | None = None  # see exclusive()
        self._free = asyncio.Event()
        self._free.set()

    @property
    def size(self) -> int:
        return self._size

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Only the calling task may put while this is held (a response written in pieces
        must not have other frames inside it)."""
        while self._holder is not None:
            await self._free.wait()
        self._holder = asyncio.current_task()
        self._free.clear()
        try:
            yield
        finally:
            self._holder = None
            self._free.set()

    async def put(self, frame: bytes | bytearray) -> None:
        """Queue a frame once there is room; raises OutboxClosedError after close()."""
        while self._holder is not None and self._holder is not asyncio.current_task():
            await self._free.wait()
        while self._size >= self.limit and not self._closed:
            await self._room.wait()
        if self._closed:
            raise OutboxClosedError
        self._frames.append(frame)
        self._size += len(frame)
        self._ready.set()
        if self._size >= self.limit:
            self._room.clear()

    async def take(self) -> list[bytes | bytearray]:
        """Every queued frame, in order; waits for one. Empty only once closed and drained.
        The frames keep counting against the limit until :meth:`written`."""
        while not self._frames and not self._closed:
            await self._ready.wait()
        frames = list(self._frames)
        self._frames.clear()
        self._ready.clear()
        self._taken = sum(map(len, frames))
        return frames

    def written(self) -> None:
        """The frames of the last ``take`` have left the process: make room for more."""
        self._size -= self._taken
        self._taken = 0
        if self._size < self.limit:
            self._room.set()

    def close(self) -> None:
        """Refuse new frames; frames already queued can still be taken."""
        self._closed = True
        self._ready.set()
        self._room.set()
