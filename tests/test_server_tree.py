"""The conversation tree over a real socket: ``session.fork``, ``session.tree``, and
``at_seq`` on ``session.load`` and ``session.export`` (a session as it was right after
one of its events). Each answer is compared with what the command line gives for the same
session, since both come from one implementation.

One ``chatlog serve`` subprocess (and one home) serves the whole module, so every test
makes its own sessions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cli.rpc_client import RpcClient
from tests.conftest import run_chatlog
from tests.test_server_methods import UNKNOWN_ID, rpc_error
from tests.test_server_support import ServerProcess, serving

INVALID_PARAMS = -32602
SESSION_NOT_FOUND = -32001
INVALID_SESSION_ID = -32002


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("tree") / "home") as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[RpcClient]:
    with server.client() as connected:
        yield connected


def new_session(client: RpcClient, title: str | None, *messages: str) -> str:
    """A session titled ``title`` (seq 1) with ``messages`` at seqs 2, 3, ..."""
    session_id: str = client.call("session.create", {"title": title})["session_id"]
    for content in messages:
        append(client, session_id, content)
    return session_id


def append(client: RpcClient, session_id: str, content: str) -> int:
    event = client.call(
        "session.append",
        {"session_id": session_id, "role": "user", "content": content, "token_count": 2},
    )
    seq: int = event["seq"]
    return seq


def contents(result: dict[str, Any]) -> list[str]:
    return [message["content"] for message in result["messages"]]


def cli(server: ServerProcess, *args: str) -> str:
    result = run_chatlog(*args, home=server.home)
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------------- session.fork


def test_fork_defaults_to_the_last_event_and_leaves_the_parent_unchanged(
    client: RpcClient,
) -> None:
    parent = new_session(client, "Trip", "where to go", "Lisbon")
    before = client.call("session.load", {"session_id": parent})

    forked = client.call("session.fork", {"session_id": parent})
    fork = forked["session_id"]
    assert fork != parent
    meta = forked["metadata"]
    assert meta["session_id"] == fork
    assert meta["forked_from"] == {"session_id": parent, "seq": 3}
    assert meta["message_count"] == 2
    assert meta["title"] == "Trip"
    assert contents(client.call("session.load", {"session_id": fork})) == [
        "where to go",
        "Lisbon",
    ]
    assert client.call("session.load", {"session_id": parent}) == before


def test_fork_at_a_seq_with_a_title_holds_the_prefix_and_then_its_own_appends(
    client: RpcClient,
) -> None:
    parent = new_session(client, "Trip", "where to go", "Lisbon", "what to eat")
    forked = client.call(
        "session.fork", {"session_id": parent, "at_seq": 3, "title": "Porto instead"}
    )
    fork = forked["session_id"]
    assert forked["metadata"]["title"] == "Porto instead"
    assert forked["metadata"]["forked_from"] == {"session_id": parent, "seq": 3}
    append(client, fork, "Porto?")
    assert contents(client.call("session.load", {"session_id": fork})) == [
        "where to go",
        "Lisbon",
        "Porto?",
    ]
    assert contents(client.call("session.load", {"session_id": parent}))[-1] == "what to eat"


def test_fork_beyond_the_last_seq_is_invalid_params_and_creates_nothing(
    client: RpcClient,
) -> None:
    parent = new_session(client, "short", "only message")
    error = rpc_error(client, "session.fork", {"session_id": parent, "at_seq": 3})
    assert error.code == INVALID_PARAMS
    assert "1 to 2" in error.message and parent in error.message
    family = client.call("session.tree", {"session_id": parent})["sessions"]
    assert [entry["session_id"] for entry in family] == [parent]


@pytest.mark.parametrize("at_seq", [0, -1, "2", True, 1.5])
def test_fork_refuses_an_at_seq_that_is_not_a_positive_integer(
    client: RpcClient, at_seq: Any
) -> None:
    parent = new_session(client, "typed", "message")
    error = rpc_error(client, "session.fork", {"session_id": parent, "at_seq": at_seq})
    assert error.code == INVALID_PARAMS


# ---------------------------------------------------------------------- session.tree


def test_tree_gives_exactly_what_chatlog_tree_json_gives(
    client: RpcClient, server: ServerProcess
) -> None:
    root = new_session(client, "root", "one", "two", "three")
    first = client.call("session.fork", {"session_id": root, "at_seq": 2})["session_id"]
    append(client, first, "first's own")
    nested = client.call("session.fork", {"session_id": first, "title": "nested"})["session_id"]
    second = client.call("session.fork", {"session_id": root, "at_seq": 4})["session_id"]

    answered = client.call("session.tree", {"session_id": nested})
    assert answered["session_id"] == nested
    family = answered["sessions"]
    assert family == json.loads(cli(server, "tree", nested, "--json"))
    assert [(e["session_id"], e["parent"], e["parent_seq"], e["depth"]) for e in family] == [
        (root, None, None, 0),
        (first, root, 2, 1),
        (nested, first, 4, 2),  # first: seqs 1-2 copied, 3 its fork event, 4 its append
        (second, root, 4, 1),
    ]
    assert [e["message_count"] for e in family] == [3, 2, 2, 3]
    assert family[2]["title"] == "nested"
    assert client.call("session.tree", {"session_id": root}) == {
        "session_id": root,
        "sessions": family,
    }


def test_tree_of_a_session_without_forks_is_that_session_alone(client: RpcClient) -> None:
    alone = new_session(client, "alone", "hi")
    (entry,) = client.call("session.tree", {"session_id": alone})["sessions"]
    assert entry["session_id"] == alone
    assert entry["parent"] is None and entry["parent_seq"] is None


@pytest.mark.parametrize("method", ["session.fork", "session.tree"])
def test_fork_and_tree_of_an_unknown_or_malformed_id_are_their_usual_errors(
    client: RpcClient, method: str
) -> None:
    assert rpc_error(client, method, {"session_id": UNKNOWN_ID}).code == SESSION_NOT_FOUND
    assert rpc_error(client, method, {"session_id": "../x"}).code == INVALID_SESSION_ID


# ---------------------------------------------------------------------- at_seq


def test_load_at_seq_is_the_session_as_show_at_gives_it(
    client: RpcClient, server: ServerProcess
) -> None:
    session_id = new_session(client, "Plans", "first", "second", "third")
    client.call("session.fork", {"session_id": session_id})  # other sessions change nothing
    for at_seq in (1, 2, 3, 4):
        result = client.call("session.load", {"session_id": session_id, "at_seq": at_seq})
        shown = json.loads(cli(server, "show", session_id, "--at", str(at_seq), "--json"))
        assert result["metadata"] == shown["metadata"]
        assert result["messages"] == shown["messages"]
        assert result["message_count"] == at_seq - 1
        assert contents(result) == ["first", "second", "third"][: at_seq - 1]
    now = client.call("session.load", {"session_id": session_id})
    assert client.call("session.load", {"session_id": session_id, "at_seq": 4}) == now


def test_a_retitle_made_later_by_another_process_is_not_seen_at_an_earlier_seq(
    client: RpcClient, server: ServerProcess
) -> None:
    session_id = new_session(client, "Before", "hello")
    cli(server, "title", session_id, "After")
    result = client.call("session.load", {"session_id": session_id, "at_seq": 2})
    assert result["metadata"]["title"] == "Before"
    assert client.call("session.load", {"session_id": session_id})["metadata"]["title"] == "After"


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_export_at_seq_is_what_chatlog_export_at_writes(
    client: RpcClient, server: ServerProcess, fmt: str
) -> None:
    session_id = new_session(client, "Exported", "question?", "answer.", "later")
    result = client.call("session.export", {"session_id": session_id, "format": fmt, "at_seq": 3})
    assert result["format"] == fmt
    assert result["content"] == cli(server, "export", session_id, "--format", fmt, "--at", "3")
    assert "answer." in result["content"] and "later" not in result["content"]
    if fmt == "json":
        shown = cli(server, "show", session_id, "--at", "3", "--json")
        assert result["content"] == shown


@pytest.mark.parametrize("method", ["session.load", "session.export"])
def test_at_seq_beyond_the_last_seq_is_invalid_params_naming_the_range(
    client: RpcClient, method: str
) -> None:
    session_id = new_session(client, "three events", "a", "b")
    error = rpc_error(client, method, {"session_id": session_id, "at_seq": 4})
    assert error.code == INVALID_PARAMS
    assert session_id in error.message and "1 to 3" in error.message
    for bad in (0, "1", None):
        params = {"session_id": session_id, "at_seq": bad}
        if bad is None:  # null means "now", like leaving it out
            assert client.call(method, params)["session_id"] == session_id
        else:
            assert rpc_error(client, method, params).code == INVALID_PARAMS


@pytest.mark.parametrize("method", ["session.load", "session.export"])
def test_at_seq_of_an_unknown_session_is_session_not_found(client: RpcClient, method: str) -> None:
    error = rpc_error(client, method, {"session_id": UNKNOWN_ID, "at_seq": 1})
    assert error.code == SESSION_NOT_FOUND


def test_at_seq_on_a_fork_shows_the_parents_prefix_then_the_forks_own_events(
    client: RpcClient,
) -> None:
    parent = new_session(client, "parent", "shared one", "shared two", "parent only")
    fork = client.call("session.fork", {"session_id": parent, "at_seq": 3})["session_id"]
    append(client, fork, "fork only")
    last = client.call("session.info", {"session_id": fork})["last_seq"]

    for at_seq in (1, 2, 3):  # the copied prefix: what the parent showed at the same seq
        on_fork = client.call("session.load", {"session_id": fork, "at_seq": at_seq})
        on_parent = client.call("session.load", {"session_id": parent, "at_seq": at_seq})
        assert on_fork["messages"] == on_parent["messages"]
    at_last = client.call("session.load", {"session_id": fork, "at_seq": last})
    assert contents(at_last) == ["shared one", "shared two", "fork only"]
    assert at_last["metadata"]["forked_from"] == {"session_id": parent, "seq": 3}
    error = rpc_error(client, "session.load", {"session_id": fork, "at_seq": last + 1})
    assert error.code == INVALID_PARAMS
    exported = client.call(
        "session.export", {"session_id": fork, "format": "markdown", "at_seq": last - 1}
    )
    assert "shared two" in exported["content"] and "fork only" not in exported["content"]


def test_a_message_redacted_later_is_hidden_at_every_earlier_seq(client: RpcClient) -> None:
    session_id = new_session(client, None, "my password is hunter2-ish", "fine")
    client.call("session.redact", {"session_id": session_id, "seq": 2})
    for at_seq in (2, 3):
        for method, params in (
            ("session.load", {}),
            ("session.export", {"format": "markdown"}),
            ("session.export", {"format": "json"}),
        ):
            answer = client.call(method, {"session_id": session_id, "at_seq": at_seq, **params})
            assert "hunter2" not in json.dumps(answer)
            assert "REDACTED" in json.dumps(answer)
