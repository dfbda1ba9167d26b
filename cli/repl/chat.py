"""The REPL's state and the actions that slash commands and key bindings share.

:class:`ChatRepl` owns the current session (a :class:`SessionView`), the backend, the screen
and the projections (opened on first use: a chat that never lists or searches never
touches them). Every line the user enters goes through :meth:`ChatRepl.handle_input`,
which turns any error into one line on the screen: the REPL never dies of a bad command,
a failing model or a damaged log.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from cli.arguments import resolve_session
from cli.backends import Backend, EchoBackend
from cli.output import local_time, plural
from cli.repl.current import SessionView
from cli.repl.render import Screen
from cli.repl.turn import respond, save_user_message
from eventlog import (
    ChatlogError,
    EventStore,
    HomeLayout,
    LogIssue,
    SessionNotFoundError,
    short_id,
)

if TYPE_CHECKING:
    from projections import Projections

RECENT_MESSAGES: Final = 10
RECENT_ON_LOAD: Final = 4
UNTITLED: Final = "Untitled Session"
CHOICES_TTL_SECONDS: Final = 3.0
MAX_CHOICES: Final = 200
ROLE_LABELS: Final = {
    "user": "👤 You",
    "assistant": "🤖 Assistant",
    "system": "🧭 System",
    "tool": "🔧 Tool",
}

CommandRunner = Callable[["ChatRepl", str], Awaitable[None]]
Confirm = Callable[[str], Awaitable[bool]]


class ChatRepl:
    def __init__(
        self,
        log: EventStore,
        backend: Backend,
        screen: Screen,
        *,
        layout: HomeLayout,
        resume_command: str,
        verbose: bool = False,
        run_command: CommandRunner,
        confirm: Confirm,
    ) -> None:
        self.log = log
        self.layout = layout  # the home: projections live there whatever the store
        self.resume_command = resume_command  # how a new shell reaches this store again
        self.backend = backend
        self.screen = screen
        self.verbose = verbose
        self.view = SessionView(log)
        self.fork_of: str | None = None  # the parent's short id while on a fork
        self.busy = False
        self.exit_requested = False
        self._run_command = run_command
        self.confirm = confirm
        self._projections: Projections | None = None
        self._reported_issues: set[tuple[str, int]] = set()
        self._choices: list[tuple[str, str | None]] = []
        self._choices_at = -CHOICES_TTL_SECONDS
        self._setup_hint_shown = False

    # ------------------------------------------------------------------ state

    @property
    def projections(self) -> Projections:
        if self._projections is None:
            from projections import Projections

            self._projections = Projections(self.log, layout=self.layout)
        return self._projections

    def prompt_message(self) -> str:
        fork = f" fork of {self.fork_of}" if self.fork_of else ""
        return f"[{self.view.short_id}{fork}]> "

    async def aclose(self) -> None:
        try:
            await self.backend.aclose()
        finally:
            if self._projections is not None:
                self._projections.close()

    # ------------------------------------------------------------------ start and end

    def start(self, *, session: str | None, continue_last: bool) -> None:
        """Resume ``session`` (id or unique prefix), or the most recently updated session,
        or stay in a new one."""
        if session:
            self.switch_to(resolve_session(self.log, session), "Resumed")
        elif continue_last:
            latest = self.projections.list_sessions(limit=1)
            if latest:
                self.switch_to(latest[0].session_id, "Continuing")
            else:
                self.screen.notice("No earlier session to continue: starting a new one.")

    def banner(self, backend_reason: str, *, interactive: bool) -> None:
        """What the REPL starts with; the key hints only when there are keys to press."""
        if self.view.pending:
            self.screen.say(f"chatlog · new session {self.view.session_id}")
        why = f" (from {backend_reason})" if backend_reason else ""
        self.screen.notice(f"Backend: {self.backend.describe()}{why}")
        if interactive:
            self.screen.notice(
                "Enter sends · Esc Enter adds a line · /help lists commands · Ctrl+D quits"
            )

    def farewell(self) -> None:
        if self.view.pending:
            self.screen.notice("Bye.")
        else:
            self.screen.notice(
                f"Bye. Session {self.view.session_id} is saved; to pick it up again: "
                f"{self.resume_command} chat --session {self.view.short_id}"
            )

    def session_choices(self) -> list[tuple[str, str | None]]:
        """(id, title) of recent sessions for completion, cached for a few seconds."""
        now = time.monotonic()
        if now - self._choices_at > CHOICES_TTL_SECONDS:
            try:
                metas = self.projections.list_sessions(limit=MAX_CHOICES)
                self._choices = [(m.session_id, m.title) for m in metas]
            except ChatlogError:
                self._choices = [(sid, None) for sid in reversed(self.log.session_ids())]
            self._choices_at = now
        return self._choices

    # ------------------------------------------------------------------ input

    async def handle_input(self, text: str) -> None:
        """Run one entered line: a slash command or a message to the model."""
        self.busy = True
        try:
            if text.startswith("/"):
                await self._run_command(self, text)
            else:
                await self.send(text)
        except ChatlogError as exc:
            self.screen.error(str(exc))
        except OSError as exc:
            self.screen.error(
                f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
            )
        except Exception as exc:  # the REPL outlives any bug in one command
            if os.environ.get("CHATLOG_DEBUG"):
                traceback.print_exc()
            self.screen.error(f"unexpected error: {type(exc).__name__}: {exc}")
        finally:
            self.busy = False

    async def send(self, text: str) -> None:
        try:
            save_user_message(self.view, text, self.screen, self.verbose)
        except SessionNotFoundError:
            # Deleted by another process: the message still deserves a home.
            gone = self.view.session_id
            self.begin_new_session()
            self.screen.error(
                f"session {gone} was deleted elsewhere; continuing in a new session "
                f"{self.view.session_id}"
            )
            save_user_message(self.view, text, self.screen, self.verbose)
        await self.retry()

    async def retry(self) -> None:
        """Ask the model to answer the session as it stands."""
        await respond(self.view, self.backend, self.screen, self.verbose)
        self.report_issues(self.view.issues)
        self._show_setup_hint_once()

    def _show_setup_hint_once(self) -> None:
        """After the first echo reply, say once how to get a real model (screen only)."""
        if isinstance(self.backend, EchoBackend) and not self._setup_hint_shown:
            self._setup_hint_shown = True
            self.screen.notice(self.backend.setup_hint)

    # ------------------------------------------------------------------ sessions

    def new_session(self) -> None:
        if self.view.pending:
            self.screen.notice(f"Already in a new session ({self.view.session_id}).")
            return
        self.begin_new_session()
        self.screen.success(f"New session {self.view.session_id} (saved with its first message)")

    def begin_new_session(self) -> None:
        """Switch to a fresh, pending session."""
        self.view = SessionView(self.log)
        self.fork_of = None

    def switch_to(self, session_id: str, verb: str = "Loaded") -> None:
        view = SessionView(self.log, session_id)
        view.refresh()
        self.view = view
        self.report_issues(view.issues)
        meta = self.projections.session_meta(session_id)
        self.fork_of = short_id(meta.forked_from.session_id) if meta.forked_from else None
        self.screen.success(f"{verb} session {session_id}: {meta.title or UNTITLED}")
        count = meta.message_count
        shown = min(RECENT_ON_LOAD, len(view.messages))
        below = f"; the last {shown} of {count} below" if 0 < shown < count else ""
        self.screen.notice(
            f"   {plural(count, 'message')}, {plural(meta.total_tokens, 'token')}{below}"
        )
        self.show_recent(RECENT_ON_LOAD, heading=False)

    def show_recent(self, limit: int = RECENT_MESSAGES, *, heading: bool = True) -> None:
        """The last ``limit`` messages of the current session (Ctrl+L)."""
        view = self.view
        try:
            view.refresh()
        except SessionNotFoundError:
            self.screen.error(f"session {view.session_id} no longer exists (/new starts another)")
            return
        self.report_issues(view.issues)
        view.unseen_from_others = 0
        messages = view.messages[-limit:]
        if heading:
            if not messages:
                self.screen.notice(f"No messages yet in {view.session_id}.")
                return
            shown = f"last {len(messages)} of {view.message_count}"
            self.screen.notice(f"── {view.session_id} · {shown} messages ──")
        for message in messages:
            label = ROLE_LABELS.get(message.role, message.role)
            extra = " (interrupted)" if message.metadata.get("interrupted") else ""
            self.screen.say(f"{label} [{local_time(message.ts, '%H:%M:%S')}]{extra}")
            self.screen.markdown(message.content)

    def current_session_id(self) -> str | None:
        return None if self.view.pending else self.view.session_id

    def report_issues(self, issues: list[LogIssue]) -> None:
        """Say once per damaged line that it was skipped (the REPL carries on)."""
        fresh = [i for i in issues if (i.path, i.line) not in self._reported_issues]
        for issue in fresh:
            self._reported_issues.add((issue.path, issue.line))
        if fresh:
            lines = ", ".join(str(i.line) for i in fresh[:5]) + (" ..." if len(fresh) > 5 else "")
            self.screen.error(
                f"{len(fresh)} damaged line(s) skipped in {os.path.basename(fresh[0].path)} "
                f"(line {lines}); the rest of the session is intact "
                "(`chatlog fsck --repair` quarantines them)"
            )
