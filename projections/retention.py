"""Retention without silent loss: archive the least recently updated sessions beyond a
limit (the seed kept at most 1000 and deleted the rest), restore them, purge on request.

The log is the only truth, so a session is archived as its log, gzip-compressed and
byte-for-byte, at ``archive/<id>.jsonl.gz`` (0600); its projections then disappear in the
next catch-up. The log is read and unlinked under its ``flock`` (as the writer appends),
so an append racing with the archiving either made it into the archive or fails loudly
with "session not found". Restoring creates the log only if none exists (no clobbering)
and removes the archive only once the log is durable.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import zlib
from pathlib import Path
from typing import Final

import msgspec

from eventlog import (
    AmbiguousSessionIdError,
    HomeLayout,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    is_valid_session_id,
    validate_session_id,
)
from eventlog.atomic import fsync_dir, write_exclusive
from eventlog.home import ensure_private_dir
from projections.records import SessionMeta

ARCHIVE_SUFFIX: Final = ".jsonl.gz"
DEFAULT_MAX_SESSIONS: Final = 1000


class ArchivedSession(msgspec.Struct, frozen=True):
    session_id: str
    path: str
    size: int  # compressed bytes


class CleanupReport(msgspec.Struct, frozen=True):
    archived: list[str]  # session ids archived (or that would be, on a dry run)
    purged: list[str]  # archive files deleted (or that would be)
    kept: int  # sessions left in the index
    dry_run: bool


def archive_path(layout: HomeLayout, session_id: str) -> Path:
    return layout.archive_dir / f"{validate_session_id(session_id)}{ARCHIVE_SUFFIX}"


def archived(layout: HomeLayout) -> list[ArchivedSession]:
    """Every archived session, oldest id first."""
    try:
        names = sorted(os.listdir(layout.archive_dir))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        sid = name.removesuffix(ARCHIVE_SUFFIX)
        if name.endswith(ARCHIVE_SUFFIX) and is_valid_session_id(sid):
            path = layout.archive_dir / name
            with contextlib.suppress(FileNotFoundError):
                found.append(ArchivedSession(sid, str(path), path.stat().st_size))
    return found


def resolve_archived(layout: HomeLayout, id_or_prefix: str) -> str:
    """An archived session's id from its id, a unique prefix, or its 6-hex suffix."""
    text = id_or_prefix.strip()
    ids = [entry.session_id for entry in archived(layout)]
    if text in ids:
        return text
    matches = [sid for sid in ids if text and (sid.startswith(text) or sid.endswith("_" + text))]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SessionNotFoundError(f"no archived session matches {text!r}")
    raise AmbiguousSessionIdError(
        f"{text!r} matches {len(matches)} archived sessions: {', '.join(matches[:5])}"
    )


def sessions_beyond(metas: list[SessionMeta], max_sessions: int) -> list[str]:
    """The ids past the newest ``max_sessions`` (``metas`` newest updated first)."""
    return [meta.session_id for meta in metas[max(max_sessions, 0) :]]


def archive_session(layout: HomeLayout, session_id: str) -> Path:
    """Compress the session's log into the archive, then remove the log."""
    log_path = layout.log_path(session_id)
    target = archive_path(layout, session_id)
    ensure_private_dir(layout.archive_dir)
    try:
        fd = os.open(log_path, os.O_RDONLY)
    except FileNotFoundError:
        raise SessionNotFoundError(f"no session {session_id}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.stat(log_path).st_ino != os.fstat(fd).st_ino:
            raise StorageError(f"session {session_id} was replaced while archiving; try again")
        data = _read_all(fd)
        try:
            write_exclusive(target, gzip.compress(data, mtime=0))
        except FileExistsError:
            if _decompress(target) != data:
                raise SessionExistsError(
                    f"{target} already exists with other contents; restore or purge it first"
                ) from None
        log_path.unlink()
        fsync_dir(layout.events_dir)
    except OSError as exc:
        raise StorageError(f"cannot archive session {session_id}: {exc}") from exc
    finally:
        os.close(fd)
    return target


def restore_session(layout: HomeLayout, session_id: str) -> Path:
    """Bring an archived session's log back, byte-identical; the archive is removed."""
    source = archive_path(layout, session_id)
    try:
        data = _decompress(source)
    except FileNotFoundError:
        raise SessionNotFoundError(f"no archived session {session_id}") from None
    log_path = layout.log_path(session_id)
    try:
        write_exclusive(log_path, data)
    except FileExistsError:
        raise SessionExistsError(
            f"session {session_id} exists already; delete it before restoring the archive"
        ) from None
    except OSError as exc:
        raise StorageError(f"cannot restore session {session_id}: {exc}") from exc
    source.unlink()
    fsync_dir(layout.archive_dir)
    return log_path


def purge_archives(layout: HomeLayout, session_ids: list[str] | None = None) -> list[str]:
    """Delete archives for real (all of them, or those named); returns the deleted paths."""
    targets = (
        [archive_path(layout, sid) for sid in session_ids]
        if session_ids is not None
        else [Path(entry.path) for entry in archived(layout)]
    )
    deleted = []
    for path in targets:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            deleted.append(str(path))
    if deleted:
        fsync_dir(layout.archive_dir)
    return deleted


def remove_traces(layout: HomeLayout, session_id: str) -> bool:
    """Remove a session's archive and quarantined lines; True if there were any."""
    found = bool(purge_archives(layout, [session_id]))
    try:
        names = os.listdir(layout.quarantine_dir)
    except FileNotFoundError:
        return found
    for name in names:
        if name.startswith(f"{session_id}."):
            (layout.quarantine_dir / name).unlink(missing_ok=True)
            found = True
    return found


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _decompress(path: Path) -> bytes:
    try:
        return gzip.decompress(path.read_bytes())
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise StorageError(f"archive {path} is damaged: {exc}") from exc
