"""Commands over the event log itself: ``new``, ``append``, ``tail``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import msgspec

from cli.arguments import JSON_HELP, ROLE_HELP, SESSION_ID_HELP, resolve_session
from cli.context import Context
from cli.output import describe_event, event_as_dict, to_json
from eventlog import ROLES, Cursor, InvalidArgumentError, LogEntry, short_id

FOLLOW_POLL_SECONDS = 1.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = sub.add_parser(
        "new",
        help="create a session and print its id",
        description="Create an empty session and print its id (for `append`, `chat --session`"
        " and the other commands). Without --title, the first user message names it.",
    )
    new.add_argument("--title", metavar="T", help="the session's title")
    new.add_argument(
        "--tag", metavar="T", action="append", default=[], help="a tag (repeat for more)"
    )
    new.set_defaults(handler=run_new)

    append = sub.add_parser(
        "append",
        help="append a message (content read from stdin)",
        description="Append one message to a session. The message is read from stdin (one "
        "trailing newline is dropped; an empty message is refused); the new event's seq is "
        "printed once it is as durable as --fsync says.",
    )
    append.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    append.add_argument("--role", required=True, choices=ROLES, help=ROLE_HELP)
    append.add_argument("--tokens", type=int, metavar="N", help="token count")
    append.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="K=V",
        help="metadata entry (repeatable; V parsed as JSON when it is JSON)",
    )
    append.add_argument(
        "--expected-seq",
        type=int,
        metavar="N",
        help="fail with exit code 4 unless the session's last seq is N",
    )
    append.add_argument("--json", action="store_true", help="print the stored event as JSON")
    append.set_defaults(handler=run_append)

    tail = sub.add_parser(
        "tail",
        help="print a session's events; -f follows new ones",
        description="Print a session's events, one per line, oldest first: its creation, "
        "messages, title and tag changes. With -f, keep printing events as any process "
        "appends them, until Ctrl-C or the session is deleted.",
    )
    tail.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    tail.add_argument("-n", "--lines", type=int, metavar="N", help="only the last N events")
    tail.add_argument("--json", action="store_true", help=f"{JSON_HELP}: one object per event")
    tail.set_defaults(handler=run_tail)


def run_new(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out(ctx.log.create_session(title=args.title, tags=args.tag))
    return 0


def parse_meta(items: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--meta expects KEY=VALUE, got {item!r}")
        try:
            meta[key] = msgspec.json.decode(value)
        except msgspec.DecodeError:
            meta[key] = value
    return meta


def run_append(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    if sys.stdin.isatty():
        ctx.err("Type the message, then press Ctrl+D on a line of its own to append it.")
    raw = sys.stdin.buffer.read()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(f"content on stdin is not UTF-8 (byte {exc.start})") from None
    # One trailing newline is the shell's (`echo text | chatlog append`), not the content's.
    content = content.removesuffix("\n").removesuffix("\r")
    if not content.strip():
        raise InvalidArgumentError(
            "nothing to append: the message on stdin is empty or only whitespace "
            f"(e.g. echo TEXT | chatlog append {short_id(sid)} --role {args.role})"
        )
    event = ctx.log.append(
        sid,
        args.role,
        content,
        token_count=args.tokens,
        metadata=parse_meta(args.meta),
        expected_seq=args.expected_seq,
    )
    ctx.out(to_json(event_as_dict(event, sid)) if args.json else str(event.seq))
    return 0


def _print_entries(ctx: Context, entries: list[LogEntry], as_json: bool, sid: str) -> None:
    for entry in entries:
        ctx.out(
            to_json(event_as_dict(entry.event, sid)) if as_json else describe_event(entry.event)
        )
    ctx.stdout.flush()


def run_tail(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    scan = ctx.log.scan(sid)
    entries = scan.entries[-args.lines :] if args.lines else scan.entries
    _print_entries(ctx, entries, args.json, sid)
    if not args.follow:
        return 0
    return _follow(ctx, sid, scan.cursor, args.json)


def _follow(ctx: Context, sid: str, cursor: Cursor, as_json: bool) -> int:
    """Print events appended from ``offset`` on, woken by file changes (watchfiles), with a
    periodic re-check so nothing is missed if a notification is."""
    from eventlog.watch import iter_changes

    path = ctx.log.layout.log_path(sid)
    stop_after_delete = False
    for changed in iter_changes(ctx.log.layout, tick_ms=int(FOLLOW_POLL_SECONDS * 1000)):
        if changed and sid not in changed:
            continue
        if not path.exists():
            if stop_after_delete:
                ctx.err(f"chatlog: session {sid} was deleted")
                return 0
            stop_after_delete = True  # it may be mid-replacement; look once more
            time.sleep(0.05)
            continue
        stop_after_delete = False
        scan = ctx.log.scan(sid, cursor)
        _print_entries(ctx, scan.entries, as_json, sid)
        cursor = scan.cursor
    return 0
