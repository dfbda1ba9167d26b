"""JetStream store behaviour beyond the shared contract: addresses, the exact change feed,
damage written by other clients, retried appends, and a server that is not there."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import nats
import nats.js.errors
import pytest

from eventlog import InvalidArgumentError, SessionNotFoundError, StorageError
from eventlog.codec import encode_line
from eventlog.events import Message, SessionTitled
from eventlog.jetstream import JetStreamStore
from eventlog.jetstream_client import StoredMessage, WrongLastSequence
from eventlog.jetstream_url import parse_store_url
from tests.conftest import fresh_stream_url
from tests.nats_servers import NatsCluster, free_port


@pytest.fixture
def store(url: str) -> Iterator[JetStreamStore]:
    with JetStreamStore(url) as opened:
        yield opened


def publish_raw(url: str, subject: str, data: bytes, headers: dict[str, str] | None = None) -> int:
    """Another client writing to the stream directly (not through chatlog)."""

    async def main() -> int:
        nc = await nats.connect(url.split("?", maxsplit=1)[0].split(","))
        try:
            ack = await nc.jetstream().publish(subject, data, headers=headers)
            return int(ack.seq)
        finally:
            await nc.close()

    return asyncio.run(main())


# --------------------------------------------------------------------------- addresses


def test_an_address_carries_servers_stream_and_options() -> None:
    address = parse_store_url(
        "nats://a:4222,nats://b?stream=Chat_1&replicas=3&timeout=2.5&creds=/x/y.creds"
    )
    assert address.servers == ("nats://a:4222", "nats://b:4222")
    assert (address.stream, address.replicas, address.timeout) == ("Chat_1", 3, 2.5)
    assert address.creds == "/x/y.creds"
    assert parse_store_url("nats://h:1").stream == "CHATLOG"
    assert parse_store_url("nats://h:1").replicas is None


@pytest.mark.parametrize(
    "bad",
    [
        "http://host:4222",
        "nats://",
        "nats://h:1?stream=a.b",
        "nats://h:1?replicas=7",
        "nats://h:1?timeout=soon",
        "nats://h:1?colour=blue",
        "nats://h:99999",
    ],
)
def test_a_bad_address_is_one_clear_error(bad: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_store_url(bad)


@pytest.mark.timeout(30)
def test_a_server_that_is_down_is_a_storage_error_not_a_hang() -> None:
    with pytest.raises(StorageError) as caught:
        JetStreamStore(f"nats://127.0.0.1:{free_port()}?timeout=1")
    message = str(caught.value)
    assert "\n" not in message
    assert "no server reachable" in message and "127.0.0.1" in message


# --------------------------------------------------------------------------- change feed


def test_the_change_feed_reports_exactly_the_sessions_written_since(
    store: JetStreamStore, url: str
) -> None:
    quiet, busy = store.create_session(), store.create_session()
    start = store.changes(None)
    assert start.sessions is None
    assert store.changes(start.position).sessions == frozenset()
    with JetStreamStore(url) as elsewhere:
        elsewhere.append(busy, "user", "hello")
        elsewhere.set_title(busy, "named")
    after = store.changes(start.position)
    assert after.sessions == frozenset({busy})
    assert quiet not in after.sessions
    assert store.changes(after.position).sessions == frozenset()


def test_a_feed_position_of_another_stream_means_check_everything(
    store: JetStreamStore, nats_single: NatsCluster
) -> None:
    store.create_session()
    with JetStreamStore(fresh_stream_url(nats_single)) as other:
        foreign = other.changes(None).position
    assert store.changes(foreign).sessions is None
    assert store.changes("not a position").sessions is None


def test_a_follower_sees_appends_from_another_machine(store: JetStreamStore, url: str) -> None:
    sid = store.create_session()
    follower = store.open_follower(sid)
    try:
        with JetStreamStore(url) as elsewhere:
            elsewhere.append(sid, "user", "from afar")
        seqs: list[int] = []
        for _ in range(300):
            seqs += [entry.event.seq for entry in follower.read().entries]
            if len(seqs) == 2:
                break
            asyncio.run(asyncio.sleep(0.01))
        assert seqs == [1, 2]
    finally:
        follower.close()


# --------------------------------------------------------------------------- damage


def test_a_damaged_message_from_another_client_is_reported_and_repaired(
    store: JetStreamStore, url: str
) -> None:
    sid = store.create_session()
    store.append(sid, "user", "before")
    publish_raw(url, store.subjects.events(sid), b'{"type":"message","seq":3,"crc":"00000000"}')
    store.append(sid, "user", "after")
    report = store.check(sid)
    assert report is not None
    assert [issue.kind for issue in report.damaged] == ["checksum"]
    assert [e.seq for e in store.read(sid)] == [1, 2, 3]  # the damaged line's seq is not trusted
    repair = store.repair(sid)
    assert repair is not None and repair.lines == 1 and repair.quarantine.endswith(sid)
    after = store.check(sid)
    assert after is not None and after.damaged == []
    assert [e.seq for e in store.read(sid)] == [1, 2, 3]
    assert store.append(sid, "user", "still works").seq == 4


def subject_is_empty(url: str, stream: str, subject: str) -> bool:
    """Whether the stream holds no message on ``subject`` (asked by another client)."""

    async def main() -> bool:
        nc = await nats.connect(url.split("?", maxsplit=1)[0].split(","))
        try:
            await nc.jetstream().get_last_msg(stream, subject)
        except nats.js.errors.NotFoundError:
            return True
        finally:
            await nc.close()
        return False

    return asyncio.run(main())


def test_deleting_an_archived_session_erases_its_quarantined_lines(
    store: JetStreamStore, url: str
) -> None:
    sid = store.create_session()
    store.append(sid, "user", "before")
    publish_raw(url, store.subjects.events(sid), b'{"type":"message","seq":3,"crc":"00000000"}')
    store.append(sid, "user", "after")
    assert store.repair(sid) is not None
    quarantine = store.subjects.quarantine(sid)
    assert not subject_is_empty(url, store.address.stream, quarantine)
    store.archive(sid)
    with pytest.raises(SessionNotFoundError):
        store.delete_session(sid)  # nothing live; what a repair set aside goes all the same
    assert subject_is_empty(url, store.address.stream, quarantine)


def test_a_line_from_a_newer_chatlog_is_foreign_and_kept(store: JetStreamStore, url: str) -> None:
    sid = store.create_session()
    newer = encode_line(SessionTitled(seq=2, ts="2030-01-01T00:00:00+00:00", title="t", v=99))
    publish_raw(url, store.subjects.events(sid), newer)
    report = store.check(sid)
    assert report is not None and report.damaged == []
    assert [issue.kind for issue in report.foreign] == ["newer_version"]
    assert store.repair(sid) is None
    assert store.append(sid, "user", "next").seq == 3


# --------------------------------------------------------------------------- retries


def test_a_retried_append_with_the_same_message_id_is_stored_once(
    store: JetStreamStore, url: str
) -> None:
    """What a retry after a lost ack sends: the same line, message id and expected
    sequence again. It is acknowledged with the first copy's sequence, stored once."""
    sid = store.create_session()
    tail = store._call("tail", store._tail(sid))
    assert tail is not None
    line = encode_line(Message(seq=2, ts="2030-01-01T00:00:00+00:00", role="user", content="x"))
    msg_id = f"{sid}.2.retry"
    first = store._call("publish", store._publish(sid, line, 2, tail.stream_seq, msg_id))
    again = store._call("publish", store._publish(sid, line, 2, tail.stream_seq, msg_id))
    assert again == first
    assert [e.seq for e in store.read(sid)] == [1, 2]
    subject = store.subjects.events(sid)
    assert store._call("count", store._conn.subjects(subject)) == {subject: 2}
    with pytest.raises(WrongLastSequence):  # another append with that stale sequence
        store._call("publish", store._publish(sid, line, 2, tail.stream_seq))


