"""The NATS side of the JetStream store: one asyncio loop in a background thread, the
connection it owns, and the few stream operations the store is built from.

Every call is bounded in time: a request that gets no answer within the address's
``timeout`` fails, and every NATS or JetStream failure leaves here as a
:class:`~eventlog.errors.StorageError` naming the servers and what was being done (the
CLI prints it as one line). Nothing here knows about events; :mod:`eventlog.jetstream`
does.

Reads go to the stream leader (``STREAM.MSG.GET`` and ephemeral consumers), never to a
replica's direct-get answer, so a writer always reads its own acknowledged appends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Final, NamedTuple, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import api
from nats.js.client import JetStreamContext

from eventlog.errors import StorageError
from eventlog.jetstream_url import JetStreamAddress

T = TypeVar("T")

# JetStream refused an expected last (subject) sequence: 10071 names the actual sequence,
# 10164 is the constant form a clustered stream may answer with.
WRONG_LAST_SEQUENCE: Final = frozenset({10071, 10164})
STREAM_NAME_IN_USE: Final = 10058
READ_BATCH: Final = 1024
# Reads of a few messages (a follower's or another home's catch-up after one append) are
# answered by that many single gets; only a longer read sets up a consumer.
PROBE_GETS: Final = 4
CONSUMER_IDLE_SECONDS: Final = 60.0
RETRY_PAUSE: Final = 0.2
ERASE_WIDTH: Final = 16  # secure deletes in flight at once


class StoredMessage(NamedTuple):
    """One message of the stream as read back."""

    subject: str
    seq: int  # stream sequence
    data: bytes
    headers: dict[str, str]


class WrongLastSequence(Exception):
    """A publish was refused: the subject is not at the expected last sequence."""


class StreamState(NamedTuple):
    last_seq: int
    first_seq: int
    created: str  # identifies this incarnation of the stream
    subjects: dict[str, int]  # subject -> message count (only when asked for)


class LoopThread:
    """An asyncio loop running in its own daemon thread; ``run`` calls into it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a blocking JetStream call from inside its own event loop")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """For asyncio callers on another loop: ``await loop_thread.submit(coro)``."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def call_soon(self, callback: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        """Cancel what is left on the loop (the client's reader and pinger tasks), let
        it finish, then stop the loop and its thread."""
        if self.loop.is_closed():
            return

        async def cancel_the_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=2) if tasks else None

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_the_rest(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


# Failures that pass when a stream leader is elected or a server comes back: calls that
# change nothing are retried on them (appends retry on their own, see JetStreamStore).
TRANSIENT = (
    nats.errors.TimeoutError,
    asyncio.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
)


async def retrying(make: Callable[[], Awaitable[T]], seconds: float) -> T:
    """``await make()`` again after transient failures, for up to ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await make()
        except TRANSIENT:
            if asyncio.get_running_loop().time() + RETRY_PAUSE > deadline:
                raise
            await asyncio.sleep(RETRY_PAUSE)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, nats.js.errors.APIError):
        return f"{exc.description or 'JetStream error'} (JetStream error {exc.err_code})"
    if isinstance(exc, asyncio.TimeoutError | nats.errors.TimeoutError):
        return "no answer in time (is a quorum of the cluster up?)"
    if isinstance(exc, nats.errors.NoRespondersError | nats.js.errors.ServiceUnavailableError):
        return "JetStream is not available (no stream leader answers)"
    if isinstance(exc, nats.errors.NoServersError):
        return "no server reachable"
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def storage_errors(what: str, address: JetStreamAddress) -> Iterator[None]:
    """Translate NATS failures inside the block into one StorageError line."""
    try:
        yield
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        raise StorageError(f"{what}: {describe_error(exc)} [{address.display()}]") from exc


def _tls_context(address: JetStreamAddress) -> ssl.SSLContext | None:
    wants_tls = (
        address.tls_ca
        or address.tls_cert
        or any(server.startswith("tls://") for server in address.servers)
    )
    if not wants_tls:
        return None
    context = ssl.create_default_context(cafile=address.tls_ca)
    if address.tls_cert:
        context.load_cert_chain(address.tls_cert, address.tls_key)
    return context


async def _quiet(*_args: Any) -> None:
    """Connection events are reported by the calls they fail, not printed from callbacks."""


