"""Every method over a real socket: what it answers, and each way it can fail.

One ``chatlog serve`` subprocess (and one home) serves the whole module, so every test
makes its own sessions and never assumes it is alone in the home.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from cli.rpc_client import RpcClient
from cli.server.errors import RpcError
from tests.conftest import run_chatlog
from tests.test_server_support import ServerProcess, serving

SEED_META_FIELDS = {
    "session_id",
    "created_at",
    "updated_at",
    "message_count",
    "total_tokens",
    "title",
    "tags",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("methods") / "home") as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[RpcClient]:
    with server.client() as connected:
        yield connected


def new_session(client: RpcClient, title: str | None = None, *messages: str) -> str:
    session_id: str = client.call("session.create", {"title": title})["session_id"]
    for index, content in enumerate(messages):
        role = "user" if index % 2 == 0 else "assistant"
        client.call(
            "session.append",
            {"session_id": session_id, "role": role, "content": content, "token_count": 3},
        )
    return session_id


def rpc_error(client: RpcClient, method: str, params: Any) -> RpcError:
    with pytest.raises(RpcError) as caught:
        client.call(method, params)
    return caught.value


UNKNOWN_ID = "2001-01-01_000000_abcdef"
SESSION_METHODS = [
    ("session.load", {}),
    ("session.export", {}),
    ("session.delete", {}),
    ("session.info", {}),
    ("session.append", {"role": "user", "content": "x"}),
    ("session.subscribe", {}),
]


# ---------------------------------------------------------------------- shared failures


@pytest.mark.parametrize(("method", "extra"), SESSION_METHODS, ids=[m for m, _ in SESSION_METHODS])
def test_an_unknown_session_is_session_not_found_for_every_method(
    client: RpcClient, method: str, extra: dict[str, Any]
) -> None:
    error = rpc_error(client, method, {"session_id": UNKNOWN_ID, **extra})
    assert error.code == -32001
    assert UNKNOWN_ID in error.message


@pytest.mark.parametrize(("method", "extra"), SESSION_METHODS, ids=[m for m, _ in SESSION_METHODS])
@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "2025-10-04", "", "x" * 200, "a\x00b"])
def test_a_malformed_session_id_is_invalid_session_id_for_every_method(
    client: RpcClient, method: str, extra: dict[str, Any], bad_id: str
) -> None:
    error = rpc_error(client, method, {"session_id": bad_id, **extra})
    assert error.code == -32002


def test_a_unique_prefix_is_not_accepted_as_a_session_id(client: RpcClient) -> None:
    session_id = new_session(client, "prefix")
    error = rpc_error(client, "session.info", {"session_id": session_id[:-3]})
    assert error.code == -32002
    error = rpc_error(client, "session.info", {"session_id": session_id.rsplit("_", 1)[1]})
    assert error.code == -32002


# ---------------------------------------------------------------------- create and append


def test_create_returns_a_fresh_valid_id_with_its_title_and_tags(client: RpcClient) -> None:
    session_id = client.call("session.create", {"title": "Plans", "tags": ["work", "q3"]})[
        "session_id"
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d{6}_[0-9a-f]{6}", session_id)
    info = client.call("session.info", {"session_id": session_id})
    assert info["title"] == "Plans"
    assert info["tags"] == ["work", "q3"]
    assert info["last_seq"] == 1


def test_create_needs_no_params_at_all(client: RpcClient) -> None:
    first = client.call("session.create")["session_id"]
    second = client.call("session.create", {})["session_id"]
    assert first != second


@pytest.mark.parametrize(
    "params",
    [{"tags": [""]}, {"tags": ["x" * 101]}, {"title": 5}, {"tags": "work"}, {"colour": "red"}],
    ids=["empty tag", "long tag", "title not a string", "tags not a list", "unknown field"],
)
def test_create_refuses_bad_titles_and_tags_as_invalid_params(
    client: RpcClient, params: dict[str, Any]
) -> None:
    assert rpc_error(client, "session.create", params).code == -32602


def test_append_returns_the_stored_event_like_tail_json(
    client: RpcClient, server: ServerProcess
) -> None:
    session_id = new_session(client)
    event = client.call(
        "session.append",
        {
            "session_id": session_id,
            "role": "assistant",
            "content": "line one\nline two ✓",
            "token_count": 12,
            "metadata": {"model": "m", "n": [1, 2]},
        },
    )
    assert event["type"] == "message"
    assert event["seq"] == 2
    assert event["session_id"] == session_id
    assert event["content"] == "line one\nline two ✓"
    assert event["metadata"] == {"model": "m", "n": [1, 2]}
    tailed = run_chatlog("--home", str(server.home), "tail", session_id, "--json")
    assert tailed.returncode == 0, tailed.stderr
    assert msgspec.json.decode(tailed.stdout.splitlines()[-1]) == event


def test_append_with_the_current_expected_seq_succeeds(client: RpcClient) -> None:
    session_id = new_session(client, None, "one")
    event = client.call(
        "session.append",
        {"session_id": session_id, "role": "user", "content": "two", "expected_seq": 2},
    )
    assert event["seq"] == 3


def test_append_with_a_stale_expected_seq_is_a_seq_conflict_naming_the_actual_seq(
    client: RpcClient,
) -> None:
    session_id = new_session(client, None, "one", "two")
    error = rpc_error(
        client,
        "session.append",
        {"session_id": session_id, "role": "user", "content": "late", "expected_seq": 1},
    )
    assert error.code == -32003
    assert error.data == {"session_id": session_id, "expected_seq": 1, "actual_seq": 3}
    assert client.call("session.info", {"session_id": session_id})["last_seq"] == 3


@pytest.mark.parametrize(
    "change",
    [
        {"role": "wizard"},
        {"token_count": -1},
        {"token_count": "5"},
        {"content": None},
        {"metadata": []},
        {"expected_seq": -1},
    ],
    ids=["role", "negative tokens", "string tokens", "null content", "list metadata", "seq"],
)
def test_append_refuses_ill_typed_fields_as_invalid_params(
    client: RpcClient, change: dict[str, Any]
) -> None:
    session_id = new_session(client)
    params = {"session_id": session_id, "role": "user", "content": "x", **change}
    assert rpc_error(client, "session.append", params).code == -32602
    assert client.call("session.info", {"session_id": session_id})["last_seq"] == 1


# ---------------------------------------------------------------------- the seed's four


def test_list_gives_the_seed_shape_newest_updated_first(client: RpcClient) -> None:
    older = new_session(client, "older", "a")
    newer = new_session(client, "newer", "b")
    client.call("session.append", {"session_id": older, "role": "user", "content": "bump"})
    result = client.call("session.list", {"limit": None})
    assert result["status"] == "success"
    ids = [meta["session_id"] for meta in result["sessions"]]
    assert ids.index(older) < ids.index(newer)
    assert all(set(meta) == SEED_META_FIELDS for meta in result["sessions"])
    updated = [meta["updated_at"] for meta in result["sessions"]]
    assert updated == sorted(updated, reverse=True)


def test_list_honours_limit_and_defaults_to_the_seeds_ten(client: RpcClient) -> None:
    for _ in range(11):
        new_session(client)
    assert len(client.call("session.list", {"limit": 3})["sessions"]) == 3
    assert len(client.call("session.list")["sessions"]) == 10
    assert len(client.call("session.list", {"limit": None})["sessions"]) >= 11


def test_load_gives_the_seed_result_and_the_session_file_format(client: RpcClient) -> None:
    session_id = new_session(client, "Debugging", "Help me debug", "Sure")
    result = client.call("session.load", {"session_id": session_id})
    assert result["status"] == "success"
    assert result["session_id"] == session_id
    assert result["message_count"] == 2
    assert set(result["metadata"]) == SEED_META_FIELDS
    assert result["metadata"]["total_tokens"] == 6
    assert [(m["role"], m["content"]) for m in result["messages"]] == [
        ("user", "Help me debug"),
        ("assistant", "Sure"),
    ]
    assert set(result["messages"][0]) == {
        "role",
        "content",
        "timestamp",
        "token_count",
        "metadata",
    }


def test_load_sees_an_append_made_by_another_process_at_once(
    client: RpcClient, server: ServerProcess
) -> None:
    session_id = new_session(client, None, "first")
    appended = run_chatlog(
        "--home", str(server.home), "append", session_id, "--role", "user", input="second"
    )
    assert appended.returncode == 0, appended.stderr
    messages = client.call("session.load", {"session_id": session_id})["messages"]
    assert [m["content"] for m in messages] == ["first", "second"]


def test_export_markdown_is_the_seed_format(client: RpcClient) -> None:
    session_id = new_session(client, "Exported", "question?", "answer.")
    result = client.call("session.export", {"session_id": session_id, "format": "markdown"})
    assert result["status"] == "success"
    assert result["format"] == "markdown"
    content = result["content"]
    assert content.startswith("# Exported\n")
    assert f"**Session ID:** {session_id}" in content
    assert "## 👤 User [" in content
    assert "## 🤖 Assistant [" in content
    assert client.call("session.export", {"session_id": session_id})["content"] == content


def test_export_json_is_exactly_the_session_file(client: RpcClient, server: ServerProcess) -> None:
    session_id = new_session(client, "As JSON", "hello")
    result = client.call("session.export", {"session_id": session_id, "format": "json"})
    assert run_chatlog("views", session_id, home=server.home).returncode == 0
    snapshot_file = server.home / "sessions" / f"{session_id}.json"
    assert result["content"].encode() == snapshot_file.read_bytes()


def test_export_refuses_an_unknown_format(client: RpcClient) -> None:
    session_id = new_session(client)
    error = rpc_error(client, "session.export", {"session_id": session_id, "format": "pdf"})
    assert error.code == -32602


def test_delete_removes_the_session_everywhere_and_a_second_delete_is_not_found(
    client: RpcClient, server: ServerProcess
) -> None:
    session_id = new_session(client, "doomed", "secret words")
    assert client.call("session.delete", {"session_id": session_id}) == {
        "status": "success",
        "deleted": session_id,
    }
    assert not (server.home / "events" / f"{session_id}.jsonl").exists()
    assert rpc_error(client, "session.load", {"session_id": session_id}).code == -32001
    listed = client.call("session.list", {"limit": None})["sessions"]
    assert session_id not in [meta["session_id"] for meta in listed]
    assert client.call("session.search", {"query": "secret"})["hits"] == []
    assert rpc_error(client, "session.delete", {"session_id": session_id}).code == -32001


# ---------------------------------------------------------------------- info and search


def test_info_gives_the_metadata_and_the_last_seq(client: RpcClient) -> None:
    session_id = new_session(client, "Info", "a", "b", "c")
    info = client.call("session.info", {"session_id": session_id})
    assert set(info) == {*SEED_META_FIELDS, "last_seq"}
    assert info["message_count"] == 3
    assert info["total_tokens"] == 9
    assert info["last_seq"] == 4


def test_search_finds_messages_ranked_with_snippets(client: RpcClient) -> None:
    session_id = new_session(client, "Search me", "the zanzibar protocol", "unrelated text")
    hits = client.call("session.search", {"query": "zanzibar"})["hits"]
    assert [(hit["session_id"], hit["seq"]) for hit in hits] == [(session_id, 2)]
    assert "zanzibar" in hits[0]["snippet"]
    assert set(hits[0]) == {"session_id", "title", "seq", "role", "timestamp", "snippet", "rank"}


def test_search_honours_its_limit(client: RpcClient) -> None:
    new_session(client, None, *[f"quokka number {n}" for n in range(5)])
    assert len(client.call("session.search", {"query": "quokka", "limit": 2})["hits"]) == 2


@pytest.mark.parametrize(
    "params",
    [{}, {"query": 5}, {"query": "x", "limit": 0}, {"query": "x", "limit": 1001}],
    ids=["no query", "query not a string", "zero limit", "limit too large"],
)
def test_search_refuses_bad_params(client: RpcClient, params: dict[str, Any]) -> None:
    assert rpc_error(client, "session.search", params).code == -32602
