"""Importing OpenAI Codex CLI rollouts, checked against a real rollout (Codex 0.44.0): its
messages, reasoning summaries, calls with their outputs and exit codes, token counts and
session metadata, with and without the {timestamp, type, payload} envelope."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cli.importers.codex import parse_rollout
from cli.importers.inputs import iter_lines
from tests.conftest import run_chatlog
from tests.test_import_fixtures import (
    CODEX_ROLLOUT,
    real_json_lines,
    sessions_by_key,
    write_jsonl,
)


def envelopes() -> list[dict[str, Any]]:
    return real_json_lines(CODEX_ROLLOUT)


def response_items(kind: str) -> list[dict[str, Any]]:
    return [
        line["payload"]
        for line in envelopes()
        if line["type"] == "response_item" and line["payload"]["type"] == kind
    ]


@pytest.fixture(scope="module")
def conversation():  # type: ignore[no-untyped-def]
    (parsed,) = parse_rollout(iter_lines(CODEX_ROLLOUT), str(CODEX_ROLLOUT)).conversations
    return parsed


def typed_user_texts() -> list[str]:
    texts = []
    for item in response_items("message"):
        if item["role"] == "user":
            text = "\n\n".join(part["text"] for part in item["content"])
            if not text.lstrip().startswith(("<environment_context>", "<user_instructions>")):
                texts.append(text)
    return texts


def test_every_typed_user_message_and_assistant_message_is_imported_in_order(
    conversation,
) -> None:
    users = [m.content for m in conversation.messages if m.role == "user"]
    assert users == typed_user_texts()
    answers = [
        "\n\n".join(part["text"] for part in item["content"])
        for item in response_items("message")
        if item["role"] == "assistant"
    ]
    assert [
        m.content
        for m in conversation.messages
        if m.role == "assistant" and "tool_calls" not in m.metadata
    ] == answers


def test_injected_context_stays_out_of_user_messages_but_is_kept_in_metadata(
    conversation,
) -> None:
    users = [m for m in conversation.messages if m.role == "user"]
    assert not any("<environment_context>" in m.content for m in users)
    injected = [i for m in conversation.messages for i in m.metadata.get("injected", [])]
    injected += conversation.origin.get("injected", [])
    assert injected
    assert injected[0]["kind"] == "environment_context"
    assert "<cwd>/Users/codymitchell/Documents/code/coda</cwd>" in injected[0]["text"]


def test_every_function_call_keeps_its_name_id_and_arguments_and_links_its_output(
    conversation,
) -> None:
    calls = {
        call["id"]: call for m in conversation.messages for call in m.metadata.get("tool_calls", [])
    }
    real_calls = response_items("function_call")
    assert len(calls) == len(real_calls) == 148
    for real in real_calls:
        call = calls[real["call_id"]]
        assert call["name"] == real["name"]
        assert call["arguments"] == json.loads(real["arguments"])
    outputs = [m for m in conversation.messages if m.role == "tool"]
    assert [m.metadata["tool_call_id"] for m in outputs] == [
        o["call_id"] for o in response_items("function_call_output")
    ]
    assert all(
        m.metadata["tool_name"] == calls[m.metadata["tool_call_id"]]["name"] for m in outputs
    )


def test_outputs_are_readable_text_with_their_exit_codes(conversation) -> None:
    real = response_items("function_call_output")[0]
    wrapped = json.loads(real["output"])
    first = next(m for m in conversation.messages if m.role == "tool")
    assert first.content == wrapped["output"]
    assert first.metadata["exit_code"] == wrapped["metadata"]["exit_code"] == 1
    outputs = [m for m in conversation.messages if m.role == "tool"]
    for real, imported in zip(response_items("function_call_output"), outputs, strict=True):
        if real["output"].startswith("{"):
            wrapped = json.loads(real["output"])
            assert imported.content == wrapped["output"]
            assert imported.metadata["exit_code"] == wrapped["metadata"]["exit_code"]
        else:  # e.g. "Plan updated": no exit code to keep
            assert imported.content == real["output"]
            assert "exit_code" not in imported.metadata


def test_the_call_line_in_the_text_names_the_tool_and_its_command(conversation) -> None:
    first_call = next(m for m in conversation.messages if "tool_calls" in m.metadata)
    assert first_call.content == "[shell] cat .codex/prompts/constitution.md"


def test_reasoning_summaries_go_to_the_next_assistant_message(conversation) -> None:
    summaries = [part["text"] for item in response_items("reasoning") for part in item["summary"]]
    kept = [m.metadata["reasoning"] for m in conversation.messages if "reasoning" in m.metadata]
    assert "\n\n".join(kept) == "\n\n".join(summaries)
    assert (
        conversation.messages[1].metadata["reasoning"] == "**Preparing to display file contents**"
    )


def test_token_counts_come_from_each_model_call_once(conversation) -> None:
    per_call: dict[int, int] = {}
    for line in envelopes():
        payload = line["payload"]
        if line["type"] == "event_msg" and payload["type"] == "token_count" and payload["info"]:
            total = payload["info"]["total_token_usage"]["total_tokens"]
            per_call[total] = payload["info"]["last_token_usage"]["output_tokens"]
    counted = sum(m.token_count or 0 for m in conversation.messages)
    assert counted == sum(per_call.values())
    assert all(m.token_count is None for m in conversation.messages if m.role != "assistant")


def test_session_meta_and_turn_context_become_session_metadata(conversation) -> None:
    meta = envelopes()[0]["payload"]
    assert conversation.key == f"codex:{meta['id']}"
    assert conversation.created_at == "2025-10-05T03:31:15.962000+00:00"
    origin = conversation.origin
    assert origin["cwd"] == meta["cwd"]
    assert origin["cli_version"] == "0.44.0"
    assert origin["git"] == meta["git"]
    assert origin["model"] == "gpt-5-codex"


def legacy_rollout(path: Path) -> Path:
    """The real rollout in the shape older Codex versions wrote: no envelope, the session's
    metadata as the first line and each response item as a line of its own."""
    lines = envelopes()
    meta = {**lines[0]["payload"], "id": "legacy-" + lines[0]["payload"]["id"]}
    items: list[dict[str, Any] | str] = [meta, json.dumps({"record_type": "state"})]
    items += [line["payload"] for line in lines if line["type"] == "response_item"]
    return write_jsonl(path, items)


def test_a_rollout_without_envelopes_imports_the_same_conversation(
    conversation, tmp_path: Path
) -> None:
    path = legacy_rollout(tmp_path / "rollout-legacy.jsonl")
    (legacy,) = parse_rollout(iter_lines(path), str(path)).conversations
    assert legacy.key == f"codex:legacy-{conversation.origin['original_id']}"
    assert [(m.role, m.content) for m in legacy.messages] == [
        (m.role, m.content) for m in conversation.messages
    ]
    assert all(m.ts == "2025-10-05T03:31:15.962000+00:00" for m in legacy.messages)


def test_a_codex_sessions_tree_is_detected_and_imported_recursively(
    tmp_path: Path, home: Path
) -> None:
    day = tmp_path / ".codex" / "sessions" / "2025" / "10" / "04"
    day.mkdir(parents=True)
    shutil.copy(CODEX_ROLLOUT, day / CODEX_ROLLOUT.name)
    legacy_rollout(tmp_path / ".codex" / "sessions" / "2025" / "09" / "01" / "rollout-old.jsonl")
    result = run_chatlog("import", str(tmp_path / ".codex"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "codex"
    assert summary["sessions"] == {"imported": 2, "completed": 0, "present": 0, "conflict": 0}
    sessions = sessions_by_key(home)
    header, messages = sessions["codex:0199b26c-737a-71a2-9939-52ce68c95cbe"]
    assert header.metadata["import"]["git"]["branch"] == "main"
    assert sum(1 for m in messages if m.role == "tool") == 148
    assert "codex:legacy-0199b26c-737a-71a2-9939-52ce68c95cbe" in sessions


def test_a_single_rollout_is_detected_as_codex_not_claude_code(home: Path) -> None:
    result = run_chatlog("import", str(CODEX_ROLLOUT), "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "codex"
    assert summary["messages"] == summary["source_messages"] > 300
