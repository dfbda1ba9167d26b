"""Upkeep of the file store's logs: fsck (find damaged lines, quarantine them), archive
and restore. Every operation that changes a log runs under the log's ``flock`` (the
caller, :meth:`eventlog.log.EventLog._exclusive`, holds it), exactly as appends do, so no
append is lost; all of them stream, so memory stays bounded whatever the log's size.

Damage is what a reader skips: lines failing their checksum, lines that are not events,
lines out of seq order, and a torn tail. Intact lines from a newer chatlog (unknown type,
newer schema version) are *foreign* and always kept.

Repair saves the damaged bytes to ``quarantine/<id>.<time>.damaged`` with a JSON report of
where each came from (``.json`` beside it), then replaces the log by a copy without them
(temp file, fsync, ``os.replace``): a new inode, so every reader's position restarts.

Archive keeps a session as its log, gzip-compressed and byte-for-byte, at
``archive/<id>.jsonl.gz``; restore creates the log only if none exists and removes the
archive only once the log is durable.

Compact rewrites the lines of redacted messages without their text (seq, time and role
kept, checksums valid) the way repair removes damaged lines: under the lock, streamed, a
copy renamed over the log. Archives and quarantined lines lose the text too.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import msgspec

from eventlog.atomic import fsync_dir, temp_name, write_atomic, write_exclusive
from eventlog.codec import encode_line
from eventlog.errors import (
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
)
from eventlog.events import MessageRedacted
from eventlog.home import HomeLayout, ensure_private_dir
from eventlog.ids import is_valid_session_id, validate_session_id
from eventlog.reading import CHUNK, scan_chunks
from eventlog.redaction import compacted_version, is_redacted_message_line, note_redaction
from eventlog.safefile import open_regular, private_dir_names, read_all
from eventlog.scan import LogEntry, LogIssue
from eventlog.store import ArchivedSession, DamageReport, Repair

DAMAGE_KINDS: Final = frozenset({"checksum", "malformed", "out_of_order", "torn"})
ARCHIVE_SUFFIX: Final = ".jsonl.gz"


class _QuarantineReport(msgspec.Struct, frozen=True):
    session_id: str
    source: str
    source_size: int
    repaired_at_ns: int
    lines: list[LogIssue]


def _issues(fd: int, path: str) -> tuple[list[LogIssue], list[LogIssue]]:
    """(damaged, foreign) lines of the whole log, torn tail included."""
    damaged: list[LogIssue] = []
    foreign: list[LogIssue] = []
    for scan in scan_chunks(fd, path, 0, 0, 0, os.fstat(fd).st_size):
        for issue in scan.issues:
            (damaged if issue.kind in DAMAGE_KINDS else foreign).append(issue)
        if scan.torn is not None:
            damaged.append(scan.torn)
    return damaged, foreign


def check(layout: HomeLayout, session_id: str) -> DamageReport | None:
    path = layout.log_path(session_id)
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    try:
        damaged, foreign = _issues(fd, str(path))
    finally:
        os.close(fd)
    return DamageReport(session_id, damaged, foreign)


def repair(layout: HomeLayout, session_id: str, fd: int) -> Repair | None:
    path = layout.log_path(session_id)
    size = os.fstat(fd).st_size
    bad, _foreign = _issues(fd, str(path))
    if not bad:
        return None
    bad.sort(key=lambda issue: issue.offset)
    directory = ensure_private_dir(layout.quarantine_dir)
    stamp = time.time_ns()
    lines_file = directory / f"{session_id}.{stamp}.damaged"
    report_file = directory / f"{session_id}.{stamp}.json"
    write_exclusive(lines_file, (read_all(fd, i.offset, i.offset + i.length) for i in bad))
    report = _QuarantineReport(session_id, str(path), size, stamp, bad)
    write_exclusive(report_file, msgspec.json.format(msgspec.json.encode(report), indent=2))
    write_atomic(path, _ranges(fd, _kept_ranges(bad, size)))
    return Repair(
        session_id,
        len(bad),
        sum(issue.length for issue in bad),
        str(lines_file),
        str(report_file),
    )


def _kept_ranges(bad: list[LogIssue], size: int) -> Iterator[tuple[int, int]]:
    pos = 0
    for issue in bad:
        if issue.offset > pos:
            yield pos, issue.offset
        pos = issue.offset + issue.length
    if pos < size:
        yield pos, size


def _ranges(fd: int, ranges: Iterator[tuple[int, int]]) -> Iterator[bytes]:
    for start, stop in ranges:
        for pos in range(start, stop, CHUNK):
            yield read_all(fd, pos, min(stop, pos + CHUNK))


# ---------------------------------------------------------------------- archive


def archive_path(layout: HomeLayout, session_id: str) -> Path:
    return layout.archive_dir / f"{validate_session_id(session_id)}{ARCHIVE_SUFFIX}"


def archived(layout: HomeLayout) -> list[ArchivedSession]:
    found = []
    for name in sorted(private_dir_names(layout.archive_dir)):
        sid = name.removesuffix(ARCHIVE_SUFFIX)
        if name.endswith(ARCHIVE_SUFFIX) and is_valid_session_id(sid):
            path = layout.archive_dir / name
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode):
                    found.append(ArchivedSession(sid, str(path), st.st_size))
    return found


def archive(layout: HomeLayout, session_id: str, fd: int) -> ArchivedSession:
    """Compress the log (open as ``fd``, locked) into the archive, then remove the log."""
    log_path = layout.log_path(session_id)
    target = archive_path(layout, session_id)
    ensure_private_dir(layout.archive_dir)
    size = os.fstat(fd).st_size
    try:
        write_exclusive(target, _compressed(fd, size))
    except FileExistsError:
        if not _same_content(target, fd, size):
            raise SessionExistsError(
                f"{target} already exists with other contents; restore or purge it first"
            ) from None
    log_path.unlink()
    fsync_dir(layout.events_dir)
    return ArchivedSession(session_id, str(target), os.stat(target).st_size)


def _compressed(fd: int, size: int) -> Iterator[bytes]:
    return _gzipped(_ranges(fd, iter([(0, size)])))


def _gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    for chunk in chunks:
        yield compressor.compress(chunk)
    yield compressor.flush()


def _decompressed(path: Path) -> Iterator[bytes]:
    fd = open_regular(path)
    try:
        with gzip.GzipFile(fileobj=os.fdopen(fd, "rb", closefd=False), mode="rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise StorageError(f"archive {path} is damaged: {exc}") from exc
    finally:
        os.close(fd)


def _same_content(archive_file: Path, fd: int, size: int) -> bool:
    pos = 0
    for chunk in _decompressed(archive_file):
        if read_all(fd, pos, pos + len(chunk)) != chunk:
            return False
        pos += len(chunk)
    return pos == size


def restore(layout: HomeLayout, session_id: str) -> None:
    source = archive_path(layout, session_id)
    if not os.path.lexists(source):
        raise SessionNotFoundError(f"no archived session {session_id}")
    log_path = layout.log_path(session_id)
    if os.path.lexists(log_path):
        raise SessionExistsError(
            f"session {session_id} exists already; delete it before restoring the archive"
        )
    try:
        write_exclusive(log_path, _decompressed(source))
    except FileExistsError:
        raise SessionExistsError(
            f"session {session_id} exists already; delete it before restoring the archive"
        ) from None
    except OSError as exc:
        temp_name(log_path).unlink(missing_ok=True)
        raise StorageError(f"cannot restore session {session_id}: {exc}") from exc
    source.unlink()
    fsync_dir(layout.archive_dir)


def purge_archives(layout: HomeLayout, session_ids: Sequence[str] | None = None) -> list[str]:
    wanted = None if session_ids is None else {validate_session_id(s) for s in session_ids}
    targets = [  # from the listing, so never through a symlinked archive/
        Path(entry.path)
        for entry in archived(layout)
        if wanted is None or entry.session_id in wanted
    ]
    deleted = []
    for path in targets:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            deleted.append(str(path))
    if deleted:
        fsync_dir(layout.archive_dir)
    return deleted


def remove_traces(layout: HomeLayout, session_id: str) -> bool:
    """Remove the session's archive, quarantined lines and temp files; True if any."""
    found = bool(purge_archives(layout, [session_id]))
    for directory in (layout.quarantine_dir, layout.events_dir, layout.archive_dir):
        for name in private_dir_names(directory):
            if name.startswith((f"{session_id}.", f".{session_id}.")) and not name.endswith(
                (".jsonl", ARCHIVE_SUFFIX)
            ):
                (directory / name).unlink(missing_ok=True)
                found = True
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(layout: HomeLayout) -> list[str]:
    """Remove the hidden temp files (``.<name>.<pid>.<...>.tmp`` / ``.creating``) that
    processes which no longer run left behind when they were killed; returns their paths.
    A file of a process still running is left alone: it may be writing it now."""
    removed = []
    for directory in (layout.events_dir, layout.archive_dir, layout.quarantine_dir, layout.root):
        try:  # the home itself may be a symlink (a dotfiles setup); its directories not
            names = os.listdir(directory) if directory == layout.root else None
        except FileNotFoundError:
            continue
        for name in private_dir_names(directory) if names is None else names:
            if not name.startswith(".") or not name.endswith((".tmp", ".creating")):
                continue
            parts = name.split(".")
            pids = [int(part) for part in parts if part.isdigit() and len(part) < 8]
            if not pids or _pid_alive(pids[0]):
                continue
            path = directory / name
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(str(path))
    return removed


