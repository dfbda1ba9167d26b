"""A connection's bounded send queue.

Producers (the request loop's responses, each subscription's events) ``put`` frames; the
connection's writer task ``take``s them in order. When more than ``limit`` bytes are
queued, ``put`` waits: a client that reads slowly slows down only its own producers, and
the memory a connection holds stays bounded (about ``limit`` plus one frame here, plus
the transport's own write buffer). Nothing is ever dropped: a subscription that waits
here simply reads the log later, so the log itself is the backlog.
"""

from __future__ import annotations

import asyncio
from collections import deque


class OutboxClosedError(Exception):
    """The connection is closing; nothing more will be sent."""


class Outbox:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frames: deque[bytes | bytearray] = deque()
        self._size = 0
        self._closed = False
        self._ready = asyncio.Event()  # set while frames are queued (or when closed)
        self._room = asyncio.Event()  # set while under the limit (or when closed)
        self._room.set()

    @property
    def size(self) -> int:
        return self._size

    async def put(self, frame: bytes | bytearray) -> None:
        """Queue a frame once there is room; raises OutboxClosedError after close()."""
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
        """Every queued frame, in order; waits for one. Empty only once closed and drained."""
        while not self._frames and not self._closed:
            await self._ready.wait()
        frames = list(self._frames)
        self._frames.clear()
        self._size = 0
        self._ready.clear()
        self._room.set()
        return frames

    def close(self) -> None:
        """Refuse new frames; frames already queued can still be taken."""
        self._closed = True
        self._ready.set()
        self._room.set()
