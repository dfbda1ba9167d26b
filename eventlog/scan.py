"""Reading a log's bytes into events, with every problem named and nothing raised.

A scan walks newline-terminated lines from a byte offset. Intact lines become entries;
damaged or not-understood lines become :class:`LogIssue` records (file, line number,
offset, why) and are skipped. The *tail* gets special treatment (DESIGN §4): bytes after
the last newline, or a last line whose checksum fails, are a torn write from a crash —
readers ignore them and the next writer truncates them away under the lock.

Speed: lines are taken in batches, and a batch in which every line is intact (checksum,
decode, schema version, seq order) is verified and decoded with C-level loops only
(``map`` over ``zlib.crc32`` and the typed decoder, ``accumulate`` for offsets): no
Python bytecode runs per line. The first anomaly anywhere in a batch sends that whole
batch through the line-by-line path (:func:`decode_line`), which names every problem, so
what a scan reports never depends on which path read it.
"""

from __future__ import annotations

import operator
import os
import zlib
from collections.abc import Iterator
from functools import partial
from itertools import accumulate, repeat
from typing import Final, NamedTuple, cast

import msgspec

from eventlog.codec import (
    CRC_PREFIX,
    CRC_SUFFIX,
    CRC_TRAILER_LEN,
    LineProblem,
    decode_line,
    decode_unchecked,
)
from eventlog.events import SCHEMA_VERSION, AnyEvent

TORN_KINDS = frozenset({"checksum", "malformed"})
BATCH_LINES: Final = 1024
TAIL_CHUNK: Final = 64 * 1024  # how much of a log a writer reads to find its last seq


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


# --------------------------------------------------------------------------- fast path

_TRAILER_FORMAT: Final = CRC_PREFIX + b"%08x" + CRC_SUFFIX
_CRC_BODY: Final = slice(None, -CRC_TRAILER_LEN)
_CRC_TRAILER: Final = slice(-CRC_TRAILER_LEN, None)
_get_seq = operator.attrgetter("seq")
_get_v = operator.attrgetter("v")
_new_entry = partial(tuple.__new__, LogEntry)


def _checksums_ok(lines: list[bytes]) -> bool:
    """Every line ends with the exact trailer its bytes call for (what ``checksum_ok``
    checks, except that a line of exactly the trailer's length is let through here; it
    can never decode, so the caller's decode step still rejects it)."""
    bodies = cast("Iterator[bytes]", map(operator.getitem, lines, repeat(_CRC_BODY)))
    expected = map(_TRAILER_FORMAT.__mod__, map(zlib.crc32, bodies))
    stored = map(operator.getitem, lines, repeat(_CRC_TRAILER))
    return all(map(operator.eq, expected, stored))


def _fast_batch(
    lines: list[bytes], offset: int, line_no: int, last_seq: int
) -> list[LogEntry] | None:
    """Entries for a batch of complete lines starting at ``offset``, when every line is
    intact and in order; None when anything is off (the caller goes line by line)."""
    if not _checksums_ok(lines):
        return None
    try:
        events = list(map(decode_unchecked, lines))
    except msgspec.DecodeError:
        return None
    seqs = list(map(_get_seq, events))
    if seqs[0] <= last_seq or max(map(_get_v, events)) > SCHEMA_VERSION:
        return None
    if not all(map(operator.lt, seqs, seqs[1:])):
        return None
    bounds = list(accumulate(map(operator.add, map(len, lines), repeat(1)), initial=offset))
    return list(
        map(
            _new_entry,
            zip(
                events,
                range(line_no + 1, line_no + 1 + len(lines)),
                bounds[:-1],
                bounds[1:],
                strict=True,
            ),
        )
    )


# --------------------------------------------------------------------------- scanning


