"""The batched read path reports exactly what the line-by-line path reports.

``scan_bytes`` verifies and decodes whole batches of lines with C-level loops and sends a
batch through the line-by-line path only when something in it is off. These tests compare
it, on damaged and odd logs, with a scan forced down the line-by-line path everywhere,
at batch sizes small enough that damage lands at every position in a batch.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import Message, SessionCreated, scan
from eventlog.codec import CRC_PREFIX, CRC_SUFFIX, encode_line


def _line(seq: int, content: str = "hello") -> bytes:
    if seq == 1:
        return encode_line(
            SessionCreated(seq=1, ts="2025-01-01T00:00:00+00:00", session_id="2025-01-01_000000")
        )
    return encode_line(
        Message(seq=seq, ts="2025-01-01T00:00:01+00:00", role="user", content=content)
    )


def _checksummed(fields: object) -> bytes:
    prefix = msgspec.json.encode(fields)[:-1]
    return b"%s%s%08x%s\n" % (prefix, CRC_PREFIX, zlib.crc32(prefix), CRC_SUFFIX)


ODD_LINES = [
    b"\n",
    b"not json at all\n",
    b',"crc":"00000000"}\n',  # exactly a trailer: its checksum "matches" an empty body
    b'{"type":"message"}\n',
    _checksummed({"type": "future_event", "v": 1, "seq": 50, "ts": "x"}),
    _checksummed({"type": "message", "v": 2, "seq": 60, "ts": "x", "role": "user"}),
    _checksummed({"type": "message", "v": 99, "seq": 61, "ts": "x", "role": "user", "content": ""}),
    _checksummed([1, 2, 3]),
    _checksummed({"type": "message", "seq": 3, "ts": "x", "role": "robot", "content": "c"}),
]


@contextmanager
def line_by_line_only() -> Iterator[None]:
    original = scan._fast_batch
    scan._fast_batch = lambda *args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        scan._fast_batch = original


@contextmanager
def batch_size(n: int) -> Iterator[None]:
    original = scan.BATCH_LINES
    scan.BATCH_LINES = n  # type: ignore[misc]
    try:
        yield
    finally:
        scan.BATCH_LINES = original  # type: ignore[misc]


def assert_same_scan(data: bytes, **kwargs: int) -> None:
    fast = scan.scan_bytes(data, path="log", **kwargs)
    with line_by_line_only():
        slow = scan.scan_bytes(data, path="log", **kwargs)
    assert fast == slow


@st.composite
def damaged_logs(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(0, 12))
    lines = [_line(seq, draw(st.sampled_from(["hi", "a\nb", 'q"x', "é" * 40]))) for seq in
             range(1, count + 1)]  # fmt: skip
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["flip", "odd", "repeat", "swap", "drop_newline", "cut"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if action == "flip" and lines[i]:  # a "cut" may have emptied the line
            damaged = bytearray(lines[i])
            pos = draw(st.integers(0, len(damaged) - 1))
            damaged[pos] ^= 1 << draw(st.integers(0, 7))
            lines[i] = bytes(damaged)
        elif action == "odd":
            lines.insert(i, draw(st.sampled_from(ODD_LINES)))
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif action == "drop_newline":
            lines[i] = lines[i].rstrip(b"\n")
        elif action == "cut":
            lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]
    return b"".join(lines)


@settings(max_examples=400, deadline=None)
@given(
    data=damaged_logs(),
    batch=st.integers(1, 5),
    base_seq=st.integers(0, 3),
    base_line=st.integers(0, 2),
)
def test_a_damaged_log_scans_the_same_through_batches_as_line_by_line(
    data: bytes, batch: int, base_seq: int, base_line: int
) -> None:
    with batch_size(batch):
        assert_same_scan(data, base_offset=100, base_line=base_line, base_seq=base_seq)


@pytest.mark.parametrize("odd", ODD_LINES)
@pytest.mark.parametrize("position", [0, 1, 3, 5])
def test_an_odd_line_anywhere_in_a_batch_is_reported_as_line_by_line_would(
    odd: bytes, position: int
) -> None:
    lines = [_line(seq) for seq in range(1, 7)]
    lines.insert(position, odd)
    for size in (1, 2, 4, 1024):
        with batch_size(size):
            assert_same_scan(b"".join(lines))
            assert_same_scan(b"".join(lines)[:-1])  # and with the last newline torn off


def test_every_bit_flip_in_a_long_intact_log_scans_the_same_as_line_by_line() -> None:
    data = b"".join(_line(seq) for seq in range(1, 40))
    with batch_size(8):
        for pos in range(0, len(data), 7):
            damaged = bytearray(data)
            damaged[pos] ^= 0x20
            assert_same_scan(bytes(damaged))


def test_an_intact_log_is_read_by_the_batches_alone() -> None:
    data = b"".join(_line(seq) for seq in range(1, 3000))
    calls: list[int] = []
    original = scan._scan_lines

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    scan._scan_lines = spy  # type: ignore[assignment]
    try:
        result = scan.scan_bytes(data)
    finally:
        scan._scan_lines = original
    assert calls == []
    assert [e.event.seq for e in result.entries] == list(range(1, 3000))
    assert result.entries[-1].end == len(data) and result.issues == []
