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
from typing import Final

from cli.context import Context
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
    "cli.cmd_maintain",
    "cli.cmd_import",
    "cli.cmd_serve",
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


class _ErrorLineParser(argparse.ArgumentParser):
    """argparse, but usage errors print one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, terminal_safe(f"{self.prog}: error: {message} (see {self.prog} --help)\n"))


def build_parser() -> argparse.ArgumentParser:
    parser = _ErrorLineParser(
        prog="chatlog",
        description="An event-sourced, append-only log of your AI chat sessions.",
    )
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
    parser.add_argument("-v", "--verbose", action="store_true", help="more messages on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ErrorLineParser)
    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


class _TerminalSafeFormatter(logging.Formatter):
    """Log lines quote file names, titles and messages: shown with control characters
    spelled out (see :mod:`projections.safe_text`)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


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
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    ctx = Context.from_args(args)
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


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


if __name__ == "__main__":
    sys.exit(main())
