"""The server against abusive clients, over a real socket: subscribers that never read a
long replay, SIGTERM with such clients connected, requests nested thousands of levels
deep, and appends racing a delete."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.rpc_client import ConnectionClosedError, RpcClient
from cli.server.errors import INVALID_REQUEST
from cli.server.protocol import MAX_NESTING, nested_deeper_than
from eventlog import EventLog
from eventlog.codec import encode_into
from eventlog.events import Message
from tests.test_server_support import ServerProcess, exchange, request, serving

MiB = 1024 * 1024
STALLED = 6  # subscribers per session that never read
SHUTDOWN_LIVENESS_SECONDS = 5.0  # the documented bound is 2 s (measured: about 1.2 s)


def long_session(home: Path, messages: int) -> tuple[str, int]:
    """A session of ``messages`` messages written in bulk; returns its id and log size."""
    with EventLog(home, fsync="never") as log:
        session_id = log.create_session(title=f"{messages} messages")
        path = log.layout.log_path(session_id)
    buffer = bytearray(path.read_bytes())
    filler = "lorem ipsum dolor sit amet " * 8
    for n in range(messages):
        message = Message(
            seq=n + 2,
            ts="2026-01-01T00:00:00.000000+00:00",
            role="user" if n % 2 else "assistant",
            content=f"message {n} {filler}",
            token_count=20,
        )
        encode_into(message, buffer)
    path.write_bytes(buffer)
    return session_id, len(buffer)


def stalled_subscriber(server: ServerProcess, session_id: str) -> socket.socket:
    """A client that asks for the whole session and then never reads a byte."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(str(server.socket_path))
    sock.sendall(request("session.subscribe", {"session_id": session_id, "from_seq": 1}))
    return sock


