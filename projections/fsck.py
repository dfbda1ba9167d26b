"""``chatlog fsck``: find damaged lines in the logs and, on request, move them aside.

Damage is what a reader skips: lines failing their checksum, lines that are not events,
lines out of seq order, and a torn tail (an interrupted last write). Lines that are intact
but from a newer chatlog (unknown type, newer schema version) are reported as *foreign*
and always kept: a newer version wrote them and will read them.

Repair works under the log's ``flock`` exactly as the writer appends, so no append is lost:
the damaged bytes are saved to ``quarantine/<id>.<time>.damaged`` with a JSON report of
where each came from (``.json`` next to it), then the log is rewritten without them (temp
file, fsync, ``os.replace``). The log gets a new inode, so every projection refolds it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

from eventlog import HomeLayout, LogIssue, StorageError, scan_bytes
from eventlog.atomic import write_atomic, write_exclusive
from eventlog.home import ensure_private_dir
from eventlog.scan import START
from projections.files import read_log

DAMAGE_KINDS: Final = frozenset({"checksum", "malformed", "out_of_order", "torn"})


class SessionCheck(msgspec.Struct, frozen=True):
    session_id: str
    damaged: list[LogIssue]  # torn tail included (kind "torn")
    foreign: list[LogIssue]  # intact lines a newer chatlog wrote


class Repair(msgspec.Struct, frozen=True):
    session_id: str
    lines: int
    bytes: int
    quarantine: str  # the file holding the removed bytes
    report: str  # its JSON description


class FsckReport(msgspec.Struct, frozen=True):
    sessions_checked: int
    findings: list[SessionCheck]  # sessions with damaged or foreign lines
    repairs: list[Repair]

    @property
    def damaged(self) -> list[LogIssue]:
        return [issue for check in self.findings for issue in check.damaged]

    @property
    def foreign(self) -> list[LogIssue]:
        return [issue for check in self.findings for issue in check.foreign]

    @property
    def damaged_sessions(self) -> list[str]:
        return [check.session_id for check in self.findings if check.damaged]

    @property
    def clean(self) -> bool:
        """No damage is left in the logs (none found, or all of it repaired)."""
        repaired = {repair.session_id for repair in self.repairs}
        return all(sid in repaired for sid in self.damaged_sessions)


class _QuarantineReport(msgspec.Struct, frozen=True):
    session_id: str
    source: str
    source_size: int
    repaired_at_ns: int
    lines: list[LogIssue]


def check_session(layout: HomeLayout, session_id: str) -> SessionCheck | None:
    read = read_log(layout, session_id, START)
    if read is None:
        return None
    return _classify(session_id, read.scan.issues, read.scan.torn)


def _classify(session_id: str, issues: list[LogIssue], torn: LogIssue | None) -> SessionCheck:
    damaged = [issue for issue in issues if issue.kind in DAMAGE_KINDS]
    foreign = [issue for issue in issues if issue.kind not in DAMAGE_KINDS]
    return SessionCheck(session_id, damaged + ([torn] if torn else []), foreign)


def repair_session(layout: HomeLayout, session_id: str) -> Repair | None:
    """Move the session's damaged lines to quarantine; None if it had none (any more)."""
    path = layout.log_path(session_id)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise StorageError(f"{path} was replaced during repair; run fsck again")
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        scan = scan_bytes(data, path=str(path))
        bad = _classify(session_id, scan.issues, scan.torn).damaged
        if not bad:
            return None
        repair = _quarantine(layout, session_id, path, data, bad)
        _rewrite_without(path, data, bad)
        return repair
    except OSError as exc:
        raise StorageError(f"cannot repair {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _quarantine(
    layout: HomeLayout, session_id: str, path: Path, data: bytes, bad: list[LogIssue]
) -> Repair:
    directory = ensure_private_dir(layout.quarantine_dir)
    stamp = time.time_ns()
    raw = b"".join(data[issue.offset : issue.offset + issue.length] for issue in bad)
    lines_file = directory / f"{session_id}.{stamp}.damaged"
    report_file = directory / f"{session_id}.{stamp}.json"
    write_exclusive(lines_file, raw)
    report = _QuarantineReport(session_id, str(path), len(data), stamp, bad)
    write_exclusive(report_file, msgspec.json.format(msgspec.json.encode(report), indent=2))
    return Repair(session_id, len(bad), len(raw), str(lines_file), str(report_file))


def _rewrite_without(path: Path, data: bytes, bad: list[LogIssue]) -> None:
    """Replace the log by its bytes minus the ``bad`` ranges (atomically, durably)."""
    kept = bytearray()
    pos = 0
    for issue in sorted(bad, key=lambda i: i.offset):
        kept += data[pos : issue.offset]
        pos = issue.offset + issue.length
    kept += data[pos:]
    write_atomic(path, bytes(kept))


def fsck(
    layout: HomeLayout,
    *,
    repair: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> FsckReport:
    """Check every log (and repair the damaged ones when asked)."""
    session_ids = layout.session_ids()
    findings: list[SessionCheck] = []
    repairs: list[Repair] = []
    for done, sid in enumerate(session_ids, 1):
        check = check_session(layout, sid)
        if check is not None and (check.damaged or check.foreign):
            findings.append(check)
            if repair and check.damaged:
                fixed = repair_session(layout, sid)
                if fixed is not None:
                    repairs.append(fixed)
        if progress is not None:
            progress(done, len(session_ids))
    return FsckReport(len(session_ids), findings, repairs)
