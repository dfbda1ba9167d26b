"""The conversation tree: ``fork`` (continue from any point without touching the original)
and ``tree`` (a session's family of forks). ``show --at SEQ`` (in :mod:`cli.cmd_sessions`)
shows any session as it was at any event."""

from __future__ import annotations

import argparse

from cli.arguments import JSON_HELP, SESSION_ID_HELP, resolve_session
from cli.cmd_sessions import fork_note, open_projections
from cli.context import Context
from cli.output import plural, to_json
from eventlog import short_id
from projections.api import TreeNode
from projections.markdown import UNTITLED
from projections.safe_text import terminal_safe


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fork = sub.add_parser(
        "fork",
        help="start a new session from a session as it was at one of its events",
        description="Create a fork: a new session holding the session's events up to SEQ "
        "(default: all of them), which you can continue on its own. The original is never "
        "changed. Prints the fork's id.",
    )
    fork.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    fork.add_argument("--at", type=int, metavar="SEQ", help="branch after this event (seq)")
    fork.add_argument("--title", metavar="T", help="a title for the fork")
    fork.set_defaults(handler=run_fork)

    tree = sub.add_parser(
        "tree",
        help="show a session's family of forks",
        description="The session's family: its oldest ancestor still here, every fork "
        "under the session it came from with the seq it branches at, message counts, titles.",
    )
    tree.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    tree.add_argument("--json", action="store_true", help=f"{JSON_HELP}: one object per session")
    tree.set_defaults(handler=run_tree)


def run_fork(args: argparse.Namespace, ctx: Context) -> int:
    parent = resolve_session(ctx.log, args.session_id)
    ctx.out(ctx.log.fork_session(parent, args.at, title=args.title))
    return 0


def run_tree(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    with open_projections(ctx) as projections:
        nodes = projections.tree(sid)
    if args.json:
        ctx.out(to_json([node.entry() for node in nodes]))
        return 0
    for line in format_tree(nodes, sid):
        ctx.out(line)
    return 0


def format_tree(nodes: list[TreeNode], current: str | None) -> list[str]:
    """The family as indented lines (``→`` marks ``current``); shared with the REPL's
    ``/branches``."""
    lines = []
    for node in nodes:
        meta = node.meta
        marker = "→ " if meta.session_id == current else "  "
        branch = f"at #{node.parent_seq} " if node.parent and node.depth else ""
        lines.append(
            f"{'    ' * node.depth}{marker}{short_id(meta.session_id)} {branch}"
            f"{terminal_safe(meta.title or UNTITLED)} · {plural(meta.message_count, 'message')}"
            + (fork_note(meta) if node.depth == 0 else "")
        )
    return lines
