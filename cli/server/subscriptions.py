"""Live subscriptions: every event appended to a session, by any process, pushed in order.

A subscription holds no queue of events: it reads the session's log from its own cursor
and sends what it finds, so the log itself is the backlog. A :class:`ChangeHub` wakes
subscriptions when a log may have changed: watchfiles reports writes by any process (with
a periodic tick in case a notification was dropped), and this server's own appends and
deletes wake them at once.

Per subscription: events arrive in seq order, none is skipped and none is sent twice (the
cursor and ``next_seq`` only move past events already queued for sending). ``from_seq``
replays missed events out of the same scan that fixes where live events start, so there
is no gap and no duplicate between replay and live events. A slow reader pauses only its
own subscriptions (``Outbox.put`` waits); they resume from the log when it reads again.
When the session's log is deleted the subscription sends ``session.deleted`` and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable

from cli.output import event_as_dict
from cli.server.outbox import OutboxClosedError
from cli.server.protocol import Notification, encode_frame
from cli.server.storage import Storage
from eventlog import AnyEvent, ChatlogError, HomeLayout, Scan, SessionNotFoundError
from eventlog.watch import TICK_MS, aiter_changes

EVENT_NOTIFICATION = "session.event"
DELETED_NOTIFICATION = "session.deleted"

logger = logging.getLogger("chatlog.server")

Send = Callable[[bytes | bytearray], Awaitable[None]]


class ChangeHub:
    """Wakes whoever waits on a session when its log may have changed."""

    def __init__(self, layout: HomeLayout, tick_ms: int = TICK_MS) -> None:
        self._layout = layout
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
        """Relay the filesystem's change feed until ``stop`` is set. Should the feed fail,
        fall back to waking everyone on every tick (slower, but nothing is missed)."""
        try:
            async for changed in aiter_changes(self._layout, stop, self._tick_ms):
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


class Subscription:
    def __init__(
        self,
        session_id: str,
        start: Scan,
        from_seq: int | None,
        storage: Storage,
        hub: ChangeHub,
        send: Send,
    ) -> None:
        self.session_id = session_id
        self.next_seq = start.last_seq + 1 if from_seq is None else from_seq
        self._replay = [entry.event for entry in start.entries if entry.event.seq >= self.next_seq]
        self._cursor = start.cursor
        self._path = storage.log.layout.log_path(session_id)
        self._storage = storage
        self._hub = hub
        self._send = send

    async def run(self) -> None:
        try:
            replay, self._replay = self._replay, []
            await self._send_events(replay)
            await self._follow()
        except OutboxClosedError:
            pass  # the connection is closing

    async def _follow(self) -> None:
        while True:
            changed = self._hub.signal(self.session_id)
            try:
                if self._log_moved():
                    scan = await self._storage.scan(self.session_id, self._cursor)
                    await self._send_events(entry.event for entry in scan.entries)
                    self._cursor = scan.cursor
            except SessionNotFoundError:
                params = {"session_id": self.session_id}
                await self._send(
                    encode_frame(Notification(method=DELETED_NOTIFICATION, params=params))
                )
                return
            except ChatlogError as exc:
                logger.warning("subscription to %s: %s (retrying)", self.session_id, exc)
            await changed.wait()

    def _log_moved(self) -> bool:
        """Whether the log's size differs from the cursor's (a cheap check before a scan)."""
        try:
            return os.stat(self._path).st_size != self._cursor.offset
        except FileNotFoundError:
            raise SessionNotFoundError(f"no session {self.session_id}") from None

    async def _send_events(self, events: Iterable[AnyEvent]) -> None:
        for event in events:
            if event.seq < self.next_seq:
                continue
            params = event_as_dict(event, self.session_id)
            await self._send(encode_frame(Notification(method=EVENT_NOTIFICATION, params=params)))
            self.next_seq = event.seq + 1


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

    def add(self, session_id: str, start: Scan, from_seq: int | None) -> Callable[[], None]:
        """Register a subscription; it sends nothing until the returned function starts it
        (after the subscribe response is queued, so the response comes first)."""
        subscription = Subscription(
            session_id, start, from_seq, self._storage, self._hub, self._send
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
        task = self._tasks.pop(session_id, None)
        if task is not None:
            task.cancel()
        return pending is not None or task is not None

    async def close(self) -> None:
        self._pending.clear()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
