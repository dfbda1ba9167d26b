"""Everything the REPL shows: lines, notices, errors, markdown, and replies as they stream.

Two screens with one interface: :class:`RichScreen` (a capable terminal: markdown rendered
by rich, the reply's tail re-rendered live as tokens arrive, then the whole reply printed
once it is complete) and :class:`PlainScreen` (output is not a terminal, ``NO_COLOR`` is
set, or ``TERM=dumb``: text exactly as it arrives, no escape sequences of ours).

Both write straight to the terminal's stdout, captured before prompt_toolkit patches
``sys.stdout``: streamed text must reach the terminal exactly as sent, with nothing of the
proxy's in between. "Exactly" but for terminal controls: every text a screen is given
(stored titles and messages, model replies, exports) passes through
:func:`projections.safe_text.terminal_safe` first, so ESC, C1 and bidi controls show as
``\x1b``, ``\x9b``, ``\u202e`` instead of acting on the terminal.

Anything shown while the prompt is on screen (a key binding's output, the watcher's
notices) goes through ``run_in_terminal``, which lifts the prompt, prints, and draws it
again below.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Final, Protocol, TextIO

from prompt_toolkit.application import get_app_or_none, run_in_terminal
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text

from cli.output import use_color
from projections.safe_text import terminal_safe

# The live view of a streaming reply is redrawn at most this often.
LIVE_REFRESH_SECONDS: Final = 1 / 12


class ReplyDisplay(Protocol):
    def add(self, text: str) -> None:
        """Show the next piece of the reply."""
        ...

    def finish(self) -> None:
        """The reply ended (complete, interrupted or failed): leave what was shown."""
        ...


class Screen(Protocol):
    def say(self, text: str) -> None: ...

    def notice(self, text: str) -> None:
        """Secondary information (save notices, hints)."""
        ...

    def success(self, text: str) -> None: ...

    def error(self, text: str) -> None:
        """One line about something that went wrong."""
        ...

    def markdown(self, text: str) -> None: ...

    def reply(self, label: str) -> ReplyDisplay:
        """Start showing a reply under ``label``."""
        ...


def make_screen(out: TextIO | None = None) -> Screen:
    """A screen on ``out`` (default: the current ``sys.stdout``; call before patching it)."""
    out = out or sys.stdout
    return RichScreen(out) if use_color(out) else PlainScreen(out)


def _emit(show: Callable[[], None]) -> None:
    """Show now, or above the prompt if one is on screen."""
    app = get_app_or_none()
    if app is not None and app.is_running:
        run_in_terminal(show, in_executor=False)
    else:
        show()


class PlainScreen:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def _write(self, text: str) -> None:
        _emit(lambda: self._write_now(text))

    def _write_now(self, text: str) -> None:
        self._out.write(terminal_safe(text))
        self._out.flush()

    def say(self, text: str) -> None:
        self._write(text + "\n")

    def notice(self, text: str) -> None:
        self._write(text + "\n")

    def success(self, text: str) -> None:
        self._write(f"✓ {text}\n")

    def error(self, text: str) -> None:
        self._write(f"✗ {text}\n")

    def markdown(self, text: str) -> None:
        self._write(text.rstrip("\n") + "\n")

    def reply(self, label: str) -> ReplyDisplay:
        self._write(label + "\n")
        return _PlainReply(self._write_now)


class _PlainReply:
    def __init__(self, write: _Writer) -> None:
        self._write = write
        self._ends_with_newline = True

    def add(self, text: str) -> None:
        if text:
            self._write(text)
            self._ends_with_newline = text.endswith("\n")

    def finish(self) -> None:
        if not self._ends_with_newline:
            self._write("\n")
            self._ends_with_newline = True


class _Writer(Protocol):
    def __call__(self, text: str, /) -> None: ...


class ChatMarkdown(Markdown):
    """Markdown as chat clients show it: a line break typed inside a paragraph stays a line
    break (markdown would join the lines with a space). Code blocks, lists and blank-line
    paragraphs render as markdown does."""

    def __init__(self, markup: str) -> None:
        super().__init__(markup)
        for token in self.parsed:
            for child in token.children or ():
                if child.type == "softbreak":
                    child.type = "hardbreak"


class RichScreen:
    def __init__(self, out: TextIO) -> None:
        self.console = Console(file=out, highlight=False)

    def _print(self, renderable: Text | ChatMarkdown) -> None:
        _emit(lambda: self.console.print(renderable))

    def say(self, text: str) -> None:
        self._print(Text(terminal_safe(text)))

    def notice(self, text: str) -> None:
        self._print(Text(terminal_safe(text), style="dim"))

    def success(self, text: str) -> None:
        self._print(Text(f"✓ {terminal_safe(text)}", style="green"))

    def error(self, text: str) -> None:
        self._print(Text(f"✗ {terminal_safe(text)}", style="bold red"))

    def markdown(self, text: str) -> None:
        self._print(ChatMarkdown(terminal_safe(text)))

    def reply(self, label: str) -> ReplyDisplay:
        self.console.print(Text(terminal_safe(label), style="bold cyan"))
        return _RichReply(self.console)


class _MarkdownTail:
    """The last screenful of a markdown text, so a long reply streams without scrolling
    the live region off the top of the terminal (which would leave copies behind)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(ChatMarkdown(self.text), options, pad=False)
        keep = max(1, console.height - 2)
        for line in lines[-keep:]:
            yield from line
            yield Segment.line()


class _RichReply:
    def __init__(self, console: Console) -> None:
        self._console = console
        self._tail = _MarkdownTail()
        self._live = Live(
            self._tail,
            console=console,
            transient=True,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        self._last_refresh = 0.0
        self._finished = False

    def add(self, text: str) -> None:
        self._tail.parts.append(terminal_safe(text))
        now = time.monotonic()
        if now - self._last_refresh >= LIVE_REFRESH_SECONDS:
            self._live.refresh()
            self._last_refresh = now

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._live.stop()
        if self._tail.parts:
            self._console.print(ChatMarkdown(self._tail.text))
