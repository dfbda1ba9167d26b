"""Recovery from damaged logs: torn tails at every byte offset, flipped bits in the middle,
lines from a newer chatlog. Readers never crash and never modify a log; writers cut only
torn tails (keeping their bytes in quarantine/) and continue the sequence."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import AnyEvent, EventLog, Message, scan_bytes
from tests.eventlog_helpers import (
    assert_log_valid,
    checksummed_line,
    log_file,
    quarantined,
    raw_scan,
)

LAST_CONTENT = 'the reply that was being written: ünïcödé 中文 🙂\nsecond line\t"quoted" \\'


@pytest.fixture
def chatlog_warnings() -> Iterator[list[str]]:
    """Messages the ``chatlog`` logger emits (attached directly: the CLI may have turned
    propagation to the root logger off in this process)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("chatlog")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def build_log(home: Path, messages: int = 4) -> tuple[str, list[AnyEvent]]:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session(title="Recovery", tags=["t"])
        for i in range(messages - 1):
            log.append(sid, ("user", "assistant")[i % 2], f"message {i} " + "·" * i)
        log.append(sid, "assistant", LAST_CONTENT, token_count=42, metadata={"model": "m1"})
        return sid, list(log.read(sid))


# --------------------------------------------------------------------------- torn tails


def test_truncating_the_last_record_at_every_byte_offset_loses_only_that_record(
    tmp_path: Path,
) -> None:
    sid, events = build_log(tmp_path / "original")
    original = EventLog(tmp_path / "original", fsync="never")
    data = log_file(original, sid).read_bytes()
    last = raw_scan(log_file(original, sid)).entries[-1]
    assert last.end == len(data)
    assert last.end - last.offset > 200  # a real record, multi-byte characters included

    for cut in range(last.offset, last.end):
        home = tmp_path / f"cut-{cut}"
        log = EventLog(home, fsync="never")
        path = log_file(log, sid)
        path.write_bytes(data[:cut])
        torn = data[last.offset : cut]

        # Readers keep every earlier event and leave the file alone.
        assert list(log.read(sid)) == events[:-1], cut
        scan = log.scan(sid)
        if torn:
            assert scan.torn is not None
            assert (scan.torn.offset, scan.torn.length) == (last.offset, len(torn))
        else:
            assert scan.torn is None
        assert log.last_seq(sid) == last.event.seq - 1
        assert path.read_bytes() == data[:cut]

        # The next append cuts the torn bytes away (keeping them) and takes the lost seq.
        event = log.append(sid, "user", "after the crash")
        assert event.seq == last.event.seq, cut
        assert list(log.read(sid)) == [*events[:-1], event]
        assert_log_valid(path)
        assert quarantined(log) == ([torn] if torn else [])
        log.close()
        shutil.rmtree(home)


@pytest.mark.parametrize("policy", ["always", "interval"])
def test_a_torn_tail_is_repaired_the_same_way_under_every_fsync_policy(
    home: Path, policy: str
) -> None:
    sid, events = build_log(home)
    path = home / "events" / f"{sid}.jsonl"
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) - 40, len(data) - 150):
        path.write_bytes(data[:cut])
        with EventLog(home, fsync=policy) as log:  # type: ignore[arg-type]
            event = log.append(sid, "user", f"after a cut at {cut}")
            assert event.seq == len(events)
            assert list(log.read(sid)) == [*events[:-1], event]
        path.write_bytes(data)


