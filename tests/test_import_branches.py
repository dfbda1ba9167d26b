"""Importing branched conversations as forks: every branch of a ChatGPT conversation, a
Claude Code rewind, an llm thread forked from another. Each branch is a chatlog fork of
the session it leaves, at the seq of the last message they share, holding its whole path;
re-imports add nothing but new branches; a fork stays whole when its parent is deleted."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.importers.chatgpt import parse_export
from cli.importers.claude_code import parse_transcript
from cli.importers.llm_db import parse_database
from cli.importers.records import MAX_BRANCHES
from cli.importers.run import Import
from eventlog import EventLog, Message, SessionCreated, SessionForked
from tests.conftest import SHARED_TESTDATA, run_chatlog
from tests.test_import_fixtures import (
    LLM_CONVERSATION,
    cc_assistant,
    cc_user,
    gpt_conversation,
    gpt_node,
    import_twice_at_once,
    text,
    tree_snapshot,
    write_json,
    write_jsonl,
    write_llm_logs,
)
from tests.test_import_real_sources import kill_when_written

EXAMPLE = SHARED_TESTDATA / "chatgpt" / "example-conversation.json"
REAL_CC = SHARED_TESTDATA / "claude-code"
T0 = 1_718_000_000.0


class Stored:
    """One session as the home holds it."""

    def __init__(self, session_id: str, events: list[Any]) -> None:
        self.session_id = session_id
        header = events[0]
        assert isinstance(header, SessionCreated)
        self.key: str | None = header.metadata.get("import", {}).get("key")
        # a fork of a fork holds a copy of its parent's session_forked: the last one is its own
        forked = [e for e in events if isinstance(e, SessionForked)]
        self.parent = forked[-1].parent if forked else None
        self.parent_seq = forked[-1].parent_seq if forked else 0
        self.messages = [e for e in events if isinstance(e, Message)]

    @property
    def ids(self) -> list[str]:
        return [str(m.metadata.get("source_id")) for m in self.messages]

    def own(self) -> list[Message]:
        """The messages after its fork point (all of them for a session of its own)."""
        return [m for m in self.messages if m.seq > self.parent_seq]


def stored(home: Path) -> dict[str, Stored]:
    """Every session of ``home`` by id."""
    with EventLog(home) as log:
        return {sid: Stored(sid, list(log.read(sid))) for sid in log.session_ids()}


def by_key(home: Path) -> dict[str | None, Stored]:
    return {s.key: s for s in stored(home).values()}


def assert_forks_hold_their_parents_prefix(sessions: dict[str, Stored]) -> None:
    """Each fork's messages up to its fork point are its parent's, and it leaves the
    parent exactly there (its first message of its own is not the parent's next)."""
    for session in sessions.values():
        if session.parent is None:
            continue
        parent = sessions[session.parent]
        shared = [m for m in parent.messages if m.seq <= session.parent_seq]
        copied = [m for m in session.messages if m.seq <= session.parent_seq]
        assert [(m.seq, m.role, m.content) for m in copied] == [
            (m.seq, m.role, m.content) for m in shared
        ]
        following = [m for m in parent.messages if m.seq > session.parent_seq]
        if following and session.own():
            assert session.own()[0].metadata.get("source_id") != following[0].metadata.get(
                "source_id"
            )


def log_bytes(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((home / "events").glob("*.jsonl"))}


# ---------------------------------------------------------------- ChatGPT, the real export


needs_example = pytest.mark.skipif(
    not EXAMPLE.exists(), reason=f"example export not found at {EXAMPLE}"
)


def example_paths() -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The example's conversation and, for each leaf, its path's non-empty node ids (read
    with the json module)."""
    (raw,) = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    mapping = raw["mapping"]
    paths: dict[str, list[str]] = {}
    for leaf, node in mapping.items():
        if node["children"]:
            continue
        path: list[str] = []
        current = leaf
        while current is not None:
            if "".join(mapping[current]["message"]["content"]["parts"]):
                path.append(current)
            current = mapping[current]["parent"]
        paths[leaf] = path[::-1]
    return raw, paths


@needs_example
def test_every_branch_of_the_real_export_is_imported_as_a_fork_at_its_divergence(
    home: Path,
) -> None:
    raw, paths = example_paths()
    assert len(paths) == 2  # the example really branches
    result = run_chatlog("import", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["sessions"]["imported"] == 2
    first, second = paths.values()
    shared = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    distinct = {node for path in paths.values() for node in path}
    assert summary["messages"] == summary["source_messages"] == len(distinct)

    sessions = by_key(home)
    main = sessions[f"chatgpt:{raw['id']}"]
    assert main.parent is None
    assert main.ids == paths[raw["current_node"]]
    (other_leaf,) = set(paths) - {raw["current_node"]}
    fork = sessions[f"chatgpt:{raw['id']}#{paths[other_leaf][shared]}"]
    assert fork.ids == paths[other_leaf]
    assert fork.parent == main.session_id
    assert fork.parent_seq == main.messages[shared - 1].seq  # the last message they share
    assert [m.metadata["source_id"] for m in fork.own()] == paths[other_leaf][shared:]
    assert_forks_hold_their_parents_prefix(stored(home))

    # `list` and `tree` show the family
    listed = {s["session_id"]: s for s in json.loads(run_chatlog("list", "--json").stdout)}
    assert listed[fork.session_id]["forked_from"] == {
        "session_id": main.session_id,
        "seq": fork.parent_seq,
    }
    assert "forked_from" not in listed[main.session_id]
    tree = json.loads(run_chatlog("tree", fork.session_id, "--json").stdout)
    assert [(n["session_id"], n["parent"], n["parent_seq"], n["depth"]) for n in tree] == [
        (main.session_id, None, None, 0),
        (fork.session_id, main.session_id, fork.parent_seq, 1),
    ]
    shown = run_chatlog("tree", main.session_id).stdout
    assert f"at #{fork.parent_seq}" in shown


@needs_example
def test_re_importing_the_real_export_adds_nothing_and_a_new_branch_adds_just_its_fork(
    tmp_path: Path, home: Path
) -> None:
    assert run_chatlog("import", str(EXAMPLE)).returncode == 0
    before = log_bytes(home)
    again = json.loads(run_chatlog("import", str(EXAMPLE), "--json").stdout)
    assert (again["sessions"]["present"], again["messages"]) == (2, 0)
    assert log_bytes(home) == before

    # the user regenerated the answer to msg-4 after the export was taken
    raw, _paths = example_paths()
    grown = copy.deepcopy(raw)
    grown["mapping"]["msg-4"]["children"].append("msg-7")
    regenerated = copy.deepcopy(grown["mapping"]["msg-6"])
    regenerated.update(id="msg-7", parent="msg-4", children=[])
    regenerated["message"].update(id="msg-7", create_time=1704067600)
    regenerated["message"]["content"]["parts"] = ["Use `function name() {}`."]
    grown["mapping"]["msg-7"] = regenerated
    export = write_json(tmp_path / "conversations.json", [grown])

    summary = json.loads(run_chatlog("import", str(export), "--json").stdout)
    assert (summary["sessions"]["imported"], summary["sessions"]["present"]) == (1, 2)
    assert summary["messages"] == 1
    after = log_bytes(home)
    assert {name: after[name] for name in before} == before  # nothing else touched
    sessions = by_key(home)
    main = sessions["chatgpt:conv-123"]
    new = sessions["chatgpt:conv-123#msg-7"]
    assert (new.parent, new.parent_seq) == (main.session_id, main.messages[2].seq)
    assert [m.content for m in new.own()] == ["Use `function name() {}`."]
    assert new.ids == ["msg-2", "msg-3", "msg-4", "msg-7"]


@needs_example
def test_a_dry_run_of_a_branched_export_counts_each_branch_and_its_own_messages(
    home: Path,
) -> None:
    dry = json.loads(run_chatlog("import", str(EXAMPLE), "--dry-run", "--json").stdout)
    real = json.loads(run_chatlog("import", str(EXAMPLE), "--json").stdout)
    assert (dry["sessions"]["imported"], dry["messages"]) == (
        real["sessions"]["imported"],
        real["messages"],
    )


@needs_example
def test_a_fork_stays_whole_when_the_session_it_came_from_is_deleted(home: Path) -> None:
    assert run_chatlog("import", str(EXAMPLE)).returncode == 0
    sessions = by_key(home)
    main = sessions["chatgpt:conv-123"]
    (fork,) = [s for s in sessions.values() if s.parent is not None]
    expected = [(m.role, m.content) for m in fork.messages]
    assert run_chatlog("delete", main.session_id).returncode == 0
    shown = json.loads(run_chatlog("show", fork.session_id, "--json").stdout)
    assert [(m["role"], m["content"]) for m in shown["messages"]] == expected
    assert len(expected) == 3
    # importing again brings the deleted session back; the fork is left as it is
    fork_log = log_bytes(home)
    again = json.loads(run_chatlog("import", str(EXAMPLE), "--json").stdout)
    assert (again["sessions"]["imported"], again["sessions"]["present"]) == (1, 1)
    assert log_bytes(home)[f"{fork.session_id}.jsonl"] == fork_log[f"{fork.session_id}.jsonl"]
    assert sorted(s.ids for s in by_key(home).values()) == sorted([main.ids, fork.ids])


@needs_example
def test_an_export_whose_active_branch_changed_is_neither_a_conflict_nor_duplicated(
    tmp_path: Path, home: Path
) -> None:
    assert run_chatlog("import", str(EXAMPLE)).returncode == 0
    raw, _paths = example_paths()
    switched = copy.deepcopy(raw)
    switched["current_node"] = "msg-5"  # the user went back to the other branch
    export = write_json(tmp_path / "conversations.json", [switched])
    before = log_bytes(home)
    summary = json.loads(run_chatlog("import", str(export), "--json").stdout)
    assert summary["sessions"] == {"imported": 0, "completed": 0, "present": 2, "conflict": 0}
    assert log_bytes(home) == before


# ---------------------------------------------------------------- ChatGPT, random trees


Shape = tuple[list[int | None], list[str], int]  # each node's parent, its kind, active leaf


def shape_conversation(shape: Shape) -> tuple[dict[str, Any], list[list[str]]]:
    """The ChatGPT conversation of a tree shape, and each leaf's path of messages (its
    non-empty, non-hidden nodes), the active leaf's first."""
    parents, kinds, active = shape
    children: dict[int, list[int]] = {i: [] for i in range(len(parents))}
    depth = [0] * len(parents)
    for i, parent in enumerate(parents):
        if parent is not None:
            children[parent].append(i)
            depth[i] = depth[parent] + 1
    nodes = []
    for i, parent in enumerate(parents):
        role = "user" if depth[i] % 2 == 0 else "assistant"
        metadata = {"is_visually_hidden_from_conversation": True} if kinds[i] == "hidden" else {}
        parts = [""] if kinds[i] == "empty" else [f"{role} {i}"]
        nodes.append(
            gpt_node(
                f"n{i}",
                None if parent is None else f"n{parent}",
                [f"n{c}" for c in children[i]],
                role,
                parts,
                T0 + i,
                metadata=metadata,
            )
        )
    leaves = [active] + [i for i in range(len(parents)) if not children[i] and i != active]
    paths = []
    for leaf in leaves:
        path: list[str] = []
        node: int | None = leaf
        while node is not None:
            if kinds[node] == "text":
                path.append(f"n{node}")
            node = parents[node]
        paths.append(path[::-1])
    return gpt_conversation("tree", nodes, f"n{active}", title="A tree"), paths


