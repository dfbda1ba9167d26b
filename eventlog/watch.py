"""The file store's wake-ups: which sessions' logs changed, from watchfiles.

Yields sets of session ids whose log files were created, modified or deleted. A timeout
tick yields an empty set, so callers re-check on their own schedule even if the
filesystem dropped a notification (inotify queues can overflow); treat every yield as
"maybe something changed" and re-scan from your cursors.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

from watchfiles import Change, awatch, watch

from eventlog.home import LOG_SUFFIX, HomeLayout
from eventlog.ids import is_valid_session_id

TICK_MS = 1000


def _changed_ids(changes: Iterable[tuple[Change, str]]) -> set[str]:
    ids: set[str] = set()
    for _change, changed in changes:
        name = Path(changed).name
        if name.endswith(LOG_SUFFIX) and is_valid_session_id(name[: -len(LOG_SUFFIX)]):
            ids.add(name[: -len(LOG_SUFFIX)])
    return ids


def iter_changes(
    layout: HomeLayout, stop: threading.Event | None = None, tick_ms: int = TICK_MS
) -> Iterator[set[str]]:
    """Blocking generator of changed session ids; ends when ``stop`` is set."""
    layout.ensure()
    for changes in watch(
        layout.events_dir,
        stop_event=stop,
        rust_timeout=tick_ms,
        yield_on_timeout=True,
        debounce=50,
        step=20,
        raise_interrupt=False,
    ):
        yield _changed_ids(changes)


async def aiter_changes(
    layout: HomeLayout, stop: asyncio.Event | None = None, tick_ms: int = TICK_MS
) -> AsyncIterator[set[str]]:
    """Async generator of changed session ids (for the asyncio server and REPL)."""
    layout.ensure()
    async for changes in awatch(
        layout.events_dir,
        stop_event=stop,
        rust_timeout=tick_ms,
        yield_on_timeout=True,
        debounce=50,
        step=20,
    ):
        yield _changed_ids(changes)
