"""Every importer on real files: a second run adds nothing, a run killed with SIGKILL at
any moment is completed by the next, and input that is not of the format is refused with
one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.importers.run import Import
from tests.conftest import chatlog_executable, run_chatlog
from tests.test_import_fixtures import (
    AIDER_WITH_REPLIES,
    CHATGPT_EXPORT,
    CLAUDE_CODE_DIR,
    CODEX_ROLLOUT,
    sessions_by_key,
    tree_snapshot,
    write_llm_logs,
)


def copy_claude_code(root: Path) -> Path:
    project = root / ".claude" / "projects" / "-home-USER-projects-spotter"
    project.mkdir(parents=True)
    for transcript in CLAUDE_CODE_DIR.glob("*.jsonl"):
        shutil.copy(transcript, project / transcript.name)
    return root / ".claude" / "projects"


SOURCES: dict[str, Callable[[Path], Path]] = {
    "codex": lambda root: CODEX_ROLLOUT,
    "claude-code": copy_claude_code,
    "aider": lambda root: AIDER_WITH_REPLIES,
    "chatgpt": lambda root: CHATGPT_EXPORT,
    "llm": lambda root: write_llm_logs(root / "llm"),
}


def contents(home: Path) -> dict[str, list[tuple[str, str, str, int | None]]]:
    return {
        key: [(m.role, m.content, m.ts, m.token_count) for m in messages]
        for key, (_header, messages) in sessions_by_key(home).items()
    }


@pytest.mark.parametrize("fmt", SOURCES)
def test_importing_a_real_source_twice_adds_nothing(fmt: str, tmp_path: Path, home: Path) -> None:
    source = SOURCES[fmt](tmp_path)
    first = Import(source, home).run()
    assert first.format == fmt
    assert first.messages == first.source_messages > 0
    after_first = tree_snapshot(home / "events")
    second = Import(source, home).run()
    assert (second.count("imported"), second.messages) == (0, 0)
    assert second.count("present") == first.count("imported")
    assert tree_snapshot(home / "events") == after_first


def kill_when_written(source: Path, home: Path, at_bytes: int) -> None:
    """Run the import with a sync per append and SIGKILL it once ``at_bytes`` are logged
    (or let it finish, for a source smaller than that)."""
    victim = subprocess.Popen(
        [chatlog_executable(), "--fsync", "always", "import", str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CHATLOG_HOME": str(home)},
    )
    events = home / "events"
    deadline = time.monotonic() + 120
    while victim.poll() is None and time.monotonic() < deadline:
        logged = sum(p.stat().st_size for p in events.glob("*.jsonl")) if events.is_dir() else 0
        if logged >= at_bytes:
            victim.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    victim.wait(timeout=60)


@pytest.mark.parametrize("fmt", SOURCES)
def test_an_import_killed_part_way_is_completed_by_the_next_run(
    fmt: str, tmp_path: Path, home: Path
) -> None:
    source = SOURCES[fmt](tmp_path)
    clean = tmp_path / "clean-home"
    Import(source, clean).run()
    expected = contents(clean)
    total = sum(p.stat().st_size for p in (clean / "events").glob("*.jsonl"))
    kill_when_written(source, home, total // 3)
    rerun = Import(source, home).run()
    assert rerun.count("conflict") == 0
    assert contents(home) == expected
    assert Import(source, home).run().messages == 0


@pytest.mark.parametrize("fmt", [*SOURCES, "claude-ai", "seed"])
def test_a_file_of_another_format_is_refused_with_one_line(
    fmt: str, tmp_path: Path, home: Path
) -> None:
    other = CHATGPT_EXPORT if fmt not in ("chatgpt", "claude-ai", "seed") else CODEX_ROLLOUT
    result = run_chatlog("import", str(other), "--from", fmt)
    assert result.returncode == 2, result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"chatlog: error: {other}: not ")
    assert line.endswith("check --from")
    assert not home.exists()
