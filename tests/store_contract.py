"""The store contract: every EventStore implementation runs these tests.

A test module subclasses :class:`StoreContract` and provides two fixtures: ``store`` (a
fresh, empty store) and ``second_store`` (another handle on the same data, as a second
process or machine would open it). The pattern is eventsourcing's ``tests/persistence.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import (
    AmbiguousSessionIdError,
    InvalidArgumentError,
    InvalidSessionIdError,
    Message,
    SeqConflictError,
    SessionCreated,
    SessionExistsError,
    SessionNotFoundError,
    SessionTagged,
    SessionTitled,
    SessionUntagged,
)
from eventlog.events import AnyEvent, MessageRedacted
from eventlog.store import (
    START_POSITION,
    EventStore,
    SessionPosition,
    SessionRead,
    event_fingerprint,
)

UNKNOWN = "2001-01-01_000000_abcdef"


def store_property(max_examples: int) -> settings:
    """Hypothesis settings of a property test of the contract (each store's subclass runs
    it with its own store fixture)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )


AWS_KEY = "AKIAQ3EGRK7ZXN4PLM2T"  # real-looking, not a real key
PASSWORD = "Xk9mQ2vL7pR4wZ"


def drain(result: SessionRead) -> tuple[list[int], SessionPosition | None]:
    """The seqs a read delivered and the position after its last batch."""
    seqs: list[int] = []
    position = None
    for batch in result.batches:
        seqs += [entry.event.seq for entry in batch.entries]
        position = batch.position
    return seqs, position


def seqs_of(store: EventStore, session_id: str) -> list[int]:
    return [event.seq for event in store.read(session_id)]


def session_with(store: EventStore, messages: int) -> str:
    sid = store.create_session("contract", ["t"])
    for i in range(messages):
        store.append(sid, "user" if i % 2 == 0 else "assistant", f"message {i}")
    return sid