KINDS = st.sampled_from(["text", "text", "text", "empty", "hidden"])


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    """A tree (each node's parent drawn among the nodes before it, some nodes empty or
    hidden) with a random active leaf."""
    size = draw(st.integers(min_value=1, max_value=14))
    parents: list[int | None] = [None] + [draw(st.integers(0, i - 1)) for i in range(1, size)]
    kinds = [draw(KINDS) for _ in parents]
    leaves = [i for i in range(size) if i not in parents]
    return parents, kinds, draw(st.sampled_from(leaves))


def import_tree(directory: Path, shape: Shape) -> tuple[Path, Any, list[list[str]]]:
    conversation, paths = shape_conversation(shape)
    export = write_json(directory / "conversations.json", [conversation])
    home = directory / "home"
    return home, Import(export, home, redact_secrets=False).run(), paths


def assert_every_leaf_is_held(home: Path, paths: list[list[str]]) -> dict[str, Stored]:
    """Each leaf's path is one session's messages, exactly, or (when the leaf adds no
    message of its own) a prefix of one; the forks hold their parents' prefixes."""
    sessions = stored(home)
    held = [s.ids for s in sessions.values()]
    for path in paths:
        longer = any(len(other) > len(path) and other[: len(path)] == path for other in paths)
        assert path in held or longer
    assert_forks_hold_their_parents_prefix(sessions)
    return sessions


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes())
def test_every_leaf_of_a_random_tree_is_one_sessions_whole_path(shape: Shape) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home, summary, paths = import_tree(Path(tmp), shape)
        export = Path(tmp) / "conversations.json"
        assert summary.count("conflict") == 0
        sessions = assert_every_leaf_is_held(home, paths)
        # the active path is the main session, exactly
        main = by_key(home)["chatgpt:tree"]
        assert (main.parent, main.ids) == (None, paths[0])
        # one session per distinct branch: the main one and the leaves no other extends
        wanted = {tuple(paths[0])} | {
            tuple(p) for p in paths if not any(len(o) > len(p) and o[: len(p)] == p for o in paths)
        }
        assert sorted(tuple(s.ids) for s in sessions.values()) == sorted(wanted)
        # a fork's own messages are only its own: the family holds each message once
        own = [m.metadata["source_id"] for s in sessions.values() for m in s.own()]
        assert sorted(own) == sorted({node for path in paths for node in path})
        # importing again writes nothing
        before = log_bytes(home)
        again = Import(export, home, redact_secrets=False).run()
        assert again.count("present") == len(sessions) and again.messages == 0
        assert log_bytes(home) == before


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes(), data=st.data())
def test_a_node_added_to_a_random_tree_adds_one_fork_or_one_message_and_touches_nothing_else(
    shape: Shape, data: st.DataObject
) -> None:
    parents, kinds, active = shape
    parent = data.draw(st.integers(0, len(parents) - 1), label="new node's parent")
    kind = data.draw(KINDS, label="new node's kind")
    # continuing the active branch moves ChatGPT's current_node along
    grown: Shape = (
        [*parents, parent],
        [*kinds, kind],
        len(parents) if parent == active else active,
    )
    with tempfile.TemporaryDirectory() as tmp:
        home, _summary, _paths = import_tree(Path(tmp), shape)
        before = log_bytes(home)
        _home, summary, paths = import_tree(Path(tmp), grown)
        assert summary.count("conflict") == 0 and summary.messages <= 1
        after = log_bytes(home)
        changed = [name for name in before if after[name] != before[name]]
        new = set(after) - set(before)
        assert len(changed) + len(new) <= 1
        for name in changed:  # a branch that grew: only appended to
            assert after[name].startswith(before[name])
        assert_every_leaf_is_held(home, paths)


