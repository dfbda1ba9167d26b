"""The server's lifecycle: claim the socket, accept connections, shut down cleanly.

SIGTERM and SIGINT start a clean shutdown: stop accepting, stop reading requests, let the
requests being answered finish (an append that started is either answered or not done at
all from the client's view, never half-reported), flush what is queued for each client,
close every connection, then remove the socket file. Waiting for clients is bounded by
``shutdown_grace``: connections still open after it (a client that never reads, a
subscriber stalled mid-replay) are dropped, so the server is gone within 2 s whatever its
clients do.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.server.config import ServerConfig
from cli.server.connection import Connection
from cli.server.listener import claim_socket
from cli.server.storage import Storage
from cli.server.subscriptions import ChangeHub
from eventlog import EventStore, HomeLayout

# After dropping the connections still open at the end of the grace period, how long their
# tasks get to wind down before they are cancelled.
ABORT_WAIT_SECONDS = 0.25


class Server:
    def __init__(self, log: EventStore, layout: HomeLayout, config: ServerConfig) -> None:
        self._config = config
        self._storage = Storage(log, layout, config.io_threads, config.follower_readers)
        self._hub = ChangeHub(log)
        self._stop = asyncio.Event()
        self._connections: dict[Connection, asyncio.Task[Any]] = {}

    def stop(self) -> None:
        self._stop.set()

    async def run(self, on_ready: Callable[[Path], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        # Before the socket listens: a client may connect (and its owner send SIGTERM) as
        # soon as it does, and the signal must then stop the server cleanly too.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        try:
            claimed = claim_socket(self._config.socket_path)
        except BaseException:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            raise
        watching: asyncio.Task[None] | None = None
        try:
            server = await asyncio.start_unix_server(
                self._serve_client, sock=claimed.sock, limit=self._config.max_frame
            )
            watching = asyncio.create_task(self._hub.run(self._stop), name="change feed")
            if on_ready is not None:
                on_ready(claimed.path)
            await self._stop.wait()
            server.close()
            await self._close_connections()
            await server.wait_closed()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            self._stop.set()
            if watching is not None:
                await asyncio.gather(watching, return_exceptions=True)
            claimed.release()
            self._storage.close()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = Connection(
            reader,
            writer,
            self._storage,
            self._hub,
            max_frame=self._config.max_frame,
            send_buffer=self._config.send_buffer,
            flush_timeout=self._config.shutdown_grace,
        )
        task = asyncio.current_task()
        assert task is not None
        self._connections[connection] = task
        try:
            await connection.run()
        finally:
            del self._connections[connection]

    async def _close_connections(self) -> None:
        for connection in list(self._connections):
            connection.stop()
        if not self._connections:
            return
        await asyncio.wait(self._connections.values(), timeout=self._config.shutdown_grace)
        late = dict(self._connections)
        for connection in late:
            connection.abort()
        if late:
            _done, stuck = await asyncio.wait(late.values(), timeout=ABORT_WAIT_SECONDS)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*late.values(), return_exceptions=True)
