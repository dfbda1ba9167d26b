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
import time
from collections.abc import Callable
from types import TracebackType

from eventlog import ChatlogError, EventStore
from eventlog.watch import TICK_MS
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
    views_every: float | None = None,
) -> None:
    """Catch up now and after every change the store reports, until ``stop`` is set.

    ``on_report`` gets each catch-up that changed something; a failing catch-up is logged
    and retried at the next change or tick (the watcher outlives a full disk). With
    ``views_every`` (seconds), the replaced system's files (``index.json``,
    ``sessions/<id>.json``) of the sessions that changed are written again at most that
    often: never per event, so a long session's file costs one rewrite per interval."""
    changed_views: set[str] = set()
    last_views = 0.0
    report = _catch_up_once(projections, on_report)
    if views_every is not None:
        projections.write_views()
        last_views = time.monotonic()
    if ready is not None:
        ready.set()
    for _changed in projections.log.follow(stop, tick_ms):
        if stop.is_set():
            break
        report = _catch_up_once(projections, on_report)
        if views_every is None:
            continue
        if report is not None:
            changed_views |= set(report.updated)
            if report.removed:
                changed_views.add("")  # a removed session: rewrite them all
        if changed_views and time.monotonic() - last_views >= views_every:
            _write_views(projections, changed_views)
            changed_views = set()
            last_views = time.monotonic()


def _write_views(projections: Projections, changed: set[str]) -> None:
    try:
        if "" in changed:
            projections.write_views()
        else:
            projections.write_views(sorted(changed))
    except ChatlogError as exc:
        logger.warning("could not write the session files (retrying later): %s", exc)


def _catch_up_once(
    projections: Projections,
    on_report: Callable[[CatchUpReport], None] | None,
) -> CatchUpReport | None:
    try:
        report = projections.catch_up()
    except ChatlogError as exc:
        logger.warning("catch-up failed (retrying on the next change): %s", exc)
        return None
    if on_report is not None and report.changed:
        on_report(report)
    return report


class Watcher:
    """A background thread keeping the projections of ``log``'s home current.

    ``on_change`` is called from that thread with the ids of the sessions whose
    projections changed (created, appended to, retitled, deleted)."""

    def __init__(
        self,
        log: EventStore,
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
