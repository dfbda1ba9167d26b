"""``chatlog chat``: the interactive REPL (also what ``chatlog`` alone runs)."""

from __future__ import annotations

import argparse

from cli.arguments import SESSION_ID_HELP
from cli.backends.config import BACKEND_NAMES, resolve_backend_config
from cli.context import Context
from eventlog import InvalidArgumentError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser(
        "chat",
        help="chat in the terminal; every message is saved as it is sent (the default command)",
        description="Chat with a model in the terminal (plain `chatlog` does the same). Every "
        "message is saved as it is sent; /help inside lists the commands and keys. With "
        "stdin not a terminal, each input line is one message or slash command.",
    )
    which = chat.add_mutually_exclusive_group()
    which.add_argument("--session", metavar="ID", help=f"resume this session: {SESSION_ID_HELP}")
    which.add_argument(
        "--continue",
        dest="continue_last",
        action="store_true",
        help="resume the most recently updated session",
    )
    chat.add_argument(
        "--backend",
        choices=BACKEND_NAMES,
        help="echo (offline), openai (any OpenAI-compatible server) or llm (any model of "
        "llm's plugins); default: config.toml, else openai when OPENAI_BASE_URL/"
        "OPENAI_API_KEY is set",
    )
    chat.add_argument(
        "--model", metavar="M", help="model name sent to the server (llm: a model id or alias)"
    )
    chat.add_argument(
        "--list-models", action="store_true", help="list the llm backend's models and exit"
    )
    chat.add_argument(
        "--show-saves",
        dest="save_notices",
        action="store_true",
        help="print a line each time a message is saved (its seq and token count)",
    )
    chat.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.list_models:
        return list_models(args.backend, args.model)
    from cli.repl import ChatOptions, run_chat  # prompt_toolkit loads only for the REPL

    options = ChatOptions(
        session=args.session,
        continue_last=args.continue_last,
        backend=args.backend,
        model=args.model,
        verbose=args.save_notices,
    )
    return run_chat(ctx, options)


def list_models(backend: str | None, model: str | None) -> int:
    config = resolve_backend_config(backend=backend, model=model)
    if config.backend != "llm":
        raise InvalidArgumentError(
            f"--list-models lists the llm backend's models, not {config.backend}'s: "
            'add --backend llm (or set backend = "llm" in config.toml)'
        )
    from cli.backends.llm import model_lines  # llm loads only when asked for

    for line in model_lines(config.model):
        print(line)
    return 0
