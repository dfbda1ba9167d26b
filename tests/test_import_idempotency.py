"""Importing is idempotent and resumable: a second run adds nothing, a run that failed
mid-way is completed by running it again, a source that grew gets only its new messages,
and a dry run writes nothing at all."""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import time
from pathlib import Path

import pytest

from cli.importers.run import Import
from cli.importers.writer import derived_session_id
from eventlog import DiskFullError, EventLog, Message
from eventlog.fileops import FileOps
from tests.conftest import chatlog_executable, run_chatlog
from tests.test_import_fixtures import (
    cc_assistant,
    cc_user,
    claude_conversation,
    claude_message,
    import_twice_at_once,
    seed_session,
    sessions_by_key,
    simple_gpt_conversation,
    small_transcript,
    text,
    tree_snapshot,
    write_json,
    write_jsonl,
    write_llm_db,
    write_seed_dir,
)

FORMATS = ("seed", "claude-code", "chatgpt", "claude-ai", "llm")
T0 = 1_700_000_000.0


def make_source(fmt: str, root: Path, conversations: int = 3) -> Path:
    """A small source of ``fmt`` holding ``conversations`` two-message conversations."""
    root.mkdir(parents=True, exist_ok=True)
    if fmt == "seed":
        return write_seed_dir(
            root / "sessions",
            [
                seed_session(
                    f"2025-10-0{n + 1}_100000",
                    [
                        ("user", f"q{n}", f"2025-10-0{n + 1}T10:00:01", 2),
                        ("assistant", f"a{n}", f"2025-10-0{n + 1}T10:00:02", 3),
                    ],
                )
                for n in range(conversations)
            ],
        )
    if fmt == "claude-code":
        for n in range(conversations):
            small_transcript(
                root / "projects" / "-p" / f"s{n}.jsonl", session=f"s{n}", prompt=f"q{n}"
            )
        return root / "projects"
    if fmt == "chatgpt":
        return write_json(
            root / "conversations.json",
            [
                simple_gpt_conversation(f"c{n}", f"q{n}", f"a{n}", T0 + 3600 * n)
                for n in range(conversations)
            ],
        )
    if fmt == "claude-ai":
        return write_json(
            root / "conversations.json",
            [
                claude_conversation(
                    f"k{n}",
                    f"chat {n}",
                    f"2025-01-0{n + 1}T08:00:00Z",
                    [
                        claude_message(f"k{n}-1", "human", f"q{n}", f"2025-01-0{n + 1}T08:00:01Z"),
                        claude_message(
                            f"k{n}-2", "assistant", f"a{n}", f"2025-01-0{n + 1}T08:00:02Z"
                        ),
                    ],
                )
                for n in range(conversations)
            ],
        )
    assert fmt == "llm"
    return write_llm_db(
        root / "logs.db",
        [(f"l{n}", f"chat {n}", "m") for n in range(conversations)],
        [
            {
                "id": f"r{n}",
                "model": "m",
                "prompt": f"q{n}",
                "response": f"a{n}",
                "conversation_id": f"l{n}",
                "datetime_utc": f"2024-02-0{n + 1}T10:00:00",
                "input_tokens": 2,
                "output_tokens": 3,
            }
            for n in range(conversations)
        ],
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_importing_the_same_source_twice_adds_nothing(fmt: str, tmp_path: Path, home: Path) -> None:
    source = make_source(fmt, tmp_path / "src")
    first = Import(source, home).run()
    assert (first.count("imported"), first.messages) == (3, 6)
    after_first = tree_snapshot(home / "events")
    second = Import(source, home).run()
    assert (second.count("imported"), second.count("present"), second.messages) == (0, 3, 0)
    assert tree_snapshot(home / "events") == after_first


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_dry_run_writes_nothing_and_announces_what_the_real_run_then_writes(
    fmt: str, tmp_path: Path, home: Path
) -> None:
    source = make_source(fmt, tmp_path / "src")
    dry = Import(source, home, dry_run=True).run()
    assert not home.exists()
    real = Import(source, home).run()
    assert dry.as_dict()["sessions"] == real.as_dict()["sessions"]
    assert (dry.messages, dry.tokens) == (real.messages, real.tokens)
    assert [o.session_id for o in dry.outcomes] == [o.session_id for o in real.outcomes]


def test_a_dry_run_through_the_command_leaves_a_populated_home_byte_identical(
    tmp_path: Path, home: Path
) -> None:
    Import(make_source("chatgpt", tmp_path / "old", conversations=2), home).run()
    bigger = make_source("chatgpt", tmp_path / "new", conversations=3)
    before = tree_snapshot(home)
    result = run_chatlog("import", str(bigger), "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dry_run"] is True
    assert summary["sessions"] == {"imported": 1, "completed": 0, "present": 2, "conflict": 0}
    assert tree_snapshot(home) == before


class FullDiskAfter(FileOps):
    """Lets ``writes`` appends through, then fails every write with ENOSPC."""

    def __init__(self, writes: int) -> None:
        self.left = writes

    def write(self, fd: int, data: bytes) -> int:
        if self.left <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.left -= 1
        return super().write(fd, data)


def contents(
    home: Path,
) -> dict[str, tuple[str, str | None, list[tuple[str, str, str, int | None, dict]]]]:  # type: ignore[type-arg]
    return {
        key: (
            header.session_id,
            header.title,
            [(m.role, m.content, m.ts, m.token_count, m.metadata) for m in messages],
        )
        for key, (header, messages) in sessions_by_key(home).items()
    }


def test_an_import_that_failed_at_any_write_is_completed_by_running_it_again(
    tmp_path: Path,
) -> None:
    source = make_source("chatgpt", tmp_path / "src", conversations=4)
    clean_home = tmp_path / "clean"
    Import(source, clean_home).run()
    expected = contents(clean_home)
    total_events = 4 * 3
    for writes in range(total_events):
        home = tmp_path / f"home-{writes}"
        log = EventLog(home, fsync="never", file_ops=FullDiskAfter(writes))
        job = Import(source, home, log=log)
        with pytest.raises(DiskFullError):
            job.run()
        assert job.summary.stopped is not None
        assert sum(o.messages for o in job.summary.outcomes) + len(job.summary.outcomes) <= writes
        resumed = Import(source, home).run()
        assert resumed.count("imported") + resumed.count("completed") >= 1
        assert contents(home) == expected, f"after failing at write {writes + 1}"
        assert Import(source, home).run().messages == 0


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))


