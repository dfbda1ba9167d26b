"""The three fsync policies: what each promises, observed through a counting FileOps."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlog import EventLog, FsyncPolicy, InvalidArgumentError, StorageError
from tests.conftest import run_chatlog
from tests.eventlog_helpers import CountingFileOps, assert_log_valid, log_file


@pytest.mark.parametrize("policy", ["always", "interval", "never"])
def test_every_policy_produces_a_log_any_reader_can_read(home: Path, policy: FsyncPolicy) -> None:
    with EventLog(home, fsync=policy, interval_ms=5) as log:
        sid = log.create_session(title=policy)
        written = [log.append(sid, "user", f"{policy} {i}", token_count=i) for i in range(20)]
    with EventLog(home, fsync="never") as reader:
        assert list(reader.read(sid))[1:] == written
    assert len(assert_log_valid(home / "events" / f"{sid}.jsonl").entries) == 21


def test_always_syncs_every_append_before_it_returns(home: Path) -> None:
    ops = CountingFileOps()
    with EventLog(home, fsync="always", file_ops=ops) as log:
        sid = log.create_session()
        assert (ops.writes, ops.fdatasyncs) == (1, 1)
        for i in range(5):
            log.append(sid, "user", str(i))
            assert (ops.writes, ops.fdatasyncs) == (2 + i, 2 + i)


def test_never_leaves_syncing_to_the_operating_system(home: Path) -> None:
    ops = CountingFileOps()
    with EventLog(home, fsync="never", file_ops=ops) as log:
        sid = log.create_session()
        for i in range(5):
            log.append(sid, "user", str(i))
    assert (ops.writes, ops.fdatasyncs) == (6, 0)


def test_interval_syncs_in_the_background_without_another_append(home: Path) -> None:
    ops = CountingFileOps()
    with EventLog(home, fsync="interval", interval_ms=20, file_ops=ops) as log:
        sid = log.create_session()
        for i in range(5):
            log.append(sid, "user", str(i))
        assert ops.synced.wait(timeout=60), "no background fdatasync happened"
        assert ops.fdatasyncs >= 1
        assert ops.writes == 6  # the sync came from the background thread, not an append


def test_interval_batches_appends_and_close_flushes_what_is_pending(home: Path) -> None:
    ops = CountingFileOps()
    log = EventLog(home, fsync="interval", interval_ms=600_000, file_ops=ops)
    sid = log.create_session()
    for i in range(10):
        log.append(sid, "user", str(i))
    assert ops.fdatasyncs == 0  # acknowledged, not yet synced (the interval is 10 minutes)
    log.close()
    assert ops.fdatasyncs == 1  # one sync covers all eleven lines
    log.close()  # closing twice is harmless
    assert ops.fdatasyncs == 1


def test_sync_flushes_pending_appends_on_demand(home: Path) -> None:
    ops = CountingFileOps()
    with EventLog(home, fsync="interval", interval_ms=600_000, file_ops=ops) as log:
        first = log.create_session()
        second = log.create_session()
        log.append(first, "user", "a")
        log.append(second, "user", "b")
        log.sync(first)
        assert ops.fdatasyncs == 1
        log.sync()
        assert ops.fdatasyncs == 2
        log.sync()  # nothing pending
        assert ops.fdatasyncs == 2


def test_an_evicted_handle_is_synced_before_it_is_closed(home: Path) -> None:
    ops = CountingFileOps()
    with EventLog(home, fsync="interval", interval_ms=600_000, max_open=1, file_ops=ops) as log:
        first = log.create_session()
        log.append(first, "user", "pending")
        log.create_session()  # pushes the first handle out
        assert ops.fdatasyncs == 1


def test_a_closed_log_refuses_appends(home: Path) -> None:
    log = EventLog(home, fsync="never")
    sid = log.create_session()
    log.close()
    with pytest.raises(StorageError, match="closed"):
        log.append(sid, "user", "late")
    assert [e.seq for e in log.read(sid)] == [1]  # reading needs no open handle


@pytest.mark.parametrize(
    ("policy", "interval_ms"), [("sometimes", 1000), ("ALWAYS", 1000), ("interval", 0)]
)
def test_an_unknown_policy_or_a_non_positive_interval_is_refused(
    home: Path, policy: str, interval_ms: int
) -> None:
    with pytest.raises(InvalidArgumentError):
        EventLog(home, fsync=policy, interval_ms=interval_ms)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", ["always", "interval", "never"])
def test_the_command_line_takes_the_policy_as_a_global_option(home: Path, policy: str) -> None:
    sid = run_chatlog("--fsync", policy, "new").stdout.strip()
    appended = run_chatlog("--fsync", policy, "append", sid, "--role", "user", input="x\n")
    assert appended.returncode == 0, appended.stderr
    with EventLog(home, fsync="never") as log:
        assert [e.seq for e in log.read(sid)] == [1, 2]
        assert_log_valid(log_file(log, sid))
