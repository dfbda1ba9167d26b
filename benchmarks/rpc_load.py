"""Load on the JSON-RPC server: ``session.append`` from many concurrent clients.

``python -m benchmarks.rpc_load [--clients 50] [--requests 100] [--fsync always never]``

For each fsync policy and each layout (every client appending to one shared session, or
each to its own), a real ``chatlog serve`` subprocess is started on a fresh home; N asyncio
clients in this process connect, and each sends its appends one after the other (a call
waits for its answer), so the server always has up to N requests in flight. Reported per
run: requests per second over the whole run, and the latency of each call as a client sees
it (p50, p99, max, in milliseconds). Prints JSON on stdout; nothing here asserts on a time.

The clients share one Python process (and a core with it), so on a small machine the
figures are a floor for the server, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Json, machine_info, summarize_ns
from cli.rpc_client import AsyncRpcClient

START_TIMEOUT = 30.0
CONTENT = "a benchmark message of a typical length for one chat turn; " * 4


@dataclass(frozen=True)
class LoadConfig:
    clients: int = 50
    requests: int = 100  # appends per client
    fsync: tuple[str, ...] = ("always", "never")
    layouts: tuple[str, ...] = ("shared", "separate")


def chatlog_command() -> list[str]:
    script = Path(sys.executable).with_name("chatlog")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.main"]


class ServedHome:
    """A ``chatlog serve`` subprocess on a fresh home under ``workdir``."""

    def __init__(self, workdir: Path, fsync: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix=f"rpc-{fsync}-", dir=workdir))
        self.socket_path = self.home / "chatlog.sock"
        self.process = subprocess.Popen(
            [*chatlog_command(), "--home", str(self.home), "--fsync", fsync, "serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("chatlog serve exited before listening")
            try:
                client = await AsyncRpcClient.connect(self.socket_path)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            await client.close()
            return
        raise RuntimeError("chatlog serve did not start listening")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


async def _run_clients(socket_path: Path, config: LoadConfig, layout: str) -> Json:
    clients = [await AsyncRpcClient.connect(socket_path) for _ in range(config.clients)]
    try:
        shared = (await clients[0].call("session.create", {"title": "shared"}))["session_id"]
        targets = [
            shared if layout == "shared" else (await c.call("session.create"))["session_id"]
            for c in clients
        ]
        latencies: list[int] = []

        async def one_client(client: AsyncRpcClient, session_id: str) -> None:
            params = {"session_id": session_id, "role": "user", "content": CONTENT}
            for _ in range(config.requests):
                started = time.perf_counter_ns()
                await client.call("session.append", params)
                latencies.append(time.perf_counter_ns() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one_client(c, s) for c, s in zip(clients, targets, strict=True)))
        seconds = time.perf_counter() - started
    finally:
        for client in clients:
            await client.close()
    total = len(latencies)
    return {
        "requests": total,
        "seconds": seconds,
        "requests_per_second": total / seconds,
        "latency_ms": summarize_ns(latencies),
    }


async def run_one(workdir: Path, config: LoadConfig, fsync: str, layout: str) -> Json:
    served = ServedHome(workdir, fsync)
    try:
        await served.wait_ready()
        result = await _run_clients(served.socket_path, config, layout)
    finally:
        served.stop()
    return {"fsync": fsync, "layout": layout, "clients": config.clients, **result}


async def run(config: LoadConfig, workdir: Path) -> Json:
    runs = [
        await run_one(workdir, config, fsync, layout)
        for fsync in config.fsync
        for layout in config.layouts
    ]
    return {"benchmark": "rpc_load", "machine": machine_info(workdir), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rpc_load", description=__doc__)
    parser.add_argument("--clients", type=int, default=LoadConfig.clients)
    parser.add_argument("--requests", type=int, default=LoadConfig.requests, help="per client")
    parser.add_argument("--fsync", nargs="+", default=list(LoadConfig.fsync))
    parser.add_argument("--layout", nargs="+", default=list(LoadConfig.layouts))
    parser.add_argument("--workdir", type=Path, help="directory for the homes (default: temp)")
    args = parser.parse_args(argv)
    config = LoadConfig(args.clients, args.requests, tuple(args.fsync), tuple(args.layout))
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        report = asyncio.run(run(config, Path(workdir)))
    json.dump(report, sys.stdout, indent=2)
    print()
    for item in report["runs"]:
        latency = item["latency_ms"]
        print(
            f"fsync={item['fsync']:<6} {item['layout']:<8} {item['clients']} clients: "
            f"{item['requests_per_second']:8.0f} req/s  p50 {latency['p50']:.2f} ms  "
            f"p99 {latency['p99']:.2f} ms",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
