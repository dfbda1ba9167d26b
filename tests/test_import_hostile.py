"""Hostile import sources are refused or bounded, each with one line: special files before a
byte is read, zip bombs by their declared and actual inflation, SQLite databases with
generated columns, BLOBs where text belongs, over-long lines and documents; and a write
that fails mid-way reports what was really written."""

from __future__ import annotations

import errno
import io
import json
import os
import sqlite3
import zipfile
from pathlib import Path

import pytest

from cli.importers.inputs import lines_of_stream, read_document
from cli.importers.llm_db import parse_database
from cli.importers.records import ImportFormatError
from cli.importers.run import Import
from eventlog import DiskFullError, EventLog, Message
from eventlog.fileops import FileOps
from tests.conftest import run_chatlog
from tests.test_import_fixtures import CODEX_ROLLOUT, write_llm_db


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, (result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith("chatlog: error: ")
    return line


def test_a_device_is_refused_before_reading_whatever_the_format(home: Path) -> None:
    line = one_error_line(run_chatlog("import", "/dev/zero", timeout=30))
    assert line == "chatlog: error: /dev/zero: a character device, not a file chatlog can import"
    for fmt in ("chatgpt", "codex", "llm", "seed"):
        line = one_error_line(run_chatlog("import", "/dev/zero", "--from", fmt, timeout=30))
        assert "a character device, not a file chatlog can import" in line
    assert not home.exists()


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, home: Path) -> None:
    fifo = tmp_path / "conversations.json"
    os.mkfifo(fifo)
    line = one_error_line(run_chatlog("import", str(fifo), timeout=30))
    assert line == f"chatlog: error: {fifo}: a FIFO (named pipe), not a file chatlog can import"
    line = one_error_line(run_chatlog("import", str(fifo), "--from", "claude-code", timeout=30))
    assert "a FIFO (named pipe)" in line


def test_a_fifo_inside_a_directory_is_not_read(tmp_path: Path, home: Path) -> None:
    os.mkfifo(tmp_path / "stuck.jsonl")
    result = run_chatlog("import", str(tmp_path), timeout=30)
    line = one_error_line(result)
    assert "no file chatlog can import in this directory" in line


def zip_bomb(path: Path, size: int) -> Path:
    """A zip whose conversations.json inflates ``size`` bytes of blanks (ratio ~1000:1)."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("conversations.json", "w") as member,
    ):
        member.write(b"[")
        chunk = b" " * (1024 * 1024)
        for _ in range(size // len(chunk)):
            member.write(chunk)
        member.write(b"]")
    return path


def test_a_zip_bomb_is_refused_by_its_inflation_ratio(tmp_path: Path, home: Path) -> None:
    bomb = zip_bomb(tmp_path / "export.zip", 16 * 1024 * 1024)
    assert bomb.stat().st_size < 50_000
    line = one_error_line(run_chatlog("import", str(bomb), "--from", "chatgpt"))
    assert "conversations.json would inflate to 16,777,218 bytes" in line
    assert "not imported" in line
    assert not home.exists()


def test_a_document_over_the_limit_is_refused_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_bytes(b"[" + b" " * 5000 + b"]")
    with pytest.raises(ImportFormatError, match="larger than 4,096 bytes"):
        read_document(path, limit=4096)
    assert read_document(path, limit=6000) == path.read_bytes()


def test_an_over_long_line_is_skipped_without_being_held_whole() -> None:
    data = b"short\n" + b"x" * 10_000 + b"\nlast"
    lines = list(lines_of_stream(io.BytesIO(data), max_line=1000))
    assert [(ln.number, ln.data, ln.terminated, ln.too_long) for ln in lines] == [
        (1, b"short", True, False),
        (2, b"", True, True),
        (3, b"last", False, False),
    ]


def test_an_over_long_transcript_line_is_one_problem_and_the_rest_imports(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.importers import inputs

    monkeypatch.setattr(inputs, "MAX_LINE", 4096)
    source = tmp_path / "rollout.jsonl"
    lines = CODEX_ROLLOUT.read_bytes().splitlines(keepends=True)
    long_lines = sum(1 for line in lines if len(line) > 4097)
    source.write_bytes(b"".join(lines))
    summary = Import(source, home).run()
    assert summary.count("imported") == 1
    assert [p.message for p in summary.problems] == ["line too long, skipped"] * long_lines


def test_an_llm_database_with_a_generated_column_is_refused(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "logs.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE responses (id TEXT, prompt TEXT, conversation_id TEXT, "
        "response TEXT GENERATED ALWAYS AS (printf('%.*c', 1000000000, 'x')) VIRTUAL)"
    )
    db.execute("INSERT INTO responses (id, prompt) VALUES ('r1', 'hi')")
    db.commit()
    db.close()
    assert path.stat().st_size < 20_000
    line = one_error_line(run_chatlog("import", str(path)))
    assert line == (
        f"chatlog: error: {path}: table responses has a generated column (response); "
        "not a database llm wrote"
    )


def test_blobs_where_llm_writes_text_are_decoded_not_a_crash(tmp_path: Path, home: Path) -> None:
    path = write_llm_db(tmp_path / "logs.db", [("c1", "blobs", "m")], [])
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO responses (id, model, prompt, response, conversation_id, datetime_utc, "
        "input_tokens, output_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            b"r\xff1",
            b"m",
            b"caf\xc3\xa9 \xff",
            b"ok",
            "c1",
            b"2024-01-01T00:00:00",
            b"12",
            b"\x00\x01",
        ),
    )
    db.commit()
    db.close()
    (conversation,) = parse_database(path).conversations
    user, answer = conversation.messages
    assert user.content == "café \ufffd"
    assert answer.content == "ok"
    assert answer.metadata["input_tokens"] == 12
    result = run_chatlog("import", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages"] == 2


class FullDiskAfter(FileOps):
    def __init__(self, writes: int) -> None:
        self.left = writes

    def write(self, fd: int, data: bytes) -> int:
        if self.left <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.left -= 1
        return super().write(fd, data)


def test_a_disk_that_fills_mid_import_reports_the_messages_really_written(
    tmp_path: Path, home: Path
) -> None:
    log = EventLog(home, fsync="never", file_ops=FullDiskAfter(237))
    job = Import(CODEX_ROLLOUT, home, log=log)
    with pytest.raises(DiskFullError):
        job.run()
    with EventLog(home) as reader:
        (sid,) = reader.session_ids()
        written = sum(1 for event in reader.read(sid) if isinstance(event, Message))
    assert written == 236
    assert job.summary.messages == 236
    assert job.summary.count("imported") == 1
    assert "messages  236 imported" in "\n".join(job.summary.lines())
