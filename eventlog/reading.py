"""Reading one session's log file: streamed from a position, the last N from the end, one
event at a locator, and a follower that outlives a delete.

Memory stays bounded by ``CHUNK`` whatever the log's size: a read takes complete lines a
chunk at a time (a line longer than a chunk widens that one read). No lock is taken: a
line being written is a torn tail to readers, and is read once it is complete.

Positions (see :class:`eventlog.store.SessionPosition`) carry, in their token, the scan
cursor (byte offset and line count) and the log's identity when it was read: inode, size,
mtime and a CRC of its first line. Equal identity means "unchanged" from one ``fstat``; a
new inode, a log shorter than the offset, or another first line (deleted and created again
under the same id: inode numbers are reused at once) means the position no longer applies.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import deque
from collections.abc import Iterator
from typing import Final, NamedTuple

from eventlog.codec import LineProblem, decode_line
from eventlog.events import AnyEvent, Message
from eventlog.safefile import open_regular, read_all
from eventlog.scan import LogEntry, LogIssue, Scan, scan_bytes
from eventlog.store import Follower, ReadBatch, SessionPosition, SessionRead

CHUNK: Final = 1 << 20  # bytes a streamed read takes at a time (about 1,000 lines of 1 KB)
FOLLOW_MIN_READ: Final = 64 << 10  # a follower's smallest read
FOLLOW_LINE_BYTES: Final = 2048  # a follower's guess of a line's size, to size its reads
HEAD_CHUNK: Final = 4096
NO_SIZE: Final = -1  # a size no file has: the position is never "unchanged"

logger = logging.getLogger("chatlog")


class FilePosition(NamedTuple):
    offset: int
    line: int
    seq: int
    ino: int
    size: int
    mtime_ns: int
    head: int

    def encode(self) -> SessionPosition:
        token = f"f1:{self.offset}:{self.line}:{self.ino}:{self.size}:{self.mtime_ns}:{self.head}"
        return SessionPosition(self.seq, token)

    @classmethod
    def decode(cls, position: SessionPosition | None) -> FilePosition | None:
        if position is None or not position.token.startswith("f1:"):
            return None
        try:
            offset, line, ino, size, mtime_ns, head = map(int, position.token[3:].split(":"))
        except ValueError:
            return None
        return cls(offset, line, position.seq, ino, size, mtime_ns, head)


def first_line_crc(fd: int, size: int, known: bytes = b"") -> int:
    """CRC32 of the log's first complete line (0 while it has none); ``known``: bytes the
    caller already read from the log's start (nothing more is read when they hold it)."""
    newline = known.find(b"\n")
    if newline >= 0:
        return zlib.crc32(known[: newline + 1])
    chunk = HEAD_CHUNK
    while True:
        data = os.pread(fd, min(chunk, size), 0)
        newline = data.find(b"\n")
        if newline >= 0:
            return zlib.crc32(data[: newline + 1])
        if len(data) >= size:
            return 0
        chunk *= 4


def read_from(
    path: str,
    position: SessionPosition | None,
    until: SessionPosition | None = None,
) -> SessionRead:
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return SessionRead("missing")
    try:
        st = os.fstat(fd)
        start = FilePosition.decode(position)
        stop_at = FilePosition.decode(until)
        size = st.st_size if stop_at is None else min(st.st_size, stop_at.offset)
        max_seq = None
        if stop_at is not None and stop_at.ino and stop_at.ino != st.st_ino:
            # The log was rewritten since (compacted, repaired): its byte offsets moved,
            # so the view ends at the seq ``until`` covered instead.
            size, max_seq = st.st_size, stop_at.seq
        if start is not None and (
            start.ino == st.st_ino and start.size == st.st_size and start.mtime_ns == st.st_mtime_ns
        ):
            os.close(fd)
            return SessionRead("unchanged")
        # A read from the start takes its first chunk now: the first line's CRC comes
        # from it, and the scan begins with it (one read of a small log, not two).
        first = read_all(fd, 0, min(size, CHUNK)) if start is None or start.offset == 0 else b""
        head = first_line_crc(fd, st.st_size, first)
        state = "grown"
        if start is not None and (
            start.ino != st.st_ino
            or start.offset > st.st_size
            or (start.head and start.head != head)
        ):
            start, state = None, "restarted"
            first = first or read_all(fd, 0, min(size, CHUNK))
        elif start is None and position is not None and position.token:
            state = "restarted"
        if start is not None and start.offset >= size:
            stamp = FilePosition(
                start.offset, start.line, start.seq, st.st_ino, st.st_size, st.st_mtime_ns, head
            )
            os.close(fd)
            return _unchanged_with(stamp)
    except BaseException:
        os.close(fd)
        raise
    identity = FilePosition(
        0,
        0,
        0,
        st.st_ino,
        st.st_size if stop_at is None else NO_SIZE,
        st.st_mtime_ns,
        head,
    )
    begin = start or FilePosition(0, 0, 0, 0, 0, 0, 0)
    holder = _Descriptor(fd)
    batches = _batches(holder, path, begin, size, identity, first if begin.offset == 0 else b"")
    if max_seq is not None:
        batches = _up_to_seq(batches, max_seq, identity)
    return SessionRead(state, batches, holder.close)  # type: ignore[arg-type]


