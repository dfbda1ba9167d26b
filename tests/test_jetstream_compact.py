"""Redaction and compaction on the JetStream store, checked where the bytes are: every
message the stream holds (read back by stream sequence) and every file in the servers'
JetStream store directories. Plus ``kill -9`` of a compaction at random moments while
another process appends, and ``chatlog compact`` through the installed command."""

from __future__ import annotations

import random
import string
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import Message
from eventlog.events import MessageRedacted
from eventlog.jetstream import JetStreamStore
from eventlog.jetstream_layout import REWRITE_HEADER
from eventlog.jetstream_url import parse_store_url
from tests.conftest import run_chatlog
from tests.nats_servers import NatsCluster, unique_stream

# Unique to this run: the servers' directories are shared with other tests.
SECRET = f"purple-elephant-{uuid.uuid4().hex}"
AWS_KEY = "AKIA" + "".join(random.choices(string.ascii_uppercase + string.digits, k=16))


@pytest.fixture
def store(url: str) -> Iterator[JetStreamStore]:
    with JetStreamStore(url) as opened:
        yield opened


def stream_holds(store: JetStreamStore, needle: bytes) -> list[int]:
    """Stream sequences of every message of the store's stream (any subject) holding
    ``needle``, read back one by one."""

    async def scan() -> list[int]:
        state = await store._conn.stream_state()
        found = []
        for seq in range(state.first_seq, state.last_seq + 1):
            message = await store._conn.message_at(seq)
            if message is not None and needle in message.data:
                found.append(seq)
        return found

    return store._call("scan", scan())


def files_holding(root: Path, needle: bytes) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


def secret_session(store: JetStreamStore, before: int = 3, after: int = 3) -> tuple[str, int]:
    sid = store.create_session("compaction")
    for i in range(before):
        store.append(sid, "user", f"before {i}")
    seq = store.append(sid, "user", f"my passphrase is {SECRET}").seq
    for i in range(after):
        store.append(sid, "assistant", f"after {i}")
    return sid, seq


def test_a_secret_appended_with_redaction_on_never_reaches_the_stream_or_the_disk(
    store: JetStreamStore, nats_single: NatsCluster
) -> None:
    sid = store.create_session(f"deploy {AWS_KEY}")
    store.append(sid, "user", f"use {AWS_KEY}", metadata={"password": "Xk9mQ2vL7pR4wZ"})
    assert stream_holds(store, AWS_KEY.encode()) == []
    assert stream_holds(store, b"Xk9mQ2vL7pR4wZ") == []
    assert files_holding(nats_single.root, AWS_KEY.encode()) == []


def test_compact_erases_the_redacted_text_from_the_stream_and_the_servers_disk(
    store: JetStreamStore, nats_single: NatsCluster
) -> None:
    sid, seq = secret_session(store)
    store.redact(sid, seq, "a passphrase")
    assert stream_holds(store, SECRET.encode()) != []
    assert files_holding(nats_single.root, SECRET.encode()) != []
    done = store.compact(sid)
    assert done is not None and done.messages == 1
    assert stream_holds(store, SECRET.encode()) == []
    # R1: the server erased the original in its message block (overwritten, not just
    # marked deleted), so no file under its store directory holds the text any more.
    assert files_holding(nats_single.root, SECRET.encode()) == []
    texts = [e.content for e in store.read(sid) if isinstance(e, Message)]
    assert texts[:3] == ["before 0", "before 1", "before 2"]
    assert texts[3].startswith("[REDACTED at ") and texts[4:] == ["after 0", "after 1", "after 2"]


