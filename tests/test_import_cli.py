"""The import command's surface: format detection, the summary, one-line errors, and the
progress bar that appears on a terminal for large imports only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pexpect

from tests.conftest import chatlog_executable, run_chatlog
from tests.test_import_fixtures import small_transcript, write_json


def many_transcripts(root: Path, count: int) -> Path:
    for n in range(count):
        small_transcript(
            root / "projects" / "-p" / f"s{n:02d}.jsonl", session=f"s{n}", prompt=f"q{n}"
        )
    return root / "projects"


def test_a_large_import_on_a_terminal_shows_a_progress_bar_on_stderr(
    tmp_path: Path, home: Path
) -> None:
    source = many_transcripts(tmp_path / "claude", 25)
    child = pexpect.spawn(
        chatlog_executable(),
        ["import", str(source)],
        env={**os.environ, "CHATLOG_HOME": str(home), "COLUMNS": "120"},
        encoding="utf-8",
        timeout=60,
    )
    child.expect("importing")
    child.expect("25 imported")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_large_import_without_a_terminal_prints_no_progress(tmp_path: Path, home: Path) -> None:
    source = many_transcripts(tmp_path / "claude", 25)
    result = run_chatlog("import", str(source))
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.splitlines()[:3] == [
        f"claude-code import from {source}",
        "  sessions  25 imported",
        "  messages  50 imported (100 tokens)",
    ]


def test_the_summary_lists_skipped_items_by_reason(tmp_path: Path, home: Path) -> None:
    source = small_transcript(tmp_path / "t.jsonl")
    with source.open("a") as file:
        file.write(json.dumps({"type": "progress", "uuid": "p1", "parentUuid": None}) + "\n")
        file.write(json.dumps({"type": "progress", "uuid": "p2", "parentUuid": "p1"}) + "\n")
        file.write(json.dumps({"type": "file-history-snapshot", "snapshot": {}}) + "\n")
    result = run_chatlog("import", str(source))
    assert result.stdout.splitlines()[3:] == [
        "  skipped   3 items",
        "    2  progress line",
        "    1  file-history-snapshot line",
    ]


def test_a_missing_path_is_one_error_line(tmp_path: Path, home: Path) -> None:
    result = run_chatlog("import", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr == f"chatlog: error: {tmp_path / 'nowhere'}: no such file or directory\n"
    assert not home.exists()


def test_an_unrecognised_file_asks_for_from(tmp_path: Path, home: Path) -> None:
    path = write_json(tmp_path / "notes.json", {"hello": "world"})
    result = run_chatlog("import", str(path))
    assert result.returncode == 2
    assert result.stderr == (
        f"chatlog: error: {path}: not a format chatlog imports (a JSON object with hello: "
        "no conversations in it); formats: llm, codex, claude-code, aider, chatgpt, "
        "claude-ai, seed\n"
    )


def test_a_wrong_from_is_one_error_line_naming_the_file(tmp_path: Path, home: Path) -> None:
    path = write_json(tmp_path / "conversations.json", [])
    result = run_chatlog("import", str(path), "--from", "llm")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line == (
        f"chatlog: error: {path}: not an llm logs database "
        "(a JSON array without conversations); check --from"
    )


def test_an_unknown_from_value_is_a_usage_error(tmp_path: Path) -> None:
    result = run_chatlog("import", str(tmp_path), "--from", "myspace")
    assert result.returncode == 2
    assert "invalid choice: 'myspace'" in result.stderr
    assert len(result.stderr.splitlines()) == 1
