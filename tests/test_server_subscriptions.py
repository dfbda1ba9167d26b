"""Live subscriptions: ``session.event`` for every event appended by any process, in seq
order, none skipped, none repeated; ``from_seq`` replay after a disconnect.

Appends come from everywhere a real deployment has them: a separate ``chatlog append``
process, an ``EventLog`` in this test process (another process from the server's point of
view), and other connections to the server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from itertools import islice
from typing import Any

import msgspec
import pytest

from cli.rpc_client import AsyncRpcClient, RpcClient
from cli.server.errors import RpcError
from eventlog import EventLog
from tests.conftest import run_chatlog
from tests.test_server_support import ServerProcess, request, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("subscriptions") / "home") as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[RpcClient]:
    with server.client(timeout=30) as connected:
        yield connected


@pytest.fixture
def log(server: ServerProcess) -> Iterator[EventLog]:
    with EventLog(server.home, fsync="never") as event_log:
        yield event_log


def take(events: Iterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return list(islice(events, count))


def contents(events: list[dict[str, Any]]) -> list[str]:
    return [event["content"] for event in events]


def test_a_subscriber_sees_an_event_appended_by_a_separate_chatlog_append_process(
    client: RpcClient, server: ServerProcess
) -> None:
    session_id = client.call("session.create")["session_id"]
    events = client.subscribe(session_id)
    appended = run_chatlog(
        "--home", str(server.home), "append", session_id, "--role", "user", input="from afar\n"
    )
    assert appended.returncode == 0, appended.stderr
    (event,) = take(events, 1)
    assert event == {
        "type": "message",
        "v": 1,
        "seq": 2,
        "ts": event["ts"],
        "role": "user",
        "content": "from afar",
        "token_count": None,
        "metadata": {},
        "session_id": session_id,
    }


def test_subscribe_answers_with_the_last_seq_before_any_event_and_sends_only_newer_ones(
    client: RpcClient, log: EventLog
) -> None:
    session_id = log.create_session(title="already here")
    log.append(session_id, "user", "old")
    client.send_frame(request("session.subscribe", {"session_id": session_id}, request_id=1))
    first = msgspec.json.decode(client.read_frame())
    assert first == {"jsonrpc": "2.0", "id": 1, "result": {"session_id": session_id, "last_seq": 2}}
    log.append(session_id, "user", "new")
    event = msgspec.json.decode(client.read_frame())
    assert event["method"] == "session.event"
    assert (event["params"]["seq"], event["params"]["content"]) == (3, "new")


def test_from_seq_1_replays_the_whole_session_after_the_response(
    client: RpcClient, log: EventLog
) -> None:
    session_id = log.create_session(title="replayed")
    for n in range(3):
        log.append(session_id, "user", f"m{n}")
    client.send_frame(
        request("session.subscribe", {"session_id": session_id, "from_seq": 1}, request_id=7)
    )
    frames = [msgspec.json.decode(client.read_frame()) for _ in range(5)]
    assert frames[0]["id"] == 7
    replayed = [frame["params"] for frame in frames[1:]]
    assert [event["seq"] for event in replayed] == [1, 2, 3, 4]
    assert replayed[0]["type"] == "session_created"
    assert replayed[0]["title"] == "replayed"


def test_a_reconnecting_client_with_from_seq_loses_nothing_and_sees_nothing_twice(
    server: ServerProcess, log: EventLog
) -> None:
    session_id = log.create_session()
    with server.client() as first:
        events = first.subscribe(session_id)
        log.append(session_id, "user", "seen 1")
        log.append(session_id, "user", "seen 2")
        received = take(events, 2)
    last_seen = received[-1]["seq"]
    for n in range(3):
        log.append(session_id, "user", f"missed {n}")
    with server.client() as second:
        events = second.subscribe(session_id, from_seq=last_seen + 1)
        writer = threading.Thread(
            target=lambda: [log.append(session_id, "user", f"live {n}") for n in range(20)]
        )
        writer.start()
        received += take(events, 23)
        writer.join()
    assert [event["seq"] for event in received] == list(range(2, 27))
    assert contents(received) == [
        "seen 1",
        "seen 2",
        *(f"missed {n}" for n in range(3)),
        *(f"live {n}" for n in range(20)),
    ]


def test_a_burst_from_several_writers_arrives_complete_and_in_seq_order(
    client: RpcClient, server: ServerProcess, log: EventLog
) -> None:
    session_id = log.create_session()
    events = client.subscribe(session_id)

    def write(name: str) -> None:
        with server.client() as other:
            for n in range(60):
                other.call(
                    "session.append",
                    {"session_id": session_id, "role": "user", "content": f"{name}{n}"},
                )

    writers = [threading.Thread(target=write, args=(name,)) for name in "abc"]
    writers.append(
        threading.Thread(
            target=lambda: [log.append(session_id, "tool", f"d{n}") for n in range(60)]
        )
    )
    for writer in writers:
        writer.start()
    received = take(events, 240)
    for writer in writers:
        writer.join()
    assert [event["seq"] for event in received] == list(range(2, 242))
    assert sorted(contents(received)) == sorted(f"{w}{n}" for w in "abcd" for n in range(60))


def test_every_subscriber_of_a_session_gets_every_event(
    server: ServerProcess, log: EventLog
) -> None:
    session_id = log.create_session()
    clients = [server.client() for _ in range(4)]
    try:
        streams = [c.subscribe(session_id) for c in clients]
        for n in range(10):
            log.append(session_id, "user", str(n))
        for stream in streams:
            assert contents(take(stream, 10)) == [str(n) for n in range(10)]
    finally:
        for c in clients:
            c.close()


def test_subscriptions_to_two_sessions_on_one_connection_are_kept_apart(
    client: RpcClient, log: EventLog
) -> None:
    first, second = log.create_session(), log.create_session()
    first_events = client.subscribe(first)
    second_events = client.subscribe(second)
    log.append(first, "user", "to first")
    log.append(second, "user", "to second")
    log.append(first, "user", "to first again")
    assert contents(take(second_events, 1)) == ["to second"]
    assert contents(take(first_events, 2)) == ["to first", "to first again"]


def test_subscribing_twice_to_a_session_on_one_connection_is_refused(
    client: RpcClient, log: EventLog
) -> None:
    session_id = log.create_session()
    client.subscribe(session_id)
    with pytest.raises(RpcError) as caught:
        client.subscribe(session_id)
    assert caught.value.code == -32006
    assert caught.value.data == {"session_id": session_id}


def test_after_unsubscribe_no_more_events_arrive(client: RpcClient, log: EventLog) -> None:
    quiet, loud = log.create_session(), log.create_session()
    client.subscribe(quiet)
    loud_events = client.subscribe(loud)
    assert client.unsubscribe(quiet) is True
    log.append(quiet, "user", "unheard")
    log.append(loud, "user", "heard")
    assert contents(take(loud_events, 1)) == ["heard"]
    client.call("session.list", {"limit": 1})  # anything still in flight arrives before this
    assert client.unsubscribe(quiet) is False
    queued = client.queued_notifications()
    assert [m.params["content"] for m in queued if m.params.get("session_id") == quiet] == []


def test_a_deleted_session_ends_its_subscription_with_session_deleted(
    client: RpcClient, server: ServerProcess, log: EventLog
) -> None:
    session_id = log.create_session()
    events = client.subscribe(session_id)
    log.append(session_id, "user", "last words")
    assert contents(take(events, 1)) == ["last words"]
    with server.client() as other:
        other.call("session.delete", {"session_id": session_id})
    assert list(events) == []  # the stream ends
    assert client.subscribe(log.create_session()).last_seq == 1  # the connection lives on


def test_the_asyncio_client_streams_events_and_its_notifications_are_executed(
    server: ServerProcess, log: EventLog
) -> None:
    session_id = log.create_session(title="async")

    async def main() -> list[dict[str, Any]]:
        async with await AsyncRpcClient.connect(server.socket_path) as client:
            events = client.events(session_id, from_seq=1)
            created = await anext(events)
            params = {"session_id": session_id, "role": "user", "content": "by notification"}
            await client.notify("session.append", params)
            appended = await anext(events)
            await events.aclose()
            return [created, appended]

    created, appended = asyncio.run(main())
    assert (created["seq"], created["type"], created["title"]) == (1, "session_created", "async")
    assert (appended["seq"], appended["content"]) == (2, "by notification")
