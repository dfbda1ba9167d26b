"""session.load and session.export of a long session are streamed: the response is the
same JSON, and the server's memory does not grow with the session, even for a client
that never reads its response."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from cli.rpc_client import Call
from eventlog import EventLog, Message
from projections import Projections
from tests.conftest import run_chatlog
from tests.test_server_limits import MiB, long_session, settled_rss, sockets
from tests.test_server_support import request, serving


def stalled_loader(socket_path: Path, method: str, params: dict[str, object]) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(str(socket_path))
    sock.sendall(request(method, params))
    return sock


def test_a_streamed_load_and_export_are_the_whole_session(home: Path) -> None:
    session_id, _ = long_session(home, 3_000)
    with EventLog(home) as log:
        contents = [e.content for e in log.read(session_id) if isinstance(e, Message)]
    with serving(home) as server, server.client() as client:
        loaded = client.call("session.load", {"session_id": session_id})
        assert loaded["message_count"] == 3_000 == len(loaded["messages"])
        assert [m["content"] for m in loaded["messages"]] == contents
        exported = client.call("session.export", {"session_id": session_id, "format": "json"})
        assert run_chatlog("views", session_id, home=home).returncode == 0
        on_disk = (home / "sessions" / f"{session_id}.json").read_text()
        assert exported["content"] == on_disk
        markdown = client.call("session.export", {"session_id": session_id})
        assert markdown["content"] == run_chatlog("export", session_id, home=home).stdout
        batch = client.batch(
            [Call("session.load", {"session_id": session_id}), Call("session.list", {"limit": 1})]
        )
        assert len(batch[0]["messages"]) == 3_000
    assert json.loads(on_disk)["metadata"]["message_count"] == 3_000


def test_clients_that_never_read_a_long_load_cost_the_same_memory_as_a_short_one(
    home: Path,
) -> None:
    short_id, _ = long_session(home, 20_000)  # already more than one read of the log
    long_id, long_size = long_session(home, 100_000)
    with EventLog(home) as log, Projections(log) as projections:
        projections.catch_up()  # folded before the server starts: its reads wait for nothing
    with serving(home) as server, sockets() as opened:
        assert server.process is not None
        pid = server.process.pid
        with server.client() as client:
            client.call("session.load", {"session_id": short_id})
        before = settled_rss(pid)
        opened += [
            stalled_loader(server.socket_path, "session.load", {"session_id": short_id})
            for _ in range(4)
        ]
        after_short = settled_rss(pid)
        opened += [
            stalled_loader(server.socket_path, "session.load", {"session_id": long_id})
            for _ in range(4)
        ]
        after_long = settled_rss(pid)
        with server.client() as other:
            assert other.call("session.info", {"session_id": long_id})["message_count"] > 0
    per_short = (after_short - before) / 4
    per_long = (after_long - after_short) / 4
    # Five times the session, the same cost per client: what one read of the log holds.
    assert per_long <= 1.5 * per_short + 4 * MiB, (per_short / MiB, per_long / MiB)
    assert per_long < long_size / 2, (per_long / MiB, long_size / MiB)
