"""``chatlog import`` with ``--store nats://...`` on a real nats-server, from the real files
in ../shared/testdata: each conversation is written to the stream exactly as an import
into the home's files writes it, a second run adds nothing, a run killed with SIGKILL part
way is completed by the next, and the counts say what was really written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from eventlog import EventLog, EventStore, Message, SessionCreated
from eventlog.jetstream import JetStreamStore
from tests.conftest import chatlog_executable, run_chatlog
from tests.test_import_fixtures import CHATGPT_EXPORT, CODEX_ROLLOUT, TESTDATA
from tests.test_import_real_sources import copy_claude_code

Contents = dict[str, list[tuple[str, str, str, int | None]]]


def by_key(store: EventStore) -> Contents:
    """Imported sessions by source key: their messages (role, content, time, tokens)."""
    found: Contents = {}
    for sid in store.session_ids():
        events = list(store.read(sid))
        header = events[0]
        assert isinstance(header, SessionCreated)
        key = header.metadata["import"]["key"]
        found[key] = [
            (e.role, e.content, e.ts, e.token_count) for e in events if isinstance(e, Message)
        ]
    return found


def store_contents(url: str) -> Contents:
    with JetStreamStore(url) as store:
        return by_key(store)


def file_contents(home: Path) -> Contents:
    with EventLog(home) as log:
        return by_key(log)


def summary(home: Path, source: Path, url: str | None) -> dict[str, Any]:
    """``chatlog import SOURCE`` into ``url``'s stream (None: the home's files)."""
    env = {"CHATLOG_STORE": url or ""}
    done = run_chatlog("import", str(source), "--json", home=home, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def statuses(result: dict[str, Any]) -> list[str]:
    return sorted(outcome["status"] for outcome in result["conversations"])


def test_the_real_sources_import_into_the_store_as_into_files_and_a_second_run_adds_nothing(
    tmp_path: Path, url: str
) -> None:
    sources = [
        CODEX_ROLLOUT,
        CHATGPT_EXPORT,
        TESTDATA / "aider" / "zen-mcp-server.aider.chat.history.md",
        copy_claude_code(tmp_path / "cc"),
    ]
    on_store, on_files = tmp_path / "store-home", tmp_path / "file-home"
    for source in sources:
        first = summary(on_store, source, url)
        local = summary(on_files, source, None)
        assert first["messages"] == local["messages"] == first["source_messages"] > 0
        assert statuses(first) == statuses(local) == ["imported"] * len(statuses(first))
    assert not list((on_store / "events").iterdir())
    expected = file_contents(on_files)
    # 6 conversations, one of them (the ChatGPT example) with a second branch: a fork
    assert store_contents(url) == expected and len(expected) == 7

    for source in sources:
        again = summary(on_store, source, url)
        assert again["messages"] == 0
        assert set(statuses(again)) == {"present"}
    assert store_contents(url) == expected


@pytest.mark.parametrize("built", [False, True], ids=["scan", "index"])
def test_an_import_killed_part_way_is_completed_by_the_next_run(
    tmp_path: Path, url: str, built: bool
) -> None:
    """Found again by reading every session's first event (a home that never built its
    projections), or through the projections' index of import keys, caught up from the
    stream's change feed."""
    clean = tmp_path / "clean"
    summary(clean, CODEX_ROLLOUT, None)
    expected = file_contents(clean)
    ((_key, messages),) = expected.items()
    total = len(messages)
    home = tmp_path / "home"
    victim = subprocess.Popen(
        [chatlog_executable(), "--store", url, "import", str(CODEX_ROLLOUT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CHATLOG_HOME": str(home)},
    )
    with JetStreamStore(url) as store:
        deadline = time.monotonic() + 60
        written = 0
        while victim.poll() is None and time.monotonic() < deadline and written < 40:
            ids = store.session_ids()
            written = store.last_seq(ids[0]) - 1 if ids else 0
            time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        (sid,) = store.session_ids()
        kept = store.last_seq(sid) - 1  # messages stored before the kill
    assert 40 <= kept < total, "the import was not stopped part way"

    if built:
        assert run_chatlog("list", home=home, env={"CHATLOG_STORE": url}).returncode == 0
    assert (home / "projections.sqlite3").exists() == built
    rerun = summary(home, CODEX_ROLLOUT, url)
    assert statuses(rerun) == ["completed"]
    assert rerun["messages"] == total - kept
    assert store_contents(url) == expected
    assert summary(home, CODEX_ROLLOUT, url)["messages"] == 0


def test_a_dry_run_on_the_store_reads_it_and_writes_nothing(tmp_path: Path, url: str) -> None:
    home = tmp_path / "home"
    done = run_chatlog(
        "--store", url, "import", str(CHATGPT_EXPORT), "--dry-run", "--json", home=home
    )
    assert done.returncode == 0, done.stderr
    assert statuses(json.loads(done.stdout)) == ["imported"] * 2  # its two branches
    assert store_contents(url) == {}
    summary(home, CHATGPT_EXPORT, url)
    again = run_chatlog("--store", url, "import", str(CHATGPT_EXPORT), "--dry-run", home=home)
    assert "2 already present" in again.stdout
