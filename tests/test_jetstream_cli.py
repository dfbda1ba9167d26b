"""The commands through the installed ``chatlog`` with ``--store nats://...`` (and
``CHATLOG_STORE``), against a real server: two homes sharing one stream see each other's
sessions, titles and deletes; projections stay in each home."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import chatlog_executable, run_chatlog
from tests.nats_servers import free_port


def cli(
    home: Path, url: str, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_chatlog(*args, input=input, home=home, env={"CHATLOG_STORE": url})


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_new_append_tail_show_and_export_work_on_the_store(tmp_path: Path, url: str) -> None:
    home = tmp_path / "a"
    sid = ok(cli(home, url, "new", "--title", "on nats", "--tag", "x")).strip()
    ok(cli(home, url, "append", sid, "--role", "user", input="hello from nats\n"))
    ok(cli(home, url, "append", sid, "--role", "assistant", input="hi back\n"))
    assert "hello from nats" in ok(cli(home, url, "tail", sid))
    assert [
        json.loads(line)["seq"]
        for line in ok(cli(home, url, "tail", sid, "--json", "-n", "2")).splitlines()
    ] == [2, 3]
    assert "hi back" in ok(cli(home, url, "show", sid))
    exported = ok(cli(home, url, "export", sid, "--format", "markdown"))
    assert "hello from nats" in exported and "on nats" in exported
    stale = cli(home, url, "append", sid, "--role", "user", "--expected-seq", "1", input="late")
    assert stale.returncode == 4 and stale.stderr.count("\n") == 1
    # nothing went to the home's own log files
    assert not list((home / "events").glob("*.jsonl")) if (home / "events").exists() else True


def test_two_homes_on_one_stream_see_sessions_titles_tags_and_deletes(
    tmp_path: Path, url: str
) -> None:
    laptop, desktop = tmp_path / "laptop", tmp_path / "desktop"
    sid = ok(cli(laptop, url, "new", "--title", "shared work")).strip()
    ok(cli(laptop, url, "append", sid, "--role", "user", input="unusual-word-zebra\n"))
    listed = json.loads(ok(cli(desktop, url, "list", "--json")))
    assert [entry["session_id"] for entry in listed] == [sid]
    assert sid[-6:] in ok(cli(desktop, url, "search", "unusual-word-zebra"))
    ok(cli(desktop, url, "title", sid, "renamed on the desktop"))
    ok(cli(desktop, url, "tag", sid, "urgent"))
    entry = json.loads(ok(cli(laptop, url, "list", "--json")))[0]
    assert entry["title"] == "renamed on the desktop" and "urgent" in entry["tags"]
    ok(cli(laptop, url, "untag", sid, "urgent"))
    ok(cli(laptop, url, "delete", sid))
    assert json.loads(ok(cli(desktop, url, "list", "--json"))) == []
    assert "unusual-word-zebra" not in ok(cli(desktop, url, "search", "unusual-word-zebra"))


def test_upkeep_commands_work_on_the_store(tmp_path: Path, url: str) -> None:
    home = tmp_path / "a"
    sid = ok(cli(home, url, "new", "--title", "old")).strip()
    ok(cli(home, url, "append", sid, "--role", "user", input="keep me\n"))
    ok(cli(home, url, "rebuild"))
    ok(cli(home, url, "fsck"))
    ok(cli(home, url, "cleanup", "--max-sessions", "0"))
    assert sid in ok(cli(home, url, "restore", "--list"))
    ok(cli(home, url, "restore", sid))
    assert "keep me" in ok(cli(home, url, "show", sid))


def test_tail_follow_prints_appends_from_another_home(tmp_path: Path, url: str) -> None:
    home, other = tmp_path / "a", tmp_path / "b"
    sid = ok(cli(home, url, "new")).strip()
    with subprocess.Popen(
        [chatlog_executable(), "--store", url, "--home", str(home), "tail", "-f", sid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        try:
            assert follower.stdout is not None and follower.stderr is not None
            assert "created" in follower.stdout.readline()
            ok(cli(other, url, "append", sid, "--role", "user", input="live line\n"))
            assert "live line" in follower.stdout.readline()
            ok(cli(other, url, "delete", sid))
            assert follower.wait(timeout=60) == 0
            assert "deleted" in follower.stderr.read()
        finally:
            if follower.poll() is None:
                follower.kill()


def test_a_store_that_is_down_is_one_line_and_exit_5(tmp_path: Path) -> None:
    down = f"nats://127.0.0.1:{free_port()}?timeout=1"
    done = run_chatlog("--store", down, "list", home=tmp_path / "a")
    assert done.returncode == 5
    assert done.stderr.count("\n") == 1 and "no server reachable" in done.stderr


def test_watch_keeps_this_homes_projections_current_from_another_homes_appends(
    tmp_path: Path, url: str
) -> None:
    home, other = tmp_path / "a", tmp_path / "b"
    sid = ok(cli(other, url, "new", "--title", "watched")).strip()
    with subprocess.Popen(
        [chatlog_executable(), "--store", url, "--home", str(home), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as watcher:
        try:
            assert watcher.stdout is not None
            assert sid in watcher.stdout.readline()  # the first catch-up takes it in
            ok(cli(other, url, "append", sid, "--role", "user", input="seen by watch\n"))
            assert f"updated {sid}" in watcher.stdout.readline()
        finally:
            watcher.terminate()
            watcher.wait(timeout=30)
    ok(cli(home, url, "views", sid))
    view = json.loads((home / "sessions" / f"{sid}.json").read_text(encoding="utf-8"))
    assert "seen by watch" in json.dumps(view)


def test_deleting_an_archived_session_removes_its_archive_from_the_stream(
    tmp_path: Path, url: str
) -> None:
    home = tmp_path / "a"
    sid = ok(cli(home, url, "new", "--title", "archived then deleted")).strip()
    ok(cli(home, url, "cleanup", "--max-sessions", "0"))
    assert sid in ok(cli(home, url, "restore", "--list"))
    assert ok(cli(home, url, "delete", sid)).strip() == f"deleted {sid}"
    assert json.loads(ok(cli(home, url, "restore", "--list", "--json"))) == []
    assert cli(home, url, "restore", sid).returncode == 3