def test_compact_erases_archived_and_quarantined_copies_too(
    store: JetStreamStore, url: str
) -> None:
    sid, seq = secret_session(store)
    store.redact(sid, seq)
    quarantine = store.subjects.quarantine(sid)
    damaged = b'{"type":"message","v":1,"seq":%d,"content":"' % seq + SECRET.encode()

    async def quarantine_a_line() -> None:
        await store._conn.js.publish(quarantine, damaged)

    store._call("publish", quarantine_a_line())
    store.archive(sid)
    done = store.compact(sid)
    assert done is not None and (done.messages, done.archived, done.quarantined) == (0, 1, 1)
    assert stream_holds(store, SECRET.encode()) == []
    store.restore(sid)
    assert [e.seq for e in store.read(sid)] == list(range(1, 10))


def test_chatlog_compact_works_on_the_store(tmp_path: Path, url: str) -> None:
    env = {"CHATLOG_STORE": url}
    home = tmp_path / "home"
    sid = run_chatlog("new", "--title", "t", home=home, env=env).stdout.strip()
    plain = run_chatlog(
        "append", sid, "--role", "user", "--no-redact", input=f"key {AWS_KEY}\n", home=home, env=env
    )
    assert plain.returncode == 0, plain.stderr
    redacted = run_chatlog("redact", sid, "2", home=home, env=env)
    assert redacted.returncode == 0, redacted.stderr
    done = run_chatlog("compact", home=home, env=env)
    assert done.returncode == 0, done.stderr
    assert "removed the text of 1 message in the log" in done.stdout
    with JetStreamStore(url) as store:
        assert stream_holds(store, AWS_KEY.encode()) == []
    assert files_holding(home, AWS_KEY.encode()) == []
    shown = run_chatlog("show", sid, home=home, env=env)
    assert "[REDACTED at" in shown.stdout and AWS_KEY not in shown.stdout


COMPACT_SCRIPT = """
import sys
import threading
from eventlog.jetstream import JetStreamStore
with JetStreamStore(sys.argv[1]) as store:
    store.compact(sys.argv[2])
"""


def assert_read_last_ends_a_full_read(store: JetStreamStore, sid: str) -> None:
    full = [entry for batch in store.read_from(sid).batches for entry in batch.entries]
    for n in (1, 2, 5, 9, 40, len(full) + 1):
        assert store.read_last(sid, n) == full[-n:]


def test_a_compaction_killed_at_any_moment_leaves_a_readable_session_and_a_rerun_finishes(
    store: JetStreamStore, url: str
) -> None:
    """Each round redacts one more message and starts a compaction in another process,
    waits until it has published its first copy, lets it run a random while longer and
    kills it, while a thread keeps appending. After every kill the session reads each
    seq once, contiguously, every acknowledged append intact."""
    rng = random.Random(1300)
    sid = store.create_session("crash")
    acknowledged: dict[int, Message] = {}
    for i in range(60):
        message = store.append(sid, "user", f"m{i}")
        acknowledged[message.seq] = message
    subject = store.subjects.events(sid)
    interrupted = 0
    for round_ in range(3):
        secret = store.append(sid, "user", f"{SECRET} {round_}")
        acknowledged[secret.seq] = secret
        store.redact(sid, secret.seq)
        if round_ % 2 == 0:
            store.redact(sid, 2 + round_)  # an early one: the compaction copies the session
        started = store._call("tail", store._tail(sid))
        assert started is not None
        stop = threading.Event()

        def writer(stop: threading.Event = stop) -> None:
            while not stop.wait(0.005):
                message = store.append(sid, "assistant", "meanwhile")
                acknowledged[message.seq] = message

        child = subprocess.Popen(
            [sys.executable, "-c", COMPACT_SCRIPT, url, sid],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while child.poll() is None:  # until its first copy is stored (or it is done)
                last = store._call("last", store._conn.last_message(subject))
                if (
                    last is not None
                    and last.seq > started.stream_seq
                    and REWRITE_HEADER in last.headers
                ):
                    break
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.1))  # when to pull the plug, not a bound checked
            interrupted += child.poll() is None
            child.kill()
            child.wait()
        finally:
            stop.set()
            thread.join()
        events = list(store.read(sid))
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert store.last_seq(sid) == len(events)
        assert_read_last_ends_a_full_read(store, sid)
        by_seq = {e.seq: e for e in events}
        for seq, message in acknowledged.items():
            kept = by_seq[seq]
            assert isinstance(kept, Message) and kept.seq == message.seq
            assert kept.content == message.content or kept.content.startswith("[REDACTED at ")
    assert interrupted > 0
    store.compact(sid)
    assert stream_holds(store, SECRET.encode()) == []
    events = list(store.read(sid))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    redacted = {e.target for e in events if isinstance(e, MessageRedacted)}
    for event in events:
        if isinstance(event, Message) and event.seq in redacted:
            assert event.content.startswith("[REDACTED at ")