def test_a_conversation_with_more_branches_than_the_limit_imports_the_first_ones(
    tmp_path: Path,
) -> None:
    regenerated = MAX_BRANCHES + 44
    nodes = [gpt_node("q", None, [f"a{n}" for n in range(regenerated)], "user", ["q?"], T0)]
    nodes += [
        gpt_node(f"a{n}", "q", [], "assistant", [f"answer {n}"], T0 + n + 1)
        for n in range(regenerated)
    ]
    export = write_json(tmp_path / "c.json", [gpt_conversation("many", nodes, "a0")])
    parsed = parse_export(export.read_bytes(), str(export))
    assert len(parsed.conversations) == MAX_BRANCHES
    assert [s.reason for s in parsed.skipped] == [f"branch over {MAX_BRANCHES}"] * 44
    assert [c.messages[-1].content for c in parsed.conversations] == [
        f"answer {n}" for n in range(MAX_BRANCHES)
    ]


def branched_export(path: Path, count: int) -> Path:
    """``count`` conversations of three branches each (an edited prompt and a regenerated
    answer)."""
    conversations = []
    for n in range(count):
        at = T0 + 600 * n
        nodes = [
            gpt_node(f"{n}-u1", None, [f"{n}-a1"], "user", [f"q{n}"], at),
            gpt_node(f"{n}-a1", f"{n}-u1", [f"{n}-u2", f"{n}-u2b"], "assistant", ["a"], at + 1),
            gpt_node(f"{n}-u2", f"{n}-a1", [f"{n}-a2", f"{n}-a2b"], "user", ["more"], at + 2),
            gpt_node(f"{n}-a2", f"{n}-u2", [], "assistant", ["first answer"], at + 3),
            gpt_node(f"{n}-a2b", f"{n}-u2", [], "assistant", ["regenerated"], at + 4),
            gpt_node(f"{n}-u2b", f"{n}-a1", [f"{n}-a3"], "user", ["edited"], at + 5),
            gpt_node(f"{n}-a3", f"{n}-u2b", [], "assistant", ["to the edit"], at + 6),
        ]
        conversations.append(gpt_conversation(f"c{n}", nodes, f"{n}-a2", title=f"chat {n}"))
    return write_json(path, conversations)


