"""What was typed in the REPL goes with its session: deleting the session also removes
its entries from <home>/history, and leaves the other sessions' entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_chatlog
from tests.repl_pty import Repl, only_session


@pytest.fixture
def repl() -> Iterator[Repl]:
    session = Repl()
    yield session
    session.close()


def test_deleting_a_session_removes_what_was_typed_in_it_from_the_history(
    home: Path, repl: Repl
) -> None:
    repl.run("zyxwvu private words typed here", until="No model is configured")
    victim = only_session(home)
    repl.run("/new", until="New session")
    repl.run("kept words of another session", until="(echo) kept words of another session")
    repl.quit()
    history = (home / "history").read_text()
    assert "zyxwvu" in history and f"session={victim}" in history
    assert run_chatlog("delete", victim).returncode == 0
    history = (home / "history").read_text()
    assert "zyxwvu" not in history
    assert "kept words of another session" in history
    assert (home / "history").stat().st_mode & 0o777 == 0o600
