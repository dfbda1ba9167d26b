"""The REPL's event loop: prompt, dispatch, Ctrl+C, and the background watcher.

Shape (prompt_toolkit's asyncio example): ``async def main()`` runs under
``patch_stdout()`` so anything printed while the prompt is shown (the watcher's notices)
lands above it; background tasks are cancelled in ``finally``; ``EOFError`` (Ctrl+D) and
``KeyboardInterrupt`` (Ctrl+C on an empty prompt) end the loop.

Ctrl+C while a reply streams: the prompt is not running, so the terminal delivers SIGINT;
our handler cancels the task running the current input, the reply is cut where it is
(and saved, marked interrupted: see :mod:`cli.repl.turn`) and the prompt comes back.

When stdin is not a terminal (``chatlog chat < questions.txt``, ``echo hi | chatlog``)
there is no prompt and no line editing: each input line is one message or slash command,
read as it comes, and a confirmation question takes the next line as its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import termios
from collections.abc import Awaitable, Callable, Iterator
from typing import TextIO

import msgspec
from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import History
from prompt_toolkit.patch_stdout import patch_stdout

from cli.backends import BackendConfig, create_backend, resolve_backend_config
from cli.context import Context
from cli.invocation import chatlog_command
from cli.repl.chat import ChatRepl
from cli.repl.commands import completion_entries, run_command
from cli.repl.completion import ReplCompleter
from cli.repl.history import SessionHistory, private_history
from cli.repl.keys import build_key_bindings
from cli.repl.render import Screen, make_screen
from cli.repl.watch import watch_other_writers


class ChatOptions(msgspec.Struct, frozen=True):
    session: str | None = None
    continue_last: bool = False
    backend: str | None = None
    model: str | None = None
    verbose: bool = False


# Reads the next input (a message or a slash command); raises EOFError at the end.
ReadInput = Callable[[ChatRepl], Awaitable[str]]


def run_chat(ctx: Context, options: ChatOptions) -> int:
    config = resolve_backend_config(backend=options.backend, model=options.model)
    screen = make_screen(sys.stdout)
    if not sys.stdin.isatty():
        with _logging_above_prompt():
            return asyncio.run(_main(ctx, options, config, screen, _read_line, _confirm_line))
    ctx.layout.ensure()  # the history file stays in the home whatever the store
    prompt_reader = _PromptReader(
        private_history(ctx.layout.history_file, redact_secrets=ctx.redact_secrets)
    )
    with patch_stdout(raw=True), _logging_above_prompt():
        return asyncio.run(_main(ctx, options, config, screen, prompt_reader.read, _confirm))


class _PromptReader:
    """Input from the prompt_toolkit prompt (created once the REPL exists)."""

    def __init__(self, history: History) -> None:
        self._history = history
        self._session: PromptSession[str] | None = None

    async def read(self, repl: ChatRepl) -> str:
        if isinstance(self._history, SessionHistory):
            self._history.session_id = repl.view.session_id
        if self._session is None:
            self._session = _prompt_session(repl, self._history)
        text: str = await self._session.prompt_async(repl.prompt_message, handle_sigint=False)
        return text


async def _next_line() -> str:
    """The next line of stdin without its newline; EOFError at the end of input."""
    line: str = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise EOFError
    return line.removesuffix("\n")


async def _read_line(_repl: ChatRepl) -> str:
    return await _next_line()


async def _confirm_line(question: str) -> bool:
    print(f"{question} [y/N]", flush=True)
    try:
        answer = await _next_line()
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


@contextlib.contextmanager
def _logging_above_prompt() -> Iterator[None]:
    """Route chatlog's log lines through the stdout proxy (so they never tear the prompt)
    and, unless ``chatlog -v`` asked for more, leave damaged-line reports to the REPL's
    own one-line notice."""
    logger = logging.getLogger("chatlog")
    saved = [(h, h.stream) for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    level = logger.level
    for handler, _ in saved:
        handler.setStream(sys.stderr)
    if logger.getEffectiveLevel() >= logging.WARNING:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        for handler, stream in saved:
            handler.setStream(stream)


@contextlib.contextmanager
def _keys_not_echoed(stdin: TextIO) -> Iterator[None]:
    """While a reply streams, keys typed are not echoed into it (they wait for the next
    prompt, which picks them up); Ctrl+C still interrupts."""
    try:
        fd = stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):
        yield  # not a terminal: nothing is echoed anyway
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)  # local modes
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


async def _confirm(question: str) -> bool:
    """A yes/no question answered with a line (Enter included, so the Enter that ends the
    answer never reaches the main prompt as an empty line); anything but y/yes is no."""
    session: PromptSession[str] = PromptSession()
    try:
        answer = await session.prompt_async(f"{question} [y/N] ", handle_sigint=False)
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def _prompt_session(repl: ChatRepl, history: History) -> PromptSession[str]:
    completer = ReplCompleter(completion_entries(), repl.session_choices)

    @Condition
    def typing_a_command() -> bool:
        return get_app().current_buffer.text.startswith("/")

    return PromptSession(
        history=history,
        multiline=True,
        key_bindings=build_key_bindings(repl),
        completer=completer,
        complete_while_typing=typing_a_command,
        prompt_continuation=lambda width, _line, _wrap: "." * (width - 1) + " ",
        enable_open_in_editor=True,
    )


async def _main(
    ctx: Context,
    options: ChatOptions,
    config: BackendConfig,
    screen: Screen,
    read_input: ReadInput,
    confirm: Callable[[str], Awaitable[bool]],
) -> int:
    repl = ChatRepl(
        ctx.log,
        create_backend(config),
        screen,
        layout=ctx.layout,
        resume_command=chatlog_command(ctx.home, ctx.store_flag),
        verbose=options.verbose,
        run_command=run_command,
        confirm=confirm,
    )
    loop = asyncio.get_running_loop()
    background: list[asyncio.Task[None]] = []
    foreground: asyncio.Task[None] | None = None

    def interrupt() -> None:
        if foreground is not None and not foreground.done():
            foreground.cancel()

    try:
        repl.start(session=options.session, continue_last=options.continue_last)
        repl.banner(config.reason, interactive=sys.stdin.isatty())
        loop.add_signal_handler(signal.SIGINT, interrupt)
        background.append(asyncio.create_task(watch_other_writers(repl)))
        while not repl.exit_requested:
            try:
                text = await read_input(repl)
            except (EOFError, KeyboardInterrupt):
                break
            if not text.strip():
                continue
            foreground = asyncio.create_task(repl.handle_input(text))
            try:
                with _keys_not_echoed(sys.stdin):
                    await foreground
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we are being cancelled ourselves, not just the input
            finally:
                foreground = None
        repl.farewell()
        return 0
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await repl.aclose()
