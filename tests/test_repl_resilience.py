"""The REPL keeps working when others write to its session, delete it, or the log is damaged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import EventLog
from tests.conftest import chatlog_executable
from tests.fake_openai import FakeOpenAI, Scripted, running
from tests.repl_pty import PROMPT, Repl, messages, only_session, session_with_short_id


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    yield from running()


def test_two_repls_on_one_session_both_save_and_see_each_others_messages(
    home: Path, server: FakeOpenAI, repls: list[Repl]
):
    env = {"OPENAI_BASE_URL": server.base_url}
    server.script(Scripted(text="Reply to A."), Scripted(text="Reply to B."))
    first = Repl(env=env)
    repls.append(first)
    first.run("from A", until="Reply to A.")
    sid = session_with_short_id(home, first.session_short)

    second = Repl("--session", sid, env=env)
    repls.append(second)
    second.run("from B", until="Reply to B.")

    # B's message and its reply are appended apart: one notice for both, or one for each.
    seen = 0
    while seen < 2:
        first.expect(re.compile(r"↻ (\d+) new messages? in this session from elsewhere"))
        match = first.child.match
        assert isinstance(match, re.Match)
        seen += int(match.group(1))
    assert seen == 2
    out = first.run("/info", until="Backend:")
    assert "Messages: 4" in out
    server.script(Scripted(text="Reply to A again."))
    first.run("from A again", until="Reply to A again.")
    assert server.requests[-1].body["messages"] == [
        {"role": "user", "content": "from A"},
        {"role": "assistant", "content": "Reply to A."},
        {"role": "user", "content": "from B"},
        {"role": "assistant", "content": "Reply to B."},
        {"role": "user", "content": "from A again"},
    ]
    assert first.quit() == 0
    assert second.quit() == 0
    seqs = [m.seq for m in messages(home, sid)]
    assert seqs == [2, 3, 4, 5, 6, 7]


def test_a_damaged_line_in_the_middle_is_reported_and_the_session_goes_on(
    home: Path, repls: list[Repl]
):
    with EventLog(home) as log:
        sid = log.create_session(title="Damaged")
        for text in ("first message", "second message", "third message"):
            log.append(sid, "user", text)
    path = home / "events" / f"{sid}.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"second", b"sec0nd")  # checksum no longer matches
    path.write_bytes(b"\n".join(lines))

    repl = Repl("--session", sid)
    repls.append(repl)
    assert re.search(r"✗ 1 damaged line\(s\) skipped in \S+\.jsonl \(line 3\)", repl.startup)
    assert "chatlog fsck --repair" in repl.startup
    info = repl.run("/info", until="Backend:")
    assert "Messages: 2" in info
    assert "skipped" not in info  # reported once, not on every look
    repl.run("still working", until="(echo) still working")
    repl.quit()
    with EventLog(home) as log:
        contents = [getattr(e, "content", None) for e in log.read(sid)]
    assert "first message" in contents
    assert "third message" in contents
    assert contents[-2] == "still working"


def test_a_session_deleted_elsewhere_is_reported_and_the_next_message_starts_a_new_one(
    home: Path, repls: list[Repl]
):
    import subprocess

    repl = Repl()
    repls.append(repl)
    repl.run("before the deletion", until="(echo) before the deletion")
    sid = only_session(home)
    subprocess.run([chatlog_executable(), "delete", sid], check=True, capture_output=True)
    repl.expect(f"session {sid} was deleted elsewhere")
    repl.type("after the deletion")
    repl.enter()
    repl.expect("continuing in a new session")
    repl.expect("(echo) after the deletion")
    repl.prompt()
    repl.quit()
    new_sid = only_session(home)
    assert new_sid != sid
    assert messages(home, new_sid)[0].content == "after the deletion"


def test_chatlog_with_no_command_starts_the_repl(home: Path):
    import pexpect

    child = pexpect.spawn(
        chatlog_executable(),
        [],
        env={**_env(), "NO_COLOR": "1"},
        encoding="utf-8",
        timeout=15,
        dimensions=(40, 120),
    )
    try:
        child.expect("new session")
        child.expect(PROMPT)
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
