"""Many clients at once: nothing lost, seqs contiguous, and no client can stall another."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cli.rpc_client import AsyncRpcClient, Call
from eventlog import EventLog, Message
from tests.test_server_support import ServerProcess, request, serving

CLIENTS = 50
APPENDS_EACH = 8


@pytest.fixture
def server(home: Path) -> Iterator[ServerProcess]:
    with serving(home, "--send-buffer", "64K") as running:
        yield running


def message_contents(log: EventLog, session_id: str) -> list[str]:
    return [e.content for e in log.read(session_id) if isinstance(e, Message)]


def test_fifty_clients_appending_to_shared_and_own_sessions_lose_nothing(
    server: ServerProcess,
) -> None:
    async def main() -> tuple[str, list[str]]:
        setup = await AsyncRpcClient.connect(server.socket_path)
        shared = (await setup.call("session.create", {"title": "shared"}))["session_id"]
        await setup.close()

        async def one_client(number: int) -> str:
            async with await AsyncRpcClient.connect(server.socket_path) as client:
                own = (await client.call("session.create"))["session_id"]
                for n in range(APPENDS_EACH):
                    for session_id in (shared, own):
                        await client.call(
                            "session.append",
                            {"session_id": session_id, "role": "user", "content": f"{number}:{n}"},
                        )
                return str(own)

        owns = await asyncio.gather(*(one_client(number) for number in range(CLIENTS)))
        return str(shared), list(owns)

    shared, owns = asyncio.run(main())
    with EventLog(server.home) as log:
        shared_events = list(log.read(shared))
        assert [e.seq for e in shared_events] == list(range(1, 2 + CLIENTS * APPENDS_EACH))
        contents = message_contents(log, shared)
        assert sorted(contents) == sorted(
            f"{c}:{n}" for c in range(CLIENTS) for n in range(APPENDS_EACH)
        )
        for number, own in enumerate(owns):
            assert [e.seq for e in log.read(own)] == list(range(1, 2 + APPENDS_EACH))
            assert message_contents(log, own) == [f"{number}:{n}" for n in range(APPENDS_EACH)]
        # each client's appends to the shared session kept the order it made them in
        for number in range(CLIENTS):
            mine = [c for c in contents if c.startswith(f"{number}:")]
            assert mine == [f"{number}:{n}" for n in range(APPENDS_EACH)]


def test_pipelined_calls_and_batches_on_one_connection_are_all_answered(
    server: ServerProcess,
) -> None:
    async def main() -> tuple[list[dict[str, Any]], list[Any]]:
        async with await AsyncRpcClient.connect(server.socket_path) as client:
            session_id = (await client.call("session.create"))["session_id"]
            append = {"session_id": session_id, "role": "user", "content": "x"}
            calls = [client.call("session.append", append) for _ in range(100)]
            batch = client.batch([Call("session.info", {"session_id": session_id})] * 3)
            *appended, infos = await asyncio.gather(*calls, batch)
            return appended, infos

    appended, infos = asyncio.run(main())
    assert sorted(event["seq"] for event in appended) == list(range(2, 102))
    assert len(infos) == 3
    assert all(info["message_count"] >= 0 for info in infos)


def test_a_client_that_never_reads_its_responses_does_not_hold_up_others(
    server: ServerProcess,
) -> None:
    with server.client() as setup:
        session_id = setup.call("session.create")["session_id"]
        big = "b" * (256 * 1024)
        setup.call("session.append", {"session_id": session_id, "role": "user", "content": big})
    with server.client() as stalled, server.client() as other:
        loads = 40  # 10 MiB of answers: far more than the socket and the send buffer hold
        stalled.send_frame(
            b"".join(
                request("session.load", {"session_id": session_id}, request_id=n)
                for n in range(loads)
            )
        )
        for n in range(20):
            event = other.call(
                "session.append", {"session_id": session_id, "role": "user", "content": str(n)}
            )
            assert event["seq"] == n + 3
        assert other.call("session.list")["status"] == "success"
        for n in range(loads):  # nothing was dropped for the slow reader
            response = msgspec.json.decode(stalled.read_frame())
            assert response["id"] == n
            assert response["result"]["messages"][0]["content"] == big


def test_a_subscriber_that_stops_reading_falls_behind_and_later_gets_every_event(
    server: ServerProcess,
) -> None:
    with server.client() as setup:
        session_id = setup.call("session.create")["session_id"]
    with server.client() as sleeper, server.client() as writer, server.client() as watcher:
        sleeping_events = sleeper.subscribe(session_id)
        watching_events = watcher.subscribe(session_id)
        payload = "p" * 4096
        total = 600  # 2.4 MiB of events: the sleeper's socket and buffer fill long before
        for n in range(total):
            writer.call(
                "session.append",
                {"session_id": session_id, "role": "user", "content": f"{n}:{payload}"},
            )
            if n % 100 == 99:  # the watcher keeps up while the sleeper does not read
                seen = [event["seq"] for event in _take(watching_events, 100)]
                assert seen == list(range(n - 97, n + 3))
        received = [event["seq"] for event in _take(sleeping_events, total)]
        assert received == list(range(2, total + 2))


def _take(stream: Iterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return [next(stream) for _ in range(count)]
