"""Importing a ChatGPT export: the active branch of each mapping tree as its conversation
and every other branch after it, roles from author.role, text from content.parts; hidden,
empty and non-text items skipped with their reason; a truncated file imports nothing and
names the position. (How branches become forks: test_import_branches.py.)"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli.importers.chatgpt import parse_export
from cli.importers.records import ImportFormatError
from eventlog import EventLog
from tests.conftest import SHARED_TESTDATA, run_chatlog
from tests.test_import_fixtures import (
    gpt_conversation,
    gpt_node,
    only_session,
    sessions_by_key,
    simple_gpt_conversation,
    tree_snapshot,
    write_json,
)

EXAMPLE = SHARED_TESTDATA / "chatgpt" / "example-conversation.json"
T0 = 1_718_000_000.0


def branching_conversation() -> dict[str, Any]:
    """An edited prompt (two branches), a hidden system message, an image with text, a
    code-interpreter round trip and an image-only message on the active branch."""
    return gpt_conversation(
        "conv-branch",
        [
            gpt_node("root", None, ["sys"], None),
            gpt_node(
                "sys",
                "root",
                ["u1"],
                "system",
                [""],
                T0,
                metadata={"is_visually_hidden_from_conversation": True},
            ),
            gpt_node("u1", "sys", ["a1"], "user", ["Plot y = x^2"], T0 + 1),
            gpt_node(
                "a1",
                "u1",
                ["old-u2", "u2"],
                "assistant",
                None,
                T0 + 2,
                content={"content_type": "code", "language": "python", "text": "plot(x, x**2)"},
                recipient="python",
                metadata={"model_slug": "gpt-4o"},
            ),
            gpt_node("old-u2", "a1", ["old-a2"], "user", ["Make it red"], T0 + 3),
            gpt_node("old-a2", "old-u2", [], "assistant", ["Red it is."], T0 + 4),
            gpt_node(
                "u2",
                "a1",
                ["t1"],
                "user",
                [
                    {"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"},
                    "Make it blue",
                ],
                T0 + 5,
                content=None,
            ),
            gpt_node(
                "t1",
                "u2",
                ["a2"],
                "tool",
                None,
                T0 + 6,
                name="python",
                content={"content_type": "execution_output", "text": "<Figure>"},
            ),
            gpt_node(
                "a2",
                "t1",
                ["a3"],
                "assistant",
                ["Here it is in blue."],
                T0 + 7,
                metadata={"model_slug": "gpt-4o"},
            ),
            gpt_node(
                "a3",
                "a2",
                [],
                "assistant",
                [{"content_type": "image_asset_pointer", "asset_pointer": "file-service://y"}],
                T0 + 8,
                content={
                    "content_type": "multimodal_text",
                    "parts": [{"content_type": "image_asset_pointer"}],
                },
            ),
        ],
        "a3",
        title="Plotting",
        create_time=T0,
    )


def fix_multimodal(conversation: dict[str, Any]) -> dict[str, Any]:
    node = conversation["mapping"]["u2"]["message"]
    node["content"] = {"content_type": "multimodal_text", "parts": node["content"]["parts"]}
    return conversation


def missing_fields_conversation() -> dict[str, Any]:
    """No title, no create_time, no current_node, and an answer without a create_time."""
    return gpt_conversation(
        "conv-sparse",
        [
            gpt_node("r", None, ["m1"], None),
            gpt_node("m1", "r", ["m2"], "user", ["first"], T0 + 100),
            gpt_node("m2", "m1", [], "assistant", ["an answer without a time"], None),
        ],
        None,
        title=None,
        create_time=None,
    )


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_json(
        tmp_path / "export" / "conversations.json",
        [fix_multimodal(branching_conversation()), missing_fields_conversation()],
    )


def test_the_active_branch_is_the_conversation_with_roles_and_text(export: Path) -> None:
    parsed = parse_export(export.read_bytes(), str(export))
    plotting, edited = parsed.conversations[:2]
    assert [(m.role, m.content) for m in plotting.messages] == [
        ("user", "Plot y = x^2"),
        ("assistant", "plot(x, x**2)"),
        ("user", "Make it blue"),
        ("tool", "<Figure>"),
        ("assistant", "Here it is in blue."),
    ]
    assert plotting.title == "Plotting"
    assert plotting.key == "chatgpt:conv-branch"
    assert plotting.messages[1].metadata == {
        "source_id": "a1",
        "model": "gpt-4o",
        "recipient": "python",
        "content_type": "code",
    }
    assert plotting.messages[3].metadata["author_name"] == "python"
    assert plotting.messages[0].ts == "2024-06-10T06:13:21+00:00"
    # the prompt edited away is a branch of the same family, after the two shared messages
    assert [m.content for m in edited.messages] == [
        "Plot y = x^2",
        "plot(x, x**2)",
        "Make it red",
        "Red it is.",
    ]
    assert (edited.key, edited.family, edited.shared) == (
        "chatgpt:conv-branch#old-u2",
        "chatgpt:conv-branch",
        2,
    )
    assert plotting.family == "chatgpt:conv-branch"


def test_hidden_empty_and_non_text_items_are_skipped_with_their_reason(export: Path) -> None:
    parsed = parse_export(export.read_bytes(), str(export))
    reasons = Counter(s.reason for s in parsed.skipped if "conv-branch" in s.where)
    assert reasons == {
        "hidden message": 1,
        "non-text part (image_asset_pointer)": 2,
    }


def test_missing_title_current_node_and_times_fall_back_sensibly(export: Path) -> None:
    parsed = parse_export(export.read_bytes(), str(export))
    (sparse,) = [c for c in parsed.conversations if c.key == "chatgpt:conv-sparse"]
    assert sparse.title is None
    assert sparse.family is None  # one branch: a plain conversation
    assert [m.content for m in sparse.messages] == ["first", "an answer without a time"]
    # the answer takes the time of the message before it; the session the first message's
    assert [m.ts for m in sparse.messages] == ["2024-06-10T06:15:00+00:00"] * 2
    assert sparse.created_at == "2024-06-10T06:15:00+00:00"


def test_the_leaf_with_the_latest_time_is_taken_when_current_node_is_missing(
    tmp_path: Path,
) -> None:
    conversation = gpt_conversation(
        "c",
        [
            gpt_node("m1", None, ["m2", "m3"], "user", ["q"], T0),
            gpt_node("m2", "m1", [], "assistant", ["regenerated later"], T0 + 50),
            gpt_node("m3", "m1", [], "assistant", ["first try"], T0 + 10),
        ],
        None,
    )
    path = write_json(tmp_path / "c.json", [conversation])
    main, other = parse_export(path.read_bytes(), str(path)).conversations
    assert [m.content for m in main.messages] == ["q", "regenerated later"]
    assert [m.content for m in other.messages] == ["q", "first try"]


def test_a_truncated_export_imports_nothing_and_names_the_position(
    export: Path, home: Path
) -> None:
    with EventLog(home) as log:
        kept = log.create_session(title="already here")
        log.append(kept, "user", "keep me")
    before = tree_snapshot(home)
    data = export.read_bytes()
    export.write_bytes(data[: len(data) // 2])
    result = run_chatlog("import", str(export))
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    cut = len(data) // 2
    expected_line = data[:cut].count(b"\n") + 1
    assert line.startswith(
        f"chatlog: error: {export}: not valid JSON at byte {cut} (line {expected_line}, column "
    )
    assert line.endswith("nothing imported")
    assert tree_snapshot(home) == before


def test_malformed_json_names_the_byte_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_bytes(b'[\n  {"mapping": {}},\n  {"mapping": x}\n]\n')
    with pytest.raises(
        ImportFormatError, match=r"at byte 35 \(line 3, column 15\): invalid character"
    ):
        parse_export(path.read_bytes(), str(path))


def test_a_misshapen_conversation_is_reported_and_the_others_imported(
    tmp_path: Path, home: Path
) -> None:
    good = simple_gpt_conversation("good", "hello", "hi", T0)
    bad = simple_gpt_conversation("bad", "x", "y", T0)
    bad["mapping"] = ["not", "a", "mapping"]
    path = write_json(tmp_path / "conversations.json", [good, bad])
    result = run_chatlog("import", str(path), "--json")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"{path}: conversation #2 (bad): skipped:" in line
    assert "$.mapping" in line
    assert json.loads(result.stdout)["sessions"]["imported"] == 1
    assert list(sessions_by_key(home)) == ["chatgpt:good"]


def test_an_export_zip_is_read_without_unpacking(tmp_path: Path, home: Path) -> None:
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("chat.html", "<html></html>")
        z.writestr(
            "conversations.json", json.dumps([simple_gpt_conversation("z1", "zip?", "zip!", T0)])
        )
    result = run_chatlog("import", str(archive))
    assert result.returncode == 0, result.stderr
    header, messages = only_session(home)
    assert header.title == "About zip?"
    assert [m.content for m in messages] == ["zip?", "zip!"]


def test_a_claude_ai_export_given_as_chatgpt_is_refused_whole(tmp_path: Path) -> None:
    path = write_json(tmp_path / "conversations.json", [{"uuid": "u", "chat_messages": []}])
    result = run_chatlog("import", str(path), "--from", "chatgpt")
    assert result.returncode == 2
    assert "not a ChatGPT export (it looks like a Claude.ai export" in result.stderr


needs_example = pytest.mark.skipif(
    not EXAMPLE.exists(), reason=f"example export not found at {EXAMPLE}"
)


@needs_example
def test_the_real_example_imports_its_active_branch_as_the_main_session(home: Path) -> None:
    raw = json.loads(EXAMPLE.read_text(encoding="utf-8"))[0]
    branch: list[dict[str, Any]] = []
    node = raw["current_node"]
    while node is not None:
        branch.append(raw["mapping"][node])
        node = raw["mapping"][node]["parent"]
    branch.reverse()
    expected = [
        (n["message"]["author"]["role"], "".join(n["message"]["content"]["parts"]))
        for n in branch
        if "".join(n["message"]["content"]["parts"])
    ]
    off_branch = set(raw["mapping"]) - {n["id"] for n in branch}
    assert off_branch  # the example really has a branch

    result = run_chatlog("import", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "chatgpt"
    assert summary["sessions"]["imported"] == 2  # the active branch and the other one
    header, messages = sessions_by_key(home)["chatgpt:conv-123"]
    assert [(m.role, m.content) for m in messages] == expected
    assert header.title == raw["title"]
    assert header.ts == "2024-01-01T00:00:00+00:00"
    assert header.session_id.startswith("2024-01-01_000000_")
    assert header.metadata["import"]["original_id"] == raw["id"]
    assert {m.metadata["source_id"] for m in messages}.isdisjoint(off_branch)
