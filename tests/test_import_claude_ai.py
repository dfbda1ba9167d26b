"""Importing a Claude.ai export: chat_messages with sender human/assistant, text or content
blocks, tool calls and results, attachments, and the current branch when the export has
message parents."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli.importers.claude_ai import parse_export
from tests.conftest import run_chatlog
from tests.test_import_fixtures import (
    claude_conversation,
    claude_message,
    sessions_by_key,
    text,
    tool_result,
    tool_use,
    write_json,
)


def t(minute: int) -> str:
    return f"2025-05-02T09:{minute:02d}:00.000000Z"


def conversations() -> list[dict[str, Any]]:
    tools = claude_conversation(
        "conv-tools",
        "Weather in Lyon",
        t(0),
        [
            claude_message(
                "m1",
                "human",
                "What's the weather in Lyon?",
                t(1),
                attachments=[
                    {
                        "file_name": "notes.txt",
                        "file_type": "text/plain",
                        "file_size": 11,
                        "extracted_content": "bring a hat",
                    }
                ],
            ),
            claude_message(
                "m2",
                "assistant",
                "ignored when content is present",
                t(2),
                content=[
                    text("Let me check."),
                    tool_use("tc1", "web_search", {"query": "Lyon weather"}),
                    tool_result("tc1", [text("Sunny, 24C")]),
                    {"type": "image", "source": {}},
                    text("It is sunny and 24C."),
                ],
            ),
            claude_message("m3", "system", "a sender chatlog does not know", t(3)),
            claude_message("m4", "human", "", t(4)),
        ],
    )
    legacy = claude_conversation(
        "conv-legacy",
        "",
        t(10),
        [
            claude_message("l1", "human", "Old style message", t(11)),
            claude_message("l2", "assistant", "Old style answer", t(12)),
        ],
    )
    branched = claude_conversation(
        "conv-branch",
        "Branches",
        t(20),
        [
            claude_message(
                "b1",
                "human",
                "Name a colour",
                t(21),
                parent_message_uuid="00000000-0000-4000-8000-000000000000",
            ),
            claude_message("b2", "assistant", "Red", t(22), parent_message_uuid="b1"),
            claude_message("b3", "assistant", "Blue (retried)", t(23), parent_message_uuid="b1"),
            claude_message("b4", "human", "Why?", t(24), parent_message_uuid="b3"),
        ],
        current_leaf_message_uuid="b4",
    )
    return [tools, legacy, branched]


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_json(tmp_path / "claude" / "conversations.json", conversations())


def test_content_blocks_become_text_tool_calls_and_tool_messages_in_order(export: Path) -> None:
    parsed = parse_export(export.read_bytes(), str(export))
    weather = parsed.conversations[0]
    assert [(m.role, m.content) for m in weather.messages] == [
        ("user", "What's the weather in Lyon?"),
        ("assistant", "Let me check.\n\n[web_search] Lyon weather"),
        ("tool", "Sunny, 24C"),
        ("assistant", "It is sunny and 24C."),
    ]
    assert weather.messages[1].metadata["tool_calls"] == [
        {"id": "tc1", "name": "web_search", "arguments": {"query": "Lyon weather"}}
    ]
    assert weather.messages[2].metadata["tool_call_id"] == "tc1"
    assert weather.messages[2].metadata["tool_name"] == "web_search"
    assert weather.title == "Weather in Lyon"
    assert weather.key == "claude-ai:conv-tools"
    assert weather.messages[0].ts == "2025-05-02T09:01:00+00:00"


def test_attachments_keep_their_name_and_extracted_text_in_metadata(export: Path) -> None:
    (weather, *_rest) = parse_export(export.read_bytes(), str(export)).conversations
    assert weather.messages[0].metadata["attachments"] == [
        {
            "file_name": "notes.txt",
            "file_type": "text/plain",
            "file_size": 11,
            "extracted_content": "bring a hat",
        }
    ]


def test_unknown_senders_empty_messages_and_images_are_skipped_with_reasons(export: Path) -> None:
    parsed = parse_export(export.read_bytes(), str(export))
    assert Counter(s.reason for s in parsed.skipped) == {
        "image block (not text)": 1,
        "unknown sender 'system'": 1,
        "empty user message": 1,
        "not on the active branch": 1,
    }


def test_text_only_messages_of_older_exports_are_imported_and_an_empty_name_is_no_title(
    export: Path,
) -> None:
    legacy = parse_export(export.read_bytes(), str(export)).conversations[1]
    assert [(m.role, m.content) for m in legacy.messages] == [
        ("user", "Old style message"),
        ("assistant", "Old style answer"),
    ]
    assert legacy.title is None


def test_only_the_current_branch_is_imported_when_messages_have_parents(export: Path) -> None:
    branched = parse_export(export.read_bytes(), str(export)).conversations[2]
    assert [m.content for m in branched.messages] == ["Name a colour", "Blue (retried)", "Why?"]


def test_a_claude_ai_export_is_detected_and_imported_through_the_command(
    export: Path, home: Path
) -> None:
    result = run_chatlog("import", str(export.parent), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "claude-ai"
    assert summary["sessions"]["imported"] == 3
    assert summary["messages"] == 4 + 2 + 3
    sessions = sessions_by_key(home)
    header, messages = sessions["claude-ai:conv-tools"]
    assert header.title == "Weather in Lyon"
    assert header.tags == ("claude-ai",)
    assert header.session_id.startswith("2025-05-02_090000_")
    assert messages[0].metadata["source_id"] == "m1"


def single_conversation() -> dict[str, Any]:
    """One conversation in the shape the web app's API returns it (no real file of this
    shape is available to the tests): the branch fields, ``files_v2`` and content blocks."""
    return claude_conversation(
        "conv-single",
        "Single conversation",
        t(30),
        [
            claude_message(
                "s1",
                "human",
                "Summarise the file",
                t(31),
                parent_message_uuid="00000000-0000-4000-8000-000000000000",
                files_v2=[{"file_name": "report.pdf", "file_kind": "document"}],
                content=[text("Summarise the file")],
            ),
            claude_message(
                "s2",
                "assistant",
                "",
                t(32),
                parent_message_uuid="s1",
                content=[{"type": "thinking", "thinking": "Read it first."}, text("It says hi.")],
            ),
            claude_message(
                "s3", "assistant", "An abandoned retry", t(33), parent_message_uuid="s1"
            ),
        ],
        current_leaf_message_uuid="s2",
        settings={"preview_feature_uses_artifacts": True},
        is_starred=False,
    )


def test_a_single_conversation_object_imports_its_current_branch(
    tmp_path: Path, home: Path
) -> None:
    path = write_json(tmp_path / "conversation.json", single_conversation())
    result = run_chatlog("import", str(path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["format"], summary["sessions"]["imported"]) == ("claude-ai", 1)
    header, messages = sessions_by_key(home)["claude-ai:conv-single"]
    assert header.title == "Single conversation"
    assert [(m.role, m.content) for m in messages] == [
        ("user", "Summarise the file"),
        ("assistant", "It says hi."),
    ]
    assert messages[0].metadata["attachments"] == [{"file_name": "report.pdf"}]
    assert messages[1].metadata["thinking"] == "Read it first."
    assert summary["skipped"] == {"not on the active branch": 1}
