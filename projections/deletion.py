"""Deleting a session so that nothing of it is left, even when interrupted.

The intent is recorded first (``<home>/deleting/<id>``, an empty file made durable),
then the store removes the session's events, then every trace under the home goes:
archived and quarantined copies, temp files, the projection rows and search entries (and,
with SQLite's ``secure_delete``, an FTS ``optimize`` and a truncated write-ahead log, no
freed page holds its text). The intent is removed last. A delete killed at any point is
finished by the next ``chatlog delete`` of the same id, or by the next writer of the
projections (:func:`finish_pending`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from eventlog import EventStore, SeqConflictError, SessionNotFoundError, is_valid_session_id
from eventlog.atomic import fsync_dir, write_atomic
from eventlog.home import FILE_MODE, HomeLayout, ensure_private_dir
from eventlog.safefile import open_regular, private_dir_names
from eventlog.upkeep import remove_traces
from projections.db import ProjectionDB


def pending(layout: HomeLayout) -> list[str]:
    """Ids of deletes that were started and not finished."""
    names = private_dir_names(layout.deleting_dir)
    return sorted(name for name in names if is_valid_session_id(name))


def delete(
    store: EventStore, layout: HomeLayout, session_id: str, expected_seq: int | None = None
) -> bool:
    """Record the intent, remove the events and every file trace; True if anything of
    the session was found (including an earlier delete's intent). With ``expected_seq``
    the session is deleted only at that last seq (else SeqConflictError, nothing done)."""
    directory = ensure_private_dir(layout.deleting_dir)
    intent = directory / session_id
    found = intent.exists()
    fd = os.open(intent, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    os.close(fd)
    fsync_dir(directory)
    try:
        store.delete_session(session_id, expected_seq=expected_seq)
        found = True
    except SessionNotFoundError:
        pass
    except SeqConflictError:
        if not found:
            intent.unlink(missing_ok=True)  # not deleted: no delete to finish later
        raise
    for aside in layout.root.glob(".verify-*.sqlite3*"):
        aside.unlink(missing_ok=True)  # left by a killed `rebuild --verify`
    found = scrub_history(layout.history_file, session_id) or found
    # An archive is the store's (files under the home, or a JetStream subject): a session
    # that is only archived is deleted from there too, whatever the store.
    found = bool(store.purge_archives([session_id])) or found
    return remove_traces(layout, session_id) or found


def scrub_history(path: Path, session_id: str) -> bool:
    """Remove the REPL input history's entries typed in ``session_id`` (their comment line
    names it); True if there were any. The file is rewritten aside and swapped in."""
    marker = f" session={session_id}".encode()
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return False
    with os.fdopen(fd, "rb") as source:
        if not any(line.rstrip(b"\n").endswith(marker) for line in source):
            return False
        source.seek(0)
        write_atomic(path, _entries_without(source, marker))
    return True


def _entries_without(lines: Iterable[bytes], marker: bytes) -> Iterator[bytes]:
    dropping = False
    for line in lines:
        if line.startswith(b"#"):
            dropping = line.rstrip(b"\n").endswith(marker)
        elif not line.startswith(b"+"):
            dropping = False
        if not dropping:
            yield line


def finish(layout: HomeLayout, session_id: str, db: ProjectionDB) -> None:
    """After the projections caught up (the session's rows are gone): scrub the search
    index's freed pages and write-ahead log, then drop the intent."""
    db.scrub()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(layout.deleting_dir / session_id)


def finish_pending(store: EventStore, layout: HomeLayout, db: ProjectionDB) -> list[str]:
    """Finish every interrupted delete (the events first, then the traces)."""
    done = pending(layout)
    for session_id in done:
        delete(store, layout, session_id)
    return done
