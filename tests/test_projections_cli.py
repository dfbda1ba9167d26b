"""The reading commands through the installed `chatlog`: list, show, export, title, tag,
untag, with ids given in full or as a unique prefix, and errors as one line on stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from eventlog import EventLog
from tests.conftest import chatlog_executable, run_chatlog


def run_chatlog_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Like run_chatlog, from another working directory."""
    return subprocess.run(
        [chatlog_executable(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )


def ok(*args: str, cwd: Path | None = None) -> str:
    result = run_chatlog(*args) if cwd is None else run_chatlog_in(cwd, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def two_sessions(log: EventLog) -> tuple[str, str]:
    older = log.create_session(title="Debugging auth", tags=["work"])
    log.append(older, "user", "Why does my login fail?", token_count=6)
    log.append(older, "assistant", "Check the token expiry.", token_count=5)
    newer = log.create_session()
    log.append(newer, "user", "Plan a trip to Lisbon\nwith kids", token_count=9)
    return older, newer


class TestList:
    def test_list_prints_a_table_newest_first_with_short_ids(
        self, two_sessions: tuple[str, str]
    ) -> None:
        newer = two_sessions[1]
        lines = ok("list").splitlines()
        assert lines[0].split() == ["ID", "CREATED", "MSGS", "TOKENS", "TITLE"]
        assert lines[1].startswith(newer.rsplit("_", 1)[1])
        assert lines[1].split()[3:6] == ["1", "9", "Plan"]
        assert lines[2].split()[3:5] == ["2", "11"]
        assert lines[2].endswith("Debugging auth  #work")
        assert "\x1b[" not in "\n".join(lines)  # no colours when stdout is not a terminal

    def test_list_json_is_the_index_metadata(self, two_sessions: tuple[str, str]) -> None:
        older, newer = two_sessions
        listed = json.loads(ok("list", "--json"))
        assert [s["session_id"] for s in listed] == [newer, older]
        assert listed[0]["title"] == "Plan a trip to Lisbon"
        assert listed[1] | {"created_at": "", "updated_at": ""} == {
            "session_id": older,
            "created_at": "",
            "updated_at": "",
            "message_count": 2,
            "total_tokens": 11,
            "title": "Debugging auth",
            "tags": ["work"],
        }

    def test_list_limit_keeps_the_newest(self, two_sessions: tuple[str, str]) -> None:
        assert [s["session_id"] for s in json.loads(ok("list", "--limit", "1", "--json"))] == [
            two_sessions[1]
        ]
        assert run_chatlog("list", "--limit", "0").returncode == 2

    def test_an_empty_home_lists_nothing_and_says_so_on_stderr(self, home: Path) -> None:
        result = run_chatlog("list")
        assert (result.returncode, result.stdout) == (0, "")
        assert "no sessions" in result.stderr
        assert json.loads(ok("list", "--json")) == []


class TestShow:
    def test_show_prints_the_conversation(self, two_sessions: tuple[str, str]) -> None:
        text = ok("show", two_sessions[0])
        assert text.splitlines()[0] == "Debugging auth"
        assert "👤 User [" in text and "🤖 Assistant [" in text
        assert text.index("Why does my login fail?") < text.index("Check the token expiry.")

    def test_show_json_prints_exactly_the_snapshot_file(
        self, two_sessions: tuple[str, str], home: Path
    ) -> None:
        shown = ok("show", two_sessions[0], "--json")
        ok("views")
        assert shown == (home / "sessions" / f"{two_sessions[0]}.json").read_text()

    def test_show_last_n_pages_a_long_session(self, log: EventLog) -> None:
        sid = log.create_session()
        for i in range(30):
            log.append(sid, "user", f"message {i}")
        text = ok("show", sid, "--last", "3")
        assert "(the last 3 of 30 messages)" in text
        assert "message 26" not in text and "message 27" in text and "message 29" in text
        data = json.loads(ok("show", sid, "--last", "2", "--json"))
        assert [m["content"] for m in data["messages"]] == ["message 28", "message 29"]
        assert data["metadata"]["message_count"] == 30


class TestExport:
    def test_export_prints_markdown_by_default(self, two_sessions: tuple[str, str]) -> None:
        text = ok("export", two_sessions[0])
        assert text.startswith("# Debugging auth\n\n**Session ID:** ")
        assert "## 👤 User [" in text

    def test_export_json_is_the_snapshot(self, two_sessions: tuple[str, str], home: Path) -> None:
        exported = ok("export", two_sessions[1], "--format", "json")
        ok("views", two_sessions[1])
        assert exported == (home / "sessions" / f"{two_sessions[1]}.json").read_text()

    def test_a_relative_output_path_is_resolved_from_the_current_directory(
        self, two_sessions: tuple[str, str], tmp_path: Path
    ) -> None:
        workdir = tmp_path / "work"
        (workdir / "notes").mkdir(parents=True)
        printed = ok("export", two_sessions[0], "-o", "notes/auth.md", cwd=workdir)
        target = workdir / "notes" / "auth.md"
        assert printed.strip() == str(target)
        assert target.read_text().startswith("# Debugging auth")
        assert target.stat().st_mode & 0o777 == 0o600

    def test_an_existing_file_is_not_overwritten_without_force(
        self, two_sessions: tuple[str, str], tmp_path: Path
    ) -> None:
        target = tmp_path / "keep.md"
        target.write_text("mine")
        refused = run_chatlog("export", two_sessions[0], "-o", str(target))
        assert refused.returncode == 2
        assert "exists already" in refused.stderr and "--force" in refused.stderr
        assert target.read_text() == "mine"
        ok("export", two_sessions[0], "-o", str(target), "--force")
        assert target.read_text().startswith("# Debugging auth")

    def test_exporting_into_a_missing_directory_is_a_clear_error(
        self, two_sessions: tuple[str, str], tmp_path: Path
    ) -> None:
        result = run_chatlog("export", two_sessions[0], "-o", str(tmp_path / "no" / "x.md"))
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr


class TestTitlesAndTags:
    def test_title_sets_and_clears_the_title(self, two_sessions: tuple[str, str]) -> None:
        newer = two_sessions[1]
        assert "title set to 'Lisbon trip'" in ok("title", newer, "Lisbon  trip")
        assert json.loads(ok("show", newer, "--json"))["metadata"]["title"] == "Lisbon trip"
        assert "showing 'Plan a trip to Lisbon'" in ok("title", newer, "")

    def test_tag_and_untag_change_the_tags(self, two_sessions: tuple[str, str]) -> None:
        older, _ = two_sessions
        assert ok("tag", older, "urgent").strip().endswith("tags work, urgent")
        assert "already tagged" in ok("tag", older, "urgent")
        assert ok("untag", older, "work").strip().endswith("tags urgent")
        missing = run_chatlog("untag", older, "work")
        assert missing.returncode == 2 and "has no tag 'work'" in missing.stderr
        meta = json.loads(ok("list", "--json"))[0]
        assert (meta["session_id"], meta["tags"]) == (older, ["urgent"])


class TestSessionIds:
    def test_a_session_is_found_by_its_suffix_or_a_unique_prefix(
        self, two_sessions: tuple[str, str]
    ) -> None:
        older, _ = two_sessions
        suffix = older.rsplit("_", 1)[1]
        assert ok("show", suffix, "--json") == ok("show", older, "--json")

    def test_an_unknown_or_ambiguous_id_is_exit_code_3(self, two_sessions: tuple[str, str]) -> None:
        for command in ("show", "export", "title", "tag", "untag", "delete"):
            extra = ["x"] if command in ("title", "tag", "untag") else []
            result = run_chatlog(command, "1999-01-01_000000", *extra)
            assert result.returncode == 3, command
            assert result.stderr.startswith("chatlog: error: ") and result.stderr.count("\n") == 1
        ambiguous = run_chatlog("show", two_sessions[0][:4])
        assert ambiguous.returncode == 3 and "matches 2 sessions" in ambiguous.stderr

    def test_a_hostile_id_is_rejected(self, home: Path) -> None:
        result = run_chatlog("show", "../../etc/passwd")
        assert result.returncode == 2 and "is not a session id" in result.stderr


def _as_unprivileged(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run chatlog without the root override of file permissions (tests run as root)."""
    return subprocess.run(
        ["setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override", "--",
         chatlog_executable(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CHATLOG_HOME": str(home)},
        check=False,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_readers_answer_on_a_read_only_home_and_say_why_once(home: Path) -> None:
    sid = ok("new", "--title", "before").strip()
    run_chatlog("append", sid, "--role", "user", input="indexed words")
    ok("list")  # the projections exist
    run_chatlog("append", sid, "--role", "user", input="written after")
    home.chmod(0o500)
    try:
        listed = _as_unprivileged("list", home=home)
        assert listed.returncode == 0, listed.stderr
        assert "before" in listed.stdout
        assert (
            listed.stderr.count("could not be updated") + listed.stderr.count("cannot update") >= 1
        )
        assert len(listed.stderr.strip().splitlines()) <= 2
        found = _as_unprivileged("search", "indexed", home=home)
        assert found.returncode == 0 and sid.rsplit("_", 1)[-1] in found.stdout
        shown = _as_unprivileged("show", sid, "--no-pager", home=home)
        assert shown.returncode == 0 and "written after" in shown.stdout
    finally:
        home.chmod(0o700)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_a_read_only_home_without_projections_is_folded_in_memory(home: Path) -> None:
    sid = ok("new", "--title", "never listed").strip()
    run_chatlog("append", sid, "--role", "user", input="searchable text")
    home.chmod(0o500)
    try:
        listed = _as_unprivileged("list", home=home)
        assert listed.returncode == 0, listed.stderr
        assert "never listed" in listed.stdout
        assert "in memory" in listed.stderr
        assert not (home / "projections.sqlite3").exists()
    finally:
        home.chmod(0o700)


def test_a_damaged_last_line_is_warned_about_like_a_damaged_middle_one(home: Path) -> None:
    """A whole last line failing its checksum is damage, not a write in progress: the
    reader names it, as it names a damaged line in the middle."""
    sid = ok("new").strip()
    for text in ("first", "second", "third"):
        run_chatlog("append", sid, "--role", "user", input=text)
    path = home / "events" / f"{sid}.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[-2] = lines[-2].replace(b"third", b"thirx")
    path.write_bytes(b"\n".join(lines))
    listed = run_chatlog("list")
    assert listed.returncode == 0
    assert f"{path}:4" in listed.stderr and "checksum" in listed.stderr
    shown = run_chatlog("show", sid, "--no-pager")
    assert "first" in shown.stdout and "thirx" not in shown.stdout
