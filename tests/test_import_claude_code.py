"""Importing Claude Code transcripts: conversation order from the parentUuid graph, one
message per API message (usage counted once), tool results as tool messages, a rewind as
a branch after the first one, bookkeeping lines skipped and counted, corrupt lines reported
by number."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli.importers.claude_code import parse_transcript
from cli.importers.run import Import
from tests.conftest import SHARED_TESTDATA, run_chatlog
from tests.test_import_fixtures import (
    cc_assistant,
    cc_line,
    cc_progress,
    cc_user,
    sessions_by_key,
    small_transcript,
    text,
    tool_result,
    tool_use,
    write_jsonl,
)

REAL = SHARED_TESTDATA / "claude-code"
CORRUPT_LINE = 14


def t(second: int) -> str:
    return f"2025-03-01T12:00:{second:02d}.000Z"


def branching_transcript(path: Path) -> Path:
    """A transcript with a split API message, parallel tool calls, progress lines inside
    the parent chain, a rewound branch, a corrupt line, a compaction boundary, a
    sub-agent line, a title summary and an unterminated last line."""
    lines: list[dict[str, Any] | str] = [
        {"type": "file-history-snapshot", "messageId": "u1", "snapshot": {}},
        cc_progress("p0", None, t(0)),
        cc_user("u1", "p0", "Fix the bug", t(1)),
        cc_assistant(
            "a1",
            "u1",
            "msg_A",
            [{"type": "thinking", "thinking": "Hmm.", "signature": "x"}],
            5,
            t(2),
        ),
        cc_assistant("a2", "a1", "msg_A", [text("Looking.")], 5, t(3)),
        cc_assistant(
            "a3", "a2", "msg_A", [tool_use("call_1", "Read", {"file_path": "/x"})], 5, t(4)
        ),
        cc_progress("pr1", "a3", t(5)),
        cc_assistant(
            "a4", "pr1", "msg_A", [tool_use("call_2", "Bash", {"command": "ls"})], 42, t(6)
        ),
        cc_user("r1", "a3", [tool_result("call_1", "file body")], t(7)),
        cc_user("r2", "a4", [tool_result("call_2", [text("a b")], is_error=True)], t(8)),
        cc_assistant("a5", "r2", "msg_B", [text("Found it.")], 7, t(9)),
        cc_user("u2", "a5", "Try another way", t(10)),
        cc_assistant("a6", "u2", "msg_C", [text("Another way.")], 9, t(11)),
        '{"type": "user", "uuid": "broken", "message": {',
        cc_user("u3", "a5", "Actually, explain it", t(12)),
        cc_line("system", "cb", None, t(13), subtype="compact_boundary", logicalParentUuid="u3"),
        cc_user("cs", "cb", "Summary of the earlier part", t(14), isCompactSummary=True),
        cc_assistant("a7", "cs", "msg_D", [text("Explained.")], 11, t(15)),
        cc_assistant("side", "a7", "msg_S", [text("sub-agent work")], 3, t(16), isSidechain=True),
        {"type": "summary", "summary": "Fixing the bug", "leafUuid": "a7"},
    ]
    assert lines[CORRUPT_LINE - 1] == '{"type": "user", "uuid": "broken", "message": {'
    return write_jsonl(path, lines, tail='{"type":"user","mess')


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    return branching_transcript(tmp_path / "projects" / "-home-u-proj" / "cc-session-1.jsonl")


def parse(path: Path):  # type: ignore[no-untyped-def]
    return parse_transcript(path.read_bytes(), str(path))


SHARED_START = [
    ("user", "Fix the bug"),
    ("assistant", "Looking.\n\n[Read] /x\n\n[Bash] ls"),
    ("tool", "file body"),
    ("tool", "a b"),
    ("assistant", "Found it."),
]


def test_the_first_branch_is_the_conversation_and_a_rewound_turn_a_branch_of_it(
    transcript: Path,
) -> None:
    main, rewound = parse(transcript).conversations
    assert [(m.role, m.content) for m in main.messages] == [
        *SHARED_START,
        ("user", "Try another way"),
        ("assistant", "Another way."),
    ]
    assert [(m.role, m.content) for m in rewound.messages] == [
        *SHARED_START,
        ("user", "Actually, explain it"),
        ("system", "Summary of the earlier part"),
        ("assistant", "Explained."),
    ]
    assert (main.key, main.family, main.shared) == (
        "claude-code:cc-session-1",
        "claude-code:cc-session-1",
        0,
    )
    assert (rewound.key, rewound.family, rewound.shared) == (
        "claude-code:cc-session-1#u3",
        "claude-code:cc-session-1",
        len(SHARED_START),
    )
    assert main.title == rewound.title == "Fixing the bug"
    assert main.created_at == "2025-03-01T12:00:01+00:00"
    assert rewound.created_at == "2025-03-01T12:00:12+00:00"  # its first turn of its own
    assert rewound.messages[-2].metadata["compact_summary"] is True


def test_an_api_message_split_over_lines_is_one_message_with_its_tokens_counted_once(
    transcript: Path,
) -> None:
    main, rewound = parse(transcript).conversations
    merged = main.messages[1]
    assert merged.token_count == 42  # the final output count, not 5 + 5 + 5 + 42
    assert merged.metadata["source_id"] == "msg_A"
    assert merged.metadata["model"] == "claude-opus-4-6"
    assert merged.metadata["thinking"] == "Hmm."
    assert merged.metadata["usage"]["output_tokens"] == 42
    assert merged.ts == "2025-03-01T12:00:02+00:00"
    assert sum(m.token_count or 0 for m in main.messages) == 42 + 7 + 9
    assert sum(m.token_count or 0 for m in rewound.messages) == 42 + 7 + 11


def test_tool_results_become_tool_messages_that_point_at_their_call(transcript: Path) -> None:
    conversation = parse(transcript).conversations[0]
    calls = conversation.messages[1].metadata["tool_calls"]
    assert calls == [
        {"id": "call_1", "name": "Read", "arguments": {"file_path": "/x"}},
        {"id": "call_2", "name": "Bash", "arguments": {"command": "ls"}},
    ]
    first, second = conversation.messages[2], conversation.messages[3]
    assert (first.metadata["tool_call_id"], first.metadata["tool_name"]) == ("call_1", "Read")
    assert (second.metadata["tool_call_id"], second.metadata["tool_name"]) == ("call_2", "Bash")
    assert second.metadata["is_error"] is True
    assert "is_error" not in first.metadata


def test_bookkeeping_lines_and_sub_agent_lines_are_skipped_and_counted_once(
    transcript: Path,
) -> None:
    parsed = parse(transcript)
    reasons = Counter(s.reason for s in parsed.skipped)
    assert reasons == {
        "progress line": 2,
        "file-history-snapshot line": 1,
        "system line": 1,
        "sub-agent (sidechain) message": 1,
        "incomplete last line (still being written?)": 1,
    }


def test_a_corrupt_line_is_reported_with_its_line_number_and_the_rest_is_imported(
    transcript: Path, home: Path
) -> None:
    result = run_chatlog("import", str(transcript.parent.parent.parent), "--json")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"chatlog: error: {transcript}:{CORRUPT_LINE}: malformed line")
    summary = json.loads(result.stdout)
    assert summary["format"] == "claude-code"
    assert summary["sessions"]["imported"] == 2  # the conversation and its rewound branch
    assert summary["messages"] == 7 + 3  # the branch writes only its messages of its own
    assert summary["tokens"] == (42 + 7 + 9) + 11
    header, messages = sessions_by_key(home)["claude-code:cc-session-1"]
    assert header.title == "Fixing the bug"
    assert header.session_id.startswith("2025-03-01_120001_")
    assert header.metadata["import"]["key"] == "claude-code:cc-session-1"
    assert header.metadata["import"]["cwd"] == "/home/u/proj"
    assert [m.ts for m in messages][:2] == [
        "2025-03-01T12:00:01+00:00",
        "2025-03-01T12:00:02+00:00",
    ]


def test_a_claude_projects_tree_is_detected_and_every_transcript_imported(
    tmp_path: Path, home: Path
) -> None:
    claude = tmp_path / ".claude"
    for n in range(3):
        small_transcript(
            claude / "projects" / f"-p{n}" / f"s{n}.jsonl", session=f"s{n}", prompt=f"q{n}"
        )
    (claude / "history.jsonl").write_text('{"display": "not a transcript"}\n')
    result = run_chatlog("import", str(claude))
    assert result.returncode == 0, result.stderr
    assert "3 imported" in result.stdout
    assert sorted(sessions_by_key(home)) == [f"claude-code:s{n}" for n in range(3)]


def test_a_transcript_of_only_a_sub_agent_is_its_own_conversation(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "agent-1.jsonl",
        [
            cc_user("x1", None, "Search the code", t(1), isSidechain=True, agentId="ab12"),
            cc_assistant(
                "x2",
                "x1",
                "msg_X",
                [text("Found 3 files.")],
                6,
                t(2),
                isSidechain=True,
                agentId="ab12",
            ),
        ],
    )
    (conversation,) = parse(path).conversations
    assert conversation.key == "claude-code:cc-session-1/agent-ab12"
    assert [m.content for m in conversation.messages] == ["Search the code", "Found 3 files."]


# ---------------------------------------------------------------- the real transcripts

needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"real Claude Code transcripts not found at {REAL}"
)


def expected_from_raw(path: Path) -> dict[str, Any]:
    """What the transcript holds, derived straight from its lines with the json module:
    distinct API messages in order of first appearance, their final output tokens, the tool
    results and the text prompts."""
    first_seen: list[str] = []
    output: dict[str, int] = {}
    tool_results = 0
    texts: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = json.loads(raw)
        if line.get("isSidechain") or line.get("type") not in ("user", "assistant"):
            continue
        message = line["message"]
        if line["type"] == "assistant":
            if message["id"] not in output:
                first_seen.append(message["id"])
            output[message["id"]] = max(
                output.get(message["id"], 0), message["usage"]["output_tokens"]
            )
            continue
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
        else:
            tool_results += sum(1 for b in content if b["type"] == "tool_result")
            texts += [b["text"] for b in content if b["type"] == "text"]
    return {
        "assistant_ids": first_seen,
        "tokens": sum(output.values()),
        "tool_results": tool_results,
        "texts": texts,
    }


@needs_real
@pytest.mark.parametrize(
    "name", ["258c7280-ae70-4798-800f-63464d01a85d", "8463c716-a2ea-4c14-9efa-87158ebd9f20"]
)
def test_a_real_transcript_keeps_every_message_once_in_order_with_its_tokens(name: str) -> None:
    path = REAL / f"{name}.jsonl"
    expected = expected_from_raw(path)
    parsed = parse(path)
    (conversation,) = parsed.conversations
    assert not parsed.problems
    messages = conversation.messages
    assistants = [m for m in messages if m.role == "assistant"]
    assert [m.metadata["source_id"] for m in assistants] == expected["assistant_ids"]
    assert sum(m.token_count or 0 for m in messages) == expected["tokens"]
    assert sum(1 for m in messages if m.role == "tool") == expected["tool_results"]
    assert [m.content for m in messages if m.role in ("user", "system")] == expected["texts"]
    assert conversation.key == f"claude-code:{name}"
    # every tool message comes after the assistant message that made its call
    called: set[str] = set()
    for message in messages:
        if message.role == "assistant":
            called.update(c["id"] for c in message.metadata.get("tool_calls", []))
        elif message.role == "tool":
            assert message.metadata["tool_call_id"] in called


@needs_real
def test_the_real_transcripts_import_through_the_command_and_a_second_run_adds_nothing(
    home: Path,
) -> None:
    totals = [expected_from_raw(p) for p in sorted(REAL.glob("*.jsonl"))]
    first = run_chatlog("import", str(REAL), "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["sessions"]["imported"] == 2
    assert summary["tokens"] == sum(t["tokens"] for t in totals)
    assert summary["skipped"]["progress line"] == sum(
        1
        for p in REAL.glob("*.jsonl")
        for raw in p.read_text(encoding="utf-8").splitlines()
        if json.loads(raw)["type"] == "progress"
    )
    again = run_chatlog("import", str(REAL), "--json")
    assert json.loads(again.stdout)["sessions"] == {
        "imported": 0,
        "completed": 0,
        "present": 2,
        "conflict": 0,
    }
    assert json.loads(again.stdout)["messages"] == 0


def test_an_import_through_the_api_reports_what_it_wrote(transcript: Path, home: Path) -> None:
    summary = Import(transcript, home).run()
    assert (summary.count("imported"), summary.messages, summary.tokens) == (2, 10, 69)
    assert [p.where for p in summary.problems] == [f"{transcript}:{CORRUPT_LINE}"]
