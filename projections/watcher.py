"""Keeping projections warm as logs change: the same catch-up readers run, woken by file
changes (watchfiles) instead of by a read.

- :func:`follow` is the loop, blocking in the calling thread (``chatlog watch``).
- :class:`Watcher` runs that loop in a background thread (the REPL and the server), with
  ``start``/``stop`` or as a context manager, and an optional callback receiving the ids
  of the sessions whose projections changed.

Readers never depend on a watcher for correctness (they catch up first); it only makes
their catch-up a no-op. A change notification catches up the sessions it names; the
periodic tick runs a full catch-up, so a dropped notification (inotify queues overflow)
delays an update by at most one tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from eventlog import ChatlogError, EventLog
from eventlog.watch import TICK_MS, iter_changes
from projections.api import Projections
from projections.records import CatchUpReport

logger = logging.getLogger("chatlog")


def follow(
    projections: Projections,
    stop: threading.Event,
    on_report: Callable[[CatchUpReport], None] | None = None,
    *,
    tick_ms: int = TICK_MS,
    ready: threading.Event | None = None,
) -> None:
    """Catch up now and after every change to the logs, until ``stop`` is set.

    ``on_report`` gets each catch-up that changed something; a failing catch-up is logged
    and retried at the next change or tick (the watcher outlives a full disk)."""
    _catch_up_once(projections, on_report, None)
    if ready is not None:
        ready.set()
    for changed in iter_changes(projections.layout, stop, tick_ms):
        if stop.is_set():
            break
        # Named logs only (no listing of the whole events dir); every tick does it all.
        _catch_up_once(projections, on_report, changed or None)


def _catch_up_once(
    projections: Projections,
    on_report: Callable[[CatchUpReport], None] | None,
    sessions: set[str] | None,
) -> None:
    try:
        report = projections.catch_up(sessions=sessions)
    except ChatlogError as exc:
        logger.warning("catch-up failed (retrying on the next change): %s", exc)
        return
    if on_report is not None and report.changed:
        on_report(report)


class Watcher:
    """A background thread keeping the projections of ``log``'s home current.

    ``on_change`` is called from that thread with the ids of the sessions whose
    projections changed (created, appended to, retitled, deleted)."""

    def __init__(
        self,
        log: EventLog,
        on_change: Callable[[set[str]], None] | None = None,
        *,
        tick_ms: int = TICK_MS,
        durable: bool = True,
    ) -> None:
        self.log = log
        self.on_change = on_change
        self.tick_ms = tick_ms
        self.durable = durable
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, wait: bool = True) -> Watcher:
        """Start the thread; with ``wait``, return once the first catch-up is done."""
        if self._thread is not None:
            raise RuntimeError("this watcher was already started")
        self._thread = threading.Thread(target=self._run, name="chatlog-watcher", daemon=True)
        self._thread.start()
        if wait:
            while not self._ready.wait(0.05) and self._thread.is_alive():
                pass
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _report(self, report: CatchUpReport) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(report.changed)
        except Exception:  # a failing callback must not stop the watcher
            logger.exception("watcher callback failed")

    def _run(self) -> None:
        try:
            with Projections(self.log, durable=self.durable) as projections:
                follow(
                    projections, self._stop, self._report, tick_ms=self.tick_ms, ready=self._ready
                )
        except Exception:
            logger.exception("the projection watcher stopped")
        finally:
            self._ready.set()
