"""A small client for ``chatlog serve``: blocking (:class:`RpcClient`) and asyncio
(:class:`AsyncRpcClient`).

    with RpcClient() as client:                 # <home>/chatlog.sock by default
        sid = client.call("session.create", {"title": "notes"})["session_id"]
        client.call("session.append", {"session_id": sid, "role": "user", "content": "hi"})
        for event in client.subscribe(sid, from_seq=1):
            print(event["seq"], event["type"])

A call that comes back with an error raises :class:`cli.server.errors.RpcError` (``code``,
``message``, ``data``), the same class the server raised. Notifications the server pushes
(``session.event``, ``session.deleted``) are queued until read, so they may arrive while a
call waits for its response. The blocking client has one call in flight at a time; the
asyncio client matches responses to calls by id, so calls can overlap on one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec
from msgspec import UNSET, UnsetType

from cli.server.errors import INTERNAL_ERROR, RpcError
from cli.server.protocol import ErrorObject, Request, RequestId, encode_frame, raw_params
from eventlog import HomeLayout, resolve_home

EVENT: Final = "session.event"
DELETED: Final = "session.deleted"
READ_CHUNK: Final = 64 * 1024
MAX_MESSAGE: Final = 1 << 30


def default_socket_path() -> Path:
    """``<home>/chatlog.sock`` for the home ``chatlog`` would use (``CHATLOG_HOME``, ...)."""
    return HomeLayout(resolve_home()).socket_file


class ConnectionClosedError(ConnectionError):
    """The server closed the connection (or it was lost)."""


class ProtocolError(Exception):
    """The server sent a message this client did not expect at that point."""


class Incoming(msgspec.Struct, frozen=True):
    """Any message a server sends: a response (``id`` and ``result`` or ``error``) or a
    notification (``method`` and ``params``)."""

    jsonrpc: str = "2.0"
    id: RequestId | UnsetType = UNSET
    result: Any = UNSET
    error: ErrorObject | None = None
    method: str | None = None
    params: Any = None

    @property
    def is_notification(self) -> bool:
        return self.method is not None and self.id is UNSET

    def outcome(self) -> Any:
        """The result, or the error raised as :class:`RpcError`."""
        if self.error is not None:
            raise RpcError(self.error.code, self.error.message, self.error.data)
        return self.result


@dataclass(frozen=True)
class Call:
    """One element of a batch. ``notify=True`` sends it without an id (no response)."""

    method: str
    params: Any = None
    notify: bool = False


_decoder: Final[msgspec.json.Decoder[Incoming | list[Incoming]]] = msgspec.json.Decoder(
    Incoming | list[Incoming]
)


class _Requests:
    """Request ids and framing, shared by both clients."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def request(self, method: str, params: Any) -> tuple[int, bytes]:
        request_id = next(self._ids)
        return request_id, bytes(
            encode_frame(Request("2.0", method, raw_params(params), request_id))
        )

    def notification(self, method: str, params: Any) -> bytes:
        return bytes(encode_frame(Request("2.0", method, raw_params(params))))

    def batch(self, calls: Sequence[Call]) -> tuple[list[int | None], bytes]:
        ids: list[int | None] = []
        requests: list[Request] = []
        for call in calls:
            request_id = None if call.notify else next(self._ids)
            ids.append(request_id)
            requests.append(
                Request(
                    "2.0",
                    call.method,
                    raw_params(call.params),
                    UNSET if request_id is None else request_id,
                )
            )
        return ids, bytes(encode_frame(requests))


def _batch_outcomes(ids: list[int | None], responses: list[Incoming]) -> list[Any]:
    by_id = {response.id: response for response in responses}
    outcomes: list[Any] = []
    for request_id in ids:
        if request_id is None:
            continue
        response = by_id.get(request_id)
        if response is None:
            outcomes.append(RpcError(INTERNAL_ERROR, f"no response for request {request_id}"))
            continue
        try:
            outcomes.append(response.outcome())
        except RpcError as exc:
            outcomes.append(exc)
    return outcomes


def _unexpected(message: Incoming | list[Incoming]) -> Exception:
    """What to raise for a message that answers no pending call. An error with ``id: null``
    is about the connection itself (e.g. a frame too large): it is raised as RpcError."""
    if isinstance(message, Incoming) and message.error is not None and message.id is None:
        return RpcError(message.error.code, message.error.message, message.error.data)
    return ProtocolError(f"unexpected message from the server: {message!r}")


