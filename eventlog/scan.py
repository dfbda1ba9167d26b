"""Reading a log's bytes into events, with every problem named and nothing raised.

A scan walks newline-terminated lines from a byte offset. Intact lines become entries;
damaged or not-understood lines become :class:`LogIssue` records (file, line number,
offset, why) and are skipped. The *tail* gets special treatment (DESIGN §4): bytes after
the last newline, or a last line whose checksum fails, are a torn write from a crash —
readers ignore them and the next writer truncates them away under the lock.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from eventlog.codec import LineProblem, decode_line
from eventlog.events import AnyEvent

TORN_KINDS = frozenset({"checksum", "malformed"})


class LogEntry(NamedTuple):
    event: AnyEvent
    line: int  # 1-based line number in the file
    offset: int  # byte offset of the line's first byte
    end: int  # byte offset just past the line's newline


class LogIssue(msgspec.Struct, frozen=True):
    """A line that was not used. ``kind``: checksum, malformed, unknown_type,
    newer_version, out_of_order, or torn (the incomplete tail)."""

    path: str
    line: int
    offset: int
    length: int
    kind: str
    detail: str
    seq: int | None = None

    def describe(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.detail}"


class Cursor(NamedTuple):
    """Where a reader stopped in a log: resume a scan here to see only newer events."""

    offset: int = 0  # byte offset of the next unread line
    line: int = 0  # complete lines before ``offset``
    seq: int = 0  # last seq before ``offset``


START = Cursor()


class Scan(NamedTuple):
    entries: list[LogEntry]
    issues: list[LogIssue]  # damaged / skipped lines before the tail
    torn: LogIssue | None  # the torn tail, if any
    good_end: int  # offset where the next append goes (torn tail excluded)
    lines: int  # complete lines consumed up to good_end (for resuming line numbers)
    last_seq: int  # highest seq seen in an intact line (0 when none)

    @property
    def cursor(self) -> Cursor:
        """Where the next incremental scan should start (the torn tail is re-read later)."""
        return Cursor(self.good_end, self.lines, self.last_seq)


def scan_bytes(
    data: bytes,
    *,
    base_offset: int = 0,
    base_line: int = 0,
    base_seq: int = 0,
    path: str = "",
) -> Scan:
    """Scan ``data``, the bytes of a log starting at file offset ``base_offset``.

    ``base_line`` and ``base_seq`` are the line count and last seq before that offset,
    so an incremental scan reports the same line numbers and order checks as a full one.
    """
    view = memoryview(data)
    entries: list[LogEntry] = []
    issues: list[LogIssue] = []
    torn: LogIssue | None = None
    last_seq = base_seq
    line_no = base_line
    pos = 0
    size = len(data)
    good_end = 0
    find = data.find
    while pos < size:
        nl = find(b"\n", pos)
        if nl < 0:
            torn = LogIssue(
                path,
                line_no + 1,
                base_offset + pos,
                size - pos,
                "torn",
                "incomplete last line (no newline): an interrupted write",
            )
            break
        line_no += 1
        decoded = decode_line(view[pos:nl])
        if isinstance(decoded, LineProblem):
            issue = LogIssue(
                path,
                line_no,
                base_offset + pos,
                nl + 1 - pos,
                decoded.kind,
                decoded.detail,
                decoded.seq,
            )
            if decoded.kind in TORN_KINDS and nl + 1 == size:
                torn = msgspec.structs.replace(
                    issue, kind="torn", detail=f"last line unusable ({decoded.detail})"
                )
                line_no -= 1
                break
            issues.append(issue)
            if decoded.seq is not None and decoded.seq > last_seq:
                last_seq = decoded.seq
        elif decoded.seq <= last_seq:
            issues.append(
                LogIssue(
                    path,
                    line_no,
                    base_offset + pos,
                    nl + 1 - pos,
                    "out_of_order",
                    f"seq {decoded.seq} does not follow seq {last_seq}",
                    decoded.seq,
                )
            )
        else:
            last_seq = decoded.seq
            entries.append(LogEntry(decoded, line_no, base_offset + pos, base_offset + nl + 1))
        pos = nl + 1
        good_end = pos
    return Scan(entries, issues, torn, base_offset + good_end, line_no, last_seq)