def family_contents(home: Path) -> dict[str | None, tuple[str, str | None, int, list[Any]]]:
    """What the import made, by key: id, parent, fork point and messages."""
    return {
        s.key: (
            s.session_id,
            s.parent,
            s.parent_seq,
            [(m.seq, m.role, m.content, m.ts, m.metadata) for m in s.messages],
        )
        for s in stored(home).values()
    }


def imported_cleanly(directory: Path, count: int) -> tuple[Path, Path]:
    """A branched export of ``count`` conversations, and a home it was imported into in
    one uninterrupted run (what every other way of importing it must end with)."""
    source = branched_export(directory / "conversations.json", count)
    clean = directory / "clean"
    Import(source, clean).run()
    return source, clean


def test_a_branched_import_killed_mid_way_is_completed_by_running_it_again(
    tmp_path: Path, home: Path
) -> None:
    count = 120
    source, clean = imported_cleanly(tmp_path, count)
    expected = family_contents(clean)
    assert len(expected) == 3 * count
    assert sum(1 for (_i, parent, _s, _m) in expected.values() if parent) == 2 * count

    logged = sum(p.stat().st_size for p in (clean / "events").glob("*.jsonl"))
    kill_when_written(source, home, logged // 3)

    rerun = Import(source, home).run()
    assert rerun.count("conflict") == 0
    assert family_contents(home) == expected
    assert Import(source, home).run().count("present") == 3 * count


def test_two_imports_of_a_branched_export_running_at_once_make_each_family_once(
    tmp_path: Path, home: Path
) -> None:
    count = 150
    source, clean = imported_cleanly(tmp_path, count)
    import_twice_at_once(source, home)
    # a branch is never forked from a session the other import had not finished
    assert family_contents(home) == family_contents(clean)
    assert Import(source, home).run().count("present") == 3 * count


# ---------------------------------------------------------------- Claude Code


needs_real_cc = pytest.mark.skipif(
    not REAL_CC.is_dir(), reason=f"real Claude Code transcripts not found at {REAL_CC}"
)
REAL_NAMES = ["258c7280-ae70-4798-800f-63464d01a85d", "8463c716-a2ea-4c14-9efa-87158ebd9f20"]


@needs_real_cc
@pytest.mark.parametrize("name", REAL_NAMES)
def test_the_real_transcripts_hold_no_rewind_and_import_as_one_session(name: str) -> None:
    """Every line of them with several children has a tool result or a bookkeeping line
    among them, never two prompts: nothing to fork."""
    path = REAL_CC / f"{name}.jsonl"
    lines = [json.loads(raw) for raw in path.read_text(encoding="utf-8").splitlines()]
    prompts: dict[str, int] = {}
    for line in lines:
        content = line.get("message", {}).get("content") if line.get("type") == "user" else None
        is_result = isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        )
        if content is not None and not is_result and not line.get("isMeta"):
            prompts[line["parentUuid"]] = prompts.get(line["parentUuid"], 0) + 1
    assert prompts and max(prompts.values()) == 1
    (conversation,) = parse_transcript(path.read_bytes(), str(path)).conversations
    assert conversation.family is None


