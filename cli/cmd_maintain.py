"""Upkeep commands: ``rebuild``, ``fsck``, ``watch``, ``cleanup``, ``restore``.

Long work shows a progress bar on stderr when it is a terminal; summaries go to stderr
too for ``rebuild`` and ``cleanup`` so stdout carries only what scripts read (ids, paths,
JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Final, TextIO

from cli.arguments import JSON_HELP, SESSION_ID_HELP, resolve_session
from cli.cmd_sessions import open_projections
from cli.context import Context
from cli.output import is_terminal, plural, to_json
from cli.progress import transient_bar
from eventlog import LogIssue
from projections.catchup import Progress as ProgressCallback
from projections.catchup import ProgressUnit
from projections.records import CatchUpReport
from projections.retention import DEFAULT_MAX_SESSIONS, FsckReport, resolve_archived
from projections.safe_text import terminal_safe

# A bar for less work than this would only flicker.
PROGRESS_MIN_TOTAL: Final = {"sessions": 50, "bytes": 64 << 10}
PROGRESS_REDRAW_S: Final = 0.1  # the bar is updated at most this often


@contextlib.contextmanager
def progress_bar(stream: TextIO, label: str) -> Iterator[ProgressCallback | None]:
    """A ``progress(done, total, unit)`` callback drawing a transient bar on a terminal:
    sessions done, or bytes read (so one huge session moves it too)."""
    if not is_terminal(stream):
        yield None
        return
    from rich.progress import (  # imported only when a bar can be shown
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    bar: Progress | None = None
    task = None
    last = 0.0

    def update(done: int, total: int, unit: ProgressUnit) -> None:
        nonlocal bar, task, last
        if total < PROGRESS_MIN_TOTAL[unit]:
            return
        now = time.monotonic()
        if bar is not None and done < total and now - last < PROGRESS_REDRAW_S:
            return
        last = now
        if bar is None:
            counts = (
                (MofNCompleteColumn(), TextColumn("sessions"))
                if unit == "sessions"
                else (DownloadColumn(), TransferSpeedColumn())
            )
            bar = transient_bar(stream, label, *counts)
            task = bar.add_task(label, total=total)
        assert task is not None
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rebuild = sub.add_parser(
        "rebuild",
        help="replay every log and rewrite all projections",
        description="Replay every session's log and rewrite the index, snapshots and search "
        "index from scratch. The logs are the truth; nothing else needs a backup.",
    )
    rebuild.add_argument(
        "--verify",
        action="store_true",
        help="rebuild aside and report differences from the current files (exit 1 if any)",
    )
    rebuild.add_argument(
        "--views",
        action="store_true",
        help="also write index.json and sessions/<id>.json (the replaced system's files)",
    )
    rebuild.set_defaults(handler=run_rebuild)

    views = sub.add_parser(
        "views",
        help="write index.json and sessions/<id>.json, the replaced system's files",
        description=(
            "Write the replaced system's files from the projections: index.json (every "
            "session, newest first) and sessions/<id>.json (all sessions, or those named). "
            "They are not kept current per event; `chatlog watch --views` refreshes them."
        ),
    )
    views.add_argument(
        "session_ids", nargs="*", metavar="ID", help=f"only these sessions ({SESSION_ID_HELP})"
    )
    views.set_defaults(handler=run_views)

    fsck = sub.add_parser(
        "fsck",
        help="report damaged lines in the logs",
        description="Check every log and list damaged lines as FILE:LINE: kind: why (bad "
        "checksum, not an event, out of order, torn tail), and every entry under the home "
        "that chatlog does not use (symbolic links, FIFOs, devices, sockets not its own, a "
        "directory where a file belongs). Exit 1 while damage or such entries remain.",
    )
    fsck.add_argument(
        "--repair", action="store_true", help="move damaged lines to quarantine/, cut torn tails"
    )
    fsck.add_argument("--json", action="store_true", help=f"{JSON_HELP}: the report")
    fsck.set_defaults(handler=run_fsck)

    watch = sub.add_parser(
        "watch",
        help="keep projections current as logs change (Ctrl-C stops)",
        description="Keep the index, counters and search index current as any process "
        "writes, printing what it updated. Optional: readers catch up by themselves.",
    )
    watch.add_argument(
        "--views",
        nargs="?",
        type=float,
        const=2.0,
        metavar="SECONDS",
        help="also keep index.json and sessions/<id>.json current, rewriting a changed "
        "session's file at most every SECONDS (default 2)",
    )
    watch.set_defaults(handler=run_watch)

    cleanup = sub.add_parser(
        "cleanup",
        help="archive the least recently updated sessions beyond a limit",
        description="Keep the N most recently updated sessions and move the rest, compressed, "
        "to <home>/archive/ (with --store, to the stream) (`chatlog restore ID` brings one "
        "back). Only --purge deletes.",
    )
    cleanup.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help=f"sessions to keep (default {DEFAULT_MAX_SESSIONS})",
    )
    cleanup.add_argument("--purge", action="store_true", help="then delete every archive for real")
    cleanup.add_argument("--dry-run", action="store_true", help="only say what would happen")
    cleanup.add_argument("--json", action="store_true", help=f"{JSON_HELP}: the report")
    cleanup.set_defaults(handler=run_cleanup)

    restore = sub.add_parser(
        "restore",
        help="bring an archived session back",
        description="Bring a session that cleanup archived back among the live ones "
        "(refused if a live session has its id); --list shows the archive.",
    )
    restore.add_argument(
        "session_id", metavar="ID", nargs="?", help=f"the archived session: {SESSION_ID_HELP}"
    )
    restore.add_argument("--list", action="store_true", help="list archived sessions")
    restore.add_argument("--json", action="store_true", help="with --list: as JSON")
    restore.set_defaults(handler=run_restore)


# ---------------------------------------------------------------------- rebuild


def run_rebuild(args: argparse.Namespace, ctx: Context) -> int:
    with open_projections(ctx) as projections, progress_bar(ctx.stderr, "rebuilding") as bar:
        if args.verify:
            differences = projections.verify(bar)
            for difference in differences:
                ctx.out(terminal_safe(difference))
            if differences:
                ctx.err(f"{len(differences)} differences from a rebuild (`chatlog rebuild` fixes)")
                return 1
            ctx.err("projections match a rebuild from the logs")
            return 0
        report = projections.rebuild(bar)
        if args.views:
            projections.write_views()
    ctx.err(
        f"rebuilt {plural(report.sessions, 'session')} ({plural(report.events, 'event')}) "
        f"in {report.seconds:.1f} s"
    )
    _mention_issues(ctx, report.issues)
    return 0


def _mention_issues(ctx: Context, issues: list[LogIssue]) -> None:
    if issues:
        ctx.err(f"{plural(len(issues), 'damaged line')} skipped (see `chatlog fsck`)")


def run_views(args: argparse.Namespace, ctx: Context) -> int:
    with open_projections(ctx) as projections:
        wanted = [resolve_session(ctx.log, text) for text in args.session_ids] or None
        written = projections.write_views(wanted)
    ctx.err(f"wrote {plural(len(written), 'file')} under {ctx.home}")
    return 0


# ---------------------------------------------------------------------- fsck


def run_fsck(args: argparse.Namespace, ctx: Context) -> int:
    with open_projections(ctx) as projections, progress_bar(ctx.stderr, "checking") as bar:
        report = projections.fsck(repair=args.repair, progress=bar)
    if args.json:
        ctx.out(
            to_json(
                {
                    "sessions_checked": report.sessions_checked,
                    "damaged": report.damaged,
                    "foreign": report.foreign,
                    "repairs": report.repairs,
                    "stale_temps": report.stale_temps,
                    "unsafe": report.unsafe,
                    "clean": report.clean,
                }
            )
        )
    else:
        _print_fsck(report, ctx)
    return 0 if report.clean and not report.unsafe else 1


def _print_fsck(report: FsckReport, ctx: Context) -> None:
    for issue in report.damaged:
        ctx.out(terminal_safe(issue.describe()))  # details quote the damaged line
    for issue in report.foreign:
        ctx.out(terminal_safe(f"{issue.describe()} (kept: written by a newer chatlog)"))
    for repair in report.repairs:
        ctx.out(
            f"repaired {repair.session_id}: {plural(repair.lines, 'damaged line')} "
            f"({plural(repair.bytes, 'byte')}) "
            f"moved to {repair.quarantine}"
        )
    damaged = report.damaged
    for path in report.stale_temps:
        ctx.out(f"removed {terminal_safe(path)} (left half-written by a killed process)")
    for entry in report.unsafe:
        ctx.out(terminal_safe(f"unsafe: {entry.describe()}"))
    summary = f"checked {plural(report.sessions_checked, 'session')}: "
    if not damaged:
        summary += "no damage found"
    else:
        where = plural(len(report.damaged_sessions), "session")
        outcome = (
            "all moved to quarantine"
            if report.clean
            else "not repaired (run `chatlog fsck --repair` to move them to quarantine)"
        )
        summary += f"{plural(len(damaged), 'damaged line')} in {where}, {outcome}"
    if report.foreign:
        summary += f"; {plural(len(report.foreign), 'line')} from a newer chatlog kept"
    if report.unsafe:
        summary += (
            f"; {len(report.unsafe)} unsafe {'entry' if len(report.unsafe) == 1 else 'entries'} "
            "under the home "
            "(not used: remove or move them)"
        )
    ctx.out(summary)


# ---------------------------------------------------------------------- watch


def run_watch(args: argparse.Namespace, ctx: Context) -> int:
    from projections.watcher import follow  # watchfiles is loaded only to watch

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    # watchfiles reports Ctrl-C as a warning; for `watch` it is the normal way to stop.
    logging.getLogger("watchfiles.main").setLevel(logging.ERROR)

    def on_report(report: CatchUpReport) -> None:
        stamp = time.strftime("%H:%M:%S")
        if report.updated:
            ctx.out(f"{stamp} updated {' '.join(report.updated)}")
        if report.removed:
            ctx.out(f"{stamp} removed {' '.join(report.removed)}")
        ctx.stdout.flush()

    ctx.err(f"watching {ctx.home} (Ctrl-C stops)")
    try:
        with open_projections(ctx) as projections:
            follow(projections, stop, on_report, views_every=args.views)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


# ---------------------------------------------------------------------- cleanup / restore


def run_cleanup(args: argparse.Namespace, ctx: Context) -> int:
    if args.max_sessions < 0:
        ctx.err("chatlog: error: --max-sessions must be 0 or more")
        return 2
    with open_projections(ctx) as projections:
        report = projections.cleanup(args.max_sessions, dry_run=args.dry_run, purge=args.purge)
        archive_dir = projections.log.archive_location()
    if args.json:
        ctx.out(to_json(report))
        return 0
    verb = "would archive" if report.dry_run else "archived"
    for sid in report.archived:
        ctx.out(f"{verb} {sid}")
    for path in report.purged:
        ctx.out(f"{'would delete' if report.dry_run else 'deleted'} {path}")
    if report.archived and report.dry_run:
        ctx.err(
            f"would archive {plural(len(report.archived), 'session')} to {archive_dir} "
            f"and keep {report.kept}; nothing was changed (run it without --dry-run to do it)"
        )
    elif report.archived:
        ctx.err(
            f"archived {plural(len(report.archived), 'session')} to {archive_dir}, "
            f"kept {report.kept} (`chatlog restore ID` brings one back)"
        )
    else:
        ctx.err(f"nothing to archive: {plural(report.kept, 'session')}, limit {args.max_sessions}")
    return 0


def run_restore(args: argparse.Namespace, ctx: Context) -> int:
    with open_projections(ctx) as projections:
        if args.list or args.session_id is None:
            entries = projections.archived()
            if args.json:
                ctx.out(to_json(entries))
            elif not entries:
                ctx.err("no archived sessions")
            for entry in [] if args.json else entries:
                ctx.out(f"{entry.session_id}  {entry.size:>9} bytes  {entry.path}")
            return 0
        sid = resolve_archived(projections.log, args.session_id)
        meta = projections.restore(sid)
    details = f" ({plural(meta.message_count, 'message')})" if meta is not None else ""
    ctx.out(f"restored {sid}{details}")
    return 0