class StoreContract:
    """Behaviour every store shares. Subclasses provide ``store`` and ``second_store``."""

    @pytest.fixture
    def store(self) -> Iterator[EventStore]:
        raise NotImplementedError

    @pytest.fixture
    def second_store(self, store: EventStore) -> Iterator[EventStore]:
        raise NotImplementedError

    # ------------------------------------------------------------------ create

    def test_a_new_session_starts_with_its_session_created_event(self, store: EventStore) -> None:
        sid = store.create_session("Title", ["a", "b"], metadata={"k": 1})
        (first,) = list(store.read(sid))
        assert isinstance(first, SessionCreated)
        assert (first.seq, first.session_id, first.title, first.tags) == (
            1,
            sid,
            "Title",
            ("a", "b"),
        )
        assert first.metadata == {"k": 1}
        assert store.exists(sid)
        assert store.last_seq(sid) == 1

    def test_creating_an_explicit_id_that_exists_raises_session_exists(
        self, store: EventStore
    ) -> None:
        sid = store.create_session(session_id="2024-05-06_070809_a1b2c3")
        assert sid == "2024-05-06_070809_a1b2c3"
        with pytest.raises(SessionExistsError):
            store.create_session("again", session_id=sid)
        assert seqs_of(store, sid) == [1]

    def test_created_sessions_get_distinct_ids_listed_in_order(self, store: EventStore) -> None:
        ids = [store.create_session() for _ in range(5)]
        assert len(set(ids)) == 5
        assert store.session_ids() == sorted(ids)

    # ------------------------------------------------------------------ append

    def test_appends_get_contiguous_seqs_and_come_back_as_written(self, store: EventStore) -> None:
        sid = store.create_session()
        written = [store.append(sid, "user", f"text {i}", token_count=i) for i in range(5)]
        assert [m.seq for m in written] == [2, 3, 4, 5, 6]
        events = list(store.read(sid))
        assert events[1:] == written
        assert store.last_seq(sid) == 6

    def test_a_stale_expected_seq_raises_seq_conflict_and_stores_nothing(
        self, store: EventStore
    ) -> None:
        sid = session_with(store, 2)
        with pytest.raises(SeqConflictError) as caught:
            store.append(sid, "user", "late", expected_seq=1)
        assert (caught.value.expected_seq, caught.value.actual_seq) == (1, 3)
        assert seqs_of(store, sid) == [1, 2, 3]
        assert store.append(sid, "user", "on time", expected_seq=3).seq == 4

    def test_title_and_tag_events_take_the_next_seqs(self, store: EventStore) -> None:
        sid = store.create_session()
        store.set_title(sid, "named")
        store.add_tag(sid, "x")
        store.remove_tag(sid, "x")
        events = list(store.read(sid))
        assert [type(e) for e in events] == [
            SessionCreated,
            SessionTitled,
            SessionTagged,
            SessionUntagged,
        ]
        assert [e.seq for e in events] == [1, 2, 3, 4]
        with pytest.raises(SeqConflictError):
            store.set_title(sid, "stale", expected_seq=1)

    def test_appends_from_many_threads_keep_seqs_contiguous(self, store: EventStore) -> None:
        sid = store.create_session()
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                for i in range(10):
                    store.append(sid, "user", f"{n}-{i}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [repr(e) for e in errors] == []
        events = list(store.read(sid))
        assert [e.seq for e in events] == list(range(1, 42))
        contents = sorted(e.content for e in events if isinstance(e, Message))
        assert contents == sorted(f"{n}-{i}" for n in range(4) for i in range(10))

    def test_a_second_handle_sees_appends_and_conflicts_with_a_stale_seq(
        self, store: EventStore, second_store: EventStore
    ) -> None:
        sid = session_with(store, 1)
        assert second_store.append(sid, "assistant", "from elsewhere").seq == 3
        assert seqs_of(store, sid) == [1, 2, 3]
        with pytest.raises(SeqConflictError):
            store.append(sid, "user", "stale", expected_seq=2)

    # ------------------------------------------------------------------ redaction on save

    def test_a_secret_in_an_append_is_stored_redacted(self, store: EventStore) -> None:
        sid = store.create_session()
        stored = store.append(
            sid,
            "user",
            f"use {AWS_KEY} with password={PASSWORD}",
            metadata={"env": {"API_KEY": PASSWORD}, "note": "plain"},
        )
        assert stored.content == "use [REDACTED:aws_key] with password=[REDACTED:secret]"
        assert stored.metadata == {"env": {"API_KEY": "[REDACTED:secret]"}, "note": "plain"}
        assert list(store.read(sid))[-1] == stored
        assert store.read_last(sid, 1)[0].event == stored

    def test_a_secret_in_a_new_sessions_title_and_metadata_is_stored_redacted(
        self, store: EventStore
    ) -> None:
        sid = store.create_session(f"deploy {AWS_KEY}", metadata={"token": PASSWORD})
        first = store.first_event(sid)
        assert isinstance(first, SessionCreated)
        assert first.title == "deploy [REDACTED:aws_key]"
        assert first.metadata == {"token": "[REDACTED:secret]"}

    def test_with_redaction_off_an_append_is_stored_as_given(self, store: EventStore) -> None:
        store.redact_secrets = False
        sid = store.create_session(f"deploy {AWS_KEY}")
        stored = store.append(sid, "user", f"use {AWS_KEY}")
        assert stored.content == f"use {AWS_KEY}"
        assert [e.content for e in store.read(sid) if isinstance(e, Message)] == [f"use {AWS_KEY}"]

    def test_an_append_refused_for_its_arguments_stores_nothing(self, store: EventStore) -> None:
        sid = store.create_session()
        with pytest.raises(InvalidArgumentError):
            store.append(sid, "robot", "hello")
        with pytest.raises(InvalidArgumentError):
            store.append(sid, "user", "hello", token_count=-1)
        with pytest.raises(InvalidArgumentError):
            store.append(sid, "user", 42)  # type: ignore[arg-type]
        assert seqs_of(store, sid) == [1]

    # ------------------------------------------------------------------ reading

    def test_read_from_the_start_then_unchanged_then_grown(self, store: EventStore) -> None:
        sid = session_with(store, 3)
        first = store.read_from(sid)
        assert first.state == "grown"
        seqs, position = drain(first)
        assert seqs == [1, 2, 3, 4]
        assert position is not None and position.seq == 4
        assert store.read_from(sid, position).state == "unchanged"
        store.append(sid, "user", "more")
        grown = store.read_from(sid, position)
        assert grown.state == "grown"
        assert drain(grown)[0] == [5]

    def test_read_from_the_start_position_reads_everything(self, store: EventStore) -> None:
        sid = session_with(store, 2)
        result = store.read_from(sid, START_POSITION)
        assert result.state == "grown"
        assert drain(result)[0] == [1, 2, 3]

    def test_a_position_of_a_deleted_and_recreated_session_restarts(
        self, store: EventStore
    ) -> None:
        sid = store.create_session(session_id="2024-05-06_070809_c0ffee")
        store.append(sid, "user", "old")
        _seqs, position = drain(store.read_from(sid))
        store.delete_session(sid)
        assert store.read_from(sid, position).state == "missing"
        store.create_session("new", session_id=sid)
        store.append(sid, "user", "new one")
        store.append(sid, "user", "new two")
        again = store.read_from(sid, position)
        assert again.state == "restarted"
        assert drain(again)[0] == [1, 2, 3]

    def test_reading_a_missing_session_says_missing(self, store: EventStore) -> None:
        assert store.read_from(UNKNOWN).state == "missing"
        with pytest.raises(SessionNotFoundError):
            store.read(UNKNOWN)

    def test_read_until_a_position_is_the_view_as_of_that_moment(self, store: EventStore) -> None:
        sid = session_with(store, 2)
        _seqs, then = drain(store.read_from(sid))
        store.append(sid, "user", "later")
        assert drain(store.read_from(sid, until=then))[0] == [1, 2, 3]
        assert drain(store.read_from(sid))[0] == [1, 2, 3, 4]

    def test_read_last_returns_the_last_n_oldest_first(self, store: EventStore) -> None:
        sid = session_with(store, 5)
        store.set_title(sid, "t")
        assert [e.event.seq for e in store.read_last(sid, 3)] == [5, 6, 7]
        messages = store.read_last(sid, 2, messages_only=True)
        assert [e.event.seq for e in messages] == [5, 6]
        assert all(isinstance(e.event, Message) for e in messages)
        assert [e.event.seq for e in store.read_last(sid, 100)] == list(range(1, 8))

    def test_read_at_a_locator_reads_that_event_again(self, store: EventStore) -> None:
        sid = session_with(store, 3)
        entries = [entry for batch in store.read_from(sid).batches for entry in batch.entries]
        for entry in entries:
            assert store.read_at(sid, entry.offset) == entry.event

    def test_first_and_last_event(self, store: EventStore) -> None:
        sid = session_with(store, 3)
        first, last = store.first_event(sid), store.last_event(sid)
        assert isinstance(first, SessionCreated) and first.session_id == sid
        assert isinstance(last, Message) and last.seq == 4 and last.content == "message 2"

    # ------------------------------------------------------------------ sessions

    def test_a_sessions_location_names_it_and_refuses_an_invalid_id(
        self, store: EventStore
    ) -> None:
        sid = session_with(store, 0)
        assert sid in store.session_location(sid)
        with pytest.raises(InvalidSessionIdError):
            store.session_location("../escape")

    def test_resolve_takes_a_full_id_a_prefix_or_the_suffix(self, store: EventStore) -> None:
        a = store.create_session(session_id="2024-01-02_030405_aaaaaa")
        b = store.create_session(session_id="2024-01-02_030406_bbbbbb")
        assert store.resolve(a) == a
        assert store.resolve("bbbbbb") == b
        assert store.resolve("2024-01-02_030405") == a
        with pytest.raises(AmbiguousSessionIdError):
            store.resolve("2024-01-02")
        with pytest.raises(SessionNotFoundError):
            store.resolve("cccccc")
        with pytest.raises(InvalidSessionIdError):
            store.resolve("../etc/passwd")

    def test_delete_removes_the_session_for_good(self, store: EventStore) -> None:
        sid = session_with(store, 2)
        keep = store.create_session()
        store.delete_session(sid)
        assert not store.exists(sid)
        assert store.session_ids() == [keep]
        with pytest.raises(SessionNotFoundError):
            store.delete_session(sid)
        with pytest.raises(SessionNotFoundError):
            store.append(sid, "user", "into the void")

    def test_a_delete_keeps_a_tombstone_of_the_last_event(self, store: EventStore) -> None:
        sid = session_with(store, 2)
        last = store.last_event(sid)
        assert store.deletion(sid) is None
        with pytest.raises(SeqConflictError):
            store.delete_session(sid, expected_seq=2)
        assert store.exists(sid)
        store.delete_session(sid, expected_seq=3)
        tombstone = store.deletion(sid)
        assert tombstone is not None
        assert (tombstone.session_id, tombstone.last_seq) == (sid, 3)
        assert tombstone.last_event == event_fingerprint(last) != ""
        assert store.deletion(UNKNOWN) is None

    # ------------------------------------------------------------------ archives

    def test_archive_retires_a_session_and_restore_brings_it_back_identical(
        self, store: EventStore
    ) -> None:
        sid = session_with(store, 4)
        before = list(store.read(sid))
        would_be = store.archive_location(sid)
        entry = store.archive(sid)
        assert entry.session_id == sid and entry.size > 0
        assert entry.path == would_be  # cleanup --dry-run names it before it exists
        assert not store.exists(sid)
        assert store.archived() == [entry]
        store.restore(sid)
        assert list(store.read(sid)) == before
        assert store.archived() == []
        assert store.append(sid, "user", "after restore").seq == 6

    def test_restore_refuses_to_overwrite_and_needs_an_archive(self, store: EventStore) -> None:
        sid = session_with(store, 1)
        store.archive(sid)
        store.create_session("squatter", session_id=sid)
        with pytest.raises(SessionExistsError):
            store.restore(sid)
        with pytest.raises(SessionNotFoundError):
            store.restore(UNKNOWN)

    def test_purge_archives_deletes_them_for_good(self, store: EventStore) -> None:
        one, two = session_with(store, 1), session_with(store, 1)
        first = store.archive(one)
        second = store.archive(two)
        assert store.purge_archives([one]) == [first.path]
        assert [a.session_id for a in store.archived()] == [two]
        assert store.purge_archives() == [second.path]
        assert store.archived() == []
        with pytest.raises(SessionNotFoundError):
            store.restore(one)

    # ------------------------------------------------------------------ change feed

    def test_the_change_feed_reports_appends_creates_and_deletes(
        self, store: EventStore, second_store: EventStore
    ) -> None:
        old = session_with(store, 1)
        doomed = session_with(store, 1)
        first = store.changes(None)
        store.changes_applied(first)
        quiet = store.changes(first.position)
        assert quiet.sessions is not None  # a store may report more than changed, not less
        store.changes_applied(quiet)
        second_store.append(old, "user", "news")
        new = second_store.create_session()
        second_store.delete_session(doomed)
        changed = store.changes(quiet.position)
        assert changed.sessions is not None
        assert {old, new, doomed} <= changed.sessions
        store.changes_applied(changed)

    def test_follow_wakes_up_with_the_changed_session(
        self, store: EventStore, second_store: EventStore
    ) -> None:
        sid = store.create_session()
        stop = threading.Event()
        seen: set[str] = set()
        for yields, changed in enumerate(store.follow(stop, 20), start=1):
            seen |= changed
            if yields == 1:
                second_store.append(sid, "user", "ping")
            if sid in seen or yields >= 250:
                stop.set()
        assert sid in seen

    def test_afollow_yields_until_stopped(self, store: EventStore) -> None:
        sid = store.create_session()

        async def main() -> int:
            stop = asyncio.Event()
            count = 0
            async for _changed in store.afollow(stop, 20):
                count += 1
                if count == 1:
                    store.append(sid, "user", "ping")
                if count == 3:
                    stop.set()
            return count

        assert asyncio.run(main()) == 3

    # ------------------------------------------------------------------ followers

    def test_a_follower_delivers_every_event_acknowledged_before_a_delete(
        self, store: EventStore, second_store: EventStore
    ) -> None:
        sid = store.create_session()
        follower = store.open_follower(sid)
        try:
            for i in range(5):
                second_store.append(sid, "user", f"m{i}")
            second_store.delete_session(sid)
            seqs: list[int] = []
            for _ in range(200):
                batch = follower.read()
                seqs += [entry.event.seq for entry in batch.entries]
                if follower.gone:
                    break
                threading.Event().wait(0.01)
            assert seqs == [1, 2, 3, 4, 5, 6]
            assert follower.gone
        finally:
            follower.close()

    def test_a_wake_up_naming_a_session_is_followed_by_one_after_its_event_can_be_read(
        self, store: EventStore, second_store: EventStore
    ) -> None:
        """A live reader reads only when woken for its session (ticks aside): it must never
        be left with an event it was woken for but could not read yet."""
        sid = store.create_session()
        follower = store.open_follower(sid, store.position_after(sid, store.read_last(sid, 1)[0]))
        stop = threading.Event()
        read: list[int] = []
        appended = idle = 0
        try:
            for changed in store.follow(stop, 20):
                if sid in changed:
                    read += [entry.event.seq for entry in follower.read().entries]
                if len(read) < appended:
                    idle += 1  # a tick, or a wake-up for an event not readable yet
                    if idle >= 250:
                        stop.set()
                elif appended == 20:
                    stop.set()
                else:
                    second_store.append(sid, "user", f"ping {appended}")
                    appended, idle = appended + 1, 0
        finally:
            follower.close()
        assert read == list(range(2, 22))

    def test_a_follower_from_a_position_reads_only_what_follows(self, store: EventStore) -> None:
        sid = session_with(store, 2)
        _seqs, position = drain(store.read_from(sid))
        follower = store.open_follower(sid, position)
        try:
            store.append(sid, "user", "new")
            seqs: list[int] = []
            for _ in range(200):
                seqs += [entry.event.seq for entry in follower.read().entries]
                if seqs:
                    break
                threading.Event().wait(0.01)
            assert seqs == [4]
            assert follower.position.seq == 4
            assert not follower.gone
        finally:
            follower.close()

    def test_following_an_unknown_session_raises_not_found(self, store: EventStore) -> None:
        with pytest.raises(SessionNotFoundError):
            store.open_follower(UNKNOWN)

    # ------------------------------------------------------------------ upkeep

    def test_a_clean_session_has_no_damage_and_nothing_to_repair(self, store: EventStore) -> None:
        sid = session_with(store, 3)
        report = store.check(sid)
        assert report is not None
        assert (report.session_id, report.damaged, report.foreign) == (sid, [], [])
        assert store.repair(sid) is None
        assert store.check(UNKNOWN) is None
        store.sync()
        store.sync(sid)

    # ------------------------------------------------------------------ compaction

    def test_compact_removes_redacted_text_and_keeps_every_other_event(
        self, store: EventStore
    ) -> None:
        sid = session_with(store, 4)
        secret = store.append(sid, "user", "my passphrase: purple elephant", token_count=7)
        store.append(sid, "assistant", "noted")
        redaction = store.redact(sid, secret.seq, "a passphrase")
        before = list(store.read(sid))
        done = store.compact(sid)
        assert done is not None and (done.session_id, done.messages) == (sid, 1)
        after = list(store.read(sid))
        assert [e.seq for e in after] == list(range(1, redaction.seq + 1))
        compacted = after[secret.seq - 1]
        assert isinstance(compacted, Message)
        assert (compacted.seq, compacted.ts, compacted.role, compacted.token_count) == (
            secret.seq,
            secret.ts,
            "user",
            7,
        )
        assert "elephant" not in compacted.content
        assert compacted.metadata == {"redacted": {"at": redaction.ts, "reason": "a passphrase"}}
        assert [e for e in after if e.seq != secret.seq] == [
            e for e in before if e.seq != secret.seq
        ]
        assert store.last_seq(sid) == redaction.seq
        assert store.last_event(sid) == redaction
        assert [e.event for e in store.read_last(sid, 3)] == after[-3:]
        entries = [entry for batch in store.read_from(sid).batches for entry in batch.entries]
        assert [store.read_at(sid, entry.offset) for entry in entries] == after
        assert store.append(sid, "user", "after", expected_seq=redaction.seq).seq == (
            redaction.seq + 1
        )
        again = store.compact(sid)
        assert again is not None and again.messages == 0

    def test_a_reader_from_a_position_before_compaction_never_sees_an_event_twice(
        self, store: EventStore
    ) -> None:
        sid = session_with(store, 3)
        store.append(sid, "user", "secret words")
        _seqs, early = drain(store.read_from(sid))
        store.append(sid, "assistant", "ok")
        store.redact(sid, 5)
        store.compact(sid)
        result = store.read_from(sid, early)
        seqs, position = drain(result)
        if result.state == "restarted":
            assert seqs == [1, 2, 3, 4, 5, 6, 7]
        else:
            assert (result.state, seqs) == ("grown", [6, 7])
        assert position is not None and position.seq == 7
        assert store.read_from(sid, position).state == "unchanged"
        follower = store.open_follower(sid)
        try:
            followed = [entry.event for entry in follower.read().entries]
            for _ in range(100):
                if len(followed) >= 7:
                    break
                threading.Event().wait(0.01)
                followed += [entry.event for entry in follower.read().entries]
            assert followed == list(store.read(sid))
        finally:
            follower.close()

    def test_a_view_until_a_position_from_before_compaction_keeps_its_events(
        self, store: EventStore
    ) -> None:
        sid = session_with(store, 3)
        store.append(sid, "user", "secret words")
        store.redact(sid, 5)
        _seqs, then = drain(store.read_from(sid))
        store.append(sid, "user", "later")
        store.compact(sid)
        seqs, _position = drain(store.read_from(sid, until=then))
        assert seqs == [1, 2, 3, 4, 5, 6]

    @store_property(max_examples=12)
    @given(
        steps=st.lists(
            st.one_of(
                st.tuples(st.just("append"), st.text(max_size=20)),
                st.tuples(st.just("redact"), st.integers(min_value=0, max_value=30)),
                st.tuples(st.just("compact"), st.just(0)),
            ),
            max_size=14,
        )
    )
    def test_appends_redactions_and_compactions_in_any_order_keep_every_other_event(
        self, store: EventStore, steps: list[tuple[str, object]]
    ) -> None:
        store.redact_secrets = False
        sid = store.create_session("property")
        written: dict[int, AnyEvent] = {1: store.first_event(sid)}  # type: ignore[dict-item]
        redacted: set[int] = set()
        compacted: set[int] = set()  # redacted before a compaction ran
        for step, value in steps:
            if step == "append":
                message = store.append(sid, "user", str(value))
                written[message.seq] = message
            elif step == "redact":
                messages = [s for s, e in written.items() if isinstance(e, Message)]
                if messages:
                    target = messages[int(value) % len(messages)]  # type: ignore[call-overload]
                    event = store.redact(sid, target)
                    written[event.seq] = event
                    redacted.add(target)
            else:
                store.compact(sid)
                compacted |= redacted
            events = list(store.read(sid))
            assert [e.seq for e in events] == list(range(1, len(written) + 1))
            assert store.last_seq(sid) == len(written)
            for event in events:
                if event.seq in compacted:
                    assert isinstance(event, Message)
                    assert event.content.startswith("[REDACTED at ")
                    assert (event.ts, event.role) == (written[event.seq].ts, "user")
                else:
                    assert event == written[event.seq]

    @store_property(max_examples=10)
    @given(
        steps=st.lists(
            st.one_of(
                st.tuples(st.just("append"), st.integers(min_value=1, max_value=6)),
                st.tuples(st.just("title"), st.integers(min_value=0, max_value=0)),
                st.tuples(st.just("redact"), st.integers(min_value=0, max_value=30)),
                st.tuples(st.just("compact"), st.integers(min_value=0, max_value=0)),
            ),
            max_size=8,
        ),
        counts=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=3),
    )
    def test_read_last_is_the_end_of_a_full_read_after_any_appends_redactions_and_compactions(
        self, store: EventStore, steps: list[tuple[str, int]], counts: list[int]
    ) -> None:
        sid = store.create_session("tail")
        for step, value in steps:
            if step == "append":
                for i in range(value):
                    store.append(sid, "user" if i % 2 else "assistant", f"m{i}")
            elif step == "title":
                store.set_title(sid, "renamed")
            elif step == "redact":
                messages = [e.seq for e in store.read(sid) if isinstance(e, Message)]
                if messages:
                    store.redact(sid, messages[value % len(messages)])
            else:
                store.compact(sid)
            # The same events at the same locators (a store reading from the end may not
            # know their line numbers).
            full = [
                (entry.event, entry.offset, entry.end)
                for batch in store.read_from(sid).batches
                for entry in batch.entries
            ]
            said = [entry for entry in full if isinstance(entry[0], Message)]
            for n in counts:
                last = store.read_last(sid, n)
                assert [(e.event, e.offset, e.end) for e in last] == full[-n:]
                last = store.read_last(sid, n, messages_only=True)
                assert [(e.event, e.offset, e.end) for e in last] == said[-n:]

    def test_compact_of_an_unknown_session_is_none(self, store: EventStore) -> None:
        assert store.compact(UNKNOWN) is None
        plain = session_with(store, 2)
        done = store.compact(plain)
        assert done is not None and (done.messages, done.archived, done.quarantined) == (0, 0, 0)

    def test_compact_removes_redacted_text_from_an_archived_session(
        self, store: EventStore
    ) -> None:
        sid = session_with(store, 2)
        store.append(sid, "user", "archived secret words")
        store.redact(sid, 4)
        store.archive(sid)
        done = store.compact(sid)
        assert done is not None and (done.messages, done.archived) == (0, 1)
        assert [a.session_id for a in store.archived()] == [sid]
        store.restore(sid)
        texts = [e.content for e in store.read(sid) if isinstance(e, Message)]
        assert texts[:2] == ["message 0", "message 1"]
        assert "secret" not in texts[2] and texts[2].startswith("[REDACTED at ")
        assert seqs_of(store, sid) == [1, 2, 3, 4, 5]

    def test_appends_during_compaction_are_all_kept_in_order(self, store: EventStore) -> None:
        sid = session_with(store, 20)
        for seq in range(2, 22, 3):
            store.redact(sid, seq)
        stop = threading.Event()
        acknowledged: list[Message] = []
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                while not stop.is_set():
                    last = store.last_seq(sid)
                    try:
                        acknowledged.append(store.append(sid, "user", "w", expected_seq=last))
                    except SeqConflictError:
                        continue
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            for _ in range(3):
                store.compact(sid)
        finally:
            stop.set()
            thread.join()
        assert [repr(e) for e in errors] == []
        store.compact(sid)
        events = list(store.read(sid))
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        by_seq = {e.seq: e for e in events}
        assert all(by_seq[m.seq] == m for m in acknowledged)
        redacted = {e.target for e in events if isinstance(e, MessageRedacted)}
        for seq in redacted:
            event = by_seq[seq]
            assert isinstance(event, Message) and event.content.startswith("[REDACTED at ")

    # ------------------------------------------------------------------ errors

    @pytest.mark.parametrize(
        "call",
        [
            lambda s: s.append(UNKNOWN, "user", "x"),
            lambda s: s.set_title(UNKNOWN, "x"),
            lambda s: s.delete_session(UNKNOWN),
            lambda s: s.last_seq(UNKNOWN),
            lambda s: s.read_last(UNKNOWN, 3),
            lambda s: s.archive(UNKNOWN),
            lambda s: s.restore(UNKNOWN),
            lambda s: s.resolve(UNKNOWN),
        ],
        ids=["append", "title", "delete", "last_seq", "read_last", "archive", "restore", "resolve"],
    )
    def test_an_unknown_session_raises_not_found(
        self, store: EventStore, call: Callable[[EventStore], Any]
    ) -> None:
        with pytest.raises(SessionNotFoundError):
            call(store)
        assert not store.exists(UNKNOWN)

    def test_an_unknown_session_has_no_first_or_last_event(self, store: EventStore) -> None:
        with pytest.raises(SessionNotFoundError):
            store.first_event(UNKNOWN)
        with pytest.raises(SessionNotFoundError):
            store.last_event(UNKNOWN)

    @pytest.mark.parametrize("bad", ["../x", "2024-01-01_000000_ABCDEF", "", "a.b"])
    def test_an_invalid_id_is_refused_before_any_lookup(self, store: EventStore, bad: str) -> None:
        with pytest.raises(InvalidSessionIdError):
            store.append(bad, "user", "x")
        with pytest.raises(InvalidSessionIdError):
            store.create_session(session_id=bad)
        with pytest.raises(InvalidSessionIdError):
            store.exists(bad)

    @pytest.mark.parametrize("bad", ["../x", "2024-01-01_000000_ABCDEF", "a.b"])
    def test_reading_an_invalid_id_is_refused(self, store: EventStore, bad: str) -> None:
        with pytest.raises(InvalidSessionIdError):
            store.read_from(bad)


def leave_out(cls: type, names: list[str]) -> None:
    """Drop contract cases a store cannot run yet (each listed where it is called)."""
    for name in names:
        assert hasattr(StoreContract, name), name
        setattr(cls, name, None)
