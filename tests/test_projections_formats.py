"""The projections reproduce the seed's formats: session file, index metadata, markdown,
and titles taken from the first user message when none is set."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import AnyEvent, EventLog, Message, SessionCreated, SessionTitled
from projections import Projections, SessionMeta, SessionSnapshot, SnapshotMessage, views
from projections import fold as session_fold
from projections import title as title_projection
from projections.markdown import render


def whole_snapshot(projections: Projections, sid: str) -> SessionSnapshot:
    meta, messages = projections.messages(sid)
    return SessionSnapshot(meta, list(messages))


def fold_all(events: list[AnyEvent]) -> session_fold.SessionRow | None:
    row = None
    for event in events:
        row = session_fold.apply(row, event, SID)
    return row


SID = "2025-10-04_152345"


@pytest.fixture
def projections(log: EventLog) -> Iterator[Projections]:
    with Projections(log, durable=False) as proj:
        yield proj


def make_golden_session(log: EventLog) -> str:
    sid = log.create_session(
        tags=["debugging"], session_id=SID, ts="2025-10-04T15:23:45.107338+00:00"
    )
    log.append(
        sid,
        "user",
        "Help me debug this authentication error in my Python code",
        token_count=5,
        metadata={"query_id": "abc123"},
        ts="2025-10-04T15:23:45.123456+00:00",
    )
    log.append(
        sid,
        "assistant",
        "I'll help you debug the authentication error.\n\nLet me analyze the code...",
        token_count=50,
        metadata={"query_id": "abc123"},
        ts="2025-10-04T15:23:48.234567+00:00",
    )
    log.append(sid, "system", "Context trimmed.", ts="2025-10-04T15:30:00+00:00")
    log.append(sid, "tool", '{"ok": true}', token_count=101, ts="2025-10-04T15:35:20.5+00:00")
    return sid


GOLDEN_SNAPSHOT = """\
{
  "metadata": {
    "session_id": "2025-10-04_152345",
    "created_at": "2025-10-04T15:23:45.107338+00:00",
    "updated_at": "2025-10-04T15:35:20.5+00:00",
    "message_count": 4,
    "total_tokens": 156,
    "title": "Help me debug this authentication error in my Python code",
    "tags": [
      "debugging"
    ]
  },
  "messages": [
    {
      "role": "user",
      "content": "Help me debug this authentication error in my Python code",
      "timestamp": "2025-10-04T15:23:45.123456+00:00",
      "token_count": 5,
      "metadata": {
        "query_id": "abc123"
      }
    },
    {
      "role": "assistant",
      "content": "I'll help you debug the authentication error.\\n\\nLet me analyze the code...",
      "timestamp": "2025-10-04T15:23:48.234567+00:00",
      "token_count": 50,
      "metadata": {
        "query_id": "abc123"
      }
    },
    {
      "role": "system",
      "content": "Context trimmed.",
      "timestamp": "2025-10-04T15:30:00+00:00",
      "token_count": 0,
      "metadata": {}
    },
    {
      "role": "tool",
      "content": "{\\"ok\\": true}",
      "timestamp": "2025-10-04T15:35:20.5+00:00",
      "token_count": 101,
      "metadata": {}
    }
  ]
}
"""

GOLDEN_MARKDOWN = """\
# Help me debug this authentication error in my Python code

**Session ID:** 2025-10-04_152345
**Created:** 2025-10-04 15:23:45 UTC
**Updated:** 2025-10-04 15:35:20 UTC
**Messages:** 4
**Total Tokens:** 156

---

## 👤 User [15:23:45 UTC]

Help me debug this authentication error in my Python code

## 🤖 Assistant [15:23:48 UTC]

I'll help you debug the authentication error.

Let me analyze the code...

## 🧭 System [15:30:00 UTC]

Context trimmed.

## 🔧 Tool [15:35:20 UTC]

Result

