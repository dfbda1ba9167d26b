"""Secrets in the history: ``redact`` (a message, on request), ``compact`` (remove redacted
text for good) and ``secrets`` (find what the detectors find in stored messages).

The work is done by :class:`projections.Projections` (``redact``, ``compact``,
``find_secrets``), which the REPL's ``/redact`` and the server's ``session.redact`` use too.
See docs/redaction.md.
"""

from __future__ import annotations

import argparse

from cli.arguments import JSON_HELP, SESSION_ID_HELP, resolve_session
from cli.cmd_sessions import open_projections
from cli.context import Context
from cli.output import plural, to_json
from eventlog import SessionNotFoundError
from eventlog.store import Compaction
from projections.retention import resolve_archived


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    redact = sub.add_parser(
        "redact",
        help="redact a message: no view shows its text any more (compact removes it)",
        description="Hide a message's text from every view at once (show, export, search, "
        "views, tail, the server, the REPL): they show only that it was redacted and when. "
        "The text stays in the log until `chatlog compact` removes it.",
    )
    redact.add_argument("session_id", metavar="ID", help=SESSION_ID_HELP)
    redact.add_argument("seq", metavar="SEQ", type=int, help="the message's seq (as tail shows)")
    redact.add_argument("--reason", metavar="TEXT", help="why (kept with the redaction)")
    redact.set_defaults(handler=run_redact)

    compact = sub.add_parser(
        "compact",
        help="remove redacted messages' text from the logs, archives, quarantine and database",
        description="Rewrite each redacted message's line without its text (seq and time "
        "kept), in the log, its archive and quarantined lines, and scrub the search "
        "database. Safe while other processes append; a crash leaves the old log or the new.",
    )
    compact.add_argument(
        "session_id", metavar="ID", nargs="?", help=f"only this session: {SESSION_ID_HELP}"
    )
    compact.set_defaults(handler=run_compact)

    secrets = sub.add_parser(
        "secrets",
        help="find secrets in stored messages (session, seq, kind; never the secret)",
        description="Scan every stored message not redacted yet with the same detectors "
        "as redaction on save. Exit code 1 when something is found (and not --redact).",
    )
    secrets.add_argument(
        "session_id", metavar="ID", nargs="?", help=f"only this session: {SESSION_ID_HELP}"
    )
    secrets.add_argument("--json", action="store_true", help=f"{JSON_HELP}: one per finding")
    secrets.add_argument(
        "--redact", action="store_true", help="redact every message found, then compact"
    )
    secrets.set_defaults(handler=run_secrets)


def run_redact(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id)
    with open_projections(ctx) as projections:
        event = projections.redact(sid, args.seq, args.reason)
    ctx.out(f"redacted message {event.target} of {sid} (`chatlog compact` removes its text)")
    return 0


def _resolve_live_or_archived(ctx: Context, id_or_prefix: str) -> str:
    try:
        return resolve_session(ctx.log, id_or_prefix)
    except SessionNotFoundError:
        return resolve_archived(ctx.log, id_or_prefix)


def run_compact(args: argparse.Namespace, ctx: Context) -> int:
    sid = _resolve_live_or_archived(ctx, args.session_id) if args.session_id else None
    with open_projections(ctx) as projections:
        done = projections.compact(sid)
    for found in done:
        ctx.out(describe(found))
    if not done:
        ctx.out("nothing to compact: no redacted text is left")
    return 0


def describe(found: Compaction) -> str:
    places = [f"{plural(found.messages, 'message')} in the log"] if found.messages else []
    if found.archived:
        places.append(f"{plural(found.archived, 'message')} in the archive")
    if found.quarantined:
        places.append(f"{plural(found.quarantined, 'quarantined line')}")
    return f"{found.session_id}: removed the text of " + ", ".join(places)


def run_secrets(args: argparse.Namespace, ctx: Context) -> int:
    sid = resolve_session(ctx.log, args.session_id) if args.session_id else None
    with open_projections(ctx) as projections:
        findings = list(projections.find_secrets(sid))
        for finding in findings:
            if args.json:
                ctx.out(
                    to_json(
                        {
                            "session_id": finding.session_id,
                            "seq": finding.seq,
                            "kinds": finding.kinds,
                        }
                    )
                )
            else:
                ctx.out(f"{finding.session_id}  seq {finding.seq}  {', '.join(finding.kinds)}")
        if not args.redact:
            if not findings and not args.json:
                ctx.err("chatlog: no secrets found")
            return 1 if findings else 0
        for finding in findings:
            projections.redact(
                finding.session_id, finding.seq, f"secret scan: {', '.join(finding.kinds)}"
            )
        for session_id in sorted({finding.session_id for finding in findings}):
            for found in projections.compact(session_id):
                ctx.err(f"chatlog: {describe(found)}")
    ctx.err(f"chatlog: redacted {plural(len(findings), 'message')}")
    return 0