def with_rewind(source: Path, target: Path) -> tuple[Path, str]:
    """The real transcript with a rewind added, as Claude Code writes one: the user went
    back to the last prompt (``did you push?``) and asked something else instead; the new
    prompt has the same parent as the one it replaces, then comes its answer."""
    lines = [json.loads(raw) for raw in source.read_text(encoding="utf-8").splitlines()]
    (replaced,) = [
        line
        for line in lines
        if line.get("type") == "user" and line["message"]["content"] == "did you push?"
    ]
    base = {k: replaced[k] for k in ("cwd", "sessionId", "version", "gitBranch")}
    prompt = cc_user(
        "rewind-u1", replaced["parentUuid"], "did the tests pass?", "2026-02-11T21:50:00.000Z"
    )
    answer = cc_assistant(
        "rewind-a1",
        "rewind-u1",
        "msg_rewind",
        [text("Yes, all of them.")],
        9,
        "2026-02-11T21:50:04.000Z",
    )
    return write_jsonl(target, [*lines, {**prompt, **base}, {**answer, **base}]), replaced["uuid"]


@needs_real_cc
def test_a_rewind_in_a_real_transcript_becomes_a_fork_at_the_prompt_it_replaced(
    tmp_path: Path, home: Path
) -> None:
    source = REAL_CC / f"{REAL_NAMES[0]}.jsonl"
    plain = tmp_path / "plain"
    Import(source, plain).run()
    (original,) = stored(plain).values()

    rewound, replaced = with_rewind(source, tmp_path / "projects" / "-p" / source.name)
    result = run_chatlog("import", str(rewound), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["sessions"]["imported"], summary["messages"]) == (
        2,
        len(original.messages) + 2,
    )
    sessions = by_key(home)
    main = sessions[original.key]
    # the conversation as first had is the main session, exactly as without the rewind
    assert [(m.seq, m.role, m.content) for m in main.messages] == [
        (m.seq, m.role, m.content) for m in original.messages
    ]
    fork = sessions[f"{original.key}#rewind-u1"]
    replaced_at = next(
        i for i, m in enumerate(main.messages) if m.metadata["source_id"] == replaced
    )
    assert (fork.parent, fork.parent_seq) == (main.session_id, main.messages[replaced_at - 1].seq)
    assert [(m.role, m.content, m.token_count) for m in fork.own()] == [
        ("user", "did the tests pass?", None),
        ("assistant", "Yes, all of them.", 9),
    ]
    assert_forks_hold_their_parents_prefix(stored(home))
    tree = run_chatlog("tree", main.session_id).stdout.splitlines()
    assert len(tree) == 2 and f"at #{fork.parent_seq}" in tree[1]
    again = json.loads(run_chatlog("import", str(rewound), "--json").stdout)
    assert (again["sessions"]["present"], again["messages"]) == (2, 0)