```
{"ok": true}
```
"""


class TestSeedSessionFile:
    def test_the_snapshot_file_is_the_seed_format_byte_for_byte(
        self, log: EventLog, projections: Projections, home: Path
    ) -> None:
        sid = make_golden_session(log)
        assert projections.snapshot_json(sid).decode() == GOLDEN_SNAPSHOT
        assert not (home / "sessions").exists()  # a view: written only when asked for
        projections.write_views()
        assert (home / "sessions" / f"{sid}.json").read_text() == GOLDEN_SNAPSHOT

    def test_the_snapshot_has_exactly_the_seed_fields_with_the_seed_types(
        self, log: EventLog, projections: Projections
    ) -> None:
        data = json.loads(projections.snapshot_json(make_golden_session(log)))
        assert list(data) == ["metadata", "messages"]
        assert list(data["metadata"]) == [
            "session_id",
            "created_at",
            "updated_at",
            "message_count",
            "total_tokens",
            "title",
            "tags",
        ]
        for message in data["messages"]:
            assert list(message) == ["role", "content", "timestamp", "token_count", "metadata"]
            assert isinstance(message["token_count"], int)
            assert isinstance(message["metadata"], dict)

    def test_the_snapshot_struct_matches_the_file(
        self, log: EventLog, projections: Projections
    ) -> None:
        sid = make_golden_session(log)
        snap = whole_snapshot(projections, sid)
        encoded = msgspec.json.format(msgspec.json.encode(snap), indent=2) + b"\n"
        assert encoded == projections.snapshot_json(sid)
        assert projections.session_meta(sid) == snap.metadata

    def test_the_index_holds_the_seed_metadata_of_every_session(
        self, log: EventLog, projections: Projections, home: Path
    ) -> None:
        sid = make_golden_session(log)
        listed = projections.list_sessions()
        projections.write_views()
        on_disk = json.loads((home / "index.json").read_text())
        assert on_disk == [json.loads(GOLDEN_SNAPSHOT)["metadata"]]
        assert listed == [projections.session_meta(sid)]


class TestSeedMarkdown:
    def test_the_markdown_export_is_the_seed_format(
        self, log: EventLog, projections: Projections
    ) -> None:
        assert projections.markdown(make_golden_session(log)) == GOLDEN_MARKDOWN

    def test_markdown_times_are_utc_whatever_the_machines_timezone(
        self, log: EventLog, projections: Projections, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import time

        sid = make_golden_session(log)
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        try:
            assert projections.markdown(sid) == GOLDEN_MARKDOWN
        finally:
            monkeypatch.undo()
            time.tzset()

    def test_a_session_without_title_or_user_message_is_an_untitled_session(
        self, log: EventLog, projections: Projections
    ) -> None:
        sid = log.create_session(ts="2025-10-04T15:08:08+00:00")
        log.append(sid, "assistant", "Hello!", ts="2025-10-04T15:08:09+00:00")
        text = projections.markdown(sid)
        assert text.startswith("# Untitled Session\n\n**Session ID:** ")
        assert projections.session_meta(sid).title is None


class TestTitles:
    def test_the_first_user_message_becomes_the_title_as_one_line_of_at_most_60_chars(
        self,
    ) -> None:
        long = "  Explain   the difference between\tprocesses and threads in Python, " * 2
        title = title_projection.derive_title("\n\n" + long + "\nsecond line")
        assert title is not None
        assert len(title) <= 60
        assert "\n" not in title and "\t" not in title and "  " not in title
        assert title.startswith("Explain the difference between processes")
        assert title.endswith("…")

    def test_a_short_first_line_is_kept_whole(self) -> None:
        assert title_projection.derive_title("Fix my regex\nit fails on tabs") == "Fix my regex"

    def test_blank_messages_give_no_title(self) -> None:
        assert title_projection.derive_title(" \n\t\n") is None

    def test_a_set_title_wins_and_clearing_it_shows_the_first_message_again(self) -> None:
        ts = "2025-01-01T00:00:00+00:00"
        events: list[AnyEvent] = [
            SessionCreated(seq=1, ts=ts, session_id=SID),
            Message(seq=2, ts=ts, role="assistant", content="Hi, how can I help?"),
            Message(seq=3, ts=ts, role="user", content="   "),
            Message(seq=4, ts=ts, role="user", content="Why is my build slow?"),
            SessionTitled(seq=5, ts=ts, title="Build times"),
            Message(seq=6, ts=ts, role="user", content="Another question"),
        ]
        state = fold_all(events[:4])
        assert state is not None and state.title == "Why is my build slow?"
        state = fold_all(events)
        assert state is not None and state.title == "Build times"
        cleared = session_fold.apply(state, SessionTitled(seq=7, ts=ts, title=""), SID)
        assert cleared.title == "Why is my build slow?"

    def test_titles_and_tags_set_through_the_log_show_in_the_index(
        self, log: EventLog, projections: Projections
    ) -> None:
        sid = log.create_session(title="First", tags=["a"])
        log.set_title(sid, "Second")
        log.add_tag(sid, "b")
        log.add_tag(sid, "c")
        log.remove_tag(sid, "a")
        meta = projections.session_meta(sid)
        assert meta.title == "Second"
        assert meta.tags == ["b", "c"]


class TestFoldsArePure:
    def test_folding_never_changes_the_previous_state(self) -> None:
        ts = "2025-01-01T00:00:00+00:00"
        first = session_fold.apply(None, SessionCreated(seq=1, ts=ts, session_id=SID), SID)
        before = msgspec.json.encode(first)
        second = session_fold.apply(
            first, Message(seq=2, ts=ts, role="user", content="hi", token_count=3), SID
        )
        assert msgspec.json.encode(first) == before
        assert first.message_count == 0 and second.message_count == 1
        assert second.total_tokens == 3

    def test_the_index_orders_by_update_instant_not_by_string(
        self, log: EventLog, projections: Projections
    ) -> None:
        for sid, updated in [
            ("2025-01-01_000001", "2025-01-01T10:00:00+00:00"),
            ("2025-01-01_000002", "2025-01-01T11:30:00+02:00"),  # 09:30 UTC: oldest
            ("2025-01-01_000003", "2025-01-01T10:00:01"),  # naive counts as UTC
        ]:
            log.create_session(session_id=sid, ts=updated)
        ordered = [m.session_id for m in projections.list_sessions()]
        assert ordered == ["2025-01-01_000003", "2025-01-01_000001", "2025-01-01_000002"]

    def test_the_index_view_is_the_listing_one_session_per_line(
        self, log: EventLog, projections: Projections
    ) -> None:
        for i in range(1, 6):
            log.create_session(session_id=f"2025-01-01_00000{i}", ts=f"2025-01-0{i}T00:00:00+00:00")
        data = b"".join(projections.index_chunks())
        listed = projections.list_sessions()
        assert msgspec.json.decode(data, type=list[SessionMeta]) == listed
        assert data.count(b"\n") == len(listed) + 2
        assert b"".join(views.index_chunks([])) == b"[\n]\n"


_text = st.text(max_size=30)
_messages = st.lists(
    st.builds(
        SnapshotMessage,
        role=st.sampled_from(["user", "assistant", "system", "tool"]),
        content=_text,
        timestamp=_text,
        token_count=st.integers(0, 10**9),
        metadata=st.dictionaries(_text, st.one_of(_text, st.integers(), st.lists(_text))),
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(
    messages=_messages,
    tags=st.lists(_text, max_size=3),
    title=st.one_of(st.none(), _text),
)
def test_a_streamed_session_file_equals_encoding_it_whole(
    messages: list[SnapshotMessage], tags: list[str], title: str | None
) -> None:
    meta = SessionMeta(SID, "c", "u", len(messages), 7, title, tags)
    whole = (
        msgspec.json.format(msgspec.json.encode(SessionSnapshot(meta, messages)), indent=2) + b"\n"
    )
    assert b"".join(views.snapshot_chunks(meta, messages)) == whole


def test_an_empty_home_lists_no_sessions(projections: Projections, home: Path) -> None:
    assert projections.list_sessions() == []
    projections.write_views()
    assert json.loads((home / "index.json").read_text()) == []


def test_markdown_renders_from_a_snapshot_alone(log: EventLog, projections: Projections) -> None:
    sid = make_golden_session(log)
    assert render(whole_snapshot(projections, sid)) == projections.markdown(sid)


class TestMetadataReads:
    def test_session_meta_equals_the_snapshots_metadata(
        self, log: EventLog, projections: Projections
    ) -> None:
        sid = make_golden_session(log)
        log.set_title(sid, 'A title with "quotes",\n  },\n  "messages": [ inside')
        assert projections.session_meta(sid) == whole_snapshot(projections, sid).metadata
