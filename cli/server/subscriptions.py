"""Live subscriptions: every event appended to a session, by any process, pushed in order.

A subscription holds no queue of events: it follows the session through the store's
:class:`~eventlog.store.Follower`, reading a bounded batch (``READ_BATCH`` events), sending
it, and reading the next only once the connection's outbox has taken it all, so the log
itself is the backlog. A client that subscribes with ``from_seq=1`` to a session of a
million events and never reads costs the server one batch and its outbox, not the session.

A :class:`ChangeHub` wakes subscriptions when a log may have changed: the store's change
feed reports writes by any process (with a periodic tick in case a notification was
dropped), and this server's own appends and deletes wake them at once.

Per subscription: events arrive in seq order, none is skipped and none is sent twice
(``next_seq`` only moves past events already queued for sending). The follower is opened
before ``last_seq`` is read, so live events start right after the replay with no gap and
no duplicate. A slow reader pauses only its own subscriptions (``Outbox.put`` waits); they
resume from the log when it reads again. When the session is deleted, the follower still
delivers every event acknowledged before the delete; then the subscription sends
``session.deleted`` and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, NamedTuple

from cli.output import event_as_dict
from cli.server.outbox import OutboxClosedError
from cli.server.protocol import Notification, encode_frame
from cli.server.storage import Storage
from eventlog import ChatlogError, EventStore, LogIssue
from eventlog.events import MessageRedacted
from eventlog.store import Follower
from eventlog.watch import TICK_MS
from projections.views import Redactions, shown

EVENT_NOTIFICATION = "session.event"
DELETED_NOTIFICATION = "session.deleted"

# Events read from the log at a time per subscription: a stalled subscriber holds at most
# this many encoded events beyond its connection's outbox.
READ_BATCH: Final = 4096

logger = logging.getLogger("chatlog.server")

Send = Callable[[bytes | bytearray], Awaitable[None]]


class ChangeHub:
    """Wakes whoever waits on a session when its log may have changed."""

    def __init__(self, store: EventStore, tick_ms: int = TICK_MS) -> None:
        self._store = store
        self._tick_ms = tick_ms
        self._signals: dict[str, asyncio.Event] = {}

    def signal(self, session_id: str) -> asyncio.Event:
        """An event set at the next change of the session (take it *before* reading)."""
        signal = self._signals.get(session_id)
        if signal is None:
            signal = self._signals[session_id] = asyncio.Event()
        return signal

    def notify(self, session_ids: Iterable[str]) -> None:
        for session_id in session_ids:
            signal = self._signals.pop(session_id, None)
            if signal is not None:
                signal.set()

    def notify_all(self) -> None:
        self.notify(list(self._signals))

    async def run(self, stop: asyncio.Event) -> None:
        """Relay the store's change feed until ``stop`` is set. Should the feed fail,
        fall back to waking everyone on every tick (slower, but nothing is missed)."""
        try:
            async for changed in self._store.afollow(stop, self._tick_ms):
                if changed:
                    self.notify(changed)
                else:
                    self.notify_all()  # the periodic tick: everyone re-checks
        except Exception:
            logger.exception("the change feed failed; polling every %d ms instead", self._tick_ms)
            while not stop.is_set():
                self.notify_all()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._tick_ms / 1000)


class FollowerRead(NamedTuple):
    """One read of a follower, already encoded: ``(seq, frame)`` for each event from the
    subscription's ``next_seq`` on. Made on the I/O thread, so the decoded events never
    outlive the read (nothing of them is kept while the client is slow)."""

    frames: list[tuple[int, bytearray]]
    read_any: bool  # events were read (some may have been before next_seq)
    issues: list[LogIssue]
    gone: bool


def read_frames(
    follower: Follower,
    session_id: str,
    next_seq: int,
    redactions: dict[int, tuple[str, str | None]],
) -> FollowerRead:
    """``redactions`` (seq -> when, why) hide the text of messages redacted before the
    subscription started; a redaction read on the way is added to it."""
    batch = follower.read(READ_BATCH)
    frames = []
    for entry in batch.entries:
        event = entry.event
        if isinstance(event, MessageRedacted):
            redactions[event.target] = (event.ts, event.reason)
        if event.seq >= next_seq:
            params = event_as_dict(shown(event, redactions), session_id)
            frames.append(
                (event.seq, encode_frame(Notification(method=EVENT_NOTIFICATION, params=params)))
            )
    return FollowerRead(frames, bool(batch.entries), batch.issues, follower.gone)


class Subscription:
    def __init__(
        self,
        session_id: str,
        follower: Follower,
        next_seq: int,
        storage: Storage,
        hub: ChangeHub,
        send: Send,
        redactions: Redactions | None = None,
    ) -> None:
        self.session_id = session_id
        self.next_seq = next_seq
        self._follower = follower
        self._reading: asyncio.Future[FollowerRead] | None = None
        self._redactions: dict[int, tuple[str, str | None]] = dict(redactions or {})
        self._storage = storage
        self._hub = hub
        self._send = send

    async def run(self) -> None:
        try:
            await self._follow()
        except OutboxClosedError:
            pass  # the connection is closing
        finally:
            self.close()

    def close(self) -> None:
        """Let go of the follower (once a read still running on its thread has ended)."""
        reading, self._reading = self._reading, None
        if reading is not None and not reading.done():
            reading.add_done_callback(lambda _: self._follower.close())
        else:
            self._follower.close()

    async def _follow(self) -> None:
        while True:
            changed = self._hub.signal(self.session_id)
            try:
                read = await self._read()
            except (ChatlogError, OSError) as exc:
                logger.warning("subscription to %s: %s (retrying)", self.session_id, exc)
                await changed.wait()
                continue
            for issue in read.issues:
                logger.warning("skipped damaged line %s", issue.describe())
            for seq, frame in read.frames:
                await self._send(frame)
                self.next_seq = seq + 1
            if read.read_any:
                continue  # the outbox took them all: read on
            if read.gone:
                params = {"session_id": self.session_id}
                await self._send(
                    encode_frame(Notification(method=DELETED_NOTIFICATION, params=params))
                )
                return
            await changed.wait()

    async def _read(self) -> FollowerRead:
        """The follower's next batch, read and encoded on an I/O thread (a few
        subscriptions at a time). Shielded: a cancelled subscription lets the read end
        before its follower is closed."""
        async with self._storage.follower_reads:
            self._reading = self._storage.start_io(
                read_frames, self._follower, self.session_id, self.next_seq, self._redactions
            )
            read = await asyncio.shield(self._reading)
        self._reading = None
        return read


class SubscriptionSet:
    """One connection's subscriptions, at most one per session."""

    def __init__(self, storage: Storage, hub: ChangeHub, send: Send) -> None:
        self._storage = storage
        self._hub = hub
        self._send = send
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[str, Subscription] = {}

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._tasks or session_id in self._pending

    def add(
        self,
        session_id: str,
        follower: Follower,
        next_seq: int,
        redactions: Redactions | None = None,
    ) -> Callable[[], None]:
        """Register a subscription sending events from ``next_seq`` on; it sends nothing
        until the returned function starts it (after the subscribe response is queued, so
        the response comes first)."""
        subscription = Subscription(
            session_id, follower, next_seq, self._storage, self._hub, self._send, redactions
        )
        self._pending[session_id] = subscription
        return lambda: self._start(subscription)

    def _start(self, subscription: Subscription) -> None:
        session_id = subscription.session_id
        if self._pending.get(session_id) is not subscription:
            return  # unsubscribed (or the connection closed) before it started
        del self._pending[session_id]
        task = asyncio.create_task(subscription.run(), name=f"subscription {session_id}")
        self._tasks[session_id] = task
        task.add_done_callback(lambda done: self._finished(session_id, done))

    def _finished(self, session_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(session_id) is task:
            del self._tasks[session_id]
        if not task.cancelled() and task.exception() is not None:
            logger.error("subscription to %s failed", session_id, exc_info=task.exception())

    def remove(self, session_id: str) -> bool:
        """End a subscription; nothing more is queued for it. False if there was none."""
        pending = self._pending.pop(session_id, None)
        if pending is not None:
            pending.close()
        task = self._tasks.pop(session_id, None)
        if task is not None:
            task.cancel()
        return pending is not None or task is not None

    async def close(self) -> None:
        for pending in self._pending.values():
            pending.close()
        self._pending.clear()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
