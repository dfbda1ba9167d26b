"""The conversation tree: forks at any event, the view of a session as of any event, and
a family of forks that stays whole whatever happens to a parent. History is never
edited, only extended."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eventlog import EventLog, Message, SessionForked
from projections import Projections
from tests.conftest import run_chatlog


class ForksNeverRewriteHistory(RuleBasedStateMachine):
    """Random appends to any branch and forks at random seqs of any branch."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.log = EventLog(Path(self.tmp.name) / "home", fsync="never")
        self.projections = Projections(self.log, durable=False)
        root = self.log.create_session(title="root")
        self.sessions = [root]
        self.expected: dict[str, list[str]] = {root: []}  # messages each branch must hold
        self.sizes: dict[str, bytes] = {}

    def teardown(self) -> None:
        self.projections.close()
        self.log.close()
        self.tmp.cleanup()

    @rule(which=st.integers(0, 50), text=st.text(max_size=20))
    def append(self, which: int, text: str) -> None:
        sid = self.sessions[which % len(self.sessions)]
        self.log.append(sid, "user", text)
        self.expected[sid].append(text)

    @precondition(lambda self: len(self.sessions) < 8)
    @rule(
        which=st.integers(0, 50),
        at=st.integers(1, 60),
        title=st.none() | st.text(max_size=8).filter(lambda t: "\x00" not in t),
    )
    def fork(self, which: int, at: int, title: str | None) -> None:
        parent = self.sessions[which % len(self.sessions)]
        events = list(self.log.read(parent))
        at = min(at, events[-1].seq)
        fork = self.log.fork_session(parent, at, title=title)
        self.sessions.append(fork)
        prefix = [e.content for e in events if isinstance(e, Message) and e.seq <= at]
        self.expected[fork] = prefix
        (last,) = [e for e in self.log.read(fork) if isinstance(e, SessionForked)][-1:]
        assert (last.parent, last.parent_seq) == (parent, at)

    @rule(which=st.integers(0, 50), at=st.integers(1, 60))
    def show_at(self, which: int, at: int) -> None:
        sid = self.sessions[which % len(self.sessions)]
        events = list(self.log.read(sid))
        at = min(at, events[-1].seq)
        meta, messages = self.projections.messages_at(sid, at)
        shown = [m.content for m in messages]
        assert shown == [e.content for e in events if isinstance(e, Message) and e.seq <= at]
        assert meta.message_count == len(shown)

    @invariant()
    def logs_only_grow_and_forks_hold_their_prefix(self) -> None:
        for sid in self.sessions:
            data = self.log.layout.log_path(sid).read_bytes()
            before = self.sizes.get(sid, b"")
            assert data.startswith(before), f"{sid} was rewritten"
            self.sizes[sid] = data
            held = [e.content for e in self.log.read(sid) if isinstance(e, Message)]
            assert held == self.expected[sid]


ForksNeverRewriteHistory.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_forks_never_rewrite_history = ForksNeverRewriteHistory.TestCase


def ok(*args: str) -> str:
    result = run_chatlog(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_fork_show_at_tree_and_list_through_the_command_line(home: Path) -> None:
    sid = ok("new", "--title", "Trip").strip()
    for text in ("where to go", "Lisbon", "what to eat"):
        run_chatlog("append", sid, "--role", "user", input=text)
    fork = ok("fork", sid, "--at", "3", "--title", "Porto instead").strip()
    run_chatlog("append", fork, "--role", "user", input="Porto?")
    assert [m["content"] for m in json.loads(ok("show", fork, "--json"))["messages"]] == [
        "where to go",
        "Lisbon",
        "Porto?",
    ]
    as_of = json.loads(ok("show", sid, "--at", "2", "--json"))
    assert [m["content"] for m in as_of["messages"]] == ["where to go"]
    assert as_of["metadata"]["message_count"] == 1
    listed = {m["session_id"]: m for m in json.loads(ok("list", "--json"))}
    assert listed[fork]["forked_from"] == {"session_id": sid, "seq": 3}
    assert "forked_from" not in listed[sid]
    assert f"fork of {sid[-6:]} at #3" in ok("list")
    family = json.loads(ok("tree", fork, "--json"))
    assert [(n["session_id"], n["parent"], n["parent_seq"]) for n in family] == [
        (sid, None, None),
        (fork, sid, 3),
    ]
    text = ok("tree", sid)
    assert "Trip" in text and "at #3 Porto instead" in text
    bad = run_chatlog("fork", sid, "--at", "99")
    assert bad.returncode == 2 and "\n" not in bad.stderr.strip()
    bad = run_chatlog("show", sid, "--at", "99")
    assert bad.returncode == 2


def test_a_fork_stays_whole_when_its_parent_is_deleted_or_archived(home: Path) -> None:
    sid = ok("new", "--title", "parent").strip()
    run_chatlog("append", sid, "--role", "user", input="shared beginning")
    fork = ok("fork", sid).strip()
    other = ok("fork", sid, "--title", "second fork").strip()
    run_chatlog("append", sid, "--role", "user", input="only in the parent")
    ok("delete", sid)
    shown = json.loads(ok("show", fork, "--json"))
    assert [m["content"] for m in shown["messages"]] == ["shared beginning"]
    assert json.loads(ok("tree", other, "--json"))[0]["session_id"] == other
    assert "only in the parent" not in ok("search", "parent")


def test_show_and_export_at_a_seq_never_show_a_message_redacted_since(home: Path) -> None:
    sid = ok("new").strip()  # untitled: its title comes from the first message
    run_chatlog("append", sid, "--role", "user", input="the code is 4921-7730")
    run_chatlog("append", sid, "--role", "user", input="harmless")
    ok("redact", sid, "2")
    for args in (
        ("show", sid, "--at", "2", "--json"),
        ("show", sid, "--at", "3", "--no-pager"),
        ("export", sid, "--at", "2"),
        ("export", sid, "--at", "3", "--format", "json"),
    ):
        out = ok(*args)
        assert "4921-7730" not in out, args
        assert "REDACTED" in out, args


def test_export_at_a_seq_is_the_session_as_it_was_then(home: Path) -> None:
    sid = ok("new", "--title", "Then").strip()
    for text in ("first", "second"):
        run_chatlog("append", sid, "--role", "user", input=text)
    ok("title", sid, "Now")
    as_json = json.loads(ok("export", sid, "--at", "2", "--format", "json"))
    assert as_json == json.loads(ok("show", sid, "--at", "2", "--json"))
    assert [m["content"] for m in as_json["messages"]] == ["first"]
    markdown = ok("export", sid, "--at", "3")
    assert markdown.startswith("# Then\n") and "second" in markdown
    bad = run_chatlog("export", sid, "--at", "5")
    assert bad.returncode == 2 and "1 to 4" in bad.stderr
