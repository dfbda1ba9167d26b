"""One client connection: read frames, answer them in order, write through a bounded outbox.

Each connection has its own reader loop and writer task, so one client's slowness or
silence never holds up another. Requests of one connection are answered one after the
other (a batch as one response array); a client wanting parallelism opens more
connections. A frame longer than ``max_frame`` bytes gets a payload-too-large error
(``id: null``) and the connection is closed. When the client shuts down its sending side,
every request already received is still answered before the connection closes.

On server shutdown, :meth:`Connection.stop` stops reading requests; a connection that has
not finished within the grace period (a client that stopped reading, say) is dropped with
:meth:`Connection.abort`, so no client can hold the server up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cli.server.errors import PAYLOAD_TOO_LARGE, RpcError
from cli.server.methods import Caller, answer
from cli.server.outbox import Outbox, OutboxClosedError
from cli.server.protocol import (
    Outgoing,
    RequestId,
    Success,
    encode_frame,
    error_response,
    parse_frame,
)
from cli.server.storage import Storage
from cli.server.streaming import Streamed
from cli.server.subscriptions import ChangeHub, SubscriptionSet

logger = logging.getLogger("chatlog.server")

FRAME_END = b"\n"


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        storage: Storage,
        hub: ChangeHub,
        *,
        max_frame: int,
        send_buffer: int,
        flush_timeout: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._max_frame = max_frame
        self._flush_timeout = flush_timeout
        self._outbox = Outbox(send_buffer)
        self._storage = storage
        self._stopping = False
        self._awaiting_frame = False
        self._task: asyncio.Task[Any] | None = None
        self._caller = Caller(storage, hub, SubscriptionSet(storage, hub, self._outbox.put))

    async def run(self) -> None:
        self._task = asyncio.current_task()
        writing = asyncio.create_task(self._write_loop())
        try:
            await self._read_loop()
        except OutboxClosedError:
            pass  # the client stopped reading for good (its socket failed)
        except (ConnectionError, OSError) as exc:
            logger.info("connection lost: %s", exc)
        except Exception:
            logger.exception("closing a connection after an unexpected error")
        finally:
            await self._caller.subscriptions.close()
            self._outbox.close()
            await self._finish(writing)

    def stop(self) -> None:
        """Stop reading requests (server shutdown); a request being answered completes."""
        self._stopping = True
        if self._awaiting_frame and self._task is not None:
            self._task.cancel()

    def abort(self) -> None:
        """Drop the connection now, discarding what is queued (shutdown grace is over)."""
        self._stopping = True
        self._outbox.close()
        self._writer.transport.abort()

    async def _read_loop(self) -> None:
        while not self._stopping:
            try:
                frame = await self._next_frame()
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip() and not self._stopping:
                    await self._handle(exc.partial)  # a last frame without its newline
                return
            except asyncio.LimitOverrunError:
                error = RpcError(
                    PAYLOAD_TOO_LARGE,
                    f"frame larger than {self._max_frame} bytes; closing the connection",
                    {"max_frame": self._max_frame},
                )
                await self._send(error_response(None, error))
                return
            if frame is None:
                return
            if frame.strip():
                await self._handle(frame)

    async def _next_frame(self) -> bytes | None:
        """The next line, or None when stop() interrupted the wait for it."""
        self._awaiting_frame = True
        try:
            return await self._reader.readuntil(FRAME_END)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._stopping or task is None:
                raise
            task.uncancel()
            return None
        finally:
            self._awaiting_frame = False

    async def _handle(self, frame: bytes) -> None:
        parsed = parse_frame(frame)
        if isinstance(parsed, list):
            responses = []
            for item in parsed:
                response = await answer(self._caller, item)
                if response is not None:
                    if isinstance(response, Success) and isinstance(response.result, Streamed):
                        whole = await self._storage.start_io(response.result.whole)
                        response = Success(id=response.id, result=whole)
                    responses.append(response)
            if responses:
                await self._send(responses)
        else:
            response = await answer(self._caller, parsed)
            if isinstance(response, Success) and isinstance(response.result, Streamed):
                await self._send_streamed(response.id, response.result)
            elif response is not None:
                await self._send(response)
        self._caller.run_deferred()

    async def _send_streamed(self, request_id: RequestId, streamed: Streamed) -> None:
        """A response written as its pieces are read (see :mod:`cli.server.streaming`)."""
        try:
            async with self._outbox.exclusive():
                head = encode_frame(Success(id=request_id, result=None))
                await self._outbox.put(head[: -len(b"null}\n")])
                while (piece := await self._storage.start_io(streamed.next_piece)) is not None:
                    await self._outbox.put(piece)
                await self._outbox.put(b"}\n")
        except OutboxClosedError:
            raise
        except Exception:
            # Part of the response is on the wire already: the frame cannot be finished,
            # so the connection is closed rather than left mid-frame.
            logger.exception("a streamed response failed; closing the connection")
            self.abort()
        finally:
            streamed.close()

    async def _send(self, message: Outgoing) -> None:
        await self._outbox.put(encode_frame(message))

    async def _write_loop(self) -> None:
        try:
            while frames := await self._outbox.take():
                self._writer.writelines(frames)
                await self._writer.drain()
                self._outbox.written()
        except (ConnectionError, OSError) as exc:
            logger.info("cannot write to client: %s", exc)
            self._outbox.close()
            self.stop()

    async def _finish(self, writing: asyncio.Task[None]) -> None:
        """Flush what is queued (for at most ``flush_timeout`` seconds), then close."""
        try:
            await asyncio.wait_for(writing, self._flush_timeout)
        except TimeoutError:
            logger.info("client did not read its last responses; closing anyway")
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), self._flush_timeout)
        except TimeoutError:
            self._writer.transport.abort()
        except (ConnectionError, OSError):
            pass