def test_a_write_failing_mid_import_reports_progress_then_a_rerun_completes_it(
    tmp_path: Path, home: Path
) -> None:
    source = make_source("claude-code", tmp_path / "src", conversations=2)
    write_jsonl(
        source / "-p" / "z-big.jsonl",
        [
            cc_user("big-u", None, "Tell me everything", "2025-03-02T12:00:00Z", sessionId="big"),
            cc_assistant(
                "big-a",
                "big-u",
                "msg-big",
                [text("x" * 10_000)],
                2500,
                "2025-03-02T12:00:09Z",
                sessionId="big",
            ),
        ],
    )
    limited = subprocess.run(
        [chatlog_executable(), "import", str(source)],
        capture_output=True,
        text=True,
        env={**os.environ, "CHATLOG_HOME": str(home)},
        preexec_fn=limit_file_size,
        timeout=60,
        check=False,
    )
    assert limited.returncode == 5, limited.stderr
    assert len(limited.stderr.splitlines()) == 1
    assert limited.stderr.startswith("chatlog: error: cannot append to ")
    # the third session was created and got its first message before the disk filled:
    # the summary counts what was really written
    assert "3 imported" in limited.stdout
    assert "messages  5 imported" in limited.stdout
    assert "run the same import again to complete it" in limited.stdout
    rerun = run_chatlog("import", str(source), "--json")
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["sessions"] == {"imported": 0, "completed": 1, "present": 2, "conflict": 0}
    assert (summary["messages"], summary["tokens"]) == (1, 2500)
    _header, messages = sessions_by_key(home)["claude-code:big"]
    assert [m.content for m in messages] == ["Tell me everything", "x" * 10_000]


def test_a_log_at_the_derived_id_that_is_not_this_import_is_left_alone(
    tmp_path: Path, home: Path
) -> None:
    source = make_source("chatgpt", tmp_path / "src", conversations=1)
    derived = derived_session_id("2023-11-14T22:13:20+00:00", "chatgpt:c0")
    with EventLog(home) as log:
        log.create_session(title="mine", session_id=derived)
    before = (home / "events" / f"{derived}.jsonl").read_bytes()
    summary = Import(source, home).run()
    ((status, sid),) = [(o.status, o.session_id) for o in summary.outcomes]
    assert status == "imported"
    assert sid != derived and sid is not None and sid.startswith("2023-11-14_221320_")
    assert (home / "events" / f"{derived}.jsonl").read_bytes() == before
    _header, messages = sessions_by_key(home)["chatgpt:c0"]
    assert [m.content for m in messages] == ["q0", "a0"]


def test_a_torn_last_line_left_by_a_crash_is_set_aside_and_the_session_completed(
    tmp_path: Path, home: Path
) -> None:
    source = make_source("claude-ai", tmp_path / "src", conversations=1)
    Import(source, home).run()
    expected = contents(home)
    (log_file,) = (home / "events").iterdir()
    data = log_file.read_bytes()
    last_line_start = data.rstrip(b"\n").rfind(b"\n") + 1
    log_file.write_bytes(data[: last_line_start + 25])  # the last append was cut short
    summary = Import(source, home).run()
    assert [(o.status, o.messages) for o in summary.outcomes] == [("completed", 1)]
    assert contents(home) == expected
    (torn,) = (home / "quarantine").iterdir()
    assert torn.read_bytes() == data[last_line_start : last_line_start + 25]