def scan_bytes(
    data: bytes,
    *,
    base_offset: int = 0,
    base_line: int = 0,
    base_seq: int = 0,
    path: str = "",
    at_end: bool = True,
) -> Scan:
    """Scan ``data``, the bytes of a log starting at file offset ``base_offset``.

    ``base_line`` and ``base_seq`` are the line count and last seq before that offset,
    so an incremental scan reports the same line numbers and order checks as a full one.
    ``at_end``: ``data`` reaches the end of the log, so a damaged last line is its torn
    tail; otherwise (a chunk of a longer read) it is an ordinary damaged line.
    """
    size = len(data)
    complete = data.rfind(b"\n") + 1  # bytes in complete (newline-terminated) lines
    lines = (data if complete == size else data[:complete]).split(b"\n")
    lines.pop()  # what follows the last newline: b"" or the incomplete tail
    entries: list[LogEntry] = []
    issues: list[LogIssue] = []
    torn: LogIssue | None = None
    last_seq = base_seq
    line_no = base_line
    pos = 0  # offset in ``data`` of the next unread line
    for start in range(0, len(lines), BATCH_LINES):
        batch = lines[start : start + BATCH_LINES]
        batch_bytes = sum(map(len, batch)) + len(batch)
        fast = _fast_batch(batch, base_offset + pos, line_no, last_seq)
        if fast is not None:
            entries += fast
            line_no += len(batch)
            last_seq = fast[-1].event.seq
            pos += batch_bytes
            continue
        pos, line_no, last_seq, torn = _scan_lines(
            data,
            pos,
            pos + batch_bytes,
            base_offset,
            line_no,
            last_seq,
            path,
            entries,
            issues,
            at_end,
        )
        if torn is not None:
            break
    good_end = pos
    if torn is None and complete < size:
        torn = LogIssue(
            path,
            line_no + 1,
            base_offset + complete,
            size - complete,
            "torn",
            "incomplete last line (no newline): an interrupted write",
        )
    return Scan(entries, issues, torn, base_offset + good_end, line_no, last_seq)


def _scan_lines(
    data: bytes,
    pos: int,
    stop: int,
    base_offset: int,
    line_no: int,
    last_seq: int,
    path: str,
    entries: list[LogEntry],
    issues: list[LogIssue],
    at_end: bool = True,
) -> tuple[int, int, int, LogIssue | None]:
    """Line by line from ``pos`` to ``stop`` (both line starts), naming every problem.

    Returns (position reached, line count, last seq, torn tail or None)."""
    view = memoryview(data)
    size = len(data)
    find = data.find
    while pos < stop:
        nl = find(b"\n", pos)
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
            if at_end and decoded.kind in TORN_KINDS and nl + 1 == size:
                torn = msgspec.structs.replace(
                    issue, kind="torn", detail=f"last line unusable ({decoded.detail})"
                )
                return pos, line_no - 1, last_seq, torn
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
    return pos, line_no, last_seq, None


def read_tail_state(
    fd: int, size: int, known: int | None, path: str, known_seq: int = 0
) -> tuple[int, int, LogIssue | None]:
    """(good end, last seq, torn tail) of a log of ``size`` bytes, reading only its tail.

    ``known`` is an offset already verified to be a line boundary (with ``known_seq`` the
    last seq before it); without it, reading starts inside the last ``TAIL_CHUNK`` bytes
    and widens until an intact line is found or the file's start is reached.
    """
    chunk = TAIL_CHUNK
    while True:
        if known is not None and size - known <= chunk:
            start, base_seq, aligned = known, known_seq, True
        else:
            start, base_seq = max(0, size - chunk), 0
            aligned = start == 0
        data = os.pread(fd, size - start, start)
        if not aligned:
            first_nl = data.find(b"\n")
            if first_nl < 0:
                chunk *= 2
                continue
            data = data[first_nl + 1 :]
            start += first_nl + 1
        result = scan_bytes(data, base_offset=start, base_seq=base_seq, path=path)
        if result.last_seq or aligned:
            return result.good_end, result.last_seq, result.torn
        chunk *= 2
