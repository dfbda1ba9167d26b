"""The conversation tree in the REPL, through a real pty: /fork, /rewind, /edit and
/branches continue on forks, the prompt says so, and nothing is ever lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import EventLog, Message
from tests.repl_pty import Repl


@pytest.fixture
def repl() -> Iterator[Repl]:
    session = Repl()
    yield session
    session.close()


def messages(home: Path, sid: str) -> list[str]:
    """The session's messages, each reply cut to its first line (the echo)."""
    with EventLog(home) as log:
        return [e.content.split("\n")[0] for e in log.read(sid) if isinstance(e, Message)]


def sessions(home: Path) -> list[str]:
    with EventLog(home) as log:
        return log.session_ids()


def test_rewind_continues_on_a_fork_and_the_abandoned_branch_stays(home: Path, repl: Repl) -> None:
    repl.run("first question", until="No model is configured")
    repl.run("second question", until="(echo) second question")
    (original,) = sessions(home)
    out = repl.run("/rewind 2", until="previous branch stays")
    assert "Rewound to a fork" in out and f"fork of {original[-6:]}" in repl.child.after
    repl.run("a different second question", until="(echo) a different second question")
    (fork,) = [sid for sid in sessions(home) if sid != original]
    assert messages(home, original) == [
        "first question",
        "(echo) first question",
        "second question",
        "(echo) second question",
    ]
    assert messages(home, fork) == [
        "first question",
        "(echo) first question",
        "a different second question",
        "(echo) a different second question",
    ]
    branches = repl.run("/branches", until=f"→ {fork[-6:]} at #3")
    assert original[-6:] in branches and fork[-6:] in branches
    repl.run(f"/load {original[-6:]}", until="Loaded session")


def test_edit_resends_the_last_message_on_a_fork(home: Path, repl: Repl) -> None:
    repl.run("helo wrld", until="No model is configured")
    (original,) = sessions(home)
    repl.run("/edit hello world", until="(echo) hello world")
    (fork,) = [sid for sid in sessions(home) if sid != original]
    assert messages(home, fork) == ["hello world", "(echo) hello world"]
    assert messages(home, original) == ["helo wrld", "(echo) helo wrld"]


def test_fork_without_a_number_forks_now_and_a_bad_number_is_one_line(
    home: Path, repl: Repl
) -> None:
    repl.run("only question", until="No model is configured")
    repl.run("/fork", until="previous branch stays")
    assert len(sessions(home)) == 2
    out = repl.run("/rewind 99", until="does not exist")
    assert "Traceback" not in out
