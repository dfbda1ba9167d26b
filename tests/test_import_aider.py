"""Importing aider chat histories, checked against two real ``.aider.chat.history.md`` files:
one session per "# aider chat started at" run, ``#### `` lines as the user's input, ``> ``
lines as aider's output, the rest as the model's reply."""

from __future__ import annotations

import json
from pathlib import Path

from cli.importers.aider import parse_history
from cli.importers.inputs import iter_lines
from tests.conftest import run_chatlog
from tests.test_import_fixtures import AIDER_HISTORY, AIDER_WITH_REPLIES, sessions_by_key


def parse(path: Path):  # type: ignore[no-untyped-def]
    return parse_history(iter_lines(path), str(path))


def test_each_run_with_input_or_a_reply_becomes_a_session() -> None:
    parsed = parse(AIDER_WITH_REPLIES)
    starts = [c.origin["started_at"] for c in parsed.conversations]
    assert starts == ["2024-08-05 19:33:32", "2024-08-05 20:39:59"]
    reasons = sorted(s.reason for s in parsed.skipped)
    assert reasons == ["run without input or reply", "text before the first run"]


def test_user_input_aider_output_and_the_reply_keep_their_order_and_text() -> None:
    spinner = parse(AIDER_WITH_REPLIES).conversations[0]
    assert [m.role for m in spinner.messages] == [
        "tool",
        "user",
        "assistant",
        "tool",
        "user",
        "user",
    ]
    tool, user, reply, after = spinner.messages[:4]
    command = "/Users/gauthier/Projects/aider/.venv/bin/aider aider/utils.py\n"
    assert tool.content.startswith(command)
    assert tool.metadata["tool_name"] == "aider"
    assert user.content == "Use the Spinner instead of the inlined custom spinner"
    assert reply.content.startswith("Certainly! I'll modify the `run_install` function")
    assert "<<<<<<< SEARCH\ndef run_install(cmd):\n" in reply.content
    assert reply.content.endswith("consistent spinner behavior across the application.")
    assert after.content.startswith("Tokens: 5,244 sent, 604 received.")
    assert not any(line.endswith("  ") for m in spinner.messages for line in m.content.split("\n"))


def test_the_token_line_after_a_reply_gives_its_count() -> None:
    spinner, hello = parse(AIDER_WITH_REPLIES).conversations
    reply = spinner.messages[2]
    assert reply.token_count == 604
    assert (reply.metadata["tokens_sent"], reply.metadata["tokens_received"]) == ("5,244", "604")
    assert [m.token_count for m in hello.messages if m.role == "assistant"] == [84]


def test_several_input_lines_in_a_row_are_one_multi_line_message() -> None:
    (_first, session) = parse(AIDER_HISTORY).conversations
    first_input = next(m for m in session.messages if m.role == "user")
    assert first_input.content.split("\n")[:2] == [
        "/add /home/dragonfsky/git/github/zen-mcp-server/utils/file_utils.py",
        "  /home/dragonfsky/git/github/zen-mcp-server/utils/token_utils.py",
    ]


def test_a_history_is_detected_and_imported_once(home: Path) -> None:
    result = run_chatlog("import", str(AIDER_WITH_REPLIES.parent), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "aider"
    assert summary["sessions"]["imported"] == 2
    again = json.loads(run_chatlog("import", str(AIDER_WITH_REPLIES), "--json").stdout)
    assert again["sessions"] == {"imported": 0, "completed": 0, "present": 2, "conflict": 0}
    header, messages = sessions_by_key(home)[f"aider:{AIDER_WITH_REPLIES}:2024-08-05 19:33:32"]
    assert header.tags == ("aider",)
    assert messages[1].content == "Use the Spinner instead of the inlined custom spinner"
