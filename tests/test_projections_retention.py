"""Retention without silent loss: cleanup archives the least recently updated sessions
beyond the limit, says so, and restore brings a session back byte for byte; only --purge
deletes archives."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from eventlog import EventLog
from tests.conftest import run_chatlog


def make_sessions(log: EventLog, count: int) -> list[str]:
    """Sessions updated in order: the first is the least recently updated."""
    sids = []
    for i in range(count):
        sid = log.create_session(title=f"session {i}")
        log.append(sid, "user", f"hello number {i}", token_count=i)
        sids.append(sid)
    return sids


def listed(*args: str) -> list[str]:
    return [s["session_id"] for s in json.loads(run_chatlog("list", "--json", *args).stdout)]


def test_cleanup_archives_the_least_recently_updated_beyond_the_limit(
    home: Path, log: EventLog
) -> None:
    sids = make_sessions(log, 5)
    log.append(sids[0], "user", "touched again: now the most recent")
    originals = {sid: log.layout.log_path(sid).read_bytes() for sid in sids}

    result = run_chatlog("cleanup", "--max-sessions", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"archived {sids[2]}", f"archived {sids[1]}"]
    assert "archived 2 sessions to" in result.stderr and "kept 3" in result.stderr

    assert sorted(listed()) == sorted([sids[0], sids[3], sids[4]])
    for sid in (sids[1], sids[2]):
        archive = home / "archive" / f"{sid}.jsonl.gz"
        assert gzip.decompress(archive.read_bytes()) == originals[sid]
        assert archive.stat().st_mode & 0o777 == 0o600
        assert not log.layout.log_path(sid).exists()
        assert not (home / "sessions" / f"{sid}.json").exists()
    assert (home / "archive").stat().st_mode & 0o777 == 0o700
    assert run_chatlog("search", "number", "--json").stdout.count("session_id") == 3


def test_restore_brings_a_session_back_byte_for_byte(home: Path, log: EventLog) -> None:
    sids = make_sessions(log, 3)
    original = log.layout.log_path(sids[0]).read_bytes()
    original_snapshot = run_chatlog("show", sids[0], "--json").stdout
    assert run_chatlog("cleanup", "--max-sessions", "2").returncode == 0

    archived = run_chatlog("restore", "--list", "--json")
    assert [a["session_id"] for a in json.loads(archived.stdout)] == [sids[0]]
    result = run_chatlog("restore", sids[0].rsplit("_", 1)[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"restored {sids[0]} (1 message)"

    assert log.layout.log_path(sids[0]).read_bytes() == original
    assert log.layout.log_path(sids[0]).stat().st_mode & 0o777 == 0o600
    assert not (home / "archive" / f"{sids[0]}.jsonl.gz").exists()
    assert run_chatlog("show", sids[0], "--json").stdout == original_snapshot
    assert len(listed()) == 3
    log.append(sids[0], "user", "appending works again")
    assert (
        json.loads(run_chatlog("show", sids[0], "--json").stdout)["metadata"]["message_count"] == 2
    )


def test_restore_never_overwrites_a_live_session(home: Path, log: EventLog) -> None:
    sid = make_sessions(log, 2)[0]
    assert run_chatlog("cleanup", "--max-sessions", "1").returncode == 0
    log.create_session(session_id=sid, title="a new life under the same id")
    result = run_chatlog("restore", sid)
    assert result.returncode == 4
    assert "exists already" in result.stderr
    assert (home / "archive" / f"{sid}.jsonl.gz").exists()


def test_dry_run_and_default_limit_change_nothing(home: Path, log: EventLog) -> None:
    sids = make_sessions(log, 3)
    dry = run_chatlog("cleanup", "--max-sessions", "1", "--dry-run")
    assert dry.stdout.splitlines() == [f"would archive {sids[1]}", f"would archive {sids[0]}"]
    assert len(listed()) == 3
    default = run_chatlog("cleanup")
    assert default.returncode == 0 and default.stdout == ""
    assert "nothing to archive: 3 sessions, limit 1000" in default.stderr
    assert not (home / "archive").exists() or not any((home / "archive").iterdir())


def test_purge_deletes_archives_and_says_which(home: Path, log: EventLog) -> None:
    sids = make_sessions(log, 3)
    assert run_chatlog("cleanup", "--max-sessions", "2").returncode == 0
    would = run_chatlog("cleanup", "--max-sessions", "1", "--purge", "--dry-run", "--json")
    report = json.loads(would.stdout)
    assert report["dry_run"] and report["archived"] == [sids[1]]
    assert sorted(Path(p).name for p in report["purged"]) == sorted(
        f"{sid}.jsonl.gz" for sid in sids[:2]
    )
    assert len(list((home / "archive").iterdir())) == 1

    purged = run_chatlog("cleanup", "--max-sessions", "1", "--purge")
    assert purged.returncode == 0, purged.stderr
    lines = purged.stdout.splitlines()
    assert lines[0] == f"archived {sids[1]}"
    assert sorted(lines[1:]) == sorted(
        f"deleted {home / 'archive' / f'{sid}.jsonl.gz'}" for sid in sids[:2]
    )
    assert list((home / "archive").iterdir()) == []
    assert listed() == [sids[2]]
    assert run_chatlog("restore", sids[0]).returncode == 3
