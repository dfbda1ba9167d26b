"""Importing the replaced system's sessions directory: ids and timestamps kept (naive local
times stored in UTC, the original string in metadata), titles, tags and token counts as
they were; the session files are the truth; a damaged file is named and left out."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from cli.importers.seed import chatlog_id, parse_session_file
from eventlog import EventLog
from tests.conftest import run_chatlog
from tests.test_import_fixtures import seed_session, sessions_by_key, write_json, write_seed_dir

PARIS = {"TZ": "Europe/Paris"}  # CEST (UTC+2) in October 2025


def debug_session() -> dict:  # type: ignore[type-arg]
    session = seed_session(
        "2025-10-04_150808",
        [
            ("user", "Help me debug this code", "2025-10-04T15:08:15.123456", 5),
            ("assistant", "I'll help you debug that...", "2025-10-04T15:08:16.234567", 50),
            ("tool", "exit code 1", "2025-10-04T15:08:17.000001", None),
        ],
        title="Debugging",
        tags=["work", "python"],
        created_at="2025-10-04T15:08:08.107338",
    )
    session["messages"][1]["tool_calls"] = [{"name": "run", "arguments": {"cmd": "pytest"}}]
    return session


@pytest.fixture
def sessions_dir(tmp_path: Path) -> Path:
    later = seed_session(
        "2025-10-04_150808_1",
        [("user", "Same second, second session", "2025-10-04T15:08:09", 4)],
    )
    empty = seed_session("2025-10-05_090000", [], created_at="2025-10-05T09:00:00")
    directory = write_seed_dir(
        tmp_path / ".config" / "openagent-terminal" / "sessions",
        [debug_session(), later, empty],
        index_only=["2025-10-06_120000"],
    )
    (directory / "2025-10-07_080000.json").write_text(
        '{"metadata": {"session_id": "2025-10-07_080000"}, '
        '"messages": [{"role": "user", "content": "cut'
    )
    return directory


def test_seed_ids_are_kept_and_the_collision_form_becomes_a_valid_id() -> None:
    assert chatlog_id("2025-10-04_150808") == "2025-10-04_150808"
    assert chatlog_id("2025-10-04_150808_1") == "2025-10-04_150808_000001"
    assert chatlog_id("2025-10-04_150808_12") == "2025-10-04_150808_000012"
    assert chatlog_id("../../etc/passwd") is None
    assert chatlog_id("session-1") is None


def test_a_sessions_directory_imports_with_ids_titles_tags_and_tokens(
    sessions_dir: Path, home: Path
) -> None:
    result = run_chatlog("import", str(sessions_dir), "--json", env=PARIS)
    summary = json.loads(result.stdout)
    assert summary["format"] == "seed"
    assert summary["sessions"]["imported"] == 3
    assert summary["messages"] == 4
    assert summary["tokens"] == 5 + 50 + 4
    sessions = sessions_by_key(home)
    header, messages = sessions["seed:2025-10-04_150808"]
    assert header.session_id == "2025-10-04_150808"
    assert header.title == "Debugging"
    assert header.tags == ("work", "python")
    assert [(m.role, m.content, m.token_count) for m in messages] == [
        ("user", "Help me debug this code", 5),
        ("assistant", "I'll help you debug that...", 50),
        ("tool", "exit code 1", None),
    ]
    assert messages[1].metadata["tool_calls"] == [{"name": "run", "arguments": {"cmd": "pytest"}}]
    assert messages[0].metadata["query_id"] == "q0"
    assert sessions["seed:2025-10-04_150808_1"][0].session_id == "2025-10-04_150808_000001"
    assert sessions["seed:2025-10-05_090000"][1] == []


def test_naive_local_timestamps_are_stored_in_utc_and_kept_as_written(
    sessions_dir: Path, home: Path
) -> None:
    run_chatlog("import", str(sessions_dir), env=PARIS)
    header, messages = sessions_by_key(home)["seed:2025-10-04_150808"]
    assert header.ts == "2025-10-04T13:08:08.107338+00:00"
    assert header.metadata["import"]["created_at"] == "2025-10-04T15:08:08.107338"
    assert messages[0].ts == "2025-10-04T13:08:15.123456+00:00"
    assert messages[0].metadata["source_ts"] == "2025-10-04T15:08:15.123456"


def test_a_damaged_file_is_named_and_left_out_and_an_index_entry_without_file_is_counted(
    sessions_dir: Path, home: Path
) -> None:
    result = run_chatlog("import", str(sessions_dir), "--json", env=PARIS)
    assert result.returncode == 2
    damaged = sessions_dir / "2025-10-07_080000.json"
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"chatlog: error: {damaged}: not valid JSON at byte ")
    assert "(line 1, column " in line
    summary = json.loads(result.stdout)
    assert summary["skipped"] == {"listed in index.json but has no session file": 1}
    assert "seed:2025-10-07_080000" not in sessions_by_key(home)


def test_a_seed_id_already_taken_in_chatlog_is_already_present_and_untouched(
    sessions_dir: Path, home: Path
) -> None:
    with EventLog(home) as log:
        log.create_session(title="mine", session_id="2025-10-04_150808")
        log.append("2025-10-04_150808", "user", "written in chatlog")
    before = (home / "events" / "2025-10-04_150808.jsonl").read_bytes()
    result = run_chatlog("import", str(sessions_dir), "--json", env=PARIS)
    summary = json.loads(result.stdout)
    taken = [c for c in summary["conversations"] if c["key"] == "seed:2025-10-04_150808"]
    assert taken == [
        {
            "key": "seed:2025-10-04_150808",
            "session_id": "2025-10-04_150808",
            "status": "present",
            "title": "Debugging",
            "messages": 0,
            "tokens": 0,
            "note": "session id already in use",
        }
    ]
    assert (home / "events" / "2025-10-04_150808.jsonl").read_bytes() == before


def test_a_single_session_file_skips_roles_and_tags_chatlog_cannot_store(tmp_path: Path) -> None:
    session = debug_session()
    session["metadata"]["tags"] = ["ok", "x" * 101]
    session["messages"].append(
        {"role": "narrator", "content": "?", "timestamp": "2025-10-04T15:09:00"}
    )
    path = write_json(tmp_path / "2025-10-04_150808.json", session)
    parsed = parse_session_file(path.read_bytes(), str(path))
    (conversation,) = parsed.conversations
    assert conversation.session_id == "2025-10-04_150808"
    assert len(conversation.messages) == 3
    assert conversation.tags == ("ok",)
    assert Counter(s.reason for s in parsed.skipped) == {
        "unknown role 'narrator'": 1,
        "tag chatlog cannot store": 1,
    }


def test_a_file_of_the_wrong_shape_is_a_problem_naming_the_field(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "2025-10-04_150808.json",
        {"metadata": {}, "messages": [{"role": "user", "content": 5}]},
    )
    parsed = parse_session_file(path.read_bytes(), str(path))
    (problem,) = parsed.problems
    assert problem.where == str(path)
    assert "$.messages[0].content" in problem.message
    assert parsed.conversations == ()
