"""``chatlog chat``: the interactive REPL (also what ``chatlog`` alone runs)."""

from __future__ import annotations

import argparse

from cli.backends.config import BACKEND_NAMES
from cli.context import Context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser(
        "chat",
        help="chat in the terminal; every message is saved as it is sent (the default command)",
    )
    which = chat.add_mutually_exclusive_group()
    which.add_argument("--session", metavar="ID", help="resume this session (unique prefix ok)")
    which.add_argument(
        "--continue",
        dest="continue_last",
        action="store_true",
        help="resume the most recently updated session",
    )
    chat.add_argument(
        "--backend",
        choices=BACKEND_NAMES,
        help="echo (offline) or openai (any OpenAI-compatible server); "
        "default: config.toml, else openai when OPENAI_BASE_URL/OPENAI_API_KEY is set",
    )
    chat.add_argument("--model", metavar="M", help="model name sent to the server")
    chat.add_argument(
        "--verbose",
        dest="save_notices",
        action="store_true",
        help="print a line each time a message is saved",
    )
    chat.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from cli.repl import ChatOptions, run_chat  # prompt_toolkit loads only for the REPL

    options = ChatOptions(
        session=args.session,
        continue_last=args.continue_last,
        backend=args.backend,
        model=args.model,
        verbose=args.save_notices,
    )
    return run_chat(ctx, options)