# --------------------------------------------------------------------------- consumers


def consumers_of(url: str) -> list[str]:
    """The names of the stream's consumers, as the server lists them."""
    stream = parse_store_url(url).stream

    async def main() -> list[str]:
        nc = await nats.connect(url.split("?", maxsplit=1)[0].split(","))
        try:
            return [info.name for info in await nc.jetstream().consumers_info(stream)]
        finally:
            await nc.close()

    return asyncio.run(main())


def test_a_read_closed_half_way_leaves_no_consumer_on_the_server(
    store: JetStreamStore, url: str
) -> None:
    sid = store.create_session()
    for i in range(12):  # more than the few single gets: the rest comes through a consumer
        store.append(sid, "user", f"m{i}")
    result = store.read_from(sid)
    first = next(result.batches)
    second = next(result.batches)
    assert [e.event.seq for e in first.entries + second.entries] == list(range(1, 14))
    assert len(consumers_of(url)) == 1  # the read's consumer, still open
    result.close()
    assert consumers_of(url) == []


def test_reads_and_followers_leave_no_consumer_on_the_server(
    store: JetStreamStore, url: str
) -> None:
    sid = store.create_session()
    for i in range(12):
        store.append(sid, "user", f"m{i}")
    assert len(list(store.read(sid))) == 13
    assert len(store.read_last(sid, 3)) == 3
    follower = store.open_follower(sid)
    assert len(consumers_of(url)) == 1
    follower.close()
    assert consumers_of(url) == []
    unread = store.read_from(sid)
    unread.close()  # closed before any batch was asked for
    assert consumers_of(url) == []


