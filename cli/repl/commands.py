"""Slash commands: the table (names, usage, help), parsing, and one handler per command.

Handlers get the REPL and the text after the command name. Bad input raises
:class:`InvalidArgumentError` with the command's usage, which the REPL prints as one line.
Session listing, export, deletion and search go through the projections, so the REPL,
``chatlog`` subcommands and the JSON-RPC server all show the same thing.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
from collections.abc import Awaitable, Callable
from typing import Final, NoReturn

import msgspec

from cli import tagging
from cli.arguments import REPL_LIST_HINT, resolve_session
from cli.export import EXPORT_FORMATS, render_export, write_export
from cli.output import local_time
from cli.repl.chat import UNTITLED, ChatRepl
from cli.repl.tree import cmd_branches, cmd_edit, cmd_fork, cmd_rewind
from cli.suggest import closest
from eventlog import InvalidArgumentError

Handler = Callable[[ChatRepl, str], Awaitable[None]]
DEFAULT_LIST_LIMIT: Final = 20
SEARCH_LIMIT: Final = 20
HELP_USAGE_WIDTH: Final = 16


class SlashCommand(msgspec.Struct, frozen=True):
    name: str
    usage: str
    summary: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    takes_session_id: bool = False


KEY_HELP: Final = (
    ("Enter", "send the message"),
    ("Esc Enter / Meta+Enter", "new line in the message"),
    ("Up / Down", "previous / next input (history is kept in <home>/history)"),
    ("Ctrl+R", "search the input history"),
    ("Tab", "complete commands and session ids"),
    ("Ctrl+K", "clear the screen"),
    ("Ctrl+L", "show the current session's recent messages"),
    ("Ctrl+N", "start a new session"),
    ("Ctrl+C", "stop a streaming reply (the part shown is saved) / clear the input"),
    ("Ctrl+D", "quit (everything is already saved)"),
    ("Ctrl+X Ctrl+E", "edit the message in $EDITOR"),
)


class _ArgParser(argparse.ArgumentParser):
    """argparse for one slash command: errors raise instead of exiting the program."""

    def error(self, message: str) -> NoReturn:
        raise InvalidArgumentError(f"{message} (usage: {self.usage})")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise InvalidArgumentError(message or f"usage: {self.usage}")


def _split(text: str, usage: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"{exc} (usage: {usage})") from None


def _one_argument(rest: str, usage: str) -> str:
    words = _split(rest, usage)
    if len(words) != 1:
        raise InvalidArgumentError(f"expected one argument (usage: {usage})")
    return words[0]


def _no_arguments(rest: str, usage: str) -> None:
    if rest.strip():
        raise InvalidArgumentError(f"takes no arguments (usage: {usage})")


def _text_argument(rest: str, usage: str) -> str:
    text = rest.strip()
    if not text:
        raise InvalidArgumentError(f"missing argument (usage: {usage})")
    return text


# ---------------------------------------------------------------------- handlers


async def cmd_help(repl: ChatRepl, rest: str) -> None:
    repl.screen.say("Commands:")
    for command in COMMANDS:
        aliases = f" (also {', '.join(command.aliases)})" if command.aliases else ""
        if len(command.usage) > HELP_USAGE_WIDTH:  # long usage: summary on its own line
            repl.screen.say(f"  {command.usage}")
            repl.screen.say(f"  {'':<{HELP_USAGE_WIDTH}}  {command.summary}{aliases}")
        else:
            repl.screen.say(f"  {command.usage:<{HELP_USAGE_WIDTH}}  {command.summary}{aliases}")
    repl.screen.say("Keys:")
    width = max(len(k) for k, _ in KEY_HELP)
    for key, what in KEY_HELP:
        repl.screen.say(f"  {key:<{width}}  {what}")
    repl.screen.notice(f"Backend: {repl.backend.describe()}")


async def cmd_list(repl: ChatRepl, rest: str) -> None:
    usage = "/list [limit]"
    words = _split(rest, usage)
    if len(words) > 1 or (words and not (words[0].isdigit() and int(words[0]) > 0)):
        raise InvalidArgumentError(f"limit must be a positive number (usage: {usage})")
    limit = int(words[0]) if words else DEFAULT_LIST_LIMIT
    sessions = repl.projections.list_sessions(limit=limit)
    total = len(repl.log.session_ids())
    if not sessions:
        repl.screen.notice("No saved sessions yet: say something to start one.")
        return
    repl.screen.say(f"Sessions ({len(sessions)} of {total}, most recently updated first):")
    current = repl.current_session_id()
    for number, meta in enumerate(sessions, 1):
        mark = "*" if meta.session_id == current else " "
        tags = "  " + " ".join(f"#{t}" for t in meta.tags) if meta.tags else ""
        repl.screen.say(f"{mark}{number:>3}. {meta.session_id}  {meta.title or UNTITLED}{tags}")
        repl.screen.notice(
            f"      updated {local_time(meta.updated_at, '%Y-%m-%d %H:%M')}  "
            f"{meta.message_count} messages  {meta.total_tokens} tokens"
        )
    if total > len(sessions):
        repl.screen.notice(f"{total - len(sessions)} more: /list {total} shows them all")


async def cmd_load(repl: ChatRepl, rest: str) -> None:
    sid = resolve_session(repl.log, _one_argument(rest, "/load <id>"), REPL_LIST_HINT)
    repl.switch_to(sid)


async def cmd_new(repl: ChatRepl, rest: str) -> None:
    _no_arguments(rest, "/new")
    repl.new_session()


async def cmd_info(repl: ChatRepl, rest: str) -> None:
    _no_arguments(rest, "/info")
    view = repl.view
    if view.pending:
        repl.screen.say(f"Session {view.session_id} (new: saved with its first message)")
        repl.screen.say(f"  Backend:  {repl.backend.describe()}")
        return
    view.refresh()
    repl.report_issues(view.issues)
    view.unseen_from_others = 0
    meta = repl.projections.session_meta(view.session_id)
    repl.screen.say(f"Session {meta.session_id}")
    repl.screen.say(f"  Title:    {meta.title or UNTITLED}")
    repl.screen.say(f"  Created:  {local_time(meta.created_at)}")
    repl.screen.say(f"  Updated:  {local_time(meta.updated_at)}")
    repl.screen.say(f"  Messages: {meta.message_count}")
    repl.screen.say(f"  Tokens:   {meta.total_tokens}")
    repl.screen.say(f"  Tags:     {', '.join(meta.tags) if meta.tags else '-'}")
    repl.screen.say(f"  Log:      {repl.log.session_location(meta.session_id)}")
    repl.screen.say(f"  Backend:  {repl.backend.describe()}")


async def cmd_title(repl: ChatRepl, rest: str) -> None:
    title = _text_argument(rest, "/title <text>")
    view = repl.view
    event = repl.log.set_title(view.ensure_created(), title)
    view.note_own(event.seq)
    repl.screen.success(f"Title set: {title}")


async def cmd_tag(repl: ChatRepl, rest: str) -> None:
    tag = _text_argument(rest, "/tag <tag>")
    view = repl.view
    change = tagging.add_tag(repl.log, repl.projections, view.ensure_created(), tag)
    if change.seq is not None:
        view.note_own(change.seq)
    if change.changed:
        repl.screen.success(f"Tagged {view.short_id} with {change.tag}")
    else:
        repl.screen.notice(f"{view.short_id} is already tagged {change.tag}.")


async def cmd_untag(repl: ChatRepl, rest: str) -> None:
    tag = _text_argument(rest, "/untag <tag>")
    view = repl.view
    if view.pending:  # nothing saved yet, so no tags: do not create a session to say so
        raise tagging.missing_tag_error(view.session_id, tag)
    change = tagging.remove_tag(repl.log, repl.projections, view.session_id, tag)
    if change.seq is not None:
        view.note_own(change.seq)
    repl.screen.success(f"Removed tag {change.tag} from {view.short_id}")


async def cmd_search(repl: ChatRepl, rest: str) -> None:
    query = _text_argument(rest, "/search <query>")
    hits = repl.projections.search(query, limit=SEARCH_LIMIT)
    if not hits:
        repl.screen.notice(f"No messages match {query!r}.")
        return
    repl.screen.say(f"{len(hits)} match{'es' if len(hits) != 1 else ''} for {query!r}:")
    for hit in hits:
        when = local_time(hit.timestamp, "%Y-%m-%d %H:%M")
        repl.screen.say(f"  {hit.session_id}  {hit.title or UNTITLED}  ({hit.role}, {when})")
        repl.screen.notice(f"      {' '.join(hit.snippet.split())}")
    repl.screen.notice("/load <id> opens a session")


async def cmd_stats(repl: ChatRepl, rest: str) -> None:
    _no_arguments(rest, "/stats")
    from cli.cmd_stats import session_and_today

    view = repl.view
    session_id = None if view.pending else view.session_id
    for line in session_and_today(repl.projections, session_id):
        repl.screen.say(line)


def _export_parser() -> _ArgParser:
    parser = _ArgParser(
        prog="/export",
        usage="/export [id] [--format=markdown|json] [--output=FILE] [--force]",
        add_help=False,
    )
    parser.add_argument("session", nargs="?")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="markdown")
    parser.add_argument("--output")
    parser.add_argument("--force", action="store_true")
    return parser


async def cmd_export(repl: ChatRepl, rest: str) -> None:
    parser = _export_parser()
    args = parser.parse_args(_split(rest, str(parser.usage)))
    if args.session:
        sid = resolve_session(repl.log, args.session, REPL_LIST_HINT)
    elif (current := repl.current_session_id()) is not None:
        sid = current
    else:
        raise InvalidArgumentError("the current session has no messages yet: nothing to export")
    data = render_export(repl.projections, sid, args.format)
    if not args.output:
        repl.screen.say(b"".join(data).decode().rstrip("\n"))
        return
    path = write_export(args.output, data, force=args.force)
    repl.screen.success(f"Exported {sid} ({args.format}) to {path}")


async def cmd_delete(repl: ChatRepl, rest: str) -> None:
    sid = resolve_session(repl.log, _one_argument(rest, "/delete <id>"), REPL_LIST_HINT)
    is_current = sid == repl.current_session_id()
    if is_current and not await repl.confirm(f"Delete the current session {sid}?"):
        repl.screen.notice("Kept it.")
        return
    repl.projections.delete_session(sid)
    repl.screen.success(f"Session deleted: {sid}")
    if is_current:
        repl.begin_new_session()
        repl.screen.notice(f"Now in a new session {repl.view.session_id}.")


async def cmd_redact(repl: ChatRepl, rest: str) -> None:
    usage = "/redact <seq> [reason]"
    seq_text, _sep, reason = rest.strip().partition(" ")
    if not seq_text.isdigit():
        raise InvalidArgumentError(f"usage: {usage} (the seq of a message of this session)")
    if repl.view.pending:
        raise InvalidArgumentError("the current session has no messages yet: nothing to redact")
    sid = repl.view.session_id
    repl.projections.redact(sid, int(seq_text), reason.strip() or None)
    repl.view.refresh()
    repl.screen.success(f"Message {seq_text} redacted (chatlog compact removes its text)")


async def cmd_retry(repl: ChatRepl, rest: str) -> None:
    _no_arguments(rest, "/retry")
    repl.view.refresh()
    messages = repl.view.messages
    if not messages or messages[-1].role != "user":
        raise InvalidArgumentError("nothing to retry: the last message is not yours")
    await repl.retry()


async def cmd_models(repl: ChatRepl, rest: str) -> None:
    _no_arguments(rest, "/models")
    if repl.backend.name != "llm":
        raise InvalidArgumentError(
            f"the {repl.backend.name} backend has no model list "
            "(it lists llm's models: chatlog chat --backend llm)"
        )
    from cli.backends.llm import model_lines

    # Plugins may do I/O while registering their models (llm-ollama asks its server).
    for line in await asyncio.to_thread(model_lines, repl.backend.model):
        repl.screen.say(line)


async def cmd_quit(repl: ChatRepl, rest: str) -> None:
    repl.exit_requested = True


COMMANDS: Final[tuple[SlashCommand, ...]] = (
    SlashCommand("/help", "/help", "show commands and keys", cmd_help),
    SlashCommand("/list", "/list [limit]", "list saved sessions, newest first", cmd_list),
    SlashCommand(
        "/load", "/load <id>", "switch to a session (unique prefix ok)", cmd_load, (), True
    ),
    SlashCommand("/new", "/new", "start a new session", cmd_new),
    SlashCommand("/info", "/info", "show the current session", cmd_info, ("/current",)),
    SlashCommand("/title", "/title <text>", "set the session's title", cmd_title),
    SlashCommand("/tag", "/tag <tag>", "tag the session", cmd_tag),
    SlashCommand("/untag", "/untag <tag>", "remove a tag", cmd_untag),
    SlashCommand("/search", "/search <query>", "full-text search of every session", cmd_search),
    SlashCommand(
        "/export",
        "/export [id] [--format=markdown|json] [--output=FILE] [--force]",
        "export a session (default: this one, to the screen)",
        cmd_export,
        (),
        True,
    ),
    SlashCommand("/stats", "/stats", "tokens and cost of this session and today", cmd_stats),
    SlashCommand("/delete", "/delete <id>", "delete a session", cmd_delete, (), True),
    SlashCommand(
        "/redact", "/redact <seq> [reason]", "hide a message's text from every view", cmd_redact
    ),
    SlashCommand("/retry", "/retry", "ask the model again for the last message", cmd_retry),
    SlashCommand(
        "/fork", "/fork [N]", "continue on a fork of this session (at message N)", cmd_fork
    ),
    SlashCommand(
        "/rewind", "/rewind N", "go back to message N (on a fork; nothing is lost)", cmd_rewind
    ),
    SlashCommand(
        "/edit", "/edit [text]", "edit your last message and resend it on a fork", cmd_edit
    ),
    SlashCommand("/branches", "/branches", "this conversation's forks", cmd_branches),
    SlashCommand("/models", "/models", "list the models llm offers (llm backend)", cmd_models),
    SlashCommand("/quit", "/quit", "leave (Ctrl+D works too)", cmd_quit, ("/exit",)),
)

_BY_NAME: Final[dict[str, SlashCommand]] = {
    name: command for command in COMMANDS for name in (command.name, *command.aliases)
}


def command_names() -> list[str]:
    return list(_BY_NAME)


def completion_entries() -> list[tuple[str, str, bool]]:
    """(name, summary, takes a session id) for every command name and alias."""
    return [(name, c.summary, c.takes_session_id) for name, c in _BY_NAME.items()]


def find_command(name: str) -> SlashCommand | None:
    return _BY_NAME.get(name.lower())


async def run_command(repl: ChatRepl, line: str) -> None:
    name, _, rest = line.strip().partition(" ")
    command = find_command(name)
    if command is None:
        guess = closest(name, command_names())
        hint = f"did you mean {guess}? " if guess else ""
        raise InvalidArgumentError(f"unknown command {name}: {hint}/help lists them all")
    try:
        await command.handler(repl, rest)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{command.name}: {exc}") from None
