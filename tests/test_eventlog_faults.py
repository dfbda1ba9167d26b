"""Injected I/O faults, through a FileOps subclass wrapping the real calls: a full disk,
EIO, short writes and failed fdatasync give one clear error each, leave the log valid and
never pretend an append happened; the next append carries on with the right seq."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from eventlog import (
    DiskFullError,
    DurabilityError,
    EventLog,
    FsyncPolicy,
    InvalidArgumentError,
    StorageError,
)
from tests.eventlog_helpers import FaultyFileOps, assert_log_valid, log_file, quarantined

POLICIES: list[FsyncPolicy] = ["always", "interval", "never"]


def open_log(home: Path, ops: FaultyFileOps, policy: FsyncPolicy = "always") -> EventLog:
    return EventLog(home, fsync=policy, file_ops=ops, interval_ms=60_000)


def session_with_history(log: EventLog) -> tuple[str, bytes]:
    sid = log.create_session(title="faults")
    log.append(sid, "user", "hello")
    log.append(sid, "assistant", "hi there")
    return sid, log_file(log, sid).read_bytes()


# --------------------------------------------------------------------------- write errors


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_a_disk_full_error_and_the_log_is_unchanged(
    home: Path, policy: FsyncPolicy, code: int
) -> None:
    ops = FaultyFileOps()
    with open_log(home, ops, policy) as log:
        sid, before = session_with_history(log)
        ops.write_error = code
        with pytest.raises(DiskFullError, match="disk full"):
            log.append(sid, "user", "this does not fit")
        assert log_file(log, sid).read_bytes() == before
        assert log.append(sid, "user", "space again").seq == 4
        assert [e.seq for e in log.read(sid)] == [1, 2, 3, 4]
        assert_log_valid(log_file(log, sid))


@pytest.mark.parametrize("policy", POLICIES)
def test_an_io_error_on_write_is_a_storage_error_and_the_log_is_unchanged(
    home: Path, policy: FsyncPolicy
) -> None:
    ops = FaultyFileOps()
    with open_log(home, ops, policy) as log:
        sid, before = session_with_history(log)
        ops.write_error = errno.EIO
        with pytest.raises(StorageError) as failed:
            log.append(sid, "user", "lost to EIO")
        assert not isinstance(failed.value, DiskFullError | DurabilityError)
        assert os.strerror(errno.EIO) in str(failed.value)
        assert log_file(log, sid).read_bytes() == before
        assert log.append(sid, "user", "works again").seq == 4


@pytest.mark.parametrize("policy", POLICIES)
def test_a_short_write_is_truncated_back_and_reported_as_disk_full(
    home: Path, policy: FsyncPolicy
) -> None:
    ops = FaultyFileOps()
    with open_log(home, ops, policy) as log:
        sid, before = session_with_history(log)
        ops.short_write = True
        with pytest.raises(DiskFullError, match="short write"):
            log.append(sid, "user", "half of this reaches the disk " * 10)
        assert ops.truncates == 1  # the half line really was written, then cut away
        assert log_file(log, sid).read_bytes() == before
        assert_log_valid(log_file(log, sid))
        assert log.append(sid, "user", "whole").seq == 4
        assert quarantined(log) == []


def test_a_short_write_that_cannot_be_truncated_is_cut_by_the_next_writer(home: Path) -> None:
    ops = FaultyFileOps()
    with open_log(home, ops, "never") as log:
        sid, before = session_with_history(log)
        ops.short_write = True
        ops.ftruncate_error = errno.EIO
        with pytest.raises(DiskFullError):
            log.append(sid, "user", "half of this stays behind " * 10)
        partial = log_file(log, sid).read_bytes()[len(before) :]
        assert partial  # readers see it as a torn tail and ignore it
        assert [e.seq for e in log.read(sid)] == [1, 2, 3]
        assert log.append(sid, "user", "next").seq == 4
        assert quarantined(log) == [partial]
        assert_log_valid(log_file(log, sid))


def test_a_session_whose_creation_fails_leaves_no_file_behind(home: Path) -> None:
    ops = FaultyFileOps()
    with open_log(home, ops, "never") as log:
        ops.write_error = errno.ENOSPC
        with pytest.raises(DiskFullError):
            log.create_session(title="never born")
        assert log.session_ids() == []
        assert os.listdir(home / "events") == []


# --------------------------------------------------------------------------- failed fsync


def test_a_failed_fdatasync_fails_the_append_removes_its_line_and_reopens_the_handle(
    home: Path,
) -> None:
    ops = FaultyFileOps()
    with open_log(home, ops, "always") as log:
        sid, before = session_with_history(log)
        ops.fdatasync_error = errno.EIO
        with pytest.raises(DurabilityError, match="fdatasync failed"):
            log.append(sid, "user", "not durable")
        failed_fd = ops.sync_fds[-1]
        # The event is not in the log (its line was cut away), and the descriptor whose
        # fdatasync failed was closed rather than trusted again.
        assert log_file(log, sid).read_bytes() == before
        assert [e.seq for e in log.read(sid)] == [1, 2, 3]
        with pytest.raises(OSError) as closed:
            os.fstat(failed_fd)
        assert closed.value.errno == errno.EBADF

        syncs = len(ops.sync_fds)
        event = log.append(sid, "user", "durable")
        assert event.seq == 4
        assert len(ops.sync_fds) == syncs + 1  # synced once, on a freshly opened handle
        assert [e.seq for e in log.read(sid)] == [1, 2, 3, 4]
        assert_log_valid(log_file(log, sid))


def test_a_failed_fdatasync_is_never_retried_as_if_it_had_worked(home: Path) -> None:
    ops = FaultyFileOps()
    ops.sticky = True
    with open_log(home, ops, "always") as log:
        sid, before = session_with_history(log)
        ops.fdatasync_error = errno.EIO
        for attempt in range(3):
            with pytest.raises(DurabilityError):
                log.append(sid, "user", f"attempt {attempt}")
            assert log_file(log, sid).read_bytes() == before
        ops.fdatasync_error = None
        assert log.append(sid, "user", "finally").seq == 4


def test_interval_a_failed_background_sync_fails_the_next_append(home: Path) -> None:
    ops = FaultyFileOps()
    with EventLog(home, fsync="interval", interval_ms=10, file_ops=ops) as log:
        sid, _ = session_with_history(log)
        ops.failed.clear()
        ops.fdatasync_error = errno.EIO
        log.append(sid, "user", "acknowledged, then its background sync fails")
        assert ops.failed.wait(timeout=60), "the background sync never ran"
        before = log_file(log, sid).read_bytes()
        with pytest.raises(DurabilityError, match="background fdatasync failed"):
            log.append(sid, "user", "must not pretend")
        assert log_file(log, sid).read_bytes() == before
        assert log.append(sid, "user", "carries on").seq == 5
        assert [e.seq for e in log.read(sid)] == [1, 2, 3, 4, 5]


def test_interval_a_failed_background_sync_is_not_forgotten_when_its_handle_is_evicted(
    home: Path,
) -> None:
    ops = FaultyFileOps()
    with EventLog(home, fsync="interval", interval_ms=10, max_open=1, file_ops=ops) as log:
        sid, _ = session_with_history(log)
        ops.failed.clear()
        ops.fdatasync_only_for = log_file(log, sid)
        ops.fdatasync_error = errno.EIO
        log.append(sid, "user", "its background sync fails")
        assert ops.failed.wait(timeout=60), "the background sync never ran"
        log.create_session(title="another session pushes the first handle out")
        with pytest.raises(DurabilityError):
            log.append(sid, "user", "must not pretend")
        assert log.append(sid, "user", "carries on").seq == 5


def test_interval_a_failed_sync_on_eviction_fails_the_next_append(home: Path) -> None:
    ops = FaultyFileOps()
    with EventLog(home, fsync="interval", interval_ms=60_000, max_open=1, file_ops=ops) as log:
        sid, _ = session_with_history(log)
        log.append(sid, "user", "not yet synced")
        ops.fdatasync_only_for = log_file(log, sid)
        ops.fdatasync_error = errno.EIO
        log.create_session(title="evicts the dirty handle, whose sync fails")
        with pytest.raises(DurabilityError):
            log.append(sid, "user", "must not pretend")
        assert log.append(sid, "user", "carries on").seq == 5


def test_close_reports_a_failed_final_sync(home: Path) -> None:
    ops = FaultyFileOps()
    log = EventLog(home, fsync="interval", interval_ms=60_000, file_ops=ops)
    sid = log.create_session()
    log.append(sid, "user", "pending")
    ops.fdatasync_error = errno.EIO
    with pytest.raises(DurabilityError):
        log.close()
    with pytest.raises(StorageError, match="closed"):
        log.append(sid, "user", "after close")


def test_a_failed_background_sync_of_a_deleted_session_does_not_haunt_its_successor(
    home: Path,
) -> None:
    ops = FaultyFileOps()
    with EventLog(home, fsync="interval", interval_ms=60_000, max_open=1, file_ops=ops) as log:
        sid = log.create_session(session_id="2025-10-04_150808")
        log.append(sid, "user", "not yet synced")
        ops.fdatasync_only_for = log_file(log, sid)
        ops.fdatasync_error = errno.EIO
        log.create_session(title="evicts the dirty handle, whose sync fails")
        log.delete_session(sid)
        log.create_session(session_id=sid)
        assert log.append(sid, "user", "a new session").seq == 2


def test_close_reports_a_background_sync_that_failed_even_if_a_retry_would_succeed(
    home: Path,
) -> None:
    ops = FaultyFileOps()
    log = EventLog(home, fsync="interval", interval_ms=10, file_ops=ops)
    sid = log.create_session()
    ops.failed.clear()
    ops.fdatasync_error = errno.EIO  # fails once; a retry would "succeed"
    log.append(sid, "user", "acknowledged, never made durable")
    assert ops.failed.wait(timeout=60), "the background sync never ran"
    with pytest.raises(DurabilityError, match="background fdatasync failed"):
        log.close()


def test_sync_reports_a_failed_sync_of_an_evicted_handle(home: Path) -> None:
    ops = FaultyFileOps()
    with EventLog(home, fsync="interval", interval_ms=60_000, max_open=1, file_ops=ops) as log:
        sid = log.create_session()
        log.append(sid, "user", "not yet synced")
        ops.fdatasync_only_for = log_file(log, sid)
        ops.fdatasync_error = errno.EIO
        log.create_session(title="evicts the dirty handle, whose sync fails")
        with pytest.raises(DurabilityError, match=sid):
            log.sync()
        log.sync()  # reported once; nothing is pending any more
        assert log.append(sid, "user", "carries on").seq == 3


def test_a_title_that_cannot_be_stored_creates_no_session(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        with pytest.raises(InvalidArgumentError):
            log.create_session(title="\ud800 lone surrogate")
        assert log.session_ids() == []
