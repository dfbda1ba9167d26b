"""JetStreamStore: the store interface on a NATS JetStream stream (see
:mod:`eventlog.jetstream_layout` for the subjects and positions).

Guarantees:

- An append returns after JetStream acknowledged it: stored on a quorum of the stream's
  replicas (R3: two of three servers), on disk before the ack when the servers run with
  ``sync_interval: always``.
- Optimistic concurrency per session: every append names the subject's last stream
  sequence it saw (``Nats-Expected-Last-Subject-Sequence``), so two writers can never
  store the same seq; a caller's stale ``expected_seq`` raises SeqConflictError, and a
  session is created with expected sequence 0 (it must not exist).
- An append retried after a timeout, a lost ack or a leader change carries the same
  ``Nats-Msg-Id`` (session id, seq and a per-append nonce), so it is stored once; when the
  server answers a retry with "wrong last sequence", the message after the expected one
  is checked for that id before the append is called a conflict.
- An append that gets no acknowledgement within ``append_timeout`` (quorum lost) fails
  with StorageError; nothing is half-written (a message is stored whole or not at all).
- Delete publishes a ``deleted`` marker (the tombstone), then erases the session's
  messages (a secure delete each) and purges its subject.

All NATS work runs on one asyncio loop in a background thread; the methods block until
it is done (bounded by the address's timeouts).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
import threading
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Final, TypeVar

import msgspec
from nats.js import api

from eventlog.clock import utc_now_iso
from eventlog.codec import LineProblem
from eventlog.errors import (
    SeqConflictError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
)
from eventlog.events import AnyEvent, Message
from eventlog.ids import new_session_id, validate_session_id
from eventlog.jetstream_client import (
    RETRY_PAUSE,
    TRANSIENT,
    Connection,
    LoopThread,
    StoredMessage,
    WrongLastSequence,
    describe_error,
    retrying,
    storage_errors,
)
from eventlog.jetstream_layout import (
    LEASE_HEADER,
    REWRITE_HEADER,
    SEQ_HEADER,
    EntryDecoder,
    MarkerOp,
    Subjects,
    Tail,
    covered_seq,
    decode,
    feed_token,
    marker_data,
    marker_op,
    parse_feed_token,
    rewrite_lease,
    session_token,
    token_stream_seq,
)
from eventlog.jetstream_url import JetStreamAddress, parse_store_url
from eventlog.scan import LogEntry
from eventlog.store import (
    ArchivedSession,
    Changes,
    Compaction,
    DamageReport,
    EventStore,
    Follower,
    ReadBatch,
    Repair,
    SessionPosition,
    SessionRead,
    Tombstone,
    encode_event,
    event_fingerprint,
)

E = TypeVar("E", bound=AnyEvent)
T = TypeVar("T")

MAX_CREATE_ATTEMPTS: Final = 32
MSG_ID_HEADER: Final = api.Header.MSG_ID.value
COMPACTION_WAIT: Final = 0.01  # seconds an append waits for a compaction copying the session


class JetStreamStore(EventStore):
    """Sessions' events in one JetStream stream, one subject per session."""

    def __init__(self, url: str | JetStreamAddress, *, redact_secrets: bool = True) -> None:
        self.redact_secrets = redact_secrets
        self.address = url if isinstance(url, JetStreamAddress) else parse_store_url(url)
        self.subjects = Subjects(self.address.stream)
        self._conn = Connection(self.address)
        self._loop = LoopThread("chatlog-jetstream")
        self._closed = False
        self.replicas = 0
        try:
            self.replicas = self._call("cannot open the store", self._open())
        except BaseException:
            self._loop.stop()
            raise

    async def _open(self) -> int:
        await self._conn.connect()
        wanted = self.address.replicas or (3 if self._conn.cluster_size() >= 3 else 1)
        info = await retrying(lambda: self._conn.ensure_stream(wanted), self.address.append_timeout)
        return int(info.config.num_replicas or 1)

    def __repr__(self) -> str:
        return f"JetStreamStore({self.address.display()})"

    @property
    def location(self) -> str:
        return ",".join(self.address.servers) + f"?stream={self.address.stream}"

    def _call(self, what: str, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._closed:
            coro.close()
            raise StorageError(f"{what}: this JetStream store is closed")
        with storage_errors(what, self.address):
            return self._loop.run(coro, timeout)

    # ------------------------------------------------------------------ writing

    def create_session(
        self,
        title: str | None = None,
        tags: Sequence[str] = (),
        *,
        session_id: str | None = None,
        ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        first = self.first_event_for(title, tags, session_id, ts, metadata)

        async def create() -> str:
            for _attempt in range(MAX_CREATE_ATTEMPTS):
                sid = session_id if session_id is not None else new_session_id()
                event = first(sid)
                try:
                    await self._publish(sid, encode_event(event), 1, 0)
                except WrongLastSequence:
                    if session_id is not None:
                        raise SessionExistsError(f"session {sid} already exists") from None
                    continue
                return sid
            raise StorageError("could not claim a unique session id")

        return self._call("cannot create a session", create(), self._append_bound())

    def append_event(
        self, session_id: str, build: Callable[[int, str], E], expected_seq: int | None = None
    ) -> E:
        validate_session_id(session_id)
        return self._call(
            f"cannot append to {session_id}",
            self._append(session_id, build, expected_seq),
            self._append_bound(),
        )

    def _append_bound(self) -> float:
        return self.address.append_timeout + 2 * self.address.timeout + 1

    async def _append(
        self, session_id: str, build: Callable[[int, str], E], expected_seq: int | None
    ) -> E:
        deadline = time.monotonic() + self.address.append_timeout
        while True:
            tail = await retrying(
                lambda: self._tail(session_id), max(0.0, deadline - time.monotonic())
            )
            if tail is None:
                raise SessionNotFoundError(f"no session {session_id}")
            if expected_seq is not None and expected_seq != tail.seq:
                raise SeqConflictError(session_id, expected_seq, tail.seq)
            if await self._compacting(session_id, tail) and time.monotonic() < deadline:
                await asyncio.sleep(COMPACTION_WAIT)  # let it finish copying first
                continue
            event = build(tail.seq + 1, utc_now_iso())
            try:
                await self._publish(session_id, encode_event(event), event.seq, tail.stream_seq)
            except WrongLastSequence:
                if expected_seq is not None:
                    now = await self._tail(session_id)
                    if now is None or now.seq != expected_seq:
                        raise SeqConflictError(
                            session_id, expected_seq, now.seq if now else 0
                        ) from None
                    # A compaction's copy went first: the session is still at the
                    # expected seq, so go again on the new tail.
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"cannot append to {session_id}: other writers kept getting there first"
                    ) from None
                continue  # another writer appended first: go again on the new tail
            return event

    async def _compacting(self, session_id: str, tail: Tail) -> bool:
        """Whether a compaction is copying the session right now: its last message is a
        fresh copy and no ``compacted`` marker came after it. Appends wait for it (so a
        compaction is not chased by appends for ever); a crashed one stops holding them
        back when its lease ends. Correctness never depends on this, only progress."""
        if tail.lease <= time.time():
            return False
        marker = await self._conn.last_message(self.subjects.markers(session_id))
        return (
            marker is None or marker.seq < tail.stream_seq or marker_op(marker.data) != "compacted"
        )

    async def _publish(
        self,
        session_id: str,
        line: bytes,
        seq: int,
        expected: int,
        msg_id: str | None = None,
        *,
        rewrite_of: int | None = None,
        lease: float = 0.0,
    ) -> int:
        """Publish one event line after stream sequence ``expected`` of the session's
        subject; retried with the same message id until acknowledged or out of time.
        ``rewrite_of``: the line is a compaction's copy, made when the session's last seq
        was that, holding appends back until ``lease``. Returns the message's stream sequence."""
        subject = self.subjects.events(session_id)
        msg_id = msg_id or f"{session_id}.{seq}.{secrets.token_hex(8)}"
        headers = {
            api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: str(expected),
            MSG_ID_HEADER: msg_id,
            SEQ_HEADER: str(seq),
        }
        if rewrite_of is not None:
            headers[REWRITE_HEADER] = str(rewrite_of)
            headers[LEASE_HEADER] = f"{lease:.3f}"
        deadline = time.monotonic() + self.address.append_timeout
        uncertain: BaseException | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                why = describe_error(uncertain) if uncertain else "out of time"
                raise StorageError(
                    f"cannot append to {session_id}: not acknowledged within "
                    f"{self.address.append_timeout:g} s ({why}) [{self.address.display()}]"
                )
            try:
                ack = await self._conn.publish(
                    subject, line, headers, min(self.address.timeout, remaining)
                )
                return int(ack.seq)
            except WrongLastSequence:
                # A single server checks the expected sequence before the message id, so
                # a retry of a stored append lands here: is the message after the
                # expected one ours?
                stored = await retrying(
                    lambda: self._conn.next_message(subject, expected + 1),
                    max(0.0, deadline - time.monotonic()),
                )
                if stored is not None and stored.headers.get(MSG_ID_HEADER) == msg_id:
                    return stored.seq  # an earlier attempt was stored; its ack was lost
                raise
            except TRANSIENT as exc:
                uncertain = exc
                await asyncio.sleep(min(RETRY_PAUSE, max(0.0, deadline - time.monotonic())))

    async def _tail(self, session_id: str) -> Tail | None:
        last = await self._conn.last_message(self.subjects.events(session_id))
        if last is None:
            return None
        seq = covered_seq(last)
        if seq is None:  # an undecodable last line another client wrote: scan for the seq
            decoder = EntryDecoder(last.subject)
            async for batch in self._conn.messages([last.subject], 1, last.seq):
                decoder.feed(batch)
            seq = decoder.last_seq
        return Tail(last.seq, seq, rewrite_lease(last))

    def delete_session(self, session_id: str, *, expected_seq: int | None = None) -> None:
        """A ``deleted`` marker holding the session's tombstone, then its messages up to
        the tail that was checked erased (an append that came in between is kept, and
        the delete reports it), and its quarantined lines and archive."""
        validate_session_id(session_id)

        async def delete() -> None:
            tail = await self._tail(session_id)
            if tail is None:
                # Archived (or gone): lines a repair quarantined while it was live are
                # still its text, as `chatlog delete` removes them from a home.
                await self._conn.erase(self.subjects.quarantine(session_id))
                raise SessionNotFoundError(f"no session {session_id}")
            if expected_seq is not None and expected_seq != tail.seq:
                raise SeqConflictError(session_id, expected_seq, tail.seq)
            last = await self._conn.last_message(self.subjects.events(session_id))
            decoded = decode(last.data) if last is not None else None
            event = None if isinstance(decoded, LineProblem) else decoded
            if last is not None and covered_seq(last) != (event.seq if event else None):
                event = None  # a copy an unfinished compaction left: no fingerprint (sync reports)
            tombstone = Tombstone(session_id, utc_now_iso(), tail.seq, event_fingerprint(event))
            await self._mark(session_id, "deleted", msgspec.json.encode(tombstone))
            await self._conn.erase(self.subjects.events(session_id), before_seq=tail.stream_seq + 1)
            # Its other traces, as `chatlog delete` removes them from a home: quarantined
            # lines and an archive (of an earlier incarnation).
            await self._conn.erase(self.subjects.quarantine(session_id))
            await self._conn.erase(self.subjects.archive(session_id))
            if await self._tail(session_id) is not None:
                raise SeqConflictError(session_id, tail.seq, tail.seq + 1)

        self._call(f"cannot delete session {session_id}", delete())

    def deletion(self, session_id: str) -> Tombstone | None:
        found = self._call(
            f"cannot read the markers of {session_id}",
            self._conn.last_message(self.subjects.markers(session_id)),
        )
        if found is None or marker_op(found.data) != "deleted":
            return None
        try:
            tombstone = msgspec.json.decode(found.data, type=Tombstone)
        except msgspec.ValidationError:
            return None  # a marker from before tombstones: nothing to carry over
        return tombstone if tombstone.session_id == session_id else None

    async def _mark(self, session_id: str, op: MarkerOp, data: bytes | None = None) -> int:
        """Publish a marker other machines' change feeds see; keep only the newest.
        ``data``: a JSON object to publish with its ``op`` added."""
        subject = self.subjects.markers(session_id)
        payload = marker_data(op) if data is None else marker_data(op, data)
        ack = await self._conn.js.publish(subject, payload, timeout=self.address.timeout)
        await self._conn.purge(subject, keep=1)
        return int(ack.seq)

    # ------------------------------------------------------------------ sessions

    def exists(self, session_id: str) -> bool:
        validate_session_id(session_id)
        found = self._call(
            f"cannot look up {session_id}",
            self._conn.last_message(self.subjects.events(session_id)),
        )
        return found is not None

    def session_ids(self) -> list[str]:
        counts = self._call("cannot list sessions", self._conn.subjects(self.subjects.every("s")))
        ids = (self.subjects.session_of(subject, "s") for subject, n in counts.items() if n)
        return sorted(sid for sid in ids if sid is not None)

    # ------------------------------------------------------------------ reading

    def read_from(
        self,
        session_id: str,
        position: SessionPosition | None = None,
        *,
        until: SessionPosition | None = None,
    ) -> SessionRead:
        subject = self.subjects.events(session_id)

        async def plan() -> tuple[str, int, int, int, int | None]:
            tail = await self._tail(session_id)
            if tail is None:
                return "missing", 0, 0, 0, None
            stop, max_seq = tail.stream_seq, None
            if until is not None:
                until_seq = token_stream_seq(until)
                if until_seq is not None and await self._still_there(subject, until_seq, until.seq):
                    stop = min(stop, until_seq)
                else:  # compacted since: the events up to its seq, wherever they are now
                    max_seq = until.seq
            if position is None or position == SessionPosition():
                return "grown", 1, stop, 0, max_seq
            start = token_stream_seq(position)
            if start is None or not await self._still_there(subject, start, position.seq):
                return "restarted", 1, stop, 0, max_seq
            if start >= stop or (max_seq is not None and position.seq >= max_seq):
                return "unchanged", 0, 0, 0, None
            return "grown", start + 1, stop, position.seq, max_seq

        state, start, stop, base_seq, max_seq = self._call(f"cannot read {session_id}", plan())
        if state in ("missing", "unchanged"):
            return SessionRead(state)  # type: ignore[arg-type]
        batches = self._batches(subject, start, stop, base_seq, max_seq)
        # Closing the read closes the generators, which removes the server's consumer.
        return SessionRead(state, batches, batches.close)  # type: ignore[arg-type]

    async def _still_there(self, subject: str, stream_seq: int, seq: int) -> bool:
        """The message a position ends at is still the session's event ``seq``."""
        found = await self._conn.message_at(stream_seq)
        return found is not None and found.subject == subject and covered_seq(found) == seq

    def _batches(
        self, subject: str, start: int, stop: int, base_seq: int, max_seq: int | None = None
    ) -> Generator[ReadBatch, None, None]:
        """Batches of the session's entries; with ``max_seq``, only up to that seq."""
        decoder = EntryDecoder(subject, base_seq)
        with contextlib.closing(self._stream(subject, start, stop)) as stream:
            for messages in stream:
                entries, issues = decoder.feed(messages)
                if max_seq is not None and decoder.last_seq > max_seq:
                    entries = [entry for entry in entries if entry.event.seq <= max_seq]
                    issues = [issue for issue in issues if (issue.seq or 0) <= max_seq]
                    if entries:
                        last = entries[-1]
                        position = SessionPosition(last.event.seq, session_token(last.offset))
                        yield ReadBatch(entries, issues, position)
                    return
                yield ReadBatch(entries, issues, decoder.position)

    def _stream(
        self, subject: str, start: int, stop: int, *, headers_only: bool = False
    ) -> Generator[list[StoredMessage], None, None]:
        """Batches of one subject's messages, driven from this thread."""
        agen = self._conn.messages([subject], start, stop, headers_only=headers_only)
        try:
            while True:
                try:
                    batch = self._call(f"cannot read {subject}", _anext(agen))
                except StopAsyncIteration:
                    return
                yield batch
        finally:
            if not self._closed:
                with storage_errors(f"cannot read {subject}", self.address):
                    self._loop.run(agen.aclose(), self.address.timeout)

    def read_last(self, session_id: str, n: int, *, messages_only: bool = False) -> list[LogEntry]:
        """The session's last ``n`` entries, as a read from the start ends: a binary
        search over stream sequences finds where its last events start
        (:meth:`_window_start`) and only those are read; when they hold fewer than ``n``
        entries (``messages_only``, damaged lines), a window four times wider, up to the
        whole session. The window is trusted only when the subject holds exactly as
        many messages before it as the seq read before it (every seq once, in order);
        otherwise (a compaction's copies, a line another client wrote) the session is
        read from its start."""
        if n <= 0:
            if not self.exists(session_id):
                raise SessionNotFoundError(f"no session {session_id}")
            return []
        subject = self.subjects.events(session_id)
        what = f"cannot read {session_id}"
        tail = self._call(what, self._tail(session_id))
        if tail is None:
            raise SessionNotFoundError(f"no session {session_id}")
        span = n
        while True:
            start, base_seq, held = self._call(
                what, self._window_start(subject, tail, tail.seq - span + 1)
            )
            last: collections.deque[LogEntry] = collections.deque(maxlen=n)
            decoder = EntryDecoder(subject, base_seq)
            read = 0
            with contextlib.closing(self._stream(subject, start, tail.stream_seq)) as stream:
                for messages in stream:
                    read += len(messages)
                    entries, _issues = decoder.feed(messages)
                    last.extend(
                        entry
                        for entry in entries
                        if not messages_only or isinstance(entry.event, Message)
                    )
            if start > 1 and held - read != base_seq:
                span = tail.seq  # not every seq once in order before it: from the start
            elif len(last) == n or start <= 1:
                return list(last)
            else:
                span *= 4

    async def _window_start(self, subject: str, tail: Tail, want_seq: int) -> tuple[int, int, int]:
        """Where to read the session from to get its events from seq ``want_seq`` on: a
        stream sequence, the seq read before it (so that reading from there yields what a
        read from the start yields there), and how many messages the subject holds.
        ``(1, 0, 0)``: from the start.

        A binary search over the stream sequences up to the tail, each step a direct get
        of the subject's next message, on the seq a message covers (its own, or for a
        compaction's copy the last seq when it began), which chatlog's appends and copies
        keep non-decreasing along a subject. The message just before the window must be
        an original event stored in order (so the seq read before the window is its
        own); anything else found (a decreasing seq another client wrote, a damaged
        line, a compaction's copy) and the session is read from the start."""
        from_start = (1, 0, 0)
        if want_seq <= 1:
            return from_start
        low = await self._conn.next_message(subject, 1)
        low_seq = covered_seq(low) if low is not None else None
        if low is None or low_seq is None or low_seq >= want_seq:
            return from_start
        high, high_seq = tail.stream_seq, tail.seq  # next(high) covers at least want_seq
        while high - low.seq > 1:
            probe = await self._conn.next_message(subject, (low.seq + high) // 2)
            seq = covered_seq(probe) if probe is not None else None
            if probe is None or seq is None or not low_seq <= seq <= high_seq:
                return from_start
            if seq >= want_seq:
                high, high_seq = (low.seq + high) // 2, seq
            else:
                low, low_seq = probe, seq
        before = decode(low.data)
        if (
            REWRITE_HEADER in low.headers
            or isinstance(before, LineProblem)
            or before.seq != low_seq
        ):
            return from_start
        held = await self._conn.subjects(subject)
        return low.seq + 1, low_seq, held.get(subject, 0)

    def read_at(self, session_id: str, locator: int) -> AnyEvent | None:
        subject = self.subjects.events(session_id)
        found = self._call(f"cannot read {session_id}", self._conn.message_at(locator))
        if found is None or found.subject != subject:
            return None
        decoded = decode(found.data)
        return None if isinstance(decoded, LineProblem) else decoded

    def first_event(self, session_id: str) -> AnyEvent | None:
        subject = self.subjects.events(session_id)

        async def first() -> AnyEvent | None:
            found = await self._conn.next_message(subject, 1)
            if found is None:
                raise SessionNotFoundError(f"no session {session_id}")
            while found is not None:
                decoded = decode(found.data)
                if not isinstance(decoded, LineProblem):
                    return decoded
                found = await self._conn.next_message(subject, found.seq + 1)
            return None

        return self._call(f"cannot read {session_id}", first())

    def last_event(self, session_id: str) -> AnyEvent | None:
        subject = self.subjects.events(session_id)
        found = self._call(f"cannot read {session_id}", self._conn.last_message(subject))
        if found is None:
            raise SessionNotFoundError(f"no session {session_id}")
        decoded = decode(found.data)
        if not isinstance(decoded, LineProblem) and covered_seq(found) == decoded.seq:
            return decoded
        # Undecodable, or a copy an unfinished compaction left after the tail.
        last = self.read_last(session_id, 1)
        return last[0].event if last else None

    def last_seq(self, session_id: str) -> int:
        validate_session_id(session_id)
        tail = self._call(f"cannot read {session_id}", self._tail(session_id))
        if tail is None:
            raise SessionNotFoundError(f"no session {session_id}")
        return tail.seq

    def position_after(self, session_id: str, entry: LogEntry) -> SessionPosition:
        """Just after ``entry``, which this store read (its locator is a stream sequence)."""
        validate_session_id(session_id)
        return SessionPosition(entry.event.seq, session_token(entry.offset))

    def open_follower(self, session_id: str, position: SessionPosition | None = None) -> Follower:
        from eventlog.jetstream_follow import JetStreamFollower

        return JetStreamFollower.open(self, session_id, position)

    # ------------------------------------------------------------------ change feed

    def changes(self, since: str | None) -> Changes:
        """The sessions whose subjects got messages after ``since``: O(new messages),
        read headers only."""

        async def feed() -> Changes:
            state = await self._conn.stream_state()
            position = feed_token(state.created, state.last_seq)
            start = parse_feed_token(since, state.created)
            if start is None or start > state.last_seq:
                return Changes(None, position)
            changed: set[str] = set()
            subjects = [self.subjects.every(kind) for kind in ("s", "m", "a")]
            async for batch in self._conn.messages(
                subjects,
                start + 1,
                state.last_seq,
                headers_only=True,
                probe_subject=f"{self.address.stream}.>",
            ):
                for message in batch:
                    sid = self.subjects.session_of(message.subject)
                    if sid is not None:
                        changed.add(sid)
            return Changes(frozenset(changed), position)

        return self._call("cannot read the change feed", feed())

    def follow(self, stop: threading.Event, tick_ms: int) -> Iterator[set[str]]:
        from eventlog.jetstream_follow import follow_changes

        return follow_changes(self, stop, tick_ms)

    def afollow(self, stop: asyncio.Event, tick_ms: int) -> AsyncIterator[set[str]]:
        from eventlog.jetstream_follow import afollow_changes

        return afollow_changes(self, stop, tick_ms)

    # ------------------------------------------------------------------ upkeep

    def check(self, session_id: str) -> DamageReport | None:
        from eventlog.jetstream_upkeep import check

        return check(self, session_id)

    def repair(self, session_id: str) -> Repair | None:
        from eventlog.jetstream_upkeep import repair

        return repair(self, session_id)

    def compact(self, session_id: str) -> Compaction | None:
        from eventlog.jetstream_compact import compact

        validate_session_id(session_id)
        return compact(self, session_id)

    def archive(self, session_id: str) -> ArchivedSession:
        from eventlog.jetstream_upkeep import archive

        return archive(self, session_id)

    def restore(self, session_id: str) -> None:
        from eventlog.jetstream_upkeep import restore

        restore(self, session_id)

    def archived(self) -> list[ArchivedSession]:
        from eventlog.jetstream_upkeep import archived

        return archived(self)

    def purge_archives(self, session_ids: Sequence[str] | None = None) -> list[str]:
        from eventlog.jetstream_upkeep import purge_archives

        return purge_archives(self, session_ids)

    def session_location(self, session_id: str) -> str:
        validate_session_id(session_id)
        return f"{self.address.display()}, subject {self.subjects.events(session_id)}"

    def archive_location(self, session_id: str | None = None) -> str:
        if session_id is None:
            return f"{self.address.display()}, subjects {self.subjects.every('a')}"
        from eventlog.jetstream_upkeep import archive_address

        return archive_address(self, session_id)

    def sync(self, session_id: str | None = None) -> None:
        """Nothing to do: an append returned only after JetStream acknowledged it, as
        durable as the servers' ``sync_interval`` and the stream's replicas make it."""
        if session_id is not None:
            validate_session_id(session_id)

    def close(self) -> None:
        if self._closed:
            return
        try:
            with storage_errors("cannot close the store", self.address):
                self._loop.run(self._conn.close(), self.address.timeout + 1)
        finally:
            self._closed = True
            self._loop.stop()

    def __enter__(self) -> JetStreamStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


async def _anext(agen: AsyncGenerator[T, None]) -> T:
    return await agen.__anext__()
