"""Deleting a session removes it everywhere: no file under the home keeps its text."""

from __future__ import annotations

import json
from pathlib import Path

from eventlog import EventLog
from projections import Projections
from projections.watcher import Watcher
from tests.conftest import run_chatlog

SECRET_WORD = "zanzibarquux"
SECRET_PHRASE = "my bank PIN is 4921-7730"
SECRET_TITLE = "Tax return of Ottoline Quimby"


def files_containing(home: Path, *needles: str) -> list[str]:
    """Every file under ``home`` holding any of ``needles`` (UTF-8), as 'path: needle'."""
    found = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


def fill_with_secrets(log: EventLog) -> tuple[str, str]:
    secret = log.create_session(title=SECRET_TITLE, tags=["private-" + SECRET_WORD])
    kept = log.create_session(title="Groceries")
    for i in range(120):  # enough rows for several FTS segments
        log.append(secret, "user", f"note {i}: {SECRET_WORD} {SECRET_PHRASE}")
        log.append(kept, "assistant", f"buy apples, item {i}")
    # A crashed writer's partial line, moved to quarantine/ by the next append.
    with open(log.layout.log_path(secret), "ab") as file:
        file.write(f'{{"type":"message","content":"{SECRET_WORD} torn'.encode())
    log.append(secret, "user", f"after the crash {SECRET_WORD}")
    return secret, kept


def test_delete_leaves_no_trace_of_the_text_under_the_home(home: Path, log: EventLog) -> None:
    secret, kept = fill_with_secrets(log)
    with Projections(log) as projections:
        assert len(projections.search(SECRET_WORD, limit=500)) == 121
        projections.markdown(secret)
    assert files_containing(home, SECRET_WORD, SECRET_PHRASE, SECRET_TITLE)

    result = run_chatlog("delete", secret.rsplit("_", 1)[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"deleted {secret}"

    assert files_containing(home, SECRET_WORD, SECRET_PHRASE, SECRET_TITLE) == []
    assert [s["session_id"] for s in json.loads(run_chatlog("list", "--json").stdout)] == [kept]
    assert json.loads(run_chatlog("search", "apples", "--json", "--limit", "500").stdout)
    assert run_chatlog("show", secret).returncode == 3
    assert run_chatlog("rebuild", "--verify").returncode == 0


def test_delete_leaves_no_trace_while_a_watcher_holds_the_search_index_open(
    home: Path, log: EventLog
) -> None:
    secret, _kept = fill_with_secrets(log)
    with Watcher(log), Projections(log) as projections:
        assert projections.search(SECRET_WORD)
        projections.delete_session(secret)
        assert files_containing(home, SECRET_WORD, SECRET_PHRASE, SECRET_TITLE) == []


def test_deleting_an_archived_session_deletes_its_archive(home: Path, log: EventLog) -> None:
    old = log.create_session(title="old one")
    log.append(old, "user", SECRET_PHRASE)
    log.create_session(title="new one")
    assert run_chatlog("cleanup", "--max-sessions", "1").returncode == 0
    assert (home / "archive" / f"{old}.jsonl.gz").exists()

    result = run_chatlog("delete", old)
    assert result.returncode == 0, result.stderr
    assert not (home / "archive" / f"{old}.jsonl.gz").exists()
    assert run_chatlog("restore", old).returncode == 3


def test_deleting_an_unknown_session_is_exit_code_3(home: Path) -> None:
    result = run_chatlog("delete", "2020-01-01_000000")
    assert result.returncode == 3
    assert result.stderr.startswith("chatlog: error: no session")


def test_delete_also_removes_copies_left_by_a_killed_verify(home: Path, log: EventLog) -> None:
    secret = log.create_session(title=SECRET_TITLE)
    log.append(secret, "user", SECRET_PHRASE)
    with Projections(log) as projections:
        projections.catch_up()
        stale = home / ".verify-leftover.sqlite3"
        stale.write_bytes((home / "projections.sqlite3").read_bytes())
        (home / ".verify-leftover.sqlite3-wal").write_bytes(SECRET_PHRASE.encode())
        projections.delete_session(secret)
    assert files_containing(home, SECRET_PHRASE, SECRET_TITLE) == []


def test_a_delete_killed_at_any_moment_is_finished_by_the_next_one(home: Path) -> None:
    """50 deletes are SIGKILLed at random moments; each time the next `chatlog delete`
    finishes the job, and afterwards no byte of the session's text is left anywhere under
    the home (logs, database and its write-ahead log, quarantine, temp files)."""
    import os
    import random
    import signal
    import subprocess
    import time

    from tests.conftest import chatlog_executable

    rng = random.Random(1234)
    env = {**os.environ, "CHATLOG_HOME": str(home)}
    with EventLog(home, fsync="never") as log:
        sessions = []
        for i in range(50):
            sid = log.create_session(title=f"secret title {i:02d}q")
            for j in range(40):
                log.append(sid, "user", f"kill{i:02d}word confidential entry {j}")
            sessions.append(sid)
        log.append(log.create_session(title="kept"), "user", "stays")
    assert run_chatlog("list").returncode == 0
    for i, sid in enumerate(sessions):
        deleting = subprocess.Popen(
            [chatlog_executable(), "delete", sid],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 0.6))
        deleting.send_signal(signal.SIGKILL)
        deleting.wait(timeout=30)
        again = run_chatlog("delete", sid)
        assert again.returncode in (0, 3), again.stderr  # 3: the first one had finished
        assert run_chatlog("list").returncode == 0
        assert files_containing(home, f"kill{i:02d}word", f"secret title {i:02d}q") == []
    listed = run_chatlog("list", "--json")
    assert [meta["title"] for meta in json.loads(listed.stdout)] == ["kept"]
