"""A stateful property test of the event log: whatever mix of appends, reopenings, torn
writes from crashed writers, concurrent writers, titles and tags happens, reading a
session back yields exactly the acknowledged events, in order, with seqs 1..n."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from eventlog import (
    ROLES,
    AnyEvent,
    EventLog,
    FsyncPolicy,
    Message,
    SeqConflictError,
    SessionCreated,
    SessionNotFoundError,
)
from eventlog.codec import encode_line
from tests.eventlog_helpers import assert_log_valid, quarantined

# Any text a user could type or paste: every plane, newlines included; no lone surrogates
# (they cannot be stored as UTF-8) and no NUL.
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=120)
one_line = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc"]),
    min_size=1,
    max_size=30,
).filter(str.strip)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
metadata = st.dictionaries(st.text(max_size=12), json_values, max_size=3)
token_counts = st.none() | st.integers(min_value=0, max_value=2**31)
policies: st.SearchStrategy[FsyncPolicy] = st.sampled_from(
    ["never", "never", "never", "interval", "always"]
)


class EventLogMachine(RuleBasedStateMachine):
    """The model: per session, the list of events the log acknowledged (returned)."""

    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="chatlog-stateful-"))
        self.home = self.tmp / "home"
        self.log = EventLog(self.home, fsync="never")
        self.model: dict[str, list[AnyEvent]] = {}
        # Bytes of torn writes not yet cut away, per session; once a writer has cut them,
        # they must be found in quarantine/.
        self.torn: dict[str, bytes] = {}
        self.expected_quarantine: list[bytes] = []

    def teardown(self) -> None:
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, sid: str) -> Path:
        return self.log.layout.log_path(sid)

    def acknowledged(self, sid: str, event: AnyEvent) -> None:
        assert event.seq == len(self.model[sid]) + 1
        self.model[sid].append(event)
        if sid in self.torn:  # the writer cut the torn tail before appending
            self.expected_quarantine.append(self.torn.pop(sid))

    # ---------------------------------------------------------------- rules

    @initialize(target=sessions)
    def first_session(self) -> str:
        return self.new_session(None, [])

    @rule(target=sessions, title=st.none() | one_line, tags=st.lists(one_line, max_size=3))
    def create(self, title: str | None, tags: list[str]) -> str:
        return self.new_session(title, tags)

    def new_session(self, title: str | None, tags: list[str]) -> str:
        sid = self.log.create_session(title=title, tags=tags)
        (created,) = self.log.read(sid)
        assert isinstance(created, SessionCreated)
        assert (created.seq, created.session_id, created.title) == (1, sid, title)
        assert list(created.tags) == list(dict.fromkeys(t.strip() for t in tags))
        self.model[sid] = [created]
        return sid

    @rule(
        sid=sessions,
        role=st.sampled_from(ROLES),
        content=texts,
        tokens=token_counts,
        meta=metadata,
    )
    def append(
        self, sid: str, role: str, content: str, tokens: int | None, meta: dict[str, Any]
    ) -> None:
        if sid not in self.model:
            return
        event = self.log.append(sid, role, content, token_count=tokens, metadata=meta)
        assert isinstance(event, Message)
        assert (event.role, event.content, event.token_count, event.metadata) == (
            role,
            content,
            tokens,
            meta,
        )
        self.acknowledged(sid, event)

    @rule(sid=sessions, content=texts)
    def append_with_the_right_expected_seq(self, sid: str, content: str) -> None:
        if sid not in self.model:
            return
        event = self.log.append(sid, "user", content, expected_seq=len(self.model[sid]))
        self.acknowledged(sid, event)

    @rule(sid=sessions, title=one_line)
    def set_title(self, sid: str, title: str) -> None:
        if sid in self.model:
            self.acknowledged(sid, self.log.set_title(sid, title))

    @rule(sid=sessions, tag=one_line, remove=st.booleans())
    def tag(self, sid: str, tag: str, remove: bool) -> None:
        if sid in self.model:
            change = self.log.remove_tag if remove else self.log.add_tag
            self.acknowledged(sid, change(sid, tag))

    @rule(policy=policies)
    def reopen(self, policy: FsyncPolicy) -> None:
        """Another process (or this one, restarted) opens the same home."""
        self.log.close()
        self.log = EventLog(self.home, fsync=policy, interval_ms=5)

    @rule(
        sid=sessions,
        how=st.sampled_from(["cut", "garbage", "zeros"]),
        content=texts,
        cut=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
        garbage=st.binary(min_size=1, max_size=40),
    )
    def crash_mid_write(self, sid: str, how: str, content: str, cut: float, garbage: bytes) -> None:
        """A writer died inside write(): the file ends with part of an unacknowledged
        line (cut at a random byte), garbage, or zeros (a power loss) — never a newline."""
        if sid not in self.model:
            return
        if how == "cut":
            seq = len(self.model[sid]) + 1
            line = encode_line(
                Message(seq=seq, ts="2025-01-01T00:00:00+00:00", role="user", content=content)
            )
            torn = line[: 1 + int(cut * (len(line) - 1))]  # 1 .. len-1 bytes: no newline
        elif how == "garbage":
            torn = garbage.replace(b"\n", b"?")
        else:
            torn = b"\x00" * len(garbage)
        assert b"\n" not in torn
        with open(self.path(sid), "ab") as file:
            file.write(torn)
        self.torn[sid] = self.torn.get(sid, b"") + torn

    @rule(sid=sessions, content=texts)
    def concurrent_writer_wins_the_race(self, sid: str, content: str) -> None:
        """A second EventLog appends; ours, still expecting the old seq, must get a
        conflict and write nothing."""
        if sid not in self.model:
            return
        stale = len(self.model[sid])
        with EventLog(self.home, fsync="never") as other:
            self.acknowledged(sid, other.append(sid, "assistant", content))
        before = self.path(sid).read_bytes()
        with pytest.raises(SeqConflictError) as conflict:
            self.log.append(sid, "user", content, expected_seq=stale)
        assert (conflict.value.expected_seq, conflict.value.actual_seq) == (stale, stale + 1)
        assert self.path(sid).read_bytes() == before

    @precondition(lambda self: len(self.model) > 1)
    @rule(sid=consumes(sessions))
    def delete(self, sid: str) -> None:
        if sid not in self.model:
            return
        self.log.delete_session(sid)
        del self.model[sid]
        self.torn.pop(sid, None)
        with pytest.raises(SessionNotFoundError):
            self.log.append(sid, "user", "into the void")

    # ---------------------------------------------------------------- invariants

    @invariant()
    def reading_back_yields_exactly_the_acknowledged_events(self) -> None:
        for sid, events in self.model.items():
            assert list(self.log.read(sid)) == events
            assert self.log.last_seq(sid) == len(events)
            scan = assert_log_valid(self.path(sid))
            assert [entry.event.seq for entry in scan.entries] == list(range(1, len(events) + 1))
            torn = self.torn.get(sid)
            assert (scan.torn.length if scan.torn else 0) == len(torn or b"")

    @invariant()
    def every_cut_torn_write_is_kept_in_quarantine(self) -> None:
        kept = quarantined(self.log)
        for torn in self.expected_quarantine:
            assert torn in kept


EventLogMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEventLogStateMachine = EventLogMachine.TestCase
