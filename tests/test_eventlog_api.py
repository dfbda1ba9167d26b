"""The EventLog API (DESIGN §8): sessions, appends, reads, metadata events, deletion,
id resolution, incremental scans, and the on-disk line format."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventlog import (
    AmbiguousSessionIdError,
    Cursor,
    EventLog,
    InvalidArgumentError,
    Message,
    SessionCreated,
    SessionNotFoundError,
    SessionTagged,
    SessionTitled,
    SessionUntagged,
    resolve_home,
)
from tests.eventlog_helpers import CountingFileOps, assert_log_valid, log_file


@pytest.fixture
def fast_log(home: Path) -> EventLog:
    return EventLog(home, fsync="never")


# --------------------------------------------------------------------------- sessions


def test_a_new_session_starts_with_its_creation_event(fast_log: EventLog) -> None:
    sid = fast_log.create_session(title="Planning", tags=["work", " work ", "q3"])
    (created,) = fast_log.read(sid)
    assert isinstance(created, SessionCreated)
    assert (created.seq, created.v, created.session_id) == (1, 1, sid)
    assert (created.title, created.tags) == ("Planning", ("work", "q3"))
    assert fast_log.last_seq(sid) == 1
    assert fast_log.exists(sid)


def test_an_empty_title_is_no_title(fast_log: EventLog) -> None:
    sid = fast_log.create_session(title="")
    (created,) = fast_log.read(sid)
    assert isinstance(created, SessionCreated)
    assert created.title is None


def test_sessions_are_listed_in_id_order_and_stray_files_are_ignored(
    fast_log: EventLog, home: Path
) -> None:
    ids = [fast_log.create_session() for _ in range(3)]
    (home / "events" / "notes.txt").write_text("not a log")
    (home / "events" / "..jsonl").write_text("")
    assert fast_log.session_ids() == sorted(ids)


def test_deleting_a_session_removes_its_log_and_later_appends_fail(
    fast_log: EventLog, home: Path
) -> None:
    sid = fast_log.create_session()
    other = EventLog(home, fsync="never")
    other.append(sid, "user", "the other process has the log open")
    fast_log.delete_session(sid)
    assert not fast_log.exists(sid)
    with pytest.raises(SessionNotFoundError):
        fast_log.read(sid)
    with pytest.raises(SessionNotFoundError):
        other.append(sid, "user", "into a deleted session")
    assert not log_file(fast_log, sid).exists()  # the append did not re-create it
    with pytest.raises(SessionNotFoundError):
        fast_log.delete_session(sid)
    other.close()


def test_a_writer_follows_a_session_deleted_and_re_created_under_the_same_id(
    home: Path,
) -> None:
    sid = "2025-10-04_150808"
    first = EventLog(home, fsync="never")
    second = EventLog(home, fsync="never")
    first.create_session(session_id=sid)
    first.append(sid, "user", "old life")
    second.delete_session(sid)
    second.create_session(session_id=sid, title="new life")
    assert first.append(sid, "user", "written to the new file").seq == 2
    assert [e.seq for e in second.read(sid)] == [1, 2]
    first.close()
    second.close()


# --------------------------------------------------------------------------- appends


def test_append_returns_the_stored_message_with_its_seq_and_utc_timestamp(
    fast_log: EventLog,
) -> None:
    sid = fast_log.create_session()
    event = fast_log.append(
        sid, "assistant", "Hi!\nHow can I help?", token_count=7, metadata={"model": "m"}
    )
    assert isinstance(event, Message)
    assert (event.seq, event.role, event.content) == (2, "assistant", "Hi!\nHow can I help?")
    assert (event.token_count, event.metadata) == (7, {"model": "m"})
    moment = datetime.fromisoformat(event.ts)
    assert moment.utcoffset() is not None and moment.utcoffset() == UTC.utcoffset(None)
    assert list(fast_log.read(sid))[-1] == event


def test_every_role_is_accepted_and_anything_else_refused(fast_log: EventLog) -> None:
    sid = fast_log.create_session()
    for role in ("user", "assistant", "system", "tool"):
        fast_log.append(sid, role, role)
    for bad in ("User", "bot", "", "user "):
        with pytest.raises(InvalidArgumentError):
            fast_log.append(sid, bad, "x")
    assert fast_log.last_seq(sid) == 5


@pytest.mark.parametrize("tokens", [-1, True, 1.5, "3"])
def test_token_counts_must_be_non_negative_integers(fast_log: EventLog, tokens: object) -> None:
    sid = fast_log.create_session()
    with pytest.raises(InvalidArgumentError):
        fast_log.append(sid, "user", "x", token_count=tokens)  # type: ignore[arg-type]
    assert fast_log.last_seq(sid) == 1


@pytest.mark.parametrize(
    "content",
    ["\ud800 lone surrogate", None, b"bytes"],
    ids=["surrogate", "none", "bytes"],
)
def test_content_that_cannot_be_stored_is_refused_and_nothing_is_written(
    fast_log: EventLog, content: object
) -> None:
    sid = fast_log.create_session()
    before = log_file(fast_log, sid).read_bytes()
    with pytest.raises(InvalidArgumentError):
        fast_log.append(sid, "user", content)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        fast_log.append(sid, "user", "x", metadata={"unencodable": object()})
    assert log_file(fast_log, sid).read_bytes() == before
    assert fast_log.append(sid, "user", "fine").seq == 2


def test_any_text_round_trips_exactly(fast_log: EventLog) -> None:
    sid = fast_log.create_session()
    texts = ["", "\x00 NUL inside", "\r\n\t", "🙂" * 1000, "\u2028\u2029", '{"crc":"0"}\n']
    for text in texts:
        fast_log.append(sid, "user", text)
    assert [e.content for e in fast_log.read(sid) if isinstance(e, Message)] == texts


def test_each_append_is_exactly_one_write(home: Path) -> None:
    ops = CountingFileOps()
    with EventLog(home, fsync="never", file_ops=ops) as log:
        sid = log.create_session()
        log.append(sid, "user", "x" * 1_000_000)
        log.append(sid, "user", "y")
    assert ops.writes == 3


def test_appending_to_a_missing_session_is_not_found(fast_log: EventLog) -> None:
    with pytest.raises(SessionNotFoundError):
        fast_log.append("2025-01-01_000000", "user", "x")
    assert fast_log.session_ids() == []


def test_titles_and_tags_are_events_in_the_same_log(fast_log: EventLog) -> None:
    sid = fast_log.create_session()
    fast_log.set_title(sid, "Renamed")
    fast_log.add_tag(sid, "  urgent ")
    fast_log.remove_tag(sid, "urgent")
    events = list(fast_log.read(sid))
    assert [type(e) for e in events] == [
        SessionCreated,
        SessionTitled,
        SessionTagged,
        SessionUntagged,
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert (events[2].tag, events[3].tag) == ("urgent", "urgent")  # type: ignore[union-attr]
    for bad in ("", "   ", "x" * 101, "a\x00b"):
        with pytest.raises(InvalidArgumentError):
            fast_log.add_tag(sid, bad)
    with pytest.raises(InvalidArgumentError):
        fast_log.set_title(sid, "a\x00b")


def test_more_sessions_than_open_handles_all_stay_writable(home: Path) -> None:
    with EventLog(home, fsync="never", max_open=2) as log:
        ids = [log.create_session() for _ in range(5)]
        for round_no in range(3):
            for sid in ids:
                log.append(sid, "user", f"round {round_no}")
        assert all(log.last_seq(sid) == 4 for sid in ids)


# --------------------------------------------------------------------------- ids


def test_a_session_is_found_by_full_id_unique_prefix_or_suffix(fast_log: EventLog) -> None:
    first = fast_log.create_session(session_id="2025-10-04_150808_aaaaaa")
    second = fast_log.create_session(session_id="2025-10-04_160000_bbbbbb")
    assert fast_log.resolve(first) == first
    assert fast_log.resolve("2025-10-04_15") == first
    assert fast_log.resolve("bbbbbb") == second
    with pytest.raises(AmbiguousSessionIdError, match="2 sessions"):
        fast_log.resolve("2025-10-04")
    with pytest.raises(SessionNotFoundError):
        fast_log.resolve("2024")


# --------------------------------------------------------------------------- reading


def test_an_incremental_scan_from_a_cursor_sees_only_newer_events(fast_log: EventLog) -> None:
    sid = fast_log.create_session()
    fast_log.append(sid, "user", "one")
    first = fast_log.scan(sid)
    assert [e.event.seq for e in first.entries] == [1, 2]
    fast_log.append(sid, "user", "two")
    fast_log.append(sid, "user", "three")
    later = fast_log.scan(sid, first.cursor)
    assert [e.event.seq for e in later.entries] == [3, 4]
    assert [e.line for e in later.entries] == [3, 4]
    assert later.cursor == Cursor(os.path.getsize(log_file(fast_log, sid)), 4, 4)
    assert fast_log.scan(sid, later.cursor).entries == []


def test_a_cursor_stops_before_a_torn_tail_and_resumes_once_it_is_repaired(
    fast_log: EventLog,
) -> None:
    sid = fast_log.create_session()
    with open(log_file(fast_log, sid), "ab") as crashed:
        crashed.write(b'{"type":"mess')
    scan = fast_log.scan(sid)
    assert scan.torn is not None and scan.cursor.offset == scan.torn.offset
    fast_log.append(sid, "user", "after the repair")
    assert [e.event.seq for e in fast_log.scan(sid, scan.cursor).entries] == [2]


# --------------------------------------------------------------------------- the files


def test_each_line_is_plain_json_ending_in_a_fixed_width_checksum(fast_log: EventLog) -> None:
    sid = fast_log.create_session(title="jq can read this")
    fast_log.append(sid, "user", 'quote " and newline \n', metadata={"k": [1, 2]})
    raw = log_file(fast_log, sid).read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 2
    for line in raw.splitlines():
        record = json.loads(line)
        keys = list(record)
        assert (keys[0], keys[-1]) == ("type", "crc")
        assert re.fullmatch(r"[0-9a-f]{8}", record["crc"])
        assert {"v", "seq", "ts"} <= set(record)
    assert json.loads(raw.splitlines()[1])["content"] == 'quote " and newline \n'
    assert_log_valid(log_file(fast_log, sid))


def test_the_home_is_the_explicit_one_then_chatlog_home_then_the_platform_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATLOG_HOME", str(tmp_path / "from-env"))
    assert resolve_home(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_home() == tmp_path / "from-env"
    monkeypatch.delenv("CHATLOG_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_home() == tmp_path / "xdg" / "chatlog"
    log = EventLog(fsync="never")
    assert log.home == tmp_path / "xdg" / "chatlog"
    assert (log.home / "events").is_dir()