def test_a_live_writer_repairs_a_torn_tail_left_by_another_process(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session()
        log.append(sid, "user", "one")
        with open(log_file(log, sid), "ab") as crashed_writer:
            crashed_writer.write(b'{"type":"message","v":1,"seq":3,"ts":"2025-')
        assert log.append(sid, "user", "two").seq == 3
        assert [e.seq for e in log.read(sid)] == [1, 2, 3]
        assert quarantined(log) == [b'{"type":"message","v":1,"seq":3,"ts":"2025-']


def test_a_complete_last_line_with_a_bad_checksum_is_a_torn_write(home: Path) -> None:
    sid, events = build_log(home)
    path = home / "events" / f"{sid}.jsonl"
    last = raw_scan(path).entries[-1]
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # inside the crc digits of the last line, newline intact
    path.write_bytes(bytes(data))
    with EventLog(home, fsync="never") as log:
        assert list(log.read(sid)) == events[:-1]
        assert log.scan(sid).torn is not None
        assert log.append(sid, "user", "next").seq == len(events)
        assert quarantined(log) == [bytes(data[last.offset :])]


# --------------------------------------------------------------------------- flipped bits


def test_every_single_bit_flip_in_a_middle_line_is_detected_and_only_that_line_is_lost(
    home: Path,
) -> None:
    sid, events = build_log(home, messages=5)
    data = (home / "events" / f"{sid}.jsonl").read_bytes()
    entries = scan_bytes(data).entries
    middle = entries[2]
    others = [e.event for e in entries if e is not middle]
    for position in range(middle.offset, middle.end - 1):  # every byte but the newline
        for bit in range(8):
            damaged = bytearray(data)
            damaged[position] ^= 1 << bit
            scan = scan_bytes(bytes(damaged), path="log")
            assert [e.event for e in scan.entries] == others, (position, bit)
            assert scan.issues, (position, bit)
            assert scan.issues[0].line == middle.line
            # A flip that forges a newline splits the line in two; both halves are reported.
            assert {issue.line for issue in scan.issues} <= {middle.line, middle.line + 1}
            assert scan.torn is None
            assert scan.last_seq == events[-1].seq


def test_a_flipped_bit_in_a_middle_line_is_reported_with_file_and_line_and_skipped(
    home: Path, chatlog_warnings: list[str]
) -> None:
    sid, events = build_log(home, messages=5)
    path = home / "events" / f"{sid}.jsonl"
    data = bytearray(path.read_bytes())
    middle = raw_scan(path).entries[2]
    data[middle.offset + 40] ^= 0x04
    path.write_bytes(bytes(data))

    with EventLog(home, fsync="never") as log:
        assert list(log.read(sid)) == [e for e in events if e.seq != middle.event.seq]
        (issue,) = log.scan(sid).issues
        assert (issue.path, issue.line, issue.kind) == (str(path), 3, "checksum")
        assert f"{path}:3: checksum" in issue.describe()
        assert any(f"{path}:3" in message for message in chatlog_warnings)

        # The damaged line is left in place for fsck; appends continue after the last seq.
        appended = log.append(sid, "user", "still going")
        assert appended.seq == events[-1].seq + 1
        assert bytes(data) in path.read_bytes()
        assert [e.seq for e in log.read(sid)][-2:] == [events[-1].seq, appended.seq]
        assert quarantined(log) == []


def test_readers_never_modify_a_damaged_log(home: Path) -> None:
    sid, _events = build_log(home)
    path = home / "events" / f"{sid}.jsonl"
    damaged = path.read_bytes().replace(b"message 1", b"massage 1") + b'{"torn'
    path.write_bytes(damaged)
    log = EventLog(home, fsync="never")
    list(log.read(sid))
    log.scan(sid)
    log.last_seq(sid)
    log.close()
    assert path.read_bytes() == damaged
    assert quarantined(log) == []


# --------------------------------------------------------------------------- newer chatlogs


def unknown_event_line(seq: int) -> bytes:
    return checksummed_line(
        {"type": "session_archived", "v": 1, "seq": seq, "ts": "2030-01-01T00:00:00+00:00"}
    )


def newer_version_line(seq: int) -> bytes:
    return checksummed_line(
        {
            "type": "message",
            "v": 2,
            "seq": seq,
            "ts": "2030-01-01T00:00:00+00:00",
            "role": "user",
            "content": "from the future",
            "attachments": ["a.png"],
        }
    )


def test_unknown_event_types_and_newer_versions_are_reported_skipped_and_counted(
    home: Path, chatlog_warnings: list[str]
) -> None:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session()
        log.append(sid, "user", "before")
        with open(log_file(log, sid), "ab") as newer_chatlog:
            newer_chatlog.write(unknown_event_line(3) + newer_version_line(4))
        after = log.append(sid, "assistant", "after")
        assert after.seq == 5

        assert [e.seq for e in log.read(sid)] == [1, 2, 5]
        issues = log.scan(sid).issues
        assert [(i.line, i.kind, i.seq) for i in issues] == [
            (3, "unknown_type", 3),
            (4, "newer_version", 4),
        ]
        assert "session_archived" in issues[0].detail
        assert sum(f"{log_file(log, sid)}:" in m for m in chatlog_warnings) >= 2
        assert_log_valid_except(log_file(log, sid), {3, 4})


def test_an_unknown_event_as_the_last_line_is_not_mistaken_for_a_torn_write(
    home: Path,
) -> None:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session()
        with open(log_file(log, sid), "ab") as newer_chatlog:
            newer_chatlog.write(unknown_event_line(2))
        assert log.last_seq(sid) == 2
        assert log.append(sid, "user", "next").seq == 3
        assert unknown_event_line(2) in log_file(log, sid).read_bytes()
        assert quarantined(log) == []


def test_a_duplicated_line_is_reported_out_of_order_and_read_once(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session()
        log.append(sid, "user", "once")
        path = log_file(log, sid)
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join([*lines, lines[-1]]))
        assert [e.seq for e in log.read(sid)] == [1, 2]
        assert [(i.line, i.kind) for i in log.scan(sid).issues] == [(3, "out_of_order")]
        assert log.append(sid, "user", "twice?").seq == 3


def assert_log_valid_except(path: Path, damaged_lines: set[int]) -> None:
    scan = raw_scan(path)
    assert {issue.line for issue in scan.issues} == damaged_lines
    assert scan.torn is None
    seqs = [entry.event.seq for entry in scan.entries]
    assert seqs == sorted(seqs)
    assert all(isinstance(e.event, Message) for e in scan.entries[1:])
    assert os.path.getsize(path) == scan.good_end
