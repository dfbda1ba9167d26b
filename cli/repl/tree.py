"""The conversation tree in the REPL: ``/fork``, ``/rewind``, ``/edit`` and ``/branches``.

Nothing is ever rewritten: going back continues on a fork of the session (a new session
holding the messages up to that point), and the abandoned branch stays a session of its
own, listed by ``/branches`` and reachable with ``/load``."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile

from cli.cmd_tree import format_tree
from cli.repl.chat import ChatRepl
from eventlog import InvalidArgumentError, Message


def _message_number(text: str, usage: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise InvalidArgumentError(f"expected a message number, 1 or more (usage: {usage})")
    return int(text)


def _current(repl: ChatRepl, usage: str) -> str:
    sid = repl.current_session_id()
    if sid is None:
        raise InvalidArgumentError(f"this session has no messages yet (usage: {usage})")
    return sid


def fork_current(repl: ChatRepl, at_seq: int | None, verb: str) -> str:
    """Fork the current session after ``at_seq`` (now when None) and continue there."""
    sid = _current(repl, "/fork [N]")
    fork = repl.log.fork_session(sid, at_seq)
    repl.switch_to(fork, verb)
    repl.screen.notice(f"   the previous branch stays as {sid} (/branches, /load)")
    return fork


async def cmd_fork(repl: ChatRepl, rest: str) -> None:
    usage = "/fork [N]"
    at = None
    if rest.strip():
        at = repl.projections.message_seq(_current(repl, usage), _message_number(rest, usage))
    fork_current(repl, at, "Forked into")


async def cmd_rewind(repl: ChatRepl, rest: str) -> None:
    usage = "/rewind N"
    if not rest.strip():
        raise InvalidArgumentError(f"which message to go back to? (usage: {usage})")
    at = repl.projections.message_seq(_current(repl, usage), _message_number(rest, usage))
    fork_current(repl, at, "Rewound to a fork:")


async def cmd_edit(repl: ChatRepl, rest: str) -> None:
    """Edit the last user message (inline, or in $EDITOR) and send it again on a fork."""
    usage = "/edit [new text]"
    _current(repl, usage)
    repl.view.refresh()
    last = next((m for m in reversed(repl.view.messages) if m.role == "user"), None)
    if last is None:
        raise InvalidArgumentError(f"no message of yours to edit in this session ({usage})")
    text = rest.strip() or _in_editor(last)
    if not text.strip() or text == last.content:
        repl.screen.notice("Nothing changed: the message was not sent again.")
        return
    fork_current(repl, last.seq - 1, "Editing on a fork:")
    await repl.send(text)


def _in_editor(message: Message) -> str:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise InvalidArgumentError(
            "no $EDITOR set: give the new text inline (usage: /edit new text)"
        )
    with tempfile.NamedTemporaryFile("w+", suffix=".md", delete=False) as file:
        file.write(message.content)
        path = file.name
    try:
        os.chmod(path, 0o600)
        subprocess.run([*shlex.split(editor), path], check=False)
        with open(path, encoding="utf-8") as edited:
            return edited.read().rstrip("\n")
    finally:
        os.unlink(path)


async def cmd_branches(repl: ChatRepl, rest: str) -> None:
    if rest.strip():
        raise InvalidArgumentError("takes no arguments (usage: /branches)")
    sid = _current(repl, "/branches")
    for line in format_tree(repl.projections.tree(sid), sid):
        repl.screen.say(line)