def test_a_conversation_that_grew_at_the_source_gets_only_its_new_messages(
    tmp_path: Path, home: Path
) -> None:
    path = small_transcript(tmp_path / "s.jsonl", session="grow", prompt="first")
    Import(path, home).run()
    with path.open("a") as file:
        file.write(
            json.dumps(
                cc_user("grow-u2", "grow-a", "second", "2025-03-01T12:01:00Z", sessionId="grow")
            )
            + "\n"
        )
        file.write(
            json.dumps(
                cc_assistant(
                    "grow-a2",
                    "grow-u2",
                    "msg-2",
                    [text("again")],
                    9,
                    "2025-03-01T12:01:05Z",
                    sessionId="grow",
                )
            )
            + "\n"
        )
    summary = Import(path, home).run()
    assert [(o.status, o.messages, o.tokens) for o in summary.outcomes] == [("completed", 2, 9)]
    _header, messages = sessions_by_key(home)["claude-code:grow"]
    assert [m.content for m in messages] == ["first", "Hi! (first)", "second", "again"]
    assert [m.seq for m in messages] == [2, 3, 4, 5]


def test_a_session_that_differs_from_the_source_is_left_alone_as_a_conflict(
    tmp_path: Path, home: Path
) -> None:
    path = write_json(tmp_path / "conversations.json", [simple_gpt_conversation("c", "q", "a", T0)])
    Import(path, home).run()
    before = tree_snapshot(home / "events")
    edited = simple_gpt_conversation("c", "q (edited)", "another answer", T0)
    edited["mapping"]["c-u"]["message"]["id"] = "edited-prompt"
    edited["mapping"]["c-a"]["message"]["id"] = "edited-answer"
    write_json(path, [edited])
    result = run_chatlog("import", str(path))
    assert result.returncode == 0, result.stderr
    assert "1 left alone (differ from the source)" in result.stdout
    assert "message 1 differs from the source" in result.stdout
    assert tree_snapshot(home / "events") == before


def test_two_imports_running_at_once_write_each_conversation_once(
    tmp_path: Path, home: Path
) -> None:
    source = write_json(
        tmp_path / "conversations.json",
        [simple_gpt_conversation(f"c{n}", f"q{n}", f"a{n}", T0 + n) for n in range(40)],
    )
    import_twice_at_once(source, home)
    sessions = sessions_by_key(home)
    assert len(sessions) == 40
    assert len(list((home / "events").iterdir())) == 40
    for n in range(40):
        _header, messages = sessions[f"chatgpt:c{n}"]
        assert [m.content for m in messages] == [f"q{n}", f"a{n}"]
    assert all(isinstance(m, Message) for _h, ms in sessions.values() for m in ms)


def test_a_re_run_decides_from_the_log_tail_and_leaves_a_damaged_middle_to_fsck(
    tmp_path: Path, home: Path
) -> None:
    source = make_source("llm", tmp_path / "src", conversations=1)
    Import(source, home).run()
    (log_file,) = (home / "events").iterdir()
    lines = log_file.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"q0"', b'"Q0"')  # bit rot in the first message's line
    log_file.write_bytes(b"".join(lines))
    damaged = tree_snapshot(home / "events")
    summary = Import(source, home).run()
    assert [(o.status, o.messages) for o in summary.outcomes] == [("present", 0)]
    assert tree_snapshot(home / "events") == damaged


def test_an_import_killed_mid_way_is_completed_by_running_it_again(
    tmp_path: Path, home: Path
) -> None:
    count = 300
    source = write_json(
        tmp_path / "conversations.json",
        [simple_gpt_conversation(f"c{n}", f"q{n}", f"a{n}", T0 + 60 * n) for n in range(count)],
    )
    clean_home = tmp_path / "clean"
    Import(source, clean_home).run()
    expected = contents(clean_home)

    victim = subprocess.Popen(
        [chatlog_executable(), "import", str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CHATLOG_HOME": str(home)},
    )
    events = home / "events"
    deadline = time.monotonic() + 60
    while victim.poll() is None and time.monotonic() < deadline:
        if events.is_dir() and len(os.listdir(events)) >= count // 3:
            break
        time.sleep(0.002)
    victim.kill()  # SIGKILL: no cleanup, no final sync
    victim.wait(timeout=30)

    rerun = Import(source, home).run()
    assert rerun.count("conflict") == 0
    assert contents(home) == expected
    assert Import(source, home).run().count("present") == count
