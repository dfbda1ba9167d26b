"""Live readers of a JetStream store: one session's follower, and home-wide wake-ups.

A follower is a push consumer on the session's event and marker subjects, started where
the reader stopped. The server pushes each event as soon as it is stored, so events
acknowledged before a delete are already on their way when the delete's marker follows
them in stream order; the follower delivers them, then reads the marker and is ``gone``.
Flow control bounds what waits on the client: the server's flow-control requests are
answered only when the reader reaches them.

Wake-ups (:meth:`JetStreamStore.follow`) come from a plain subscription to the stream's
session and marker subjects: they say "maybe something changed" (a refused publish wakes
too); the change feed says what did. That subscription sees a message as it is
published, usually before the stream has stored it and pushed it to a follower, so each
event a follower of the same store receives wakes again: a reader that read nothing on
the first wake-up (the server's subscriptions, ``tail -f``) is woken once the event is
there to read, not at the next tick.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api

from eventlog.errors import SessionNotFoundError
from eventlog.jetstream_client import StoredMessage, storage_errors
from eventlog.jetstream_layout import (
    EntryDecoder,
    covered_seq,
    marker_op,
    token_stream_seq,
)
from eventlog.store import Follower, ReadBatch, SessionPosition

if TYPE_CHECKING:
    from eventlog.jetstream import JetStreamStore

HEARTBEAT_SECONDS = 5.0
CONSUMER_IDLE_SECONDS = 120.0
_ENDING_MARKERS = frozenset({"deleted", "archived"})


class JetStreamFollower(Follower):
    def __init__(self, store: JetStreamStore, session_id: str) -> None:
        self._store = store
        self.session_id = session_id
        self._events = store.subjects.events(session_id)
        self._markers = store.subjects.markers(session_id)
        self._queue: collections.deque[tuple[str, Any]] = collections.deque()
        self._decoder = EntryDecoder(self._events)
        self._position = SessionPosition()
        self._gone = False
        self._subscription: Subscription | None = None
        self._consumer: str | None = None

    @classmethod
    def open(
        cls, store: JetStreamStore, session_id: str, position: SessionPosition | None
    ) -> JetStreamFollower:
        follower = cls(store, session_id)
        store._call(f"cannot follow {session_id}", follower._start(position))
        return follower

    async def _start(self, position: SessionPosition | None) -> None:
        conn = self._store._conn
        first = await conn.next_message(self._events, 1)
        if first is None:
            raise SessionNotFoundError(f"no session {self.session_id}")
        start, base_seq = first.seq, 0
        resume = token_stream_seq(position) if position is not None else None
        if position is not None and resume is not None and resume >= first.seq:
            at = await conn.message_at(resume)
            if at is not None and at.subject == self._events and covered_seq(at) == position.seq:
                start, base_seq = resume + 1, position.seq
                self._position = position
        self._decoder = EntryDecoder(self._events, base_seq)
        assert conn.nc is not None
        inbox = conn.nc.new_inbox()
        self._subscription = await conn.nc.subscribe(
            inbox, cb=self._on_message, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        info = await conn.js.add_consumer(
            conn.stream,
            api.ConsumerConfig(
                deliver_subject=inbox,
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start,
                ack_policy=api.AckPolicy.NONE,
                filter_subjects=[self._events, self._markers],
                flow_control=True,
                idle_heartbeat=HEARTBEAT_SECONDS,
                inactive_threshold=CONSUMER_IDLE_SECONDS,
                mem_storage=True,
                num_replicas=1,
            ),
        )
        self._consumer = info.name

    async def _on_message(self, msg: Msg) -> None:
        """On the store's loop: queue what arrived, in order (answers come from read())."""
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is not None:
            stalled = headers.get("Nats-Consumer-Stalled")
            if stalled:
                await msg._client.publish(stalled, b"")
            elif status == "100" and msg.reply:
                self._queue.append(("flow", msg.reply))
            return
        meta = msg.metadata
        self._queue.append(
            ("message", StoredMessage(msg.subject, meta.sequence.stream, msg.data, headers))
        )
        for wakeups in _listening(self._store):
            wakeups.arrived(self.session_id)

    def read(self, max_events: int = 1024) -> ReadBatch:
        messages: list[StoredMessage] = []
        while not self._gone and len(messages) < max_events and self._queue:
            kind, item = self._queue.popleft()
            if kind == "flow":
                self._answer(item)
            elif item.subject == self._markers:
                if marker_op(item.data) in _ENDING_MARKERS:
                    self._gone = not messages or self._gone
                    if messages:
                        self._queue.appendleft((kind, item))  # report it on the next read
                    break
            else:
                messages.append(item)
        entries, issues = self._decoder.feed(messages)
        if messages:
            self._position = self._decoder.position
        return ReadBatch(entries, issues, self._position)

    def _answer(self, reply: str) -> None:
        conn = self._store._conn

        async def answer() -> None:
            if conn.nc is not None:
                await conn.nc.publish(reply, b"")

        self._store._loop.call_soon(lambda: asyncio.ensure_future(answer()))

    @property
    def position(self) -> SessionPosition:
        return self._position

    @property
    def gone(self) -> bool:
        return self._gone

    def close(self) -> None:
        subscription, consumer = self._subscription, self._consumer
        self._subscription = self._consumer = None
        if self._store._closed or (subscription is None and consumer is None):
            return
        conn = self._store._conn

        async def stop() -> None:
            if subscription is not None:
                await subscription.unsubscribe()
            if consumer is not None:
                await conn.js.delete_consumer(conn.stream, consumer)

        self._store._call(f"cannot stop following {self.session_id}", stop())