def rss(pid: int) -> int:
    """The process's resident set size in bytes, as the kernel counts it."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def settled_rss(pid: int) -> int:
    """RSS once it has stopped moving (the stalled replays have filled their buffers)."""
    samples = [rss(pid)]
    for _ in range(100):
        time.sleep(0.2)
        samples.append(rss(pid))
        if max(samples[-4:]) - min(samples[-4:]) < MiB and len(samples) >= 4:
            break
    return samples[-1]


@contextmanager
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


# ---------------------------------------------------------------------- memory


def test_stalled_subscribers_cost_the_same_memory_whatever_the_replay_size(home: Path) -> None:
    short_id, _ = long_session(home, 20_000)
    long_id, long_size = long_session(home, 200_000)
    with serving(home) as server, sockets() as opened:
        assert server.process is not None
        pid = server.process.pid
        with server.client() as client:  # warm up: every module a replay uses is loaded
            client.call("session.subscribe", {"session_id": short_id})
        before = settled_rss(pid)
        opened += [stalled_subscriber(server, short_id) for _ in range(STALLED)]
        after_short = settled_rss(pid)
        opened += [stalled_subscriber(server, long_id) for _ in range(STALLED)]
        after_long = settled_rss(pid)
        with server.client() as other:  # everyone else is still served
            answer = other.call("session.subscribe", {"session_id": long_id})
            assert answer["last_seq"] == 200_001
    per_short = (after_short - before) / STALLED
    per_long = (after_long - after_short) / STALLED
    # A replay ten times longer costs no more per stalled client (before, each one held
    # the whole decoded session: about 100 MB here), and far less than the session itself.
    assert per_long <= 1.5 * per_short + 4 * MiB, (per_short / MiB, per_long / MiB)
    assert per_long < long_size / 4, (per_long / MiB, long_size / MiB)


# ---------------------------------------------------------------------- shutdown


def test_sigterm_stops_the_server_promptly_whatever_its_clients_do(home: Path) -> None:
    session_id, _ = long_session(home, 20_000)
    server = ServerProcess(home).start()
    try:
        with sockets() as opened, server.client() as idle:
            opened += [stalled_subscriber(server, session_id) for _ in range(STALLED)]
            flooder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            flooder.connect(str(server.socket_path))
            opened.append(flooder)
            subscribe = request("session.subscribe", {"session_id": session_id, "from_seq": 1})
            unsubscribe = request("session.unsubscribe", {"session_id": session_id})
            flooder.sendall((subscribe + unsubscribe) * 1000)  # answers it never reads
            assert idle.call("session.subscribe", {"session_id": session_id})["last_seq"] == 20_001
            assert server.process is not None
            settled_rss(server.process.pid)  # the stalled replays have filled their buffers
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=SHUTDOWN_LIVENESS_SECONDS) == 0
            elapsed = time.monotonic() - started
            with pytest.raises((ConnectionClosedError, ConnectionResetError)):
                idle.read_frame()
        assert not server.socket_path.exists()
        assert "Traceback" not in server.stderr
        assert elapsed < SHUTDOWN_LIVENESS_SECONDS
    finally:
        server.stop()


# ---------------------------------------------------------------------- nesting


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("limits") / "home") as running:
        yield running


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 1_000, 100_000])
@pytest.mark.parametrize("where", ["params", "metadata", "batch", "bare"])
def test_a_request_nested_too_deep_gets_an_error_and_the_connection_carries_on(
    shared_server: ServerProcess, depth: int, where: str
) -> None:
    frames = {
        "params": b'{"jsonrpc":"2.0","id":5,"method":"session.list","params":%s}',
        "metadata": b'{"jsonrpc":"2.0","id":5,"method":"session.append","params":'
        b'{"session_id":"x","role":"user","content":"[[[[","metadata":{"a":%s}}}',
        "batch": b"[%s]",
        "bare": b"%s",
    }
    frame = frames[where] % nested(depth) + b"\n"
    with shared_server.client() as client:
        answer = exchange(client, frame)
        assert answer["error"]["code"] == INVALID_REQUEST
        assert answer["id"] is None
        assert str(MAX_NESTING) in answer["error"]["message"]
        assert client.call("session.list")["status"] == "success"


def test_a_request_at_the_nesting_limit_is_served(shared_server: ServerProcess) -> None:
    with shared_server.client() as client:
        session_id = client.call("session.create")["session_id"]
        # request object, params, metadata, then arrays up to the limit
        metadata = {"deep": json.loads(nested(MAX_NESTING - 3))}
        params = {"session_id": session_id, "role": "user", "content": "x", "metadata": metadata}
        event = client.call("session.append", params)
        assert event["metadata"] == metadata


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab'), inner, max_size=4)
    ),
    max_leaves=60,
)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


@settings(max_examples=300)
@given(json_values, st.integers(min_value=1, max_value=12))
def test_the_nesting_check_agrees_with_the_real_depth(value: Any, limit: int) -> None:
    data = msgspec.json.encode(value)
    assert nested_deeper_than(data, limit) == (depth_of(value) > limit)


# ---------------------------------------------------------------------- delete races


def test_every_acknowledged_append_reaches_a_subscriber_before_session_deleted(
    shared_server: ServerProcess,
) -> None:
    for _ in range(5):
        with ExitStack() as stack:
            subscriber = stack.enter_context(shared_server.client())
            writer = stack.enter_context(shared_server.client())
            deleter = stack.enter_context(shared_server.client())
            session_id = writer.call("session.create")["session_id"]
            events = subscriber.subscribe(session_id)
            acknowledged: list[int] = []

            def write(
                client: RpcClient = writer, sid: str = session_id, acked: list[int] = acknowledged
            ) -> None:
                params = {"session_id": sid, "role": "user", "content": "racing"}
                client.send_frame(
                    b"".join(request("session.append", params, n) for n in range(300))
                )
                for _ in range(300):
                    answer = msgspec.json.decode(client.read_frame())
                    if "result" in answer:
                        acked.append(answer["result"]["seq"])

            writing = threading.Thread(target=write)
            writing.start()
            time.sleep(0.02)
            assert deleter.call("session.delete", {"session_id": session_id})["deleted"]
            writing.join(timeout=60)
            delivered = [event["seq"] for event in events]  # ends at session.deleted
            assert acknowledged, "the delete came before any append: no race tested"
            assert set(acknowledged) <= set(delivered), sorted(set(acknowledged) - set(delivered))
            assert delivered == sorted(delivered) and len(delivered) == len(set(delivered))
