"""The watcher keeps the projections current as other processes create, append to and
delete sessions, both in a background thread and as `chatlog watch` (with `--views`, the
replaced system's files too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlean  # type: ignore[import-untyped]

from eventlog import EventLog
from projections.watcher import Watcher
from tests.conftest import chatlog_executable, run_chatlog

WAIT_SECONDS = 30.0


def index_on_disk(home: Path) -> dict[str, dict[str, object]]:
    """The sessions the projection database holds (read directly, without catching up:
    a reader would catch up by itself)."""
    path = home / "projections.sqlite3"
    if not path.exists():
        return {}
    db = sqlean.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT session_id, message_count FROM sessions").fetchall()
    except sqlean.OperationalError:
        return {}
    finally:
        db.close()
    return {sid: {"message_count": count} for sid, count in rows}


def index_view(home: Path) -> dict[str, dict[str, object]]:
    """index.json as written by the watcher's --views."""
    try:
        return {s["session_id"]: s for s in json.loads((home / "index.json").read_text())}
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def message_count(home: Path, sid: str) -> object:
    return index_on_disk(home).get(sid, {}).get("message_count")


def test_the_background_watcher_follows_appends_and_deletes_by_other_processes(
    home: Path, log: EventLog
) -> None:
    changed: list[set[str]] = []
    seen = threading.Event()

    def on_change(ids: set[str]) -> None:
        changed.append(ids)
        seen.set()

    with Watcher(log, on_change) as watcher:
        assert watcher.running
        sid = run_chatlog("new", "--title", "watched").stdout.strip()
        assert wait_until(lambda: message_count(home, sid) == 0)
        for i in range(3):
            appended = run_chatlog("append", sid, "--role", "user", input=f"line {i}")
            assert appended.returncode == 0, appended.stderr
        assert wait_until(lambda: message_count(home, sid) == 3)
        assert any(sid in ids for ids in changed)

        python = str(Path(chatlog_executable()).with_name("python"))
        deleter = (
            "import sys\nfrom eventlog import EventLog\n"
            "EventLog(sys.argv[1]).delete_session(sys.argv[2])"
        )
        subprocess.run([python, "-c", deleter, str(home), sid], check=True, timeout=60)
        assert wait_until(lambda: sid not in index_on_disk(home))
        assert seen.is_set()
    assert not watcher.running


def test_chatlog_watch_updates_the_index_and_stops_cleanly_on_sigterm(home: Path) -> None:
    sid = run_chatlog("new").stdout.strip()
    watch = subprocess.Popen(
        [chatlog_executable(), "watch", "--views", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CHATLOG_HOME": str(home)},
    )
    try:
        assert watch.stderr is not None
        assert watch.stderr.readline().startswith(f"watching {home}")
        assert wait_until(lambda: message_count(home, sid) == 0)
        run_chatlog("append", sid, "--role", "assistant", input="from another process")
        assert wait_until(lambda: message_count(home, sid) == 1)
        assert wait_until(lambda: index_view(home).get(sid, {}).get("message_count") == 1)
        assert wait_until((home / "sessions" / f"{sid}.json").exists)
    finally:
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=WAIT_SECONDS)
    assert watch.returncode == 0, err
    assert f"updated {sid}" in out
    assert "Traceback" not in err


def test_a_stopped_watcher_can_be_started_fresh_and_catches_up_at_start(
    home: Path, log: EventLog
) -> None:
    sid = log.create_session()
    log.append(sid, "user", "written while nobody watched")
    watcher = Watcher(log).start()
    try:
        assert message_count(home, sid) == 1  # start() returns after the first catch-up
    finally:
        watcher.stop()
    assert not watcher.running