def _up_to_seq(
    batches: Iterator[ReadBatch], max_seq: int, identity: FilePosition
) -> Iterator[ReadBatch]:
    """``batches`` ending after the event at ``max_seq``."""
    for batch in batches:
        if batch.position.seq <= max_seq:
            yield batch
            continue
        entries = [entry for entry in batch.entries if entry.event.seq <= max_seq]
        if entries:
            last = entries[-1]
            position = identity._replace(offset=last.end, line=last.line, seq=last.event.seq)
            issues = [issue for issue in batch.issues if issue.offset < last.end]
            yield ReadBatch(entries, issues, position.encode(), last.end - entries[0].offset)
        return


class _Descriptor:
    """A descriptor closed once, by whichever comes first: the end of the read, or the
    reader's ``close()`` (a read never iterated)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def _unchanged_with(stamp: FilePosition) -> SessionRead:
    """Nothing new, but the identity moved (e.g. a torn tail was cut): say so with an
    empty batch carrying the refreshed position."""
    return SessionRead("grown", iter([ReadBatch([], [], stamp.encode())]))


def scan_chunks(
    fd: int, path: str, offset: int, line: int, seq: int, size: int, first: bytes = b""
) -> Iterator[Scan]:
    """Scan bytes ``offset``..``size`` of a log a chunk of complete lines at a time; the
    last scan reaches ``size`` (its ``torn`` is the log's torn tail, if any). ``first``:
    bytes from ``offset`` on that the caller already read (used as the first chunk)."""
    pos = offset
    while pos < size:
        want = min(CHUNK, size - pos)
        data = first[:want] if first and pos == offset else read_all(fd, pos, pos + want)
        if not data:
            return
        cut = data.rfind(b"\n") + 1
        while cut == 0 and pos + len(data) < size:  # one line longer than a chunk
            want *= 2
            data = read_all(fd, pos, min(size, pos + want))
            cut = data.rfind(b"\n") + 1
        at_end = pos + len(data) >= size
        scan = scan_bytes(
            data if at_end else data[:cut],
            base_offset=pos,
            base_line=line,
            base_seq=seq,
            path=path,
            at_end=at_end,
        )
        yield scan
        if scan.good_end == pos or scan.torn is not None:
            return
        pos, line, seq = scan.good_end, scan.lines, scan.last_seq


def _batches(
    holder: _Descriptor,
    path: str,
    begin: FilePosition,
    size: int,
    identity: FilePosition,
    first: bytes,
) -> Iterator[ReadBatch]:
    """Scan ``begin.offset``..``size`` a chunk at a time (closes the descriptor when
    done)."""
    fd = holder.fd
    offset = begin.offset
    try:
        emitted = False
        for scan in scan_chunks(fd, path, offset, begin.line, begin.seq, size, first):
            emitted = True
            issues = scan.issues
            if scan.torn is not None and _newline_terminated(fd, scan.torn):
                # A whole line that fails its check at the end: damaged, not a write in
                # progress. Readers warn about it as about any other damaged line.
                issues = [*issues, scan.torn]
            yield ReadBatch(
                scan.entries,
                issues,
                identity._replace(
                    offset=scan.good_end, line=scan.lines, seq=scan.last_seq
                ).encode(),
                scan.good_end - offset,
            )
            offset = scan.good_end
        if not emitted:
            yield ReadBatch(
                [], [], identity._replace(offset=offset, line=begin.line, seq=begin.seq).encode()
            )
    finally:
        holder.close()


def _newline_terminated(fd: int, issue: LogIssue) -> bool:
    end = issue.offset + issue.length
    return end > 0 and os.pread(fd, 1, end - 1) == b"\n"


def read_last(path: str, n: int, *, messages_only: bool = False) -> list[LogEntry]:
    """The last ``n`` intact events (or messages) of the log, oldest first, reading
    backwards from the end a chunk at a time. Line numbers are not known (0)."""
    if n <= 0:
        return []
    fd = open_regular(path)
    try:
        stop = os.fstat(fd).st_size  # lines before this offset are still to be read
        found: deque[LogEntry] = deque()
        want = CHUNK
        first = True
        while stop > 0 and len(found) < n:
            start = max(0, stop - want)
            data = read_all(fd, start, stop)
            if first:  # bytes after the last newline are a write in progress
                data = data[: data.rfind(b"\n") + 1]
                if not data and start > 0:
                    want *= 2
                    continue
                stop = start + len(data)
                first = False
            if start > 0:
                newline = data.find(b"\n")
                if newline < 0 or newline == len(data) - 1:
                    want *= 2  # no whole line in this chunk: a line longer than it
                    continue
                begin = start + newline + 1
                data = data[newline + 1 :]
            else:
                begin = 0
            lines = data.split(b"\n")
            lines.pop()  # after the final newline: empty
            line_end = stop
            for raw in reversed(lines):
                line_start = line_end - len(raw) - 1
                decoded = decode_line(raw)
                if isinstance(decoded, LineProblem):
                    issue = LogIssue(
                        path, 0, line_start, len(raw) + 1, decoded.kind, decoded.detail
                    )
                    logger.warning("skipped damaged line %s", issue.describe())
                elif not messages_only or isinstance(decoded, Message):
                    found.appendleft(LogEntry(decoded, 0, line_start, line_end))
                    if len(found) >= n:
                        break
                line_end = line_start
            stop = begin
            want = CHUNK
        return list(found)
    finally:
        os.close(fd)


def read_at(path: str, locator: int) -> AnyEvent | None:
    """The event whose line starts at byte ``locator`` (None if that is not an event)."""
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    try:
        chunk = HEAD_CHUNK * 4
        while True:
            data = os.pread(fd, chunk, locator)
            newline = data.find(b"\n")
            if newline >= 0:
                decoded = decode_line(data[:newline])
                return None if isinstance(decoded, LineProblem) else decoded
            if len(data) < chunk:
                return None
            chunk *= 4
    finally:
        os.close(fd)


def first_event(path: str) -> AnyEvent | None:
    for batch in read_from(path, None).batches:
        if batch.entries:
            return batch.entries[0].event
    return None


class FileFollower(Follower):
    """Follows one log through a descriptor it keeps open, so the bytes of a deleted log
    are still read to their end before ``gone`` is reported."""

    def __init__(self, path: str, position: SessionPosition | None) -> None:
        self._path = path
        self._fd = open_regular(path)
        st = os.fstat(self._fd)
        self._ino = st.st_ino
        start = FilePosition.decode(position)
        # A position made from an entry (no inode: position_after) is taken as it is.
        if start is not None and (
            (start.ino and start.ino != st.st_ino) or start.offset > st.st_size
        ):
            start = None
        self._offset = start.offset if start else 0
        self._line = start.line if start else 0
        self._seq = start.seq if start else 0
        self._head = first_line_crc(self._fd, st.st_size)
        self._gone = False

    @property
    def position(self) -> SessionPosition:
        return FilePosition(
            self._offset, self._line, self._seq, self._ino, NO_SIZE, 0, self._head
        ).encode()

    @property
    def gone(self) -> bool:
        return self._gone

    def read(self, max_events: int = 1024) -> ReadBatch:
        """Up to ``max_events`` events: the read is sized by them (about
        ``FOLLOW_LINE_BYTES`` a line, more when lines are longer), and only the lines
        returned are decoded, so the position after the last one is exact."""
        if self._fd < 0:
            return ReadBatch([], [], self.position)
        replaced = self._replaced()  # looked at before reading: then the read sees all
        size = os.fstat(self._fd).st_size
        entries: list[LogEntry] = []
        issues: list[LogIssue] = []
        want = min(CHUNK, max(FOLLOW_MIN_READ, max_events * FOLLOW_LINE_BYTES))
        while self._offset < size and len(entries) < max_events:
            data = read_all(self._fd, self._offset, min(size, self._offset + want))
            cut = after_lines(data, max_events - len(entries))
            if cut == 0:
                if self._offset + len(data) >= size:
                    break  # a line still being written
                want *= 2
                continue
            scan = scan_bytes(
                data[:cut],
                base_offset=self._offset,
                base_line=self._line,
                base_seq=self._seq,
                path=self._path,
                at_end=self._offset + cut >= size,
            )
            entries += scan.entries
            issues += scan.issues
            self._offset, self._line, self._seq = scan.good_end, scan.lines, scan.last_seq
            if scan.torn is not None:
                break
        if replaced and self._offset >= _complete_end(self._fd, size) and not entries:
            self._gone = True
            self.close()
        return ReadBatch(entries, issues, self.position)

    def _replaced(self) -> bool:
        try:
            return os.stat(self._path).st_ino != self._ino
        except FileNotFoundError:
            return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def after_lines(data: bytes, n: int) -> int:
    """The offset just after the ``n``-th newline of ``data`` (after its last one when it
    holds fewer; 0 when it holds none)."""
    if n <= 0:
        return 0
    if data.count(b"\n") <= n:
        return data.rfind(b"\n") + 1
    end = 0
    for _ in range(n):
        end = data.index(b"\n", end) + 1
    return end


def _complete_end(fd: int, size: int) -> int:
    """Where the last complete line of the file ends (a torn tail is never completed
    once its log was deleted)."""
    if size == 0:
        return 0
    start = max(0, size - CHUNK)
    data = os.pread(fd, size - start, start)
    return start + data.rfind(b"\n") + 1