def test_on_three_replicas_compact_erases_the_text_from_every_replicas_message_blocks(
    tmp_path: Path,
) -> None:
    cluster = NatsCluster(tmp_path / "cluster", size=3).start()
    try:
        url = f"{cluster.url}?stream={unique_stream()}"
        with JetStreamStore(url) as store:
            assert store.replicas == 3
            sid, seq = secret_session(store)
            store.redact(sid, seq)
            store.compact(sid)
            assert stream_holds(store, SECRET.encode()) == []
        stream = parse_store_url(url).stream
        cluster.wait_stream_healthy(stream)  # the followers applied the deletes too
        blocks = [
            name
            for name in files_holding(cluster.root, SECRET.encode())
            if f"/streams/{stream}/" in name
        ]
        assert blocks == []  # every replica's message blocks: erased
        # Not checked: each server's Raft log of the stream ($SYS/_js_/S-R3F-*) keeps the
        # proposal that carried the message until that log is compacted after a snapshot
        # of the stream, which the server decides (see docs/jetstream.md).
    finally:
        cluster.stop()


def test_reading_during_an_unfinished_compaction_never_repeats_an_event(
    store: JetStreamStore,
) -> None:
    """The state a crash between copying and erasing leaves: every copy published, no
    original erased yet (made here by copying without the erase step)."""
    from eventlog.jetstream_compact import _Copier, _entries
    from eventlog.redaction import note_redaction

    sid, seq = secret_session(store)
    store.redact(sid, seq)
    tail = store._call("tail", store._tail(sid))
    assert tail is not None
    redactions: dict[int, object] = {}
    for entry in _entries(store, store.subjects.events(sid), tail.stream_seq):
        note_redaction(redactions, entry.event)  # type: ignore[arg-type]
    copier = _Copier(store, sid, tail, redactions)  # type: ignore[arg-type]
    copier.run()
    assert [e.seq for e in store.read(sid)] == list(range(1, 10))
    assert_read_last_ends_a_full_read(store, sid)
    for stream_seq in list(reversed(copier.superseded))[:2]:  # erasing, from the end
        store._call("erase", store._conn.delete_message(stream_seq))
        assert [e.seq for e in store.read(sid)] == list(range(1, 10))
        assert_read_last_ends_a_full_read(store, sid)
    assert store.last_seq(sid) == 9
    assert store.append(sid, "user", "meanwhile", expected_seq=9).seq == 10
    store.compact(sid)
    assert [e.seq for e in store.read(sid)] == list(range(1, 11))
    assert stream_holds(store, SECRET.encode()) == []


def fresh_aws_key() -> str:
    return "AKIA" + "".join(random.choices(string.ascii_uppercase + string.digits, k=16))


