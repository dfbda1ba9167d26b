"""The ``chatlog`` entry point: global options, subcommand dispatch, and error reporting.

Each subcommand lives in a ``cli.cmd_*`` module exposing ``register(subparsers)``; handlers
take ``(args, ctx)`` and return an exit code. Errors become one line on stderr and a
non-zero exit code (see ``EXIT_CODES``); there are no tracebacks for user mistakes or bad
data (set ``CHATLOG_DEBUG=1`` to see one for an unexpected failure).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

from cli.context import Context
from cli.suggest import closest
from eventlog import (
    FSYNC_POLICIES,
    AmbiguousSessionIdError,
    ChatlogError,
    InvalidArgumentError,
    InvalidSessionIdError,
    SeqConflictError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
)
from projections.safe_text import terminal_safe

# Subcommand modules, in the order their commands appear in --help.
COMMAND_MODULES: Final[tuple[str, ...]] = (
    "cli.cmd_chat",
    "cli.cmd_log",
    "cli.cmd_sessions",
    "cli.cmd_tree",
    "cli.cmd_maintain",
    "cli.cmd_secrets",
    "cli.cmd_import",
    "cli.cmd_serve",
    "cli.cmd_sync",
    "cli.cmd_stats",
)

EXIT_CODES: Final[tuple[tuple[type[ChatlogError], int], ...]] = (
    (InvalidSessionIdError, 2),
    (InvalidArgumentError, 2),
    (SessionNotFoundError, 3),
    (AmbiguousSessionIdError, 3),
    (SeqConflictError, 4),
    (SessionExistsError, 4),
    (StorageError, 5),
)

# What `chatlog` with no subcommand runs, once that command is registered.
DEFAULT_COMMAND: Final = "chat"

Handler = Callable[[argparse.Namespace, Context], int]


DISTRIBUTION: Final = "openagent-chatlog"


def chatlog_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


class _ErrorLineParser(argparse.ArgumentParser):
    """argparse, but usage errors print one line and exit 2 (with the command's own
    ``error_hint`` when it has one), and a mistyped command name gets a guess instead of
    the list of every command."""

    def __init__(self, *args: Any, error_hint: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error_hint = error_hint

    def error(self, message: str) -> None:  # type: ignore[override]
        hint = f"{self.error_hint}; " if self.error_hint else ""
        self.exit(
            2,
            terminal_safe(f"{self.prog}: error: {message} ({hint}see {_help_hint(self.prog)})\n"),
        )

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if isinstance(action, argparse._SubParsersAction) and value not in (choices or {}):
            guess = closest(str(value), choices or {})
            hint = f"; did you mean `{guess}`?" if guess else ""
            raise argparse.ArgumentError(None, f"unknown command {value!r}{hint}")
        super()._check_value(action, value)


def _help_hint(prog: str) -> str:
    """``chatlog help`` for the top level, ``chatlog help search`` for a command."""
    command = prog.removeprefix("chatlog").strip()
    return f"chatlog help {command}" if command else "chatlog help"


def build_parser() -> argparse.ArgumentParser:
    parser = _ErrorLineParser(
        prog="chatlog",
        description="An event-sourced, append-only log of your AI chat sessions. "
        "With no command, starts the chat REPL.",
        epilog="`chatlog help COMMAND` describes one command. Session ids (ID) may be given "
        "whole, as a unique prefix, or as their 6-hex suffix (the short id `list` shows).",
    )
    parser.add_argument("--version", action="version", version=f"chatlog {chatlog_version()}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="data directory (default: $CHATLOG_HOME or the platform's user data dir)",
    )
    parser.add_argument(
        "--fsync",
        choices=FSYNC_POLICIES,
        default="always",
        help="durability of appends (default: always)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keep events in NATS JetStream: nats://host:port[,nats://...][?stream=NAME] "
        "(default: $CHATLOG_STORE, store in config.toml, else files under the home)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log more of what chatlog does, on stderr"
    )
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=_ErrorLineParser,
        help="what to do (default: chat); `chatlog help COMMAND` describes one",
    )
    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    helper = sub.add_parser(
        "help",
        help="describe chatlog, or one command and its options",
        description="Print the help of chatlog, or of COMMAND (the same as COMMAND --help).",
    )
    helper.add_argument("topic", metavar="COMMAND", nargs="?", help="the command to describe")
    return parser


class _TerminalSafeFormatter(logging.Formatter):
    """Log lines quote file names, titles and messages: shown with control characters
    spelled out (see :mod:`projections.safe_text`)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


def _print_help(parser: argparse.ArgumentParser, topic: str | None) -> int:
    commands = _subcommand_parsers(parser)
    if topic is None:
        parser.print_help()
        return 0
    if topic not in commands:
        guess = closest(topic, commands)
        hint = f"; did you mean `{guess}`?" if guess else ""
        print(
            terminal_safe(
                f"chatlog: error: no command {topic!r}{hint} (`chatlog help` lists them)"
            ),
            file=sys.stderr,
        )
        return 2
    commands[topic].print_help()
    return 0


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_TerminalSafeFormatter("chatlog: %(levelname)s: %(message)s"))
    root = logging.getLogger("chatlog")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False


def exit_code_for(error: ChatlogError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None and DEFAULT_COMMAND in _subcommands(parser):
        args = parser.parse_args([*argv, DEFAULT_COMMAND])
    _setup_logging(args.verbose)
    if args.command == "help":
        return _print_help(parser, args.topic)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    ctx = Context.from_args(args)
    home_problem = _home_problem(ctx.home)
    if home_problem:
        print(terminal_safe(f"chatlog: error: {home_problem}"), file=sys.stderr)
        return 2
    try:
        return handler(args, ctx)
    except ChatlogError as exc:
        print(terminal_safe(f"chatlog: error: {exc}"), file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print("chatlog: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `chatlog tail | head`): not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        if os.environ.get("CHATLOG_DEBUG"):
            raise
        print(
            terminal_safe(
                f"chatlog: error: {exc.strerror or exc}"
                + (f": {exc.filename}" if exc.filename else "")
            ),
            file=sys.stderr,
        )
        return 5
    finally:
        ctx.close()


def _home_problem(home: Path) -> str | None:
    """Why ``home`` cannot be chatlog's home (a file, or under one), or None."""
    for path in (home, *home.parents):
        if path.exists():
            if path.is_dir():
                return None
            problem = (
                f"the chatlog home {home} is a file, not a directory"
                if path == home
                else f"the chatlog home {home} cannot be created: {path} is a file"
            )
            return f"{problem}; choose another with --home DIR or CHATLOG_HOME"
    return None


def _subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    return set(_subcommand_parsers(parser))


if __name__ == "__main__":
    sys.exit(main())