# ---------------------------------------------------------------------- compact

_QUARANTINE_SUFFIXES: Final = (".damaged", ".torn")
_REMOVED: Final = b'{"removed":"a redacted message line"}\n'


def _redactions(fd: int, path: str, size: int) -> dict[int, MessageRedacted]:
    """Redaction events of the log, by the seq they redact (the first one counts)."""
    found: dict[int, MessageRedacted] = {}
    for scan in scan_chunks(fd, path, 0, 0, 0, size):
        for entry in scan.entries:
            note_redaction(found, entry.event)
    return found


def _rewrites(
    fd: int, path: str, size: int, redactions: dict[int, MessageRedacted]
) -> Iterator[tuple[LogEntry, bytes]]:
    """Each message line still holding redacted text, with the line that replaces it."""
    for scan in scan_chunks(fd, path, 0, 0, 0, size):
        for entry in scan.entries:
            replaced = compacted_version(entry.event, redactions)
            if replaced is not None:
                yield entry, encode_line(replaced)


def _compacted(
    fd: int, path: str, size: int, redactions: dict[int, MessageRedacted]
) -> Iterator[bytes]:
    """The log with every redacted line replaced; every other byte as it was (damaged
    and foreign lines, a torn tail)."""
    pos = 0
    for entry, line in _rewrites(fd, path, size, redactions):
        yield from _ranges(fd, iter([(pos, entry.offset)]))
        yield line
        pos = entry.end
    yield from _ranges(fd, iter([(pos, size)]))


