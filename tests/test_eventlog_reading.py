"""Reading the file store: streamed reads from positions, the last N from the end, a
follower that outlives a delete, the change feed, and files that are not ours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import EventLog, Message, SessionNotFoundError, UnsafeFileError
from eventlog import reading as reading_module
from eventlog.codec import encode_line
from eventlog.feed import ChangeFeed
from tests.conftest import run_chatlog


def contents(log: EventLog, sid: str, position: object = None) -> tuple[str, list[str], object]:
    result = log.read_from(sid, position)  # type: ignore[arg-type]
    texts: list[str] = []
    last = position
    for batch in result.batches:
        texts += [e.event.content for e in batch.entries if isinstance(e.event, Message)]
        last = batch.position
    return result.state, texts, last


def test_a_position_reads_only_what_came_after_it_and_nothing_when_nothing_did(
    log: EventLog,
) -> None:
    sid = log.create_session()
    log.append(sid, "user", "one")
    state, texts, position = contents(log, sid)
    assert (state, texts) == ("grown", ["one"])
    assert contents(log, sid, position)[:2] == ("unchanged", [])
    log.append(sid, "user", "two")
    state, texts, position = contents(log, sid, position)
    assert (state, texts) == ("grown", ["two"])
    assert position.seq == 3  # type: ignore[attr-defined]


def test_a_session_deleted_and_created_again_restarts_its_readers(log: EventLog) -> None:
    sid = log.create_session(session_id="2025-03-03_030303")
    log.append(sid, "user", "first life")
    _state, _texts, position = contents(log, sid)
    log.delete_session(sid)
    assert contents(log, sid, position)[0] == "missing"
    log.create_session(session_id=sid)
    log.append(sid, "user", "second life, longer than the first one")
    state, texts, _position = contents(log, sid, position)
    assert (state, texts) == ("restarted", ["second life, longer than the first one"])


def test_the_last_messages_are_read_from_the_end_across_small_chunks(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading_module, "CHUNK", 64)
    sid = log.create_session()
    for i in range(40):
        log.append(sid, "user" if i % 2 else "assistant", f"message {i} " + "x" * (i * 7))
        log.set_title(sid, f"title {i}")
    with open(log.layout.log_path(sid), "ab") as file:
        file.write(b'{"type":"message","torn')  # a write in progress: not an event
    last = log.read_last(sid, 3, messages_only=True)
    assert [e.event.content.split(" x")[0] for e in last] == [  # type: ignore[union-attr]
        "message 37",
        "message 38",
        "message 39",
    ]
    events = log.read_last(sid, 2)
    assert [type(e.event).__name__ for e in events] == ["Message", "SessionTitled"]
    assert log.last_event(sid) == events[-1].event


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=25),
    n=st.integers(1, 30),
    chunk=st.integers(16, 512),
)
def test_reading_the_last_n_equals_the_tail_of_a_full_read(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str], n: int, chunk: int
) -> None:
    home = tmp_path_factory.mktemp("home")
    old = reading_module.CHUNK
    reading_module.CHUNK = chunk
    try:
        with EventLog(home, fsync="never") as log:
            sid = log.create_session()
            for text in texts:
                log.append(sid, "user", text)
            full = [e for b in log.read_from(sid).batches for e in b.entries]
            assert [e.event for e in log.read_last(sid, n)] == [e.event for e in full[-n:]]
            assert [(e.offset, e.end) for e in log.read_last(sid, n)] == [
                (e.offset, e.end) for e in full[-n:]
            ]
    finally:
        reading_module.CHUNK = old


def test_a_follower_delivers_every_event_written_before_a_delete_then_ends(
    log: EventLog,
) -> None:
    sid = log.create_session()
    follower = log.open_follower(sid)
    assert len(follower.read().entries) == 1
    for i in range(5):
        log.append(sid, "user", f"before the delete {i}")
    log.delete_session(sid)
    seen = []
    while not follower.gone:
        seen += [e.event.seq for e in follower.read(max_events=2).entries]
    assert seen == [2, 3, 4, 5, 6]
    with pytest.raises(SessionNotFoundError):
        log.open_follower(sid)


def test_the_change_feed_names_what_another_process_wrote_and_forgets_it_once_applied(
    log: EventLog, home: Path
) -> None:
    feed = ChangeFeed(log.layout.changes_dir)
    first = feed.changes(None)
    assert first.sessions is None  # never looked before: check everything
    feed.applied(first)
    sid = log.create_session()
    script = (
        "import sys\nfrom eventlog import EventLog\n"
        "with EventLog(sys.argv[1], fsync='never') as log:\n"
        "    log.append(sys.argv[2], 'user', 'from elsewhere')\n"
    )
    subprocess.run([sys.executable, "-c", script, str(home), sid], check=True, timeout=60)
    changes = feed.changes(first.position)
    assert changes.sessions is not None and sid in changes.sessions
    assert changes.consumed  # the other process is gone: its journal is done with
    feed.applied(changes)
    again = feed.changes(changes.position)
    # Only this process's own live journal is left (it names the session it created).
    assert again.consumed == () and again.sessions == frozenset({sid})
    assert feed.changes("another boot").sessions is None


def test_a_fifo_or_a_directory_at_a_logs_name_is_skipped_with_a_warning(home: Path) -> None:
    sid = run_chatlog("new", "--title", "real").stdout.strip()
    os.mkfifo(home / "events" / "2025-01-01_000000_abcdef.jsonl")
    (home / "events" / "2025-01-01_000001_abcdef.jsonl").mkdir()
    listed = run_chatlog("list", timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert "real" in listed.stdout
    assert "not a regular file" in listed.stderr
    shown = run_chatlog("show", "2025-01-01_000000_abcdef", timeout=30)
    assert shown.returncode != 0 and "\n" not in shown.stderr.strip()
    assert sid


def test_appending_through_a_symlinked_log_is_refused(log: EventLog, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"someone else's file\nunterminated")
    sid = "2025-01-01_000002_abcdef"
    os.symlink(target, log.layout.log_path(sid))
    with pytest.raises(UnsafeFileError):
        log.append(sid, "user", "must not land elsewhere")
    assert target.read_bytes() == b"someone else's file\nunterminated"


def test_a_follower_reads_as_many_events_as_asked_and_decodes_no_further(
    log: EventLog,
) -> None:
    sid = log.create_session()
    for i in range(5):
        log.append(sid, "user", f"line {i}")
    after = Message(seq=7, ts="2025-01-01T00:00:00Z", role="user", content="after it")
    with open(log.layout.log_path(sid), "ab") as file:
        file.write(b'{"type":"message","seq":99,"damaged\n')  # right after seq 6
        file.write(encode_line(after))
    follower = log.open_follower(sid)
    try:
        first = follower.read(max_events=3)
        assert [e.event.seq for e in first.entries] == [1, 2, 3]
        assert first.issues == []  # the damaged line further on was not read
        assert first.position.seq == 3
        # The position is exact: a follower from it goes on with seq 4.
        again = log.open_follower(sid, first.position)
        try:
            assert [e.event.seq for e in again.read(max_events=1).entries] == [4]
        finally:
            again.close()
        second = follower.read(max_events=3)
        assert [e.event.seq for e in second.entries] == [4, 5, 6]
        assert second.issues == []  # the damaged line is the next one: not read yet
        last = follower.read(max_events=3)
        assert [e.event.seq for e in last.entries] == [7]
        assert len(last.issues) == 1  # skipped, and reported once
        assert follower.read().entries == []
    finally:
        follower.close()


def test_a_follower_asked_for_one_event_reads_a_small_piece_of_a_long_log(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = log.create_session()
    for i in range(300):
        log.append(sid, "user", f"line {i} " + "y" * 500)
    reads: list[int] = []
    real = reading_module.read_all

    def counting(fd: int, start: int, stop: int) -> bytes:
        data = real(fd, start, stop)
        reads.append(len(data))
        return data

    monkeypatch.setattr(reading_module, "read_all", counting)
    follower = log.open_follower(sid)
    try:
        seqs = []
        while len(seqs) < 301:
            seqs += [e.event.seq for e in follower.read(max_events=1).entries]
        assert seqs == list(range(1, 302))
    finally:
        follower.close()
    assert max(reads) <= reading_module.FOLLOW_MIN_READ
