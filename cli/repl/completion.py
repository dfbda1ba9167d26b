"""Tab completion: slash command names, then session ids for the commands that take one
(matched by prefix or by the short id shown in prompts), then ``/export`` options."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from eventlog import short_id
from projections.safe_text import terminal_safe

SessionChoices = Callable[[], Sequence[tuple[str, str | None]]]
EXPORT_OPTIONS = ("--format=markdown", "--format=json", "--output=", "--force")


class ReplCompleter(Completer):
    def __init__(
        self,
        commands: Sequence[tuple[str, str, bool]],
        sessions: SessionChoices,
    ) -> None:
        """``commands``: (name, summary, takes a session id); ``sessions``: (id, title)
        pairs, most relevant first."""
        self._commands = commands
        self._takes_session = {name for name, _, takes in commands if takes}
        self._sessions = sessions

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        name, space, arg = text.partition(" ")
        if not space:
            for command, summary, _ in self._commands:
                if command.startswith(name.lower()):
                    yield Completion(command, -len(name), display_meta=summary)
            return
        words = arg.split(" ")
        word = words[-1]
        if name == "/export" and word.startswith("-"):
            for option in EXPORT_OPTIONS:
                if option.startswith(word):
                    yield Completion(option, -len(word))
            return
        if name in self._takes_session and len(words) == 1:
            for sid, title in self._sessions():
                if sid.startswith(word) or short_id(sid).startswith(word):
                    yield Completion(
                        sid,
                        -len(word),
                        display=short_id(sid),
                        display_meta=terminal_safe(title or sid),
                    )
