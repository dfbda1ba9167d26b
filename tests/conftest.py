"""Shared fixtures: every test gets its own chatlog home; nothing touches the real one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.register_assert_rewrite("tests.store_contract")

from eventlog import EventLog  # noqa: E402
from tests.nats_servers import NatsCluster, unique_stream  # noqa: E402

if TYPE_CHECKING:
    from tests.repl_pty import Repl

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = PROJECT_ROOT.parent / "shared" / "testdata"


def chatlog_executable() -> str:
    """The installed console script next to this interpreter (the real entry point)."""
    candidate = Path(sys.executable).with_name("chatlog")
    found = str(candidate) if candidate.exists() else shutil.which("chatlog")
    assert found, "the chatlog console script is not installed (run `make test`)"
    return found


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point CHATLOG_HOME (and XDG dirs) at a fresh temp dir for every test."""
    home = tmp_path / "chatlog-home"
    monkeypatch.setenv("CHATLOG_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    yield home


@pytest.fixture
def home(isolated_home: Path) -> Path:
    return isolated_home


@pytest.fixture
def log(home: Path) -> Iterator[EventLog]:
    with EventLog(home) as event_log:
        yield event_log


@pytest.fixture
def repls() -> Iterator[list[Repl]]:
    """Every REPL a test starts (see ``tests.repl_pty.start``) is killed at the end,
    whatever happened."""
    started: list[Repl] = []
    yield started
    for repl in started:
        repl.close()


def run_chatlog(
    *args: str,
    input: str | bytes | None = None,
    home: Path | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `chatlog` command; returns the completed process (text mode)."""
    full_env = dict(os.environ)
    if home is not None:
        full_env["CHATLOG_HOME"] = str(home)
    full_env.update(env or {})
    data = input.decode() if isinstance(input, bytes) else input
    return subprocess.run(
        [chatlog_executable(), *args],
        input=data,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


# --------------------------------------------------------------------------- NATS servers


@pytest.fixture(scope="session")
def nats_single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """One nats-server with JetStream for the whole run (tests use their own streams)."""
    cluster = NatsCluster(tmp_path_factory.mktemp("nats-single"), size=1).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A 3-node cluster for the whole run. Tests that kill nodes start their own."""
    cluster = NatsCluster(tmp_path_factory.mktemp("nats-cluster"), size=3).start()
    yield cluster
    cluster.stop()


def fresh_stream_url(cluster: NatsCluster, **options: object) -> str:
    """The cluster's URL with a stream name no other test uses."""
    query = "&".join(f"{k}={v}" for k, v in {"stream": unique_stream(), **options}.items())
    return f"{cluster.url}?{query}"


@pytest.fixture
def url(nats_single: NatsCluster) -> str:
    """A store URL of the shared single server with a stream of the test's own."""
    return fresh_stream_url(nats_single)
