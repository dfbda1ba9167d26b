"""Importing a logs.db written by llm >= 0.32 (threads, turns, messages, parts): the
database is written by the real llm library with its llm-echo model, then imported."""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
from pathlib import Path

import pytest

from cli.importers.llm_db import parse_database
from cli.importers.records import ImportedConversation
from tests.conftest import run_chatlog
from tests.test_import_fixtures import sessions_by_key, write_llm_logs


@pytest.fixture(scope="module")
def logs_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_llm_logs(tmp_path_factory.mktemp("llm"))


def conversations(logs_db: Path) -> dict[str, ImportedConversation]:
    """The threads by their first user message."""
    parsed = parse_database(logs_db)
    assert not parsed.problems
    return {
        next(m.content for m in c.messages if m.role == "user"): c for c in parsed.conversations
    }


def echo(prompt: str, system: str = "") -> dict[str, object]:
    return {"prompt": prompt, "system": system, "attachments": [], "stream": True, "previous": []}


def test_the_current_schema_leaves_the_old_tables_empty(logs_db: Path) -> None:
    db = sqlite3.connect(logs_db)
    try:
        assert db.execute("SELECT count(*) FROM responses").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM threads").fetchone() == (3,)
    finally:
        db.close()


def test_a_thread_becomes_a_session_with_its_system_prompt_and_follow_up(logs_db: Path) -> None:
    chat = conversations(logs_db)["hello there"]
    assert chat.title == "hello there"
    assert [(m.role, m.content) for m in chat.messages][:3] == [
        ("system", "Be terse."),
        ("user", "hello there"),
        ("assistant", json.dumps(echo("hello there", "Be terse."), indent=2)),
    ]
    assert [m.role for m in chat.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert chat.messages[3].content == "second turn"
    assert chat.origin["model"] == "echo"


def test_each_turn_gives_its_answer_the_token_counts_and_a_time(logs_db: Path) -> None:
    chat = conversations(logs_db)["hello there"]
    db = sqlite3.connect(logs_db)
    try:
        turns = db.execute(
            "SELECT input_tokens, output_tokens, datetime_utc FROM turns "
            "WHERE thread_id = (SELECT id FROM threads WHERE name = 'hello there') "
            "ORDER BY datetime_utc"
        ).fetchall()
    finally:
        db.close()
    answers = [m for m in chat.messages if m.role == "assistant"]
    assert [(m.metadata["input_tokens"], m.token_count) for m in answers] == [
        (inputs, outputs) for inputs, outputs, _when in turns
    ]
    assert [m.ts for m in answers] == [when for _i, _o, when in turns]
    assert chat.messages[0].ts == chat.messages[1].ts == answers[0].ts


def test_fragments_are_read_back_into_the_prompt_and_named_in_the_answer(logs_db: Path) -> None:
    chat = conversations(logs_db)["fragment text from a file\n\nusing a fragment"]
    user, answer = chat.messages
    assert answer.metadata["reasoning"] == "First I consider the prompt, then I decide what to say."
    assert answer.metadata["fragments"][0]["kind"] == "prompt"
    assert answer.metadata["fragments"][0]["source"].endswith("fragment.txt")
    assert user.role == "user"


def test_a_tool_call_keeps_its_id_name_and_arguments_and_its_result_is_linked(
    logs_db: Path,
) -> None:
    prompt = '{"prompt": "call a tool", "tool_calls": [{"name": "llm_version"}]}'
    chain = conversations(logs_db)[prompt]
    assert [m.role for m in chain.messages] == ["user", "assistant", "tool", "assistant"]
    call_message, result = chain.messages[1], chain.messages[2]
    (call,) = call_message.metadata["tool_calls"]
    assert (call["name"], call["arguments"]) == ("llm_version", {})
    assert call["id"].startswith("tc_")
    assert call_message.content.endswith("\n\n[llm_version]")
    assert result.metadata["tool_call_id"] == call["id"]
    assert result.metadata["tool_name"] == "llm_version"
    assert result.content == importlib.metadata.version("llm")  # what llm_version returns


def test_the_database_imports_through_the_command_once_and_is_left_unchanged(
    logs_db: Path, home: Path
) -> None:
    before = logs_db.read_bytes()
    result = run_chatlog("import", str(logs_db.parent), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["format"], summary["sessions"]["imported"], summary["messages"]) == (
        "llm",
        3,
        11,
    )
    again = json.loads(run_chatlog("import", str(logs_db), "--json").stdout)
    assert again["sessions"]["present"] == 3
    assert logs_db.read_bytes() == before
    assert {h.title for h, _m in sessions_by_key(home).values()} >= {"hello there"}
