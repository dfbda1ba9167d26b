"""Starting and stopping the server: socket permissions, one server per socket, stale
sockets, clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import socket
import stat
from pathlib import Path

import msgspec
import pytest

from cli.rpc_client import ConnectionClosedError
from eventlog import EventLog, Message
from tests.conftest import run_chatlog
from tests.test_server_support import ServerProcess, accepts_connections, request, serving


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stale_socket(path: Path) -> None:
    """Leave a socket file nobody listens on, as a crashed server does."""
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()


# ---------------------------------------------------------------------- permissions


def test_the_default_socket_is_0600_inside_the_0700_home(home: Path) -> None:
    with serving(home) as server:
        assert server.socket_path == home / "chatlog.sock"
        assert stat.S_ISSOCK(server.socket_path.lstat().st_mode)
        assert mode(server.socket_path) == 0o600
        assert mode(home) == 0o700


def test_a_socket_in_a_missing_directory_gets_that_directory_created_0700(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "run" / "deeper" / "s.sock"
    with serving(home, socket_path=path) as server, server.client() as client:
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        assert client.call("session.list")["status"] == "success"


# ---------------------------------------------------------------------- one server per socket


def test_a_second_server_on_a_live_socket_refuses_with_one_clear_line(home: Path) -> None:
    with serving(home) as first:
        second = run_chatlog("--home", str(home), "serve", timeout=60)
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1
        assert "already listening on" in second.stderr
        assert "Traceback" not in second.stderr
        with first.client() as client:  # the first server is untouched
            assert client.call("session.list")["status"] == "success"


def test_a_stale_socket_file_is_replaced_with_a_warning(home: Path) -> None:
    home.mkdir(mode=0o700, parents=True)
    stale_socket(home / "chatlog.sock")
    assert not accepts_connections(home / "chatlog.sock")
    with serving(home) as server, server.client() as client:
        assert client.call("session.create")["session_id"]
        assert "stale socket" in server.stderr


def test_a_path_that_is_not_a_socket_is_never_replaced(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "important.txt"
    path.write_text("do not delete")
    result = run_chatlog("--home", str(home), "serve", "--socket", str(path))
    assert result.returncode == 1
    assert "not a socket" in result.stderr
    assert path.read_text() == "do not delete"


def test_a_socket_path_too_long_for_unix_sockets_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / ("d" * 120) / "chatlog.sock"
    result = run_chatlog("serve", "--socket", str(path))
    assert result.returncode == 1
    assert "cannot" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------- shutting down


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_shuts_down_cleanly_closing_clients_and_removing_the_socket(
    home: Path, signum: int
) -> None:
    server = ServerProcess(home).start()
    try:
        with server.client() as idle, server.client() as subscriber:
            session_id = subscriber.call("session.create")["session_id"]
            subscriber.subscribe(session_id)
            assert server.signal(signum) == 0
            for client in (idle, subscriber):
                with pytest.raises(ConnectionClosedError):
                    client.read_frame()
        assert not server.socket_path.exists()
        assert "Traceback" not in server.stderr
    finally:
        server.stop()


def test_a_new_server_starts_on_the_same_path_after_a_clean_shutdown(home: Path) -> None:
    with serving(home):
        pass
    with serving(home) as again, again.client() as client:
        assert client.call("session.list")["status"] == "success"


def test_requests_in_flight_at_shutdown_are_answered_and_unread_ones_never_run(
    home: Path,
) -> None:
    server = ServerProcess(home).start()
    try:
        with server.client() as client:
            session_id = client.call("session.create")["session_id"]
            pipeline = b"".join(
                request(
                    "session.append",
                    {"session_id": session_id, "role": "user", "content": str(n)},
                    request_id=n,
                )
                for n in range(300)
            )
            client.send_frame(pipeline)
            server.send_signal(signal.SIGTERM)
            answered: list[str] = []
            while True:
                try:
                    response = msgspec.json.decode(client.read_frame())
                except (ConnectionClosedError, ConnectionResetError):
                    break
                answered.append(response["result"]["content"])
        assert server.wait() == 0
    finally:
        server.stop()
    with EventLog(home) as log:
        stored = [event.content for event in log.read(session_id) if isinstance(event, Message)]
    assert stored == answered  # every stored append was answered, and nothing more ran


def test_serve_help_names_its_options() -> None:
    result = run_chatlog("serve", "--help")
    assert result.returncode == 0
    for option in ("--socket PATH", "--max-frame BYTES", "--send-buffer BYTES"):
        assert option in result.stdout
