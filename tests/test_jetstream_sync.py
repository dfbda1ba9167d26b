"""``chatlog sync URL`` between a local home and a real JetStream server, through the
installed command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import EventLog
from eventlog.jetstream import JetStreamStore
from eventlog.store import EventStore
from tests.conftest import run_chatlog

TS = "2025-03-04T05:06:07+00:00"


@pytest.fixture
def remote(url: str) -> Iterator[JetStreamStore]:
    with JetStreamStore(url) as store:
        yield store


def events(store: EventStore, sid: str) -> list[object]:
    return list(store.read(sid))


def test_sync_copies_both_ways_and_a_second_run_copies_nothing(
    home: Path, url: str, remote: JetStreamStore
) -> None:
    with EventLog(home) as local:
        mine = local.create_session("laptop", ["a"])
        local.append(mine, "user", "written offline")
    theirs = remote.create_session("desktop")
    remote.append(theirs, "assistant", "written on the other machine")

    first = run_chatlog("sync", url, home=home)
    assert first.returncode == 0, first.stderr
    assert f"copied {mine} to" in first.stdout
    assert f"copied {theirs} here" in first.stdout
    assert "copied 1 up, 1 down" in first.stderr

    with EventLog(home) as local:
        assert events(local, theirs) == events(remote, theirs)
        assert events(local, mine) == events(remote, mine)
    second = run_chatlog("sync", url, home=home)
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""
    assert "copied 0 up, 0 down; 2 already the same; 0 diverged" in second.stderr
    listed = run_chatlog("list", home=home)
    assert "desktop" in listed.stdout and "laptop" in listed.stdout


def test_sync_appends_what_the_shorter_side_lacks(
    home: Path, url: str, remote: JetStreamStore
) -> None:
    sid = remote.create_session("shared", session_id="2025-03-04_050607_abc123", ts=TS)
    with EventLog(home) as local:
        local.create_session("shared", session_id=sid, ts=TS)
        assert events(local, sid) == events(remote, sid)
        local.append(sid, "user", "one", ts=TS)
        local.append(sid, "assistant", "two", ts=TS)
    done = run_chatlog("sync", url, home=home)
    assert done.returncode == 0, done.stderr
    assert f"copied {sid} to" in done.stdout and "(2 events)" in done.stdout
    with EventLog(home) as local:
        assert events(remote, sid) == events(local, sid)
    remote.append(sid, "user", "three")
    back = run_chatlog("sync", url, home=home)
    assert f"copied {sid} here (1 events)" in back.stdout
    with EventLog(home) as local:
        assert [e.seq for e in local.read(sid)] == [1, 2, 3, 4]


def test_a_session_changed_on_both_sides_is_reported_and_left_alone(
    home: Path, url: str, remote: JetStreamStore
) -> None:
    sid = remote.create_session("forked", session_id="2025-03-04_050607_def456", ts=TS)
    remote.append(sid, "user", "from the server", ts=TS)
    with EventLog(home) as local:
        local.create_session("forked", session_id=sid, ts=TS)
        local.append(sid, "user", "from the laptop", ts=TS)
        local.append(sid, "user", "and more", ts=TS)
        before_local = events(local, sid)
    before_remote = events(remote, sid)
    done = run_chatlog("sync", url, home=home)
    assert done.returncode == 4
    assert f"diverged: {sid} differs on both sides from seq 2; left as is" in done.stderr
    with EventLog(home) as local:
        assert events(local, sid) == before_local
    assert events(remote, sid) == before_remote


def test_a_dry_run_says_what_it_would_copy_and_copies_nothing(
    home: Path, url: str, remote: JetStreamStore
) -> None:
    sid = remote.create_session("elsewhere")
    done = run_chatlog("sync", "--dry-run", url, home=home)
    assert done.returncode == 0, done.stderr
    assert f"would copy {sid} here (1 events)" in done.stdout
    with EventLog(home) as local:
        assert local.session_ids() == []


def test_sync_with_no_server_is_one_line_and_exit_5(home: Path) -> None:
    from tests.nats_servers import free_port

    done = run_chatlog("sync", f"nats://127.0.0.1:{free_port()}?timeout=1", home=home)
    assert done.returncode == 5
    assert done.stderr.count("\n") == 1 and "no server reachable" in done.stderr


def test_a_delete_on_either_side_is_carried_over_and_a_second_run_does_nothing(
    home: Path, url: str, remote: JetStreamStore
) -> None:
    with EventLog(home) as local:
        gone_here = local.create_session("deleted here")
        gone_there = local.create_session("deleted there")
        local.append(gone_there, "user", "unusual-word-quokka")
    assert run_chatlog("sync", url, home=home).returncode == 0
    assert gone_there in run_chatlog("list", "--json", home=home).stdout
    with EventLog(home) as local:
        local.delete_session(gone_here)
    remote.delete_session(gone_there)
    done = run_chatlog("sync", url, home=home)
    assert done.returncode == 0, done.stderr
    assert f"deleted {gone_here} at" in done.stdout
    assert f"deleted {gone_there} here" in done.stdout
    assert not remote.exists(gone_here)
    with EventLog(home) as local:
        assert not local.exists(gone_there) and not local.exists(gone_here)
    # deleted here as `chatlog delete` does: gone from the projections too
    assert gone_there not in run_chatlog("list", "--json", home=home).stdout
    assert "quokka" not in run_chatlog("search", "unusual-word-quokka", home=home).stdout
    again = run_chatlog("sync", url, home=home)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert "copied 0 up, 0 down; 0 already the same; 0 diverged" in again.stderr


def test_a_session_changed_after_the_other_side_deleted_it_is_reported_not_deleted(
    home: Path, url: str, remote: JetStreamStore
) -> None:
    with EventLog(home) as local:
        sid = local.create_session("busy")
    assert run_chatlog("sync", url, home=home).returncode == 0
    remote.delete_session(sid)
    with EventLog(home) as local:
        local.append(sid, "user", "written offline after the delete")
    done = run_chatlog("sync", url, home=home)
    assert done.returncode == 4
    assert f"diverged: {sid}" in done.stderr and "deleted on the other side" in done.stderr
    with EventLog(home) as local:
        assert [e.seq for e in local.read(sid)] == [1, 2]
    assert not remote.exists(sid)
