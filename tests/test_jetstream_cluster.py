"""A real 3-node cluster under failure: nodes killed with SIGKILL (the stream leader
too) while two processes append, quorum lost and regained, and two homes sharing one
cluster. These tests start their own cluster (they kill its nodes)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import Message, SessionNotFoundError, SessionTitled, StorageError
from eventlog.jetstream import JetStreamStore
from tests.conftest import PROJECT_ROOT, fresh_stream_url
from tests.nats_servers import NatsCluster, NatsNode

WRITER = textwrap.dedent(
    """
    import sys, pathlib
    from eventlog.errors import StorageError
    from eventlog.jetstream import JetStreamStore

    url, sid, name, stop = sys.argv[1:5]
    store = JetStreamStore(url)
    n = 0
    while not pathlib.Path(stop).exists():
        n += 1
        text = f"{name}-{n}"
        try:
            event = store.append(sid, "user", text)
        except StorageError as exc:
            print("fail", text, str(exc).replace(chr(10), " "), flush=True)
            continue
        print("ack", text, event.seq, flush=True)
    store.close()
    """
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    started = NatsCluster(tmp_path_factory.mktemp("nats-failures"), size=3).start()
    yield started
    started.stop()


@pytest.fixture
def url(cluster: NatsCluster) -> Iterator[str]:
    address = fresh_stream_url(cluster, replicas=3, append_timeout=20)
    yield address
    for node in cluster.nodes:  # whatever a test killed comes back for the next one
        if not node.running():
            node.start()
    for node in cluster.nodes:
        node.wait_healthy()


def stream_of(url: str) -> str:
    return url.split("stream=")[1].split("&", maxsplit=1)[0]


def restart_and_settle(cluster: NatsCluster, node: NatsNode, stream: str) -> None:
    node.start()
    node.wait_healthy()
    cluster.wait_stream_healthy(stream)


def test_every_acknowledged_append_survives_kill_9_of_nodes_and_the_leader_exactly_once(
    cluster: NatsCluster, url: str, tmp_path: Path
) -> None:
    stream = stream_of(url)
    with JetStreamStore(url) as store:
        sid = store.create_session("under fire")
    stop = tmp_path / "stop"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, sid, name, str(stop)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    firsts = []
    try:
        for writer in writers:  # both are appending before anything is killed
            assert writer.stdout is not None
            firsts.append(writer.stdout.readline())
            assert firsts[-1].startswith("ack "), firsts[-1]
        leader = cluster.stream_leader(stream)
        leader.kill9()  # the stream leader, mid-append
        time.sleep(1.0)
        restart_and_settle(cluster, leader, stream)
        other = next(n for n in cluster.nodes if n is not cluster.stream_leader(stream))
        other.kill9()  # then a follower
        time.sleep(1.0)
        restart_and_settle(cluster, other, stream)
        time.sleep(0.5)
    finally:
        stop.touch()
        # read through the same buffered pipes readline() used (communicate() would skip
        # what readline() had already buffered)
        outputs = []
        for writer in writers:
            assert writer.stdout is not None and writer.stderr is not None
            outputs.append((writer.stdout.read(), writer.stderr.read()))
            writer.wait(timeout=120)
            writer.stdout.close()
            writer.stderr.close()
    acked: dict[str, int] = {}
    for first, (out, err) in zip(firsts, outputs, strict=True):
        assert err == "", err
        for line in (first + out).splitlines():
            kind, text, *rest = line.split(" ", 2)
            if kind == "ack":
                acked[text] = int(rest[0])
    # Both writers got appends acknowledged around the kills (how many depends on how long
    # the elections took); every one of them is checked below.
    assert {text.split("-")[0] for text in acked} == {"a", "b"} and len(acked) >= 4
    with JetStreamStore(url) as store:
        events = list(store.read(sid))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # contiguous
    contents = [e.content for e in events if isinstance(e, Message)]
    assert len(contents) == len(set(contents))  # nothing stored twice
    stored = {e.content: e.seq for e in events if isinstance(e, Message)}
    assert {text: stored.get(text) for text in acked} == acked  # every ack, at its seq


@pytest.mark.timeout(120)
def test_losing_quorum_fails_an_append_with_one_line_and_the_cluster_recovers(
    cluster: NatsCluster, url: str
) -> None:
    stream = stream_of(url)
    quick = url.replace("append_timeout=20", "append_timeout=3")
    with JetStreamStore(quick) as store:
        sid = store.create_session()
        store.append(sid, "user", "before")
        leader = cluster.stream_leader(stream)
        down = [leader, next(n for n in cluster.nodes if n is not leader)]
        for node in down:
            node.kill9()
        with pytest.raises(StorageError) as caught:
            store.append(sid, "user", "without quorum")
        assert "\n" not in str(caught.value)
        for node in down:
            node.start()
        for node in down:
            node.wait_healthy()
        cluster.wait_stream_healthy(stream)
    with JetStreamStore(url) as patient:  # the default retry time, for a new election
        after = patient.append(sid, "user", "after")
        events = list(patient.read(sid))
    contents = [e.content for e in events if isinstance(e, Message)]
    # The refused append is stored whole or not at all (a proposal can still commit once
    # quorum is back), never twice; the seqs stay contiguous.
    assert contents in (["before", "after"], ["before", "without quorum", "after"])
    assert [e.seq for e in events] == list(range(1, after.seq + 1))


def test_two_homes_sharing_a_cluster_see_each_others_appends_titles_and_deletes(
    nats_cluster: NatsCluster,
) -> None:
    url = fresh_stream_url(nats_cluster)
    with JetStreamStore(url) as laptop, JetStreamStore(url) as desktop:
        start = desktop.changes(None).position
        sid = laptop.create_session("from the laptop")
        laptop.append(sid, "user", "hello")
        laptop.set_title(sid, "renamed")
        seen = desktop.changes(start)
        assert seen.sessions == frozenset({sid})
        events = list(desktop.read(sid))
        assert isinstance(events[-1], SessionTitled) and events[-1].title == "renamed"
        desktop.append(sid, "assistant", "hi from the desktop")
        assert [e.seq for e in laptop.read(sid)] == [1, 2, 3, 4]
        laptop.delete_session(sid)
        gone = desktop.changes(seen.position)
        assert gone.sessions == frozenset({sid})
        assert desktop.read_from(sid).state == "missing"
        with pytest.raises(SessionNotFoundError):
            desktop.append(sid, "user", "too late")
        assert json.dumps(desktop.session_ids()) == "[]"