def test_a_transcript_imported_before_its_rewind_gets_the_new_branch_as_a_fork(
    tmp_path: Path, home: Path
) -> None:
    path = tmp_path / "projects" / "-p" / "s.jsonl"
    before = [
        cc_user("u1", None, "first question", "2025-03-01T12:00:01.000Z"),
        cc_assistant("a1", "u1", "msg_1", [text("first answer")], 4, "2025-03-01T12:00:02.000Z"),
        cc_user("u2", "a1", "a follow-up", "2025-03-01T12:00:03.000Z"),
        cc_assistant("a2", "u2", "msg_2", [text("its answer")], 5, "2025-03-01T12:00:04.000Z"),
    ]
    write_jsonl(path, before)
    Import(path, home).run()
    write_jsonl(
        path,
        [
            *before,
            cc_user("u3", "a1", "another follow-up", "2025-03-01T12:00:05.000Z"),
            cc_assistant(
                "a3", "u3", "msg_3", [text("other answer")], 6, "2025-03-01T12:00:06.000Z"
            ),
        ],
    )
    first = log_bytes(home)
    summary = Import(path, home).run()
    assert [(o.status, o.messages) for o in summary.outcomes] == [("present", 0), ("imported", 2)]
    assert {n: b for n, b in log_bytes(home).items() if n in first} == first
    sessions = by_key(home)
    main, fork = sessions["claude-code:cc-session-1"], sessions["claude-code:cc-session-1#u3"]
    assert (fork.parent, fork.parent_seq) == (main.session_id, 3)
    assert [m.content for m in fork.messages] == [
        "first question",
        "first answer",
        "another follow-up",
        "other answer",
    ]


