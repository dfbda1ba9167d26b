"""``chatlog serve`` with ``--store nats://...`` against a real nats-server: the methods
run on the stream (nothing in the home's own log files), a subscriber sees appends made
by other processes and other machines' servers, and a delete made elsewhere ends the
subscription with ``session.deleted``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from cli.rpc_client import RpcClient
from cli.server.errors import RpcError
from eventlog import Message
from eventlog.jetstream import JetStreamStore
from tests.conftest import run_chatlog
from tests.test_server_support import ServerProcess, serving


@pytest.fixture
def server(tmp_path: Path, url: str) -> Iterator[ServerProcess]:
    with serving(tmp_path / "server-home", store=url) as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[RpcClient]:
    with server.client(timeout=30) as connected:
        yield connected


def cli(home: Path, url: str, *args: str, input: str | None = None) -> str:
    done = run_chatlog(*args, input=input, home=home, env={"CHATLOG_STORE": url})
    assert done.returncode == 0, done.stderr
    return done.stdout


def take(events: Iterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return list(islice(events, count))


def test_the_methods_run_on_the_store_and_leave_the_homes_logs_alone(
    client: RpcClient, server: ServerProcess, url: str
) -> None:
    sid = client.call("session.create", {"title": "over rpc", "tags": ["nats"]})["session_id"]
    first = client.call(
        "session.append", {"session_id": sid, "role": "user", "content": "zebra-crossing"}
    )
    client.call("session.append", {"session_id": sid, "role": "assistant", "content": "ok"})
    assert first["seq"] == 2
    with pytest.raises(RpcError):  # a stale expected_seq is a conflict, as on files
        client.call(
            "session.append",
            {"session_id": sid, "role": "user", "content": "late", "expected_seq": 1},
        )
    loaded = client.call("session.load", {"session_id": sid})
    assert [m["content"] for m in loaded["messages"]] == ["zebra-crossing", "ok"]
    assert loaded["metadata"]["title"] == "over rpc"
    exported = client.call("session.export", {"session_id": sid, "format": "markdown"})
    assert "zebra-crossing" in str(exported)
    assert client.call("session.info", {"session_id": sid})["last_seq"] == 3
    hits = client.call("session.search", {"query": "zebra"})["hits"]
    assert [hit["session_id"] for hit in hits] == [sid]
    fork = client.call("session.fork", {"session_id": sid, "at_seq": 2})["session_id"]
    tree = client.call("session.tree", {"session_id": fork})["sessions"]
    assert [node["session_id"] for node in tree] == [sid, fork]
    as_then = client.call("session.load", {"session_id": sid, "at_seq": 2})
    assert [m["content"] for m in as_then["messages"]] == ["zebra-crossing"]
    client.call("session.delete", {"session_id": fork})
    client.call("session.redact", {"session_id": sid, "seq": 2})
    loaded = client.call("session.load", {"session_id": sid})
    assert "zebra-crossing" not in str(loaded)
    listed = client.call("session.list", {"limit": 10})["sessions"]
    assert [entry["session_id"] for entry in listed] == [sid]

    with JetStreamStore(url) as store:  # what the server wrote is in the stream
        contents = [e.content for e in store.read(sid) if isinstance(e, Message)]
    assert contents == ["zebra-crossing", "ok"]
    events = server.home / "events"
    assert not events.exists() or not list(events.iterdir())

    client.call("session.delete", {"session_id": sid})
    assert client.call("session.list", {"limit": 10})["sessions"] == []
    with JetStreamStore(url) as store:
        assert not store.exists(sid)


def test_a_subscriber_sees_another_homes_append_live_and_then_its_delete(
    client: RpcClient, tmp_path: Path, url: str
) -> None:
    elsewhere = tmp_path / "another-machine"
    sid = cli(elsewhere, url, "new", "--title", "followed").strip()
    events = client.subscribe(sid, from_seq=1)
    (created,) = take(events, 1)
    assert created["type"] == "session_created" and created["session_id"] == sid
    cli(elsewhere, url, "append", sid, "--role", "user", input="from another process\n")
    (appended,) = take(events, 1)
    assert (appended["seq"], appended["content"]) == (2, "from another process")
    cli(elsewhere, url, "delete", sid)
    assert take(events, 1) == []  # the stream ends with session.deleted


def test_two_servers_on_one_store_see_each_others_appends(
    tmp_path: Path, url: str, client: RpcClient
) -> None:
    with serving(tmp_path / "second-home", store=url) as second, second.client() as other:
        sid = other.call("session.create", {"title": "shared"})["session_id"]
        events = client.subscribe(sid)
        other.call("session.append", {"session_id": sid, "role": "user", "content": "hello"})
        (event,) = take(events, 1)
        assert (event["seq"], event["content"]) == (2, "hello")
        other.call("session.delete", {"session_id": sid})
        assert take(events, 1) == []


def test_serve_with_a_store_says_where_it_keeps_the_events(server: ServerProcess) -> None:
    assert "JetStreamStore(" in server.stderr and "fsync=" not in server.stderr


def test_serve_with_a_store_that_is_down_is_one_line_and_exit_5(tmp_path: Path) -> None:
    from tests.nats_servers import free_port

    down = f"nats://127.0.0.1:{free_port()}?timeout=1"
    done = subprocess.run(
        [*ServerProcess(tmp_path / "home", store=down).command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 5
    assert done.stderr.count("\n") == 1 and "no server reachable" in done.stderr
