"""What the server tests share: a real ``chatlog serve`` subprocess and raw socket helpers.

No tests live here; the ``test_server_*`` modules import these helpers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from cli.rpc_client import RpcClient
from tests.conftest import chatlog_executable

START_TIMEOUT = 30.0


class ServerProcess:
    """``chatlog --home HOME --fsync F [--store URL] serve ARGS...`` run as a subprocess."""

    def __init__(
        self,
        home: Path,
        *args: str,
        socket_path: Path | None = None,
        fsync: str = "never",
        store: str | None = None,
    ) -> None:
        self.home = home
        self.socket_path = socket_path or home / "chatlog.sock"
        self.stderr_path = home.parent / f"serve-{os.getpid()}-{time.monotonic_ns()}.stderr"
        socket_args = ["--socket", str(socket_path)] if socket_path else []
        self.command = [
            chatlog_executable(),
            "--home",
            str(home),
            "--fsync",
            fsync,
            *(["--store", store] if store else []),
            "serve",
            *socket_args,
            *args,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        self.home.parent.mkdir(parents=True, exist_ok=True)
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"chatlog serve exited early: {self.stderr}")
            if accepts_connections(self.socket_path):
                return self
            time.sleep(0.02)
        raise AssertionError(f"chatlog serve did not start listening: {self.stderr}")

    @property
    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text()
        except FileNotFoundError:
            return ""

    def client(self, timeout: float | None = 30.0) -> RpcClient:
        return RpcClient(self.socket_path, timeout=timeout)

    def send_signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def signal(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` and return the exit code."""
        self.send_signal(signum)
        return self.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def serving(home: Path, *args: str, **options: Any) -> Iterator[ServerProcess]:
    server = ServerProcess(home, *args, **options).start()
    try:
        yield server
    finally:
        server.stop()


def accepts_connections(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def request(method: str, params: Any = None, request_id: Any = 1) -> bytes:
    """One request line, built by hand (tests must not depend on the client's encoder)."""
    return line({"jsonrpc": "2.0", "method": method, "params": params or {}, "id": request_id})


def notification(method: str, params: Any = None) -> bytes:
    return line({"jsonrpc": "2.0", "method": method, "params": params or {}})


def line(message: Any) -> bytes:
    return msgspec.json.encode(message) + b"\n"


def exchange(client: RpcClient, frame: bytes) -> Any:
    """Send raw bytes and return the next message as plain JSON (dict or list)."""
    client.send_frame(frame)
    return msgspec.json.decode(client.read_frame())