def test_a_transcript_imported_whole_by_an_older_chatlog_gets_its_first_branch_as_a_fork(
    tmp_path: Path, home: Path
) -> None:
    """An older chatlog imported a rewound transcript as its last branch only: importing
    it again adds the first branch as a fork of that session, no conflict."""
    path = tmp_path / "projects" / "-p" / "s.jsonl"
    start = [
        cc_user("u1", None, "first question", "2025-03-01T12:00:01.000Z"),
        cc_assistant("a1", "u1", "msg_1", [text("first answer")], 4, "2025-03-01T12:00:02.000Z"),
    ]
    later = [
        cc_user("u3", "a1", "another follow-up", "2025-03-01T12:00:05.000Z"),
        cc_assistant("a3", "u3", "msg_3", [text("other answer")], 6, "2025-03-01T12:00:06.000Z"),
    ]
    write_jsonl(path, [*start, *later])  # what the older import kept: the last branch
    Import(path, home).run()
    first = log_bytes(home)
    write_jsonl(
        path,
        [
            *start,
            cc_user("u2", "a1", "a follow-up", "2025-03-01T12:00:03.000Z"),
            cc_assistant("a2", "u2", "msg_2", [text("its answer")], 5, "2025-03-01T12:00:04.000Z"),
            *later,
        ],
    )
    summary = Import(path, home).run()
    assert sorted((o.status, o.messages) for o in summary.outcomes) == [
        ("imported", 2),
        ("present", 0),
    ]
    assert {n: b for n, b in log_bytes(home).items() if n in first} == first
    sessions = by_key(home)
    old = sessions["claude-code:cc-session-1"]
    (fork,) = [s for s in sessions.values() if s.parent == old.session_id]
    assert fork.key == "claude-code:cc-session-1#u2"
    assert [m.content for m in fork.messages] == [
        "first question",
        "first answer",
        "a follow-up",
        "its answer",
    ]
    again = Import(path, home).run()
    assert {o.status for o in again.outcomes} == {"present"} and again.messages == 0


# ---------------------------------------------------------------- llm


LLM_FORK_SCRIPT = (
    LLM_CONVERSATION
    + """
from llm.logs import LogStore

store = LogStore(db)
(thread,) = [row["id"] for row in db.query("select id from threads")]
(first_answer,) = db.execute(
    "select answer.hash from messages answer join messages prompt "
    "on answer.parent_hash = prompt.hash join messages system on prompt.parent_hash = system.hash "
    "where answer.role = 'assistant' and system.role = 'system'"
).fetchone()
fork = store.fork(first_answer, name="the other way", forked_from=thread)
response = model.prompt("a different follow-up", messages=store.load_chain(first_answer))
response.text()
store.log(response, thread_id=fork)
"""
)


@pytest.fixture(scope="module")
def forked_logs_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logs.db written by the real llm library: a thread, and a thread forked from its
    first answer (``LogStore.fork``, ``forked_from``) that went on differently."""
    return write_llm_logs(tmp_path_factory.mktemp("llm-fork"), LLM_FORK_SCRIPT)


def test_an_llm_thread_forked_from_another_is_parsed_as_its_branch(forked_logs_db: Path) -> None:
    parsed = parse_database(forked_logs_db)
    assert not parsed.problems
    parent, fork = parsed.conversations
    assert parent.fork_of is None
    assert (fork.fork_of, fork.shared, fork.title) == (parent.key, 3, "the other way")
    assert fork.origin["forked_from"] == parent.key
    assert [m.metadata["source_id"] for m in fork.messages[:3]] == [
        m.metadata["source_id"] for m in parent.messages[:3]
    ]


def test_an_llm_fork_imports_as_a_chatlog_fork_of_its_imported_parent(
    forked_logs_db: Path, home: Path
) -> None:
    result = run_chatlog("import", str(forked_logs_db), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["sessions"]["imported"], summary["messages"]) == (2, 5 + 2)
    (parent,) = [s for s in stored(home).values() if s.parent is None]
    (fork,) = [s for s in stored(home).values() if s.parent is not None]
    assert (fork.parent, fork.parent_seq) == (parent.session_id, parent.messages[2].seq)
    assert [m.role for m in parent.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert fork.own()[0].content == "a different follow-up"
    assert_forks_hold_their_parents_prefix(stored(home))
    listed = json.loads(run_chatlog("list", "--json").stdout)
    titles = {s["session_id"]: s["title"] for s in listed}
    assert titles[fork.session_id] == "the other way"
    tree = json.loads(run_chatlog("tree", parent.session_id, "--json").stdout)
    assert [n["session_id"] for n in tree] == [parent.session_id, fork.session_id]
    snapshot = tree_snapshot(home / "events")
    again = json.loads(run_chatlog("import", str(forked_logs_db), "--json").stdout)
    assert (again["sessions"]["present"], again["messages"]) == (2, 0)
    assert tree_snapshot(home / "events") == snapshot
