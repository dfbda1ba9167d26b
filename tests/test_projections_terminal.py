"""On a real terminal (a pty): colours unless NO_COLOR, long `show` output through the
pager, the table cut to the screen width, and a progress bar for long rebuilds."""

from __future__ import annotations

import os
from pathlib import Path

import pexpect

from eventlog import EventLog
from tests.conftest import chatlog_executable

TIMEOUT = 30


def run_in_terminal(
    *args: str, env: dict[str, str] | None = None, columns: int = 100
) -> tuple[str, int]:
    full_env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    full_env.update({"TERM": "xterm", **(env or {})})
    child = pexpect.spawn(
        chatlog_executable(),
        list(args),
        env=full_env,
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(24, columns),
    )
    output = child.read()
    child.close()
    assert child.exitstatus is not None
    return output, child.exitstatus


def test_tables_are_bold_and_fit_the_terminal_and_are_plain_with_no_color(log: EventLog) -> None:
    log.create_session(title="A title long enough to be cut at sixty columns, surely, yes")
    coloured, status = run_in_terminal("list", columns=60)
    assert status == 0
    assert "\x1b[1mID" in coloured
    rows = [line for line in coloured.splitlines() if "A title" in line]
    assert rows and len(rows[0]) <= 60 and rows[0].endswith("…")
    plain, _ = run_in_terminal("list", env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain


def test_a_long_session_goes_through_the_pager(log: EventLog, tmp_path: Path) -> None:
    sid = log.create_session()
    for i in range(60):
        log.append(sid, "user", f"line {i}")
    pager = tmp_path / "pager.sh"
    seen = tmp_path / "paged.txt"
    pager.write_text(f"#!/bin/sh\ncat > {seen}\necho PAGED\n")
    pager.chmod(0o700)
    output, status = run_in_terminal("show", sid, env={"PAGER": str(pager), "NO_COLOR": "1"})
    assert status == 0
    assert "PAGED" in output
    assert "line 59" in seen.read_text()
    direct, _ = run_in_terminal(
        "show", sid, "--no-pager", env={"PAGER": str(pager), "NO_COLOR": "1"}
    )
    assert "PAGED" not in direct and "line 59" in direct


def test_a_long_rebuild_draws_a_progress_bar_on_the_terminal(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        for i in range(60):
            log.append(log.create_session(), "user", f"session {i} " + "x" * 1500)
    output, status = run_in_terminal("rebuild")
    assert status == 0
    assert "rebuilding" in output
    assert "rebuilt 60 sessions (120 events)" in output


def test_a_rebuild_of_one_long_session_draws_its_bar_by_bytes(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session()
        for i in range(300):
            log.append(sid, "user", f"message {i} " + "x" * 1000)
    output, status = run_in_terminal("rebuild")
    assert status == 0
    assert "rebuilding" in output and "kB" in output  # bytes read, not "0/1 sessions"
    assert "rebuilt 1 session (301 events)" in output