class RpcClient:
    """A blocking client. ``timeout`` (seconds, None: wait forever) bounds each read."""

    def __init__(self, path: str | Path | None = None, *, timeout: float | None = 30.0) -> None:
        self.path = Path(path) if path is not None else default_socket_path()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(self.path))
        except OSError:
            self._sock.close()
            raise
        self._buffer = bytearray()
        self._requests = _Requests()
        self._notifications: deque[Incoming] = deque()

    # ------------------------------------------------------------------ calls

    def call(self, method: str, params: Any = None) -> Any:
        request_id, frame = self._requests.request(method, params)
        self.send_frame(frame)
        return self._response_to(request_id).outcome()

    def notify(self, method: str, params: Any = None) -> None:
        self.send_frame(self._requests.notification(method, params))

    def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Results (or RpcError instances) of the calls that are not notifications, in
        order. A batch of notifications only returns [] without waiting."""
        ids, frame = self._requests.batch(calls)
        self.send_frame(frame)
        if all(request_id is None for request_id in ids):
            return []
        while True:
            message = self.read_message()
            if isinstance(message, list):
                return _batch_outcomes(ids, message)
            if message.is_notification:
                self._notifications.append(message)
            else:
                raise _unexpected(message)

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, session_id: str, from_seq: int | None = None) -> EventStream:
        params: dict[str, Any] = {"session_id": session_id}
        if from_seq is not None:
            params["from_seq"] = from_seq
        result = self.call("session.subscribe", params)
        return EventStream(self, session_id, int(result["last_seq"]))

    def unsubscribe(self, session_id: str) -> bool:
        return bool(self.call("session.unsubscribe", {"session_id": session_id})["unsubscribed"])

    def queued_notifications(self) -> list[Incoming]:
        """Notifications already received and not yet taken (without reading more)."""
        return list(self._notifications)

    def next_notification(
        self, accept: Callable[[Incoming], bool] = lambda _message: True
    ) -> Incoming:
        """The oldest queued (or next arriving) notification that ``accept`` takes."""
        for queued in self._notifications:
            if accept(queued):
                self._notifications.remove(queued)
                return queued
        while True:
            message = self.read_message()
            if isinstance(message, list) or not message.is_notification:
                raise _unexpected(message)
            if accept(message):
                return message
            self._notifications.append(message)

    # ------------------------------------------------------------------ frames

    def send_frame(self, frame: bytes) -> None:
        """Send raw bytes (one or more lines); for tests and debugging."""
        self._sock.sendall(frame)

    def read_message(self) -> Incoming | list[Incoming]:
        """The next message from the server, whatever it is."""
        return _decoder.decode(self.read_frame())

    def read_frame(self) -> bytes:
        """The next line from the server (without its newline)."""
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                frame = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return frame
            start = len(self._buffer)
            chunk = self._sock.recv(READ_CHUNK)
            if not chunk:
                raise ConnectionClosedError("the server closed the connection")
            self._buffer.extend(chunk)

    def _response_to(self, request_id: int) -> Incoming:
        while True:
            message = self.read_message()
            if isinstance(message, list):
                raise _unexpected(message)
            if message.is_notification:
                self._notifications.append(message)
            elif message.id == request_id:
                return message
            else:
                raise _unexpected(message)

    def shutdown_write(self) -> None:
        """Half-close: tell the server no more requests will come."""
        self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventStream:
    """The events of one subscribed session, as dicts (``chatlog tail --json``'s lines).
    Iteration ends when the session is deleted."""

    def __init__(self, client: RpcClient, session_id: str, last_seq: int) -> None:
        self.client = client
        self.session_id = session_id
        self.last_seq = last_seq  # the session's last seq when the subscription started

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        message = self.client.next_notification(self._mine)
        if message.method == DELETED:
            raise StopIteration
        event: dict[str, Any] = message.params
        return event

    def _mine(self, message: Incoming) -> bool:
        return (
            message.method in (EVENT, DELETED)
            and isinstance(message.params, dict)
            and message.params.get("session_id") == self.session_id
        )


class AsyncRpcClient:
    """An asyncio client; calls may overlap (responses are matched by id)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._requests = _Requests()
        self._pending: dict[int, asyncio.Future[Incoming]] = {}
        self._batches: deque[asyncio.Future[list[Incoming]]] = deque()
        self.notifications: asyncio.Queue[Incoming] = asyncio.Queue()
        self._reading = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, path: str | Path | None = None) -> AsyncRpcClient:
        target = Path(path) if path is not None else default_socket_path()
        reader, writer = await asyncio.open_unix_connection(str(target), limit=MAX_MESSAGE)
        return cls(reader, writer)

    async def call(self, method: str, params: Any = None) -> Any:
        request_id, frame = self._requests.request(method, params)
        future: asyncio.Future[Incoming] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self._send(frame)
        return (await future).outcome()

    async def notify(self, method: str, params: Any = None) -> None:
        await self._send(self._requests.notification(method, params))

    async def batch(self, calls: Sequence[Call]) -> list[Any]:
        ids, frame = self._requests.batch(calls)
        if all(request_id is None for request_id in ids):
            await self._send(frame)
            return []
        future: asyncio.Future[list[Incoming]] = asyncio.get_running_loop().create_future()
        self._batches.append(future)
        await self._send(frame)
        return _batch_outcomes(ids, await future)

    async def events(
        self, session_id: str, from_seq: int | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Subscribe and yield the session's events until it is deleted. Only for a
        client that reads nothing else from ``notifications``."""
        params: dict[str, Any] = {"session_id": session_id}
        if from_seq is not None:
            params["from_seq"] = from_seq
        await self.call("session.subscribe", params)
        while True:
            message = await self.notifications.get()
            if not isinstance(message.params, dict):
                continue
            if message.params.get("session_id") != session_id:
                continue
            if message.method == DELETED:
                return
            if message.method == EVENT:
                yield message.params

    async def _send(self, frame: bytes) -> None:
        if self._reading.done():
            raise ConnectionClosedError("the connection is closed")
        self._writer.write(frame)
        await self._writer.drain()

    async def _read_loop(self) -> None:
        failure: Exception = ConnectionClosedError("the server closed the connection")
        try:
            while line := await self._reader.readline():
                self._dispatch(_decoder.decode(line))
        except (OSError, msgspec.DecodeError) as exc:
            failure = ConnectionClosedError(f"connection lost: {exc}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(failure)
        for batch in self._batches:
            if not batch.done():
                batch.set_exception(failure)
        self._pending.clear()
        self._batches.clear()

    def _dispatch(self, message: Incoming | list[Incoming]) -> None:
        if isinstance(message, list):
            if self._batches:
                self._batches.popleft().set_result(message)
        elif message.is_notification:
            self.notifications.put_nowait(message)
        elif isinstance(message.id, int) and message.id in self._pending:
            self._pending.pop(message.id).set_result(message)
        else:  # id null: a connection-level error; fail every call in flight
            error = _unexpected(message)
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            self._pending.clear()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)

    async def __aenter__(self) -> AsyncRpcClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
