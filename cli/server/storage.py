"""The server's storage: the event store and the projections, called off the event loop.

Every storage call blocks (file I/O, an ``fdatasync`` per append under ``fsync=always``, a
``flock`` that another process may hold, a JetStream acknowledgement, SQLite), so none
runs on the event loop: a slow disk or cluster delays only the requests waiting for it,
never other clients. Store calls run on a pool of I/O threads (both stores are
thread-safe: appends to different sessions proceed in parallel, appends to one session
serialize on its lock or its expected sequence). Projections, always in the home whatever
the store, run on one dedicated thread that creates and owns them, so their SQLite
connection never crosses threads.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from eventlog import EventStore, HomeLayout, Message
from eventlog.store import Follower
from projections import Projections

T = TypeVar("T")
P = ParamSpec("P")


class Storage:
    def __init__(
        self, log: EventStore, layout: HomeLayout, io_threads: int, follower_readers: int = 2
    ) -> None:
        self.log = log
        self.layout = layout
        # Subscriptions' reads decode a chunk of a log each: at most this many at once, so
        # however many clients replay long sessions together, memory stays bounded.
        self.follower_reads = asyncio.Semaphore(follower_readers)
        self._io = ThreadPoolExecutor(io_threads, thread_name_prefix="chatlog-io")
        self._projections_thread = ThreadPoolExecutor(1, thread_name_prefix="chatlog-projections")
        self._projections: Projections | None = None

    async def _run(
        self, pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ the log

    async def create_session(self, title: str | None, tags: Sequence[str]) -> str:
        return await self._run(self._io, self.log.create_session, title, tags)

    async def append(
        self,
        session_id: str,
        role: str,
        content: str,
        token_count: int | None,
        metadata: dict[str, Any],
        expected_seq: int | None,
    ) -> Message:
        return await self._run(
            self._io,
            self.log.append,
            session_id,
            role,
            content,
            token_count=token_count,
            metadata=metadata,
            expected_seq=expected_seq,
        )

    async def fork_session(self, parent: str, at_seq: int | None, title: str | None) -> str:
        return await self._run(self._io, self.log.fork_session, parent, at_seq, title=title)

    async def open_follower(self, session_id: str) -> Follower:
        return await self._run(self._io, self.log.open_follower, session_id)

    def start_io(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
        """Start ``fn`` on an I/O thread; the future is done when the thread is (shield it
        when awaiting, to know when a cancelled caller's call has really ended)."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._io, functools.partial(fn, *args, **kwargs))

    async def last_seq(self, session_id: str) -> int:
        return await self._run(self._io, self.log.last_seq, session_id)

    # ------------------------------------------------------------------ projections

    async def projections(self, call: Callable[[Projections], T]) -> T:
        """Run ``call`` with the projections, on their own thread."""
        return await self._run(self._projections_thread, self._with_projections, call)

    def _with_projections(self, call: Callable[[Projections], T]) -> T:
        if self._projections is None:
            self._projections = Projections(self.log, layout=self.layout)
        return call(self._projections)

    def close(self) -> None:
        """Wait for running calls (calls not started yet are dropped: nobody awaits them
        any more), then close the projections (the log is the caller's)."""
        self._io.shutdown(wait=True, cancel_futures=True)
        self._projections_thread.submit(self._close_projections).result()
        self._projections_thread.shutdown(wait=True)

    def _close_projections(self) -> None:
        if self._projections is not None:
            self._projections.close()
            self._projections = None
