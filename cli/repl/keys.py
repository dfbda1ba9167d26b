"""Key bindings on top of prompt_toolkit's emacs defaults (which bring Up/Down history,
Ctrl+R reverse search, Ctrl+A/E, word moves...).

Enter sends and Esc-Enter (what Meta-Enter/Alt-Enter sends) inserts a newline, so a
message can span lines. Ctrl+K clears the screen, Ctrl+L shows the current session's
recent messages, Ctrl+N starts a new session; all three keep whatever is being typed.
Ctrl+C clears a non-empty input; on an empty one it leaves the REPL (as Ctrl+D does).
"""

from __future__ import annotations

from typing import Protocol

from prompt_toolkit.application import get_app
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import Condition, has_focus
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent


class KeyActions(Protocol):
    def show_recent(self) -> None: ...

    def new_session(self) -> None: ...


@Condition
def _input_has_text() -> bool:
    return bool(get_app().current_buffer.text)


def build_key_bindings(actions: KeyActions) -> KeyBindings:
    bindings = KeyBindings()
    typing = has_focus(DEFAULT_BUFFER)

    @bindings.add("enter", filter=typing)
    def _send(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("escape", "enter", filter=typing)
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-k", filter=typing)
    def _clear_screen(event: KeyPressEvent) -> None:
        event.app.renderer.clear()

    @bindings.add("c-l", filter=typing)
    def _show_recent(event: KeyPressEvent) -> None:
        actions.show_recent()

    @bindings.add("c-n", filter=typing)
    def _new_session(event: KeyPressEvent) -> None:
        actions.new_session()
        event.app.invalidate()  # the prompt shows the new session's id

    @bindings.add("c-c", filter=typing & _input_has_text)
    def _clear_input(event: KeyPressEvent) -> None:
        event.current_buffer.reset()

    return bindings
