"""Commands over sessions as the projections show them: ``list``, ``show``, ``export``,
``search``, ``title``, ``tag``, ``untag``, ``delete``.

Every reader catches the projections up first, so output is current without a watcher.
Tables show local times; JSON and exported files carry the stored UTC timestamps.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import os
import shlex
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TextIO

from cli import tagging
from cli.arguments import AT_HELP, JSON_HELP, SESSION_ID_HELP, resolve_session
from cli.context import Context
from cli.export import EXPORT_FORMATS, render_export, write_export
from cli.output import is_terminal, local_time, plural, to_json, use_color
from eventlog import SessionNotFoundError, short_id
from eventlog.chunks import batched
from projections import Projections, SearchHit, SessionMeta, SnapshotMessage, views
from projections.markdown import ROLE_HEADINGS, UNTITLED
from projections.retention import resolve_archived
from projections.safe_text import terminal_safe
from projections.search import HIGHLIGHT_END, HIGHLIGHT_START
from projections.toolcalls import terminal_body

DEFAULT_PAGER = "less -FRX"
BOLD, REVERSE, DIM, RESET = "\x1b[1m", "\x1b[7m", "\x1b[2m", "\x1b[0m"


# ---------------------------------------------------------------------- shared helpers


@contextlib.contextmanager
def open_projections(ctx: Context) -> Iterator[Projections]:
    with Projections(ctx.log, layout=ctx.layout) as projections:
        yield projections


def resolve_any(ctx: Context, id_or_prefix: str) -> str:
    """A live session's id from an id or prefix, else an archived session's, else one
    whose delete was interrupted (so `delete` can finish it)."""
    try:
        return resolve_session(ctx.log, id_or_prefix)
    except SessionNotFoundError as not_live:
        try:
            return resolve_archived(ctx.log, id_or_prefix)
        except SessionNotFoundError:
            pass
        from projections.deletion import pending

        unfinished = [
            sid
            for sid in pending(ctx.layout)
            if sid == id_or_prefix
            or sid.startswith(id_or_prefix)
            or sid.endswith("_" + id_or_prefix)
        ]
        if len(unfinished) == 1:
            return unfinished[0]
        raise not_live from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


# ---------------------------------------------------------------------- registration


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = sub.add_parser(
        "list",
        help="list sessions, most recently updated first",
        description="List sessions, most recently updated first: short id, creation time "
        "(local), message and token counts, title and #tags.",
    )
    listing.add_argument("--limit", type=_positive, metavar="N", help="at most N sessions")
    listing.add_argument("--json", action="store_true", help=f"{JSON_HELP}: the index entries")
    listing.set_defaults(handler=run_list)

    show = sub.add_parser(
        "show",
        help="print a session's messages",
        description="Print a session's title, times, counts and messages. On a terminal, "
        "output longer than the screen goes through $PAGER (default: less -FRX).",
    )
    show.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    show.add_argument("--last", type=_positive, metavar="N", help="only the last N messages")
    show.add_argument("--at", type=_positive, metavar="SEQ", help=AT_HELP)
    show.add_argument("--json", action="store_true", help="the session file format (JSON)")
    show.add_argument(
        "--no-pager", action="store_true", help="never page long output on a terminal"
    )
    show.set_defaults(handler=run_show)

    export = sub.add_parser(
        "export",
        help="export a session as markdown or JSON",
        description="Write a session as markdown (times in UTC) or as its JSON session file, "
        "to stdout or to FILE. FILE is created 0600 and never overwritten without --force; "
        "its absolute path is printed.",
    )
    export.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    export.add_argument(
        "--format", choices=EXPORT_FORMATS, default="markdown", help="default: markdown"
    )
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (relative to the current dir)"
    )
    export.add_argument("--at", type=_positive, metavar="SEQ", help=AT_HELP)
    export.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    export.set_defaults(handler=run_export)

    search = sub.add_parser(
        "search",
        help="full-text search over every message",
        description="Search every message, best match first. Every word must match (case "
        'and accents ignored); "a phrase" matches adjacent words, word* a prefix. A query '
        "starting with - needs -- first: chatlog search -- -x.",
        error_hint="a query starting with - needs -- first: chatlog search -- -x",
    )
    search.add_argument("query", nargs="+", metavar="QUERY", help='words, "a phrase" or prefix*')
    search.add_argument("--limit", type=_positive, default=20, metavar="N", help="default 20")
    search.add_argument("--json", action="store_true", help=f"{JSON_HELP}: the hits")
    search.set_defaults(handler=run_search)

    title = sub.add_parser(
        "title",
        help='set a session\'s title ("" clears it)',
        description="Set a session's title. An empty TEXT clears it, and the first user "
        "message shows as the title again.",
    )
    title.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    title.add_argument("text", metavar="TEXT", help='the new title ("" clears it)')
    title.set_defaults(handler=run_title)

    tag = sub.add_parser(
        "tag",
        help="add a tag to a session",
        description="Add a tag to a session (`list` shows it as #TAG). Adding a tag the "
        "session already has changes nothing.",
    )
    tag.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    tag.add_argument("tag", metavar="TAG", help="the tag (1-100 characters)")
    tag.set_defaults(handler=run_tag)

    untag = sub.add_parser(
        "untag",
        help="remove a tag from a session",
        description="Remove a tag from a session; a tag the session does not have is an "
        "error (exit 2).",
    )
    untag.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    untag.add_argument("tag", metavar="TAG", help="the tag to remove")
    untag.set_defaults(handler=run_untag)

    delete = sub.add_parser(
        "delete",
        help="delete a session everywhere (log, projections, archive)",
        description="Delete a session for good: its log, snapshot, index entry, search rows, "
        "archive and quarantined lines. No file under the home keeps its text.",
    )
    delete.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    delete.set_defaults(handler=run_delete)


# ---------------------------------------------------------------------- list


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    with open_projections(ctx) as projections:
        metas = projections.list_sessions(args.limit)
    if args.json:
        ctx.out(to_json(metas))
        return 0
    if not metas:
        ctx.err("no sessions yet (start one with `chatlog` or `chatlog new`)")
        return 0
    ctx.out(format_table(metas, ctx.stdout))
    return 0


def display_ids(session_ids: list[str]) -> dict[str, str]:
    """Short ids where they are unique among those shown, full ids otherwise."""
    counts = Counter(short_id(sid) for sid in session_ids)
    return {sid: short_id(sid) if counts[short_id(sid)] == 1 else sid for sid in session_ids}


def fork_note(meta: SessionMeta) -> str:
    """``  (fork of 3fa2c1 at #5)`` for a fork, else nothing."""
    origin = meta.forked_from
    return f"  (fork of {short_id(origin.session_id)} at #{origin.seq})" if origin else ""


def format_table(metas: list[SessionMeta], stream: TextIO) -> str:
    ids = display_ids([meta.session_id for meta in metas])
    rows = [
        (
            ids[meta.session_id],
            local_time(meta.created_at, "%Y-%m-%d %H:%M"),
            str(meta.message_count),
            str(meta.total_tokens),
            terminal_safe((meta.title or UNTITLED) + "".join(f"  #{tag}" for tag in meta.tags))
            + fork_note(meta),
        )
        for meta in metas
    ]
    header = ("ID", "CREATED", "MSGS", "TOKENS", "TITLE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    # On a terminal the title column is cut to fit the screen (never below 12 characters).
    room = shutil.get_terminal_size().columns - sum(widths) - 8 if is_terminal(stream) else 0
    room = max(room, 12) if is_terminal(stream) else 0
    color = use_color(stream)
    lines = []
    for n, row in enumerate([header, *rows]):
        title = row[4] if not room or len(row[4]) <= room else row[4][: room - 1] + "…"
        line = (
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  "
            f"{row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}  {title}"
        )
        lines.append(f"{BOLD}{line}{RESET}" if color and n == 0 else line)
    return "\n".join(lines)


# ---------------------------------------------------------------------- show / export


def run_show(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    with open_projections(ctx) as projections:
        messages: Iterable[SnapshotMessage]
        if args.at is not None:
            meta, messages = projections.messages_at(sid, args.at)
            if args.last is not None:
                messages = collections.deque(messages, maxlen=args.last)
            shown = len(messages) if isinstance(messages, collections.deque) else meta.message_count
        elif args.last is not None:
            meta, last = projections.last_messages(sid, args.last)
            messages, shown = last, len(last)
        else:
            meta, messages = projections.messages(sid)
            shown = meta.message_count
        if args.json:
            write_chunks(ctx.stdout, views.snapshot_chunks(meta, messages))
            return 0
        pieces = format_session(meta, messages, shown, use_color(ctx.stdout))
        if is_terminal(ctx.stdout) and not args.no_pager:
            return _page_if_long(pieces, ctx)
        for piece in pieces:
            ctx.stdout.write(piece)
        ctx.stdout.write("\n")
    return 0


def format_session(
    meta: SessionMeta, messages: Iterable[SnapshotMessage], shown: int, color: bool
) -> Iterator[str]:
    """The session for a terminal or a pager (stored text made terminal-safe), a message
    at a time; no final newline."""
    bold, dim, reset = (BOLD, DIM, RESET) if color else ("", "", "")
    head = [
        f"{bold}{terminal_safe(meta.title or UNTITLED)}{reset}",
        f"{dim}{meta.session_id} · created {local_time(meta.created_at)} · "
        f"updated {local_time(meta.updated_at)} · {plural(meta.message_count, 'message')} · "
        f"{plural(meta.total_tokens, 'token')}"
        + (f" · tags: {terminal_safe(', '.join(meta.tags))}" if meta.tags else "")
        + reset,
    ]
    if shown < meta.message_count:
        head.append(f"{dim}(the last {shown} of {meta.message_count} messages){reset}")
    yield "\n".join(head)
    for message in messages:
        heading = terminal_safe(ROLE_HEADINGS.get(message.role, message.role.title()))
        tokens = f" · {plural(message.token_count, 'token')}" if message.token_count else ""
        yield "\n".join(
            [
                "",
                "",
                f"{bold}{heading}{reset} {dim}[{local_time(message.timestamp)}]{tokens}{reset}",
                terminal_safe(terminal_body(message.role, message.content, message.metadata)),
            ]
        )


def write_chunks(stream: TextIO, chunks: Iterable[bytes]) -> None:
    """Write UTF-8 ``chunks`` to ``stream`` in writes of about a MiB."""
    for block in batched(chunks):
        stream.write(block.decode())


def _page_if_long(pieces: Iterator[str], ctx: Context) -> int:
    """Print ``pieces``; once they pass a screenful, send them (and the rest, streamed)
    through $PAGER (default ``less -FRX``) instead, or print them if no pager works."""
    room = shutil.get_terminal_size().lines - 1
    held: list[str] = []
    lines = 1
    for piece in pieces:
        held.append(piece)
        lines += piece.count("\n")
        if lines > room:
            return _page(itertools.chain(held, pieces), ctx)
    ctx.out("".join(held))
    return 0


def _page(pieces: Iterable[str], ctx: Context) -> int:
    command = shlex.split(os.environ.get("PAGER") or DEFAULT_PAGER)
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE)
    except OSError:
        for piece in pieces:
            ctx.stdout.write(piece)
        ctx.out()
        return 0
    assert pager.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        for piece in pieces:
            pager.stdin.write(piece.encode())
        pager.stdin.write(b"\n")
    with contextlib.suppress(BrokenPipeError):
        pager.stdin.close()
    pager.wait()
    return 0


def run_export(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    with open_projections(ctx) as projections:
        data = render_export(projections, sid, args.format, args.at)
        if args.output is None or args.output == "-":
            write_chunks(ctx.stdout, data)
            return 0
        target = write_export(args.output, data, force=args.force)
    ctx.out(str(target))
    return 0


# ---------------------------------------------------------------------- search


def run_search(args: argparse.Namespace, ctx: Context) -> int:
    query = " ".join(args.query)
    with open_projections(ctx) as projections:
        hits = projections.search(query, args.limit)
    if args.json:
        ctx.out(to_json(hits))
        return 0
    if not hits:
        ctx.err(f"no messages match {query!r}")
        return 0
    ctx.out(format_hits(hits, use_color(ctx.stdout)))
    return 0


def format_hits(hits: list[SearchHit], color: bool) -> str:
    ids = display_ids(list(dict.fromkeys(hit.session_id for hit in hits)))
    bold, dim, reset = (BOLD, DIM, RESET) if color else ("", "", "")
    lines = []
    for hit in hits:
        snippet = terminal_safe(" ".join(hit.snippet.split()))
        if color:
            snippet = snippet.replace(HIGHLIGHT_START, REVERSE).replace(HIGHLIGHT_END, RESET)
        lines.append(
            f"{bold}{ids[hit.session_id]}{reset} #{hit.seq} {terminal_safe(hit.role):<9} "
            f"{dim}{local_time(hit.timestamp, '%Y-%m-%d %H:%M')}{reset}  "
            + terminal_safe(hit.title or UNTITLED)
        )
        lines.append(f"    {snippet}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- title / tags / delete


def run_title(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    text = " ".join(args.text.split())
    ctx.log.set_title(sid, text)
    with open_projections(ctx) as projections:
        meta = projections.session_meta(sid)
    shown = meta.title or UNTITLED
    ctx.out(f"{sid}: {'title set to' if text else 'title cleared; showing'} {shown!r}")
    return 0


def run_tag(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    with open_projections(ctx) as projections:
        change = tagging.add_tag(ctx.log, projections, sid, args.tag)
    if not change.changed:
        ctx.out(terminal_safe(f"{sid}: already tagged {change.tag}"))
        return 0
    ctx.out(terminal_safe(f"{sid}: tags {', '.join(change.tags)}"))
    return 0


def run_untag(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    with open_projections(ctx) as projections:
        change = tagging.remove_tag(ctx.log, projections, sid, args.tag)
    ctx.out(terminal_safe(f"{sid}: tags {', '.join(change.tags) if change.tags else '(none)'}"))
    return 0


def run_delete(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_any(ctx, args.session_id)
    with open_projections(ctx) as projections:
        projections.delete_session(sid)
    ctx.out(f"deleted {sid}")
    return 0
