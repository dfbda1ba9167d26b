"""Creating a session: the log appears whole or not at all, and sync() covers every policy."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from eventlog import DiskFullError, EventLog, SessionCreated, SessionExistsError
from tests.eventlog_helpers import CountingFileOps, FaultyFileOps


def _leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "events").iterdir())


def test_a_failed_create_leaves_neither_a_log_nor_a_temp_file(home: Path) -> None:
    ops = FaultyFileOps()
    ops.write_error = errno.ENOSPC
    with EventLog(home, file_ops=ops) as log, pytest.raises(DiskFullError):
        log.create_session(title="never written")
    assert _leftovers(home) == []


def test_a_short_write_while_creating_leaves_no_half_written_log(home: Path) -> None:
    ops = FaultyFileOps()
    ops.short_write = True
    with EventLog(home, file_ops=ops) as log, pytest.raises(DiskFullError):
        log.create_session(title="half")
    assert _leftovers(home) == []


def test_a_created_log_already_holds_its_creation_event(home: Path) -> None:
    with EventLog(home) as log:
        sid = log.create_session(title="whole", tags=["a"])
        assert _leftovers(home) == [f"{sid}.jsonl"]
        events = list(log.read(sid))
    assert len(events) == 1
    assert isinstance(events[0], SessionCreated)
    assert (events[0].title, events[0].tags, events[0].seq) == ("whole", ("a",), 1)


def test_creating_an_explicit_id_twice_is_refused_and_keeps_the_first(home: Path) -> None:
    with EventLog(home) as log:
        log.create_session(title="first", session_id="2025-10-04_150808")
        with pytest.raises(SessionExistsError):
            log.create_session(title="second", session_id="2025-10-04_150808")
        created = next(iter(log.read("2025-10-04_150808")))
    assert isinstance(created, SessionCreated)
    assert created.title == "first"
    assert _leftovers(home) == ["2025-10-04_150808.jsonl"]


def test_sync_makes_never_policy_appends_durable_even_after_their_handle_was_evicted(
    home: Path,
) -> None:
    ops = CountingFileOps()
    with EventLog(home, fsync="never", max_open=2, file_ops=ops) as log:
        sids = [log.create_session() for _ in range(5)]
        for sid in sids:
            log.append(sid, "user", "hello")
        assert ops.fdatasyncs == 0  # never: appends and evictions do not sync
        log.sync()
        assert ops.fdatasyncs == len(sids)  # 2 still open + 3 evicted earlier
        log.sync()
        assert ops.fdatasyncs == len(sids)  # nothing left pending