class Connection:
    """The client connection and the stream operations the store needs (async)."""

    def __init__(self, address: JetStreamAddress) -> None:
        self.address = address
        self.stream = address.stream
        self.nc: NatsClient | None = None
        self._js: JetStreamContext | None = None

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "not connected"
        return self._js

    async def connect(self) -> None:
        address = self.address
        options: dict[str, Any] = {
            "servers": list(address.servers),
            "connect_timeout": max(1, round(address.timeout)),
            "reconnect_time_wait": 0.25,
            "allow_reconnect": True,
            "name": "chatlog",
            "error_cb": _quiet,
            "disconnected_cb": _quiet,
            "reconnected_cb": _quiet,
            "closed_cb": _quiet,
            "tls": _tls_context(address),
        }
        if address.creds:
            options["user_credentials"] = address.creds
        if address.token:
            options["token"] = address.token
        if address.user:
            options["user"] = address.user
            options["password"] = address.password
        # The first connect tries each server twice, then gives up (a server that is down
        # refuses at once; one that does not answer is given the connect timeout). Once
        # connected, the client reconnects for as long as it lives: calls made meanwhile
        # fail on their own timeouts.
        options["max_reconnect_attempts"] = 1
        self.nc = await asyncio.wait_for(
            nats.connect(**options), timeout=2 * address.timeout * len(address.servers) + 1
        )
        self.nc.options["max_reconnect_attempts"] = -1
        self._js = self.nc.jetstream(timeout=address.timeout)

    def cluster_size(self) -> int:
        """Servers the client knows of: those given plus those the cluster announced."""
        assert self.nc is not None
        urls = {f"{url.hostname}:{url.port}" for url in self.nc.servers}
        return max(len(urls), len(self.address.servers))

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), timeout=self.address.timeout)

    # ------------------------------------------------------------------ stream

    async def ensure_stream(self, replicas: int) -> api.StreamInfo:
        try:
            return await self.js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            pass
        config = api.StreamConfig(
            name=self.stream,
            subjects=[f"{self.stream}.>"],
            storage=api.StorageType.FILE,
            num_replicas=replicas,
            retention=api.RetentionPolicy.LIMITS,
            discard=api.DiscardPolicy.OLD,
            duplicate_window=120.0,
            allow_direct=False,
            description="chatlog sessions (one subject per session)",
        )
        try:
            return await self.js.add_stream(config)
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != STREAM_NAME_IN_USE:
                raise
            return await self.js.stream_info(self.stream)  # another client created it

    async def stream_state(self, subjects_filter: str | None = None) -> StreamState:
        info = await self.js.stream_info(self.stream, subjects_filter=subjects_filter)
        state = info.state
        created = str(getattr(info, "created", "") or "")
        return StreamState(state.last_seq, state.first_seq, created, dict(state.subjects or {}))

    async def subjects(self, pattern: str) -> dict[str, int]:
        """Subjects matching ``pattern`` that hold messages, with their counts (paged)."""
        found: dict[str, int] = {}
        offset = 0
        while True:
            request = json.dumps({"subjects_filter": pattern, "offset": offset}).encode()
            response = await self._api(f"STREAM.INFO.{self.stream}", request)
            subjects = (response.get("state") or {}).get("subjects") or {}
            found.update(subjects)
            total = int(response.get("total") or 0)
            offset += len(subjects)
            if not subjects or offset >= total:
                return found

    async def _api(self, endpoint: str, payload: bytes = b"") -> dict[str, Any]:
        assert self.nc is not None
        reply = await self.nc.request(f"$JS.API.{endpoint}", payload, timeout=self.address.timeout)
        response: dict[str, Any] = json.loads(reply.data)
        if "error" in response:
            nats.js.errors.APIError.from_error(response["error"])  # raises
        return response

    # ------------------------------------------------------------------ messages

    async def _get(self, request: dict[str, Any]) -> StoredMessage | None:
        try:
            response = await self._api(
                f"STREAM.MSG.GET.{self.stream}", json.dumps(request).encode()
            )
        except nats.js.errors.NotFoundError:
            return None
        raw = response["message"]
        headers: dict[str, str] = {}
        if raw.get("hdrs"):
            for line in base64.b64decode(raw["hdrs"]).decode("utf-8", "replace").split("\r\n")[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip()] = value.strip()
        data = base64.b64decode(raw["data"]) if raw.get("data") else b""
        return StoredMessage(raw["subject"], int(raw["seq"]), data, headers)

    async def last_message(self, subject: str) -> StoredMessage | None:
        return await self._get({"last_by_subj": subject})

    async def message_at(self, seq: int) -> StoredMessage | None:
        if seq <= 0:
            return None
        return await self._get({"seq": seq})

    async def next_message(self, subject: str, from_seq: int) -> StoredMessage | None:
        """The first message on ``subject`` at stream sequence ``from_seq`` or later."""
        return await self._get({"seq": max(1, from_seq), "next_by_subj": subject})

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str], timeout: float
    ) -> api.PubAck:
        """One publish attempt; WrongLastSequence when the expected sequence is stale."""
        try:
            return await self.js.publish(subject, data, timeout=timeout, headers=dict(headers))
        except nats.js.errors.APIError as exc:
            if exc.err_code in WRONG_LAST_SEQUENCE:
                raise WrongLastSequence(str(exc.description)) from exc
            raise

    async def purge(self, subject: str, *, before_seq: int | None = None, keep: int = 0) -> None:
        request: dict[str, Any] = {"filter": subject}
        if before_seq is not None:
            request["seq"] = before_seq
        if keep:
            request["keep"] = keep
        await self._api(f"STREAM.PURGE.{self.stream}", json.dumps(request).encode())

    async def erase(self, subject: str, *, before_seq: int | None = None) -> None:
        """Remove every message of ``subject`` (before stream sequence ``before_seq``) so
        that no server keeps its bytes: each is erased (a secure delete, a few at a time),
        then the subject is purged (a purge alone only marks messages removed: their
        bytes stay in the message blocks until the server compacts them)."""
        last = await self.last_message(subject)
        stop = last.seq if last is not None else 0
        if before_seq is not None:
            stop = min(stop, before_seq - 1)
        if stop > 0:
            async for batch in self.messages([subject], 1, stop, headers_only=True):
                for start in range(0, len(batch), ERASE_WIDTH):
                    chunk = batch[start : start + ERASE_WIDTH]
                    await asyncio.gather(*(self.delete_message(m.seq) for m in chunk))
        await self.purge(subject, before_seq=before_seq)

    async def delete_message(self, seq: int, *, erase: bool = True) -> None:
        """Remove one message. ``erase``: the server overwrites its bytes in the stream's
        message block with random data (a secure delete), else it only marks it removed
        (much cheaper). A message already gone is not an error."""
        request = json.dumps({"seq": seq, "no_erase": not erase}).encode()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self._api(f"STREAM.MSG.DELETE.{self.stream}", request)

    # ------------------------------------------------------------------ consumers

    async def messages(
        self,
        subjects: list[str],
        start_seq: int,
        stop_seq: int,
        *,
        headers_only: bool = False,
        batch: int = READ_BATCH,
        probe_subject: str | None = None,
    ) -> AsyncGenerator[list[StoredMessage], None]:
        """Batches of the messages on ``subjects`` with stream sequence in
        [start_seq, stop_seq]: the first few by single gets on ``probe_subject`` (default:
        the one subject), the rest through an ephemeral consumer removed after."""
        if stop_seq < start_seq:
            return
        probe = probe_subject or (subjects[0] if len(subjects) == 1 else None)
        if probe is not None:
            got: list[StoredMessage] = []
            for _ in range(PROBE_GETS):
                found = await self.next_message(probe, start_seq)
                if found is None or found.seq > stop_seq:
                    if got:
                        yield got
                    return
                got.append(found)
                start_seq = found.seq + 1
                if found.seq == stop_seq:
                    yield got
                    return
            yield got
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(1, start_seq),
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=CONSUMER_IDLE_SECONDS,
            mem_storage=True,
            num_replicas=1,
            headers_only=headers_only or None,
        )
        if len(subjects) == 1:
            config.filter_subject = subjects[0]
        else:
            config.filter_subjects = subjects
        info = await self.js.add_consumer(self.stream, config)
        try:
            pending = info.num_pending or 0
            if not pending:
                return
            subscription = await self.js.pull_subscribe_bind(info.name, self.stream)
            try:
                while pending:
                    fetched = await self._fetch(subscription, batch)
                    if not fetched:
                        return  # what remained was purged meanwhile
                    out: list[StoredMessage] = []
                    done = False
                    for msg in fetched:
                        meta = msg.metadata
                        pending = meta.num_pending
                        if meta.sequence.stream > stop_seq:
                            done = True
                            break
                        out.append(_stored(msg, meta.sequence.stream))
                        if meta.sequence.stream == stop_seq:
                            done = True
                            break
                    if out:
                        yield out
                    if done:
                        return
            finally:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
        finally:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream, info.name)

    async def _fetch(
        self, subscription: JetStreamContext.PullSubscription, batch: int
    ) -> list[Msg]:
        """One batch from a new consumer. In a cluster the consumer may be known to its
        server before the routes carry its interest to ours (a 503 for a moment)."""
        deadline = asyncio.get_running_loop().time() + self.address.timeout
        while True:
            try:
                return await subscription.fetch(batch, timeout=self.address.timeout)
            except nats.errors.TimeoutError:
                return []
            except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.02)


def _stored(msg: Msg, seq: int) -> StoredMessage:
    headers = dict(msg.headers or {})
    return StoredMessage(msg.subject, seq, msg.data, headers)
