"""Keeping an eye on the current session while the prompt waits.

Another process may append to the session the REPL is in (a second REPL, ``chatlog
append``, the JSON-RPC server, another machine on the same store). The store's wake-ups
(:meth:`EventStore.afollow`) wake us; the view folds the new events
in (so they are part of the next request's context) and one line above the prompt says
how many messages arrived. A session deleted elsewhere is reported once.
"""

from __future__ import annotations

import asyncio
import logging

from cli.repl.chat import ChatRepl
from eventlog import ChatlogError, SessionNotFoundError
from eventlog.watch import TICK_MS

logger = logging.getLogger("chatlog")


async def watch_other_writers(repl: ChatRepl) -> None:
    gone: str | None = None
    stop = asyncio.Event()  # never set: the REPL cancels this task when it ends
    try:
        async for changed in repl.log.afollow(stop, TICK_MS):
            view = repl.view
            if repl.busy or view.pending or (changed and view.session_id not in changed):
                continue
            try:
                result = view.refresh()
            except SessionNotFoundError:
                if gone != view.session_id:
                    gone = view.session_id
                    repl.screen.error(
                        f"session {view.session_id} was deleted elsewhere (/new starts another)"
                    )
                continue
            repl.report_issues(result.issues)
            if view.unseen_from_others:
                count = view.unseen_from_others
                view.unseen_from_others = 0
                repl.screen.notice(
                    f"↻ {count} new message{'s' if count != 1 else ''} in this session "
                    "from elsewhere (Ctrl+L shows them)"
                )
    except (ChatlogError, OSError, RuntimeError) as exc:
        # Without the feed the REPL still works: every turn and /info re-read the log.
        logger.info("stopped watching for other writers: %s", exc)
