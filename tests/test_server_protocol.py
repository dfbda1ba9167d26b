"""JSON-RPC 2.0 conformance over a real socket: framing, bad requests, notifications, batches.

One ``chatlog serve`` subprocess serves the whole module; every test opens its own
connection, and a bad connection must never affect the next test's.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cli.rpc_client import ConnectionClosedError, RpcClient
from tests.test_server_support import (
    ServerProcess,
    exchange,
    line,
    notification,
    request,
    serving,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("protocol") / "home") as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[RpcClient]:
    with server.client() as connected:
        yield connected


def decode_object(frame: bytes) -> dict[str, Any]:
    decoded = msgspec.json.decode(frame)
    assert isinstance(decoded, dict)
    return decoded


def error_code(response: dict[str, object]) -> object:
    error = response["error"]
    assert isinstance(error, dict)
    return error["code"]


# ---------------------------------------------------------------------- requests and ids


def test_a_request_is_answered_with_its_own_id_and_version(client: RpcClient) -> None:
    response = exchange(client, request("session.create", {}, request_id=41))
    assert response["jsonrpc"] == "2.0"
    assert response["id"] == 41
    assert set(response["result"]) == {"session_id"}


@pytest.mark.parametrize("request_id", ["abc", 7.5, None, 0, -3])
def test_string_float_null_and_negative_ids_are_echoed_back(
    client: RpcClient, request_id: object
) -> None:
    response = exchange(client, request("session.list", {"limit": 1}, request_id=request_id))
    assert response["id"] == request_id
    assert response["result"]["status"] == "success"


@pytest.mark.parametrize("request_id", [True, {"a": 1}, [1]])
def test_an_id_of_the_wrong_type_is_an_invalid_request_answered_with_a_null_id(
    client: RpcClient, request_id: object
) -> None:
    frame = line({"jsonrpc": "2.0", "method": "session.list", "id": request_id})
    response = exchange(client, frame)
    assert response["id"] is None
    assert error_code(response) == -32600


# ---------------------------------------------------------------------- malformed frames


def test_malformed_json_is_a_parse_error_with_a_null_id(client: RpcClient) -> None:
    response = exchange(client, b'{"jsonrpc": "2.0", "method": \n')
    assert response["id"] is None
    assert error_code(response) == -32700


def test_a_frame_that_is_valid_json_up_to_a_wrong_type_and_then_garbage_is_a_parse_error(
    client: RpcClient,
) -> None:
    response = exchange(client, b'{"jsonrpc": "1.0", "id": 1, !!!}\n')
    assert error_code(response) == -32700


def test_bytes_that_are_not_utf8_are_a_parse_error(client: RpcClient) -> None:
    response = exchange(client, b'{"jsonrpc":"2.0","method":"\xff\xfe","id":1}\n')
    assert error_code(response) == -32700


@pytest.mark.parametrize("frame", [b"42\n", b'"session.list"\n', b"null\n", b"true\n"])
def test_json_that_is_not_an_object_is_an_invalid_request(client: RpcClient, frame: bytes) -> None:
    response = exchange(client, frame)
    assert response["id"] is None
    assert error_code(response) == -32600


def test_a_wrong_jsonrpc_version_is_an_invalid_request_that_keeps_its_id(
    client: RpcClient,
) -> None:
    response = exchange(client, line({"jsonrpc": "1.0", "method": "session.list", "id": 9}))
    assert response["id"] == 9
    assert error_code(response) == -32600


@pytest.mark.parametrize(
    "message",
    [
        {"method": "session.list", "id": 1},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "method": 5, "id": 1},
    ],
    ids=["no version", "no method", "method not a string"],
)
def test_a_request_missing_required_members_is_an_invalid_request(
    client: RpcClient, message: dict[str, object]
) -> None:
    assert error_code(exchange(client, line(message))) == -32600


def test_blank_lines_are_ignored_and_crlf_line_ends_are_accepted(client: RpcClient) -> None:
    frame = b"\n   \n" + request("session.list", {"limit": 1}, request_id=5).rstrip() + b"\r\n"
    response = exchange(client, frame)
    assert response["id"] == 5
    assert "result" in response


def test_the_connection_stays_usable_after_a_bad_frame(client: RpcClient) -> None:
    assert error_code(exchange(client, b"{nope\n")) == -32700
    assert exchange(client, request("session.list", request_id=2))["id"] == 2


# ---------------------------------------------------------------------- methods and params


def test_an_unknown_method_is_method_not_found(client: RpcClient) -> None:
    response = exchange(client, request("session.explode", {}, request_id=3))
    assert response["id"] == 3
    assert error_code(response) == -32601
    assert "session.explode" in response["error"]["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "ten"},
        {"limit": 0},
        {"limit": True},
        {"lmit": 3},
        ["positional"],
        "a string",
    ],
    ids=["string limit", "zero limit", "bool limit", "unknown name", "positional", "not object"],
)
def test_params_of_the_wrong_shape_or_type_are_invalid_params(
    client: RpcClient, params: object
) -> None:
    frame = line({"jsonrpc": "2.0", "method": "session.list", "params": params, "id": 4})
    response = exchange(client, frame)
    assert response["id"] == 4
    assert error_code(response) == -32602


def test_a_missing_required_param_is_invalid_params(client: RpcClient) -> None:
    response = exchange(client, request("session.append", {"role": "user", "content": "x"}))
    assert error_code(response) == -32602
    assert "session_id" in response["error"]["message"]


# ---------------------------------------------------------------------- notifications


def test_a_notification_is_executed_but_never_answered(client: RpcClient) -> None:
    client.send_frame(notification("session.create", {"title": "made by a notification"}))
    client.send_frame(notification("no.such.method"))
    client.send_frame(notification("session.append", {"session_id": "bad"}))
    response = exchange(client, request("session.list", {"limit": None}, request_id=77))
    assert response["id"] == 77  # the first thing received: no answer to the notifications
    titles = [meta["title"] for meta in response["result"]["sessions"]]
    assert "made by a notification" in titles


# ---------------------------------------------------------------------- batches


def test_a_batch_gets_one_array_with_a_response_per_request_but_none_for_notifications(
    client: RpcClient,
) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "session.create", "params": {"title": "b1"}, "id": "a"},
        {"jsonrpc": "2.0", "method": "session.list", "params": {"limit": 1}},
        {"jsonrpc": "2.0", "method": "nope", "id": "b"},
        {"jsonrpc": "2.0", "method": "session.list", "params": {"limit": 1}, "id": "c"},
    ]
    responses = exchange(client, line(batch))
    assert isinstance(responses, list)
    by_id = {response["id"]: response for response in responses}
    assert set(by_id) == {"a", "b", "c"}
    assert "session_id" in by_id["a"]["result"]
    assert error_code(by_id["b"]) == -32601
    assert by_id["c"]["result"]["status"] == "success"


def test_an_empty_batch_is_one_invalid_request_error(client: RpcClient) -> None:
    response = exchange(client, b"[]\n")
    assert isinstance(response, dict)
    assert response["id"] is None
    assert error_code(response) == -32600


def test_a_batch_of_invalid_elements_gets_an_error_for_each(client: RpcClient) -> None:
    responses = exchange(client, b"[1, 2, 3]\n")
    assert [error_code(response) for response in responses] == [-32600] * 3


def test_a_batch_of_only_notifications_gets_no_response_at_all(client: RpcClient) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "session.list"},
        {"jsonrpc": "2.0", "method": "session.create", "params": {}},
    ]
    client.send_frame(line(batch))
    assert exchange(client, request("session.list", request_id="after"))["id"] == "after"


def test_a_batch_that_is_not_json_is_one_parse_error(client: RpcClient) -> None:
    response = exchange(client, b'[{"jsonrpc": "2.0", "method": "session.list"},\n')
    assert isinstance(response, dict)
    assert error_code(response) == -32700


# ---------------------------------------------------------------------- frame size


def test_a_frame_over_8_mib_gets_payload_too_large_and_the_connection_is_closed(
    server: ServerProcess,
) -> None:
    with server.client() as client:
        head = b'{"jsonrpc":"2.0","id":1,"method":"session.create","params":{"title":"'
        frame = head + b"a" * (8 * 1024 * 1024 + 1) + b'"}}\n'
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.send_frame(frame)  # the server may close before reading all of it
        response = decode_object(client.read_frame())
        assert response["id"] is None
        assert error_code(response) == -32004
        assert response["error"]["data"] == {"max_frame": 8 * 1024 * 1024}
        with pytest.raises((ConnectionClosedError, ConnectionResetError)):
            client.read_frame()
    with server.client() as other:  # the server itself is unharmed
        assert other.call("session.list", {"limit": 1})["status"] == "success"


def test_a_frame_just_under_a_configured_limit_is_answered(tmp_path: Path) -> None:
    with serving(tmp_path / "home", "--max-frame", "4K") as server, server.client() as client:
        padding = 4096 - len(request("session.create", {"title": ""})) - 10
        response = exchange(client, request("session.create", {"title": "x" * padding}))
        assert "session_id" in response["result"]
        over = request("session.create", {"title": "x" * 5000})
        response = exchange(client, over)
        assert error_code(response) == -32004


# ---------------------------------------------------------------------- closing


def test_a_half_closed_connection_still_gets_every_answer_then_eof(server: ServerProcess) -> None:
    with server.client() as client:
        client.send_frame(request("session.list", request_id=1))
        client.send_frame(request("session.create", {}, request_id=2))
        client.send_frame(request("session.list", request_id=3))
        client.shutdown_write()
        ids = [decode_object(client.read_frame())["id"] for _ in range(3)]
        assert ids == [1, 2, 3]
        with pytest.raises(ConnectionClosedError):
            client.read_frame()


def test_a_last_request_without_its_newline_is_answered_at_eof(server: ServerProcess) -> None:
    with server.client() as client:
        client.send_frame(request("session.list", request_id="last").rstrip(b"\n"))
        client.shutdown_write()
        assert decode_object(client.read_frame())["id"] == "last"


def test_a_client_vanishing_mid_frame_does_not_disturb_the_server(server: ServerProcess) -> None:
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(str(server.socket_path))
    raw.sendall(b'{"jsonrpc":"2.0","id":1,"method":"session.li')
    raw.close()
    with server.client() as client:
        assert client.call("session.list", {"limit": 1})["status"] == "success"