def test_the_command_line_redacts_on_save_on_the_store_unless_config_turns_it_off(
    home: Path, tmp_path: Path, url: str
) -> None:
    env = {"CHATLOG_STORE": url}
    sid = run_chatlog("new", env=env).stdout.strip()
    hidden, kept = fresh_aws_key(), fresh_aws_key()
    done = run_chatlog("append", sid, "--role", "user", input=f"key {hidden}\n", env=env)
    assert done.returncode == 0, done.stderr
    config = tmp_path / "xdg-config" / "chatlog" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("redact_secrets = false\n")
    done = run_chatlog("append", sid, "--role", "user", input=f"key {kept}\n", env=env)
    assert done.returncode == 0, done.stderr
    with JetStreamStore(url) as store:
        assert stream_holds(store, hidden.encode()) == []
        assert len(stream_holds(store, kept.encode())) == 1
        contents = [e.content for e in store.read(sid) if isinstance(e, Message)]
    assert contents == ["key [REDACTED:aws_key]", f"key {kept}"]


def test_a_message_redacted_after_an_earlier_compaction_moved_it_leaves_no_byte_on_disk(
    store: JetStreamStore, nats_single: NatsCluster
) -> None:
    later = f"later-{uuid.uuid4().hex}"
    sid = store.create_session("twice")
    store.append(sid, "user", "first secret words")
    moved = store.append(sid, "user", f"this one is {later}")  # copied by the first compaction
    store.redact(sid, 2)
    store.compact(sid)
    store.redact(sid, moved.seq)
    store.compact(sid)
    assert stream_holds(store, later.encode()) == []
    assert files_holding(nats_single.root, later.encode()) == []


def test_another_home_on_the_stream_sees_the_compacted_session(tmp_path: Path, url: str) -> None:
    env = {"CHATLOG_STORE": url}
    laptop, desktop = tmp_path / "laptop", tmp_path / "desktop"
    sid = run_chatlog("new", home=laptop, env=env).stdout.strip()
    for text in ("first words", "unusual-word-okapi here", "last words"):
        done = run_chatlog("append", sid, "--role", "user", input=text, home=laptop, env=env)
        assert done.returncode == 0, done.stderr
    assert "okapi" in run_chatlog("search", "unusual-word-okapi", home=desktop, env=env).stdout
    assert run_chatlog("redact", sid, "3", home=laptop, env=env).returncode == 0
    assert run_chatlog("compact", sid, home=laptop, env=env).returncode == 0
    shown = run_chatlog("show", sid, "--json", home=desktop, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "okapi" not in shown.stdout and "[REDACTED at" in shown.stdout
    assert "first words" in shown.stdout and "last words" in shown.stdout
    found = run_chatlog("search", "unusual-word-okapi", home=desktop, env=env)
    assert "okapi" not in found.stdout


def test_delete_leaves_no_byte_of_the_session_on_the_servers_disk(
    store: JetStreamStore, nats_single: NatsCluster
) -> None:
    word = f"deleted-{uuid.uuid4().hex}"
    sid = store.create_session("doomed")
    for i in range(30):  # more than a few single gets: the erase goes through a consumer
        store.append(sid, "user", f"{word} {i}")
    quarantine = store.subjects.quarantine(sid)

    async def quarantine_a_line() -> None:
        await store._conn.js.publish(quarantine, f"damaged {word}".encode())

    store._call("publish", quarantine_a_line())
    assert files_holding(nats_single.root, word.encode()) != []
    store.delete_session(sid)
    assert stream_holds(store, word.encode()) == []
    assert files_holding(nats_single.root, word.encode()) == []


def test_a_session_redacted_archived_and_compacted_leaves_no_byte_on_disk(
    store: JetStreamStore, nats_single: NatsCluster
) -> None:
    word = f"archived-{uuid.uuid4().hex}"
    sid = store.create_session("retired")
    store.append(sid, "user", f"this holds {word}")
    store.append(sid, "assistant", "ok")
    store.redact(sid, 2)
    store.archive(sid)  # the live messages are erased once the archive is written
    assert files_holding(nats_single.root, word.encode()) == []
    done = store.compact(sid)
    assert done is not None and done.archived == 1
    store.restore(sid)
    assert stream_holds(store, word.encode()) == []
    assert files_holding(nats_single.root, word.encode()) == []
    assert [e.seq for e in store.read(sid)] == [1, 2, 3, 4]
