"""``chatlog sync URL``: two-way copy between the local file home and a JetStream store.

For every session either side has: missing on one side, it is copied whole; shorter on
one side (its events a prefix of the other's), the missing events are appended; the same
on both, nothing happens; different on both sides (diverged), it is reported and left as
it is on both. So a second run copies nothing. Events are copied as they are (same seq,
timestamp and content, so the same bytes), each with the expected seq of the one before:
a session written to while it is being copied fails that one copy, never merges.

Deletes are carried over: a store keeps a tombstone of each session it deleted (its last
seq and a fingerprint of its last event), so a session live on one side only and deleted
on the other is deleted here too when it still ends with the event the delete saw (with
that expected seq, so an append made meanwhile is never lost); changed since, it is
reported as diverged and left as is. A second run then finds it on neither side. Only the
store interface is used on both sides; both sessions are streamed side by side, so
memory does not grow with their length.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from itertools import zip_longest
from typing import Literal, NamedTuple

from cli.context import Context, open_store
from eventlog import ChatlogError, EventLog, SeqConflictError
from eventlog.events import AnyEvent, SessionCreated
from eventlog.store import EventStore, Tombstone, event_fingerprint
from projections import Projections

Outcome = Literal["same", "copied", "deleted", "diverged", "failed"]
DIVERGED_EXIT = 4


class Result(NamedTuple):
    outcome: Outcome
    events: int = 0  # events copied
    detail: str = ""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sync = sub.add_parser(
        "sync",
        help="copy sessions both ways between this home and a NATS JetStream store",
        description=(
            "Copy sessions missing or shorter on one side to the other (both ways). A "
            "session changed on both sides is reported and left untouched (exit 4)."
        ),
    )
    sync.add_argument("url", metavar="URL", help="nats://host:port[,nats://...][?stream=NAME]")
    sync.add_argument(
        "--dry-run", action="store_true", help="say what would be copied, copy nothing"
    )
    sync.set_defaults(handler=run_sync)


def run_sync(args: argparse.Namespace, ctx: Context) -> int:
    # Sync copies events exactly as they are: nothing it writes is redacted again.
    remote = open_store(args.url, redact_secrets=False)
    try:
        with (
            EventLog(ctx.home, fsync=ctx.fsync, redact_secrets=False) as local,
            contextlib.ExitStack() as later,
        ):
            opened: dict[str, Projections] = {}

            def delete_here(sid: str, expected_seq: int) -> None:
                """A local delete goes through the projections, so it leaves no trace
                under the home (rows, views, REPL history), as `chatlog delete` does."""
                if "projections" not in opened:
                    opened["projections"] = later.enter_context(
                        Projections(local, layout=ctx.layout)
                    )
                opened["projections"].delete_session(sid, expected_seq=expected_seq)

            return _sync(local, remote, args.url, args.dry_run, ctx, delete_here)
    finally:
        remote.close()


def _sync(
    local: EventStore,
    remote: EventStore,
    url: str,
    dry_run: bool,
    ctx: Context,
    delete_here: Callable[[str, int], None] | None = None,
) -> int:
    ids = sorted(set(local.session_ids()) | set(remote.session_ids()))
    up = down = same = diverged = failed = deleted = 0
    for sid in ids:
        direction, result = sync_session(
            local, remote, sid, dry_run=dry_run, delete_here=delete_here
        )
        if result.outcome == "same":
            same += 1
        elif result.outcome == "copied":
            up += direction == "up"
            down += direction == "down"
            verb = "would copy" if dry_run else "copied"
            where = f"to {_short(url)}" if direction == "up" else "here"
            ctx.out(f"{verb} {sid} {where} ({result.events} events{result.detail})")
        elif result.outcome == "deleted":
            deleted += 1
            verb = "would delete" if dry_run else "deleted"
            where = f"at {_short(url)}" if direction == "up" else "here"
            ctx.out(f"{verb} {sid} {where} (deleted on the other side)")
        elif result.outcome == "diverged":
            diverged += 1
            ctx.err(f"chatlog: diverged: {sid} differs on both sides{result.detail}; left as is")
        else:
            failed += 1
            ctx.err(f"chatlog: error: {sid}: {result.detail}")
    summary = (
        f"{'would copy' if dry_run else 'copied'} {up} up, {down} down; "
        f"{same} already the same; {diverged} diverged"
        + (f"; {deleted} {'to delete' if dry_run else 'deleted'}" if deleted else "")
        + (f"; {failed} failed" if failed else "")
    )
    ctx.err(summary)
    if failed:
        return 5
    return DIVERGED_EXIT if diverged else 0


def _short(url: str) -> str:
    return url.split("?", 1)[0].split(",", 1)[0]


def sync_session(
    local: EventStore,
    remote: EventStore,
    sid: str,
    *,
    dry_run: bool = False,
    delete_here: Callable[[str, int], None] | None = None,
) -> tuple[str, Result]:
    """Bring one session to the same events on both stores, if one is a prefix of the
    other, or carry over a delete (``delete_here``: how to delete from ``local``;
    default its ``delete_session``). Returns ("up" | "down" | "", result)."""
    try:
        on_local, on_remote = local.exists(sid), remote.exists(sid)
        if on_local != on_remote:
            live, other = (local, remote) if on_local else (remote, local)
            tombstone = other.deletion(sid)
            if tombstone is not None:
                delete = _store_delete(live)
                if on_local and delete_here is not None:
                    delete = delete_here
                direction = "down" if on_local else "up"
                return direction, _carry_delete(live, sid, tombstone, dry_run, delete)
        here = local.read(sid) if on_local else iter(())
        there = remote.read(sid) if on_remote else iter(())
        for common, (mine, theirs) in enumerate(zip_longest(here, there)):
            if mine is None or theirs is None:
                source, first = (there, theirs) if mine is None else (here, mine)
                target = remote if theirs is None else local
                direction = "up" if theirs is None else "down"
                assert first is not None
                count = _copy(target, sid, _chain(first, source), common, dry_run)
                return direction, Result("copied", count)
            if mine != theirs:
                return "", Result("diverged", 0, f" from seq {common + 1}")
        return "", Result("same")
    except SeqConflictError:
        return "", Result("failed", 0, "written to while being copied; run sync again")
    except _CannotCopy as exc:
        return "", Result("failed", 0, str(exc))
    except ChatlogError as exc:
        return "", Result("failed", 0, str(exc))


def _store_delete(store: EventStore) -> Callable[[str, int], None]:
    return lambda sid, expected: store.delete_session(sid, expected_seq=expected)


def _carry_delete(
    store: EventStore,
    sid: str,
    tombstone: Tombstone,
    dry_run: bool,
    delete: Callable[[str, int], None],
) -> Result:
    """Delete ``sid`` from ``store`` as the other side did, if it is still what that
    delete removed (same last seq and last event); else report it."""
    last_seq = store.last_seq(sid)
    if last_seq != tombstone.last_seq or event_fingerprint(store.last_event(sid)) != (
        tombstone.last_event
    ):
        return Result(
            "diverged",
            0,
            f" (deleted on the other side at seq {tombstone.last_seq}, changed here since)",
        )
    if not dry_run:
        delete(sid, last_seq)
    return Result("deleted", last_seq)


def _chain(first: AnyEvent, rest: Iterator[AnyEvent]) -> Iterator[AnyEvent]:
    yield first
    yield from rest


class _CannotCopy(ChatlogError):
    pass


def _copy(
    target: EventStore, sid: str, events: Iterator[AnyEvent], have: int, dry_run: bool
) -> int:
    """Append ``events`` (which follow the ``have`` events both sides share) to
    ``target``, each one exactly as it is."""
    count = 0
    expected = have
    for event in events:
        if event.seq != expected + 1:
            raise _CannotCopy(
                f"cannot copy: seq {event.seq} follows seq {expected} "
                "(damaged or newer-version lines; see `chatlog fsck`)"
            )
        count += 1
        expected = event.seq
        if dry_run:
            continue
        if event.seq == 1:
            if not isinstance(event, SessionCreated):
                raise _CannotCopy("cannot copy: its first event is not session_created")
            target.create_session(
                event.title,
                event.tags,
                session_id=sid,
                ts=event.ts,
                metadata=event.metadata,
            )
            continue
        # The expected seq makes the store's next seq this event's own.
        target.append_event(sid, _exactly(event), expected_seq=event.seq - 1)
    return count


def _exactly(event: AnyEvent) -> Callable[[int, str], AnyEvent]:
    return lambda _seq, _now: event
