"""Importing llm's logs.db: each response becomes its prompt (after a system prompt when it
changes) and its answer with the token counts, ordered by datetime_utc, per conversation;
the database is only read."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cli.importers.llm_db import parse_database
from cli.importers.records import ImportFormatError
from tests.conftest import run_chatlog
from tests.test_import_fixtures import sessions_by_key, write_llm_db


def response(
    ident: str,
    conversation: str | None,
    when: str,
    prompt: str,
    answer: str,
    *,
    system: str | None = None,
    tokens: tuple[int, int] | None = None,
    model: str = "gpt-4o-mini",
    duration_ms: int = 1500,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": ident,
        "model": model,
        "prompt": prompt,
        "system": system,
        "prompt_json": None,
        "options_json": "{}",
        "response": answer,
        "response_json": None,
        "conversation_id": conversation,
        "duration_ms": duration_ms,
        "datetime_utc": when,
    }
    if tokens is not None:
        row["input_tokens"], row["output_tokens"] = tokens
    return row


@pytest.fixture
def logs_db(tmp_path: Path) -> Path:
    directory = tmp_path / "io.datasette.llm"
    directory.mkdir()
    return write_llm_db(
        directory / "logs.db",
        [("01conv-a", "Haiku help", "gpt-4o-mini"), ("01conv-b", None, "claude-3.5-sonnet")],
        [
            # inserted out of order: datetime_utc decides
            response(
                "r2",
                "01conv-a",
                "2024-11-05T10:01:00.000000",
                "Shorter",
                "Leaves fall",
                system="Be terse",
                tokens=(40, 3),
            ),
            response(
                "r1",
                "01conv-a",
                "2024-11-05T10:00:00.000000",
                "A haiku about autumn",
                "Red leaves drift down",
                system="Be terse",
                tokens=(12, 7),
            ),
            response(
                "r3",
                "01conv-a",
                "2024-11-05T10:02:00.000000",
                "Now in French",
                "Feuilles",
                system="Réponds en français",
                tokens=(60, 2),
            ),
            response(
                "r4",
                "01conv-b",
                "2024-11-06T08:00:00.000000",
                "Hello",
                "Hi there",
                model="claude-3.5-sonnet",
                tokens=(5, 3),
            ),
            response(
                "r5",
                None,
                "2024-11-07T08:00:00.000000",
                "Lone prompt",
                "Lone answer",
                tokens=(4, 2),
            ),
            response(
                "r6",
                "01conv-b",
                "2024-11-06T08:05:00.000000",
                "",
                "A follow-up with no prompt",
                model="claude-3.5-sonnet",
            ),
        ],
    )


def test_each_response_becomes_its_prompt_and_answer_in_time_order(logs_db: Path) -> None:
    parsed = parse_database(logs_db)
    haiku = next(c for c in parsed.conversations if c.key == "llm:01conv-a")
    assert [(m.role, m.content) for m in haiku.messages] == [
        ("system", "Be terse"),
        ("user", "A haiku about autumn"),
        ("assistant", "Red leaves drift down"),
        ("user", "Shorter"),
        ("assistant", "Leaves fall"),
        ("system", "Réponds en français"),
        ("user", "Now in French"),
        ("assistant", "Feuilles"),
    ]
    assert haiku.title == "Haiku help"
    assert haiku.created_at == "2024-11-05T10:00:00+00:00"


def test_answers_carry_tokens_model_and_their_time_in_metadata(logs_db: Path) -> None:
    haiku = next(c for c in parse_database(logs_db).conversations if c.key == "llm:01conv-a")
    answer = haiku.messages[2]
    assert answer.token_count == 7
    assert answer.metadata == {
        "source_id": "r1",
        "model": "gpt-4o-mini",
        "input_tokens": 12,
        "output_tokens": 7,
        "duration_ms": 1500,
        "datetime_utc": "2024-11-05T10:00:00.000000",
    }
    assert haiku.messages[1].ts == "2024-11-05T10:00:00+00:00"
    assert answer.ts == "2024-11-05T10:00:01.500000+00:00"  # prompt time + duration
    assert sum(m.token_count or 0 for m in haiku.messages) == 7 + 3 + 2


def test_a_response_without_conversation_is_its_own_and_empty_prompts_are_counted(
    logs_db: Path,
) -> None:
    parsed = parse_database(logs_db)
    keys = [c.key for c in parsed.conversations]
    assert keys == ["llm:01conv-a", "llm:01conv-b", "llm:response:r5"]
    chat = parsed.conversations[1]
    assert [m.content for m in chat.messages] == ["Hello", "Hi there", "A follow-up with no prompt"]
    assert chat.title is None
    assert chat.origin["model"] == "claude-3.5-sonnet"
    assert [s.reason for s in parsed.skipped] == ["empty prompt"]


def test_a_database_from_before_token_columns_imports_without_counts(tmp_path: Path) -> None:
    path = write_llm_db(
        tmp_path / "logs.db",
        [("c1", "old", "gpt-3.5-turbo")],
        [response("x1", "c1", "2023-07-12T03:56:34.578296", "hi", "hello")],
        with_tokens=False,
    )
    (conversation,) = parse_database(path).conversations
    assert [m.token_count for m in conversation.messages] == [None, None]
    assert "output_tokens" not in conversation.messages[1].metadata


def test_logs_db_is_detected_imported_through_the_command_and_left_unchanged(
    logs_db: Path, home: Path
) -> None:
    before = logs_db.read_bytes()
    result = run_chatlog("import", str(logs_db.parent), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "llm"
    assert summary["sessions"]["imported"] == 3
    assert summary["tokens"] == 7 + 3 + 2 + 3 + 2
    assert logs_db.read_bytes() == before
    header, messages = sessions_by_key(home)["llm:01conv-a"]
    assert header.title == "Haiku help"
    assert header.session_id.startswith("2024-11-05_100000_")
    assert header.metadata["import"]["model"] == "gpt-4o-mini"
    assert messages[2].ts == "2024-11-05T10:00:01.500000+00:00"


def test_an_sqlite_file_without_responses_is_refused_with_one_line(
    tmp_path: Path, home: Path
) -> None:
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(ImportFormatError, match="not an llm logs database"):
        parse_database(other)
    result = run_chatlog("import", str(other))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"chatlog: error: {other}: not an llm logs database (no responses table)"
    ]