def compact_log(layout: HomeLayout, session_id: str, fd: int) -> tuple[int, set[int]]:
    """Rewrite the log (open as ``fd``, locked) without its redacted text: a copy is
    written aside, fsynced and renamed over the log, so a crash leaves the old log or the
    new one. Returns how many lines were rewritten, and every redacted seq."""
    path = layout.log_path(session_id)
    size = os.fstat(fd).st_size
    redactions = _redactions(fd, str(path), size)
    if not redactions:
        return 0, set()
    count = sum(1 for _ in _rewrites(fd, str(path), size, redactions))
    if count:
        write_atomic(path, _compacted(fd, str(path), size, redactions))
    return count, set(redactions)


def compact_archive(layout: HomeLayout, session_id: str) -> tuple[int, set[int]]:
    """:func:`compact_log` for the session's archive (decompressed aside, rewritten,
    compressed again, renamed over the archive)."""
    source = archive_path(layout, session_id)
    if not os.path.lexists(source):
        return 0, set()
    plain = layout.archive_dir / f".{session_id}.compacting"
    plain.unlink(missing_ok=True)
    write_exclusive(plain, _decompressed(source))
    try:
        fd = open_regular(plain)
        try:
            size = os.fstat(fd).st_size
            redactions = _redactions(fd, str(plain), size)
            count = sum(1 for _ in _rewrites(fd, str(plain), size, redactions))
            if count:
                write_atomic(source, _gzipped(_compacted(fd, str(plain), size, redactions)))
        finally:
            os.close(fd)
    finally:
        plain.unlink(missing_ok=True)
    return count, set(redactions)


def compact_quarantine(layout: HomeLayout, session_id: str, seqs: set[int]) -> int:
    """Remove the session's quarantined lines that were (or began) messages at ``seqs``;
    returns how many. Files are rewritten aside and renamed, a line at a time."""
    validate_session_id(session_id)
    removed = 0
    for name in sorted(private_dir_names(layout.quarantine_dir)):
        if not (name.startswith(f"{session_id}.") and name.endswith(_QUARANTINE_SUFFIXES)):
            continue
        path = layout.quarantine_dir / name
        count = sum(1 for line in _lines(path) if is_redacted_message_line(line, seqs))
        if count:
            kept = (
                _REMOVED if is_redacted_message_line(line, seqs) else line for line in _lines(path)
            )
            write_atomic(path, kept)
            removed += count
    return removed


def _lines(path: Path) -> Iterator[bytes]:
    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb", closefd=False) as file:
            yield from file
    finally:
        os.close(fd)
