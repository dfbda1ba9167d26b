"""Commands over the event log itself: ``new``, ``append``, ``tail``."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

import msgspec

from cli.arguments import JSON_HELP, ROLE_HELP, SESSION_ID_HELP, resolve_session
from cli.context import Context
from cli.output import describe_event, event_as_dict, to_json
from eventlog import (
    ROLES,
    InvalidArgumentError,
    LogEntry,
    SessionNotFoundError,
    SessionPosition,
    short_id,
)
from projections.views import Redactions, shown

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
    append.add_argument(
        "--no-redact",
        action="store_true",
        help="store secrets as they are (default: replaced by [REDACTED:<kind>])",
    )
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


def _print_entries(
    ctx: Context, entries: list[LogEntry], as_json: bool, sid: str, redactions: Redactions
) -> None:
    for entry in entries:
        event = shown(entry.event, redactions)
        ctx.out(to_json(event_as_dict(event, sid)) if as_json else describe_event(event))
    ctx.stdout.flush()


def _redactions(ctx: Context, sid: str) -> dict[int, tuple[str, str | None]]:
    """The session's redacted messages (from the projections: redactions follow the
    messages they hide, so a reader from the start or the end would meet them too late)."""
    from projections import Projections

    with Projections(ctx.log, layout=ctx.layout) as projections:
        return dict(projections.redactions(sid))


def run_tail(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    redactions = _redactions(ctx, sid)
    position = None
    if args.lines is not None:
        entries = ctx.log.read_last(sid, max(args.lines, 0))
        _print_entries(ctx, entries, args.json, sid, redactions)
        if entries:
            position = ctx.log.position_after(sid, entries[-1])
        elif args.follow and args.lines <= 0:
            position = _end_position(ctx, sid)
    else:
        result = ctx.log.read_from(sid)
        if result.state == "missing":
            raise SessionNotFoundError(f"no session {sid}")
        for batch in result.batches:
            _print_entries(ctx, batch.entries, args.json, sid, redactions)
            position = batch.position
    if not args.follow:
        return 0
    return _follow(ctx, sid, position, args.json, redactions)


def _end_position(ctx: Context, sid: str) -> SessionPosition | None:
    last = ctx.log.read_last(sid, 1)
    return ctx.log.position_after(sid, last[-1]) if last else None


def _follow(
    ctx: Context,
    sid: str,
    position: SessionPosition | None,
    as_json: bool,
    redactions: Redactions,
) -> int:
    """Print events appended after ``position``, woken by the store's change notices, with
    a periodic re-check so nothing is missed if a notice is. Every event appended before
    a delete is printed before the deletion is reported."""
    follower = ctx.log.open_follower(sid, position)
    stop = threading.Event()
    notices = ctx.log.follow(stop, int(FOLLOW_POLL_SECONDS * 1000))
    try:
        while True:
            batch = follower.read()
            _print_entries(ctx, batch.entries, as_json, sid, redactions)
            if follower.gone:
                ctx.err(f"chatlog: session {sid} was deleted")
                return 0
            if batch.entries:
                continue
            for changed in notices:
                if not changed or sid in changed:
                    break
    finally:
        stop.set()
        follower.close()