def test_read_last_on_a_long_session_reads_a_logarithmic_number_of_messages(
    store: JetStreamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tail -n`` binary-searches the stream for where the session's last events start
    instead of reading the session from its start: the requests and the messages they
    bring back grow with the logarithm of the stream's length, not with the session."""
    sid = store.create_session("long")
    other = store.create_session("neighbour")
    for i in range(1500):
        store.append(sid, "user", f"m{i}")
        if i % 10 == 0:
            store.append(other, "user", f"n{i}")  # other subjects in between
    full = [entry for batch in store.read_from(sid).batches for entry in batch.entries]
    conn = store._conn
    requests = 0
    received = 0
    api, get, messages = conn._api, conn._get, conn.messages

    async def counted_api(endpoint: str, payload: bytes = b"") -> dict[str, Any]:
        nonlocal requests
        requests += 1
        return await api(endpoint, payload)

    async def counted_get(request: dict[str, Any]) -> StoredMessage | None:
        nonlocal received
        found = await get(request)
        received += found is not None
        return found

    async def counted_messages(
        *args: Any, **kwargs: Any
    ) -> AsyncGenerator[list[StoredMessage], None]:
        nonlocal requests, received
        requests += 1  # a consumer (its creation and fetches: at least one request)
        async for batch in messages(*args, **kwargs):
            received += len(batch)
            yield batch

    monkeypatch.setattr(conn, "_api", counted_api)
    monkeypatch.setattr(conn, "_get", counted_get)
    monkeypatch.setattr(conn, "messages", counted_messages)
    stream_length = full[-1].offset  # the stream sequence of the session's last message
    bound = 2 * math.ceil(math.log2(stream_length)) + 12
    for n in (1, 5, 20):
        requests = received = 0
        assert store.read_last(sid, n) == full[-n:]
        assert requests <= bound
        assert received <= bound + n
    requests = received = 0
    assert store.read_last(sid, 5, messages_only=True) == full[-5:]
    assert received <= bound + 5


def test_read_last_after_a_line_another_client_wrote_out_of_order_is_the_end_of_a_full_read(
    store: JetStreamStore, url: str
) -> None:
    """A line whose seq does not follow (another client's) or a damaged line: the binary
    search does not rely on what it cannot trust, the result is what a full read ends with."""
    sid = store.create_session()
    for i in range(30):
        store.append(sid, "user", f"m{i}")
    subject = store.subjects.events(sid)
    stale = Message(seq=12, ts="2026-01-01T00:00:00Z", role="user", content="again")
    publish_raw(url, subject, encode_line(stale))
    for i in range(30):
        store.append(sid, "user", f"later {i}")
    publish_raw(url, subject, b'{"type":"message","seq":70,"crc":"00000000"}')
    for i in range(10):
        store.append(sid, "user", f"last {i}")
    full = [entry for batch in store.read_from(sid).batches for entry in batch.entries]
    for n in (1, 3, 10, 25, 40, 80):
        assert store.read_last(sid, n) == full[-n:]
