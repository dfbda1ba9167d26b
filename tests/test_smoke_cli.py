"""The first CLI over the core: new, append, tail, through the installed command."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_chatlog


def test_new_append_and_tail_round_trip_through_the_installed_command(home: Path) -> None:
    created = run_chatlog("new", "--title", "Greeting", "--tag", "demo")
    assert created.returncode == 0, created.stderr
    sid = created.stdout.strip()

    appended = run_chatlog("append", sid, "--role", "user", "--tokens", "2", input="hello\n")
    assert appended.returncode == 0, appended.stderr
    assert appended.stdout.strip() == "2"

    tailed = run_chatlog("tail", sid, "--json")
    events = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert [e["type"] for e in events] == ["session_created", "message"]
    assert events[0]["title"] == "Greeting"
    assert events[0]["tags"] == ["demo"]
    assert events[1]["content"] == "hello"
    assert events[1]["token_count"] == 2


def test_an_unknown_session_is_one_line_on_stderr_and_exit_code_3(home: Path) -> None:
    result = run_chatlog("append", "2025-01-01_000000", "--role", "user", input="x")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_a_stale_expected_seq_exits_4_and_appends_nothing(home: Path) -> None:
    sid = run_chatlog("new").stdout.strip()
    result = run_chatlog("append", sid, "--role", "user", "--expected-seq", "5", input="x")
    assert result.returncode == 4
    assert "seq 1" in result.stderr
    tailed = run_chatlog("tail", sid, "--json")
    assert len(tailed.stdout.splitlines()) == 1