# --------------------------------------------------------------------------- wake-ups


class _Wakeups:
    """Session ids seen on the stream's subjects since the last take (store loop side)."""

    def __init__(self, store: JetStreamStore, notify: Any) -> None:
        self._store = store
        self._notify = notify
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        nc = self._store._conn.nc
        assert nc is not None
        for kind in ("s", "m"):
            self._subscriptions.append(
                await nc.subscribe(self._store.subjects.every(kind), cb=self._on_message)
            )
        _listening(self._store).add(self)

    async def _on_message(self, msg: Msg) -> None:
        sid = self._store.subjects.session_of(msg.subject)
        if sid is not None:
            self.arrived(sid)

    def arrived(self, session_id: str) -> None:
        """``session_id`` may have changed (store loop side)."""
        with self._lock:
            self._changed.add(session_id)
        self._notify()

    def take(self) -> set[str]:
        with self._lock:
            changed, self._changed = self._changed, set()
        return changed

    async def stop(self) -> None:
        _listening(self._store).discard(self)
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions.clear()


# The wake-up listeners of each open store; used on the store's loop only.
_LISTENERS: weakref.WeakKeyDictionary[JetStreamStore, set[_Wakeups]] = weakref.WeakKeyDictionary()


def _listening(store: JetStreamStore) -> set[_Wakeups]:
    return _LISTENERS.setdefault(store, set())


def follow_changes(
    store: JetStreamStore, stop: threading.Event, tick_ms: int
) -> Iterator[set[str]]:
    wake = threading.Event()
    wakeups = _Wakeups(store, wake.set)
    store._call("cannot watch the store", wakeups.start())
    try:
        while not stop.is_set():
            wake.wait(tick_ms / 1000)
            wake.clear()
            if stop.is_set():
                return
            yield wakeups.take()
    finally:
        if not store._closed:
            store._call("cannot stop watching the store", wakeups.stop())


async def afollow_changes(
    store: JetStreamStore, stop: asyncio.Event, tick_ms: int
) -> AsyncIterator[set[str]]:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    wakeups = _Wakeups(store, lambda: loop.call_soon_threadsafe(wake.set))
    with storage_errors("cannot watch the store", store.address):
        await store._loop.submit(wakeups.start())
    try:
        while not stop.is_set():
            waiter = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=tick_ms / 1000, return_when="FIRST_COMPLETED"
            )
            waiter.cancel()
            stopper.cancel()
            wake.clear()
            if stop.is_set():
                return
            yield wakeups.take()
    finally:
        if not store._closed:
            with storage_errors("cannot stop watching the store", store.address):
                await store._loop.submit(wakeups.stop())
