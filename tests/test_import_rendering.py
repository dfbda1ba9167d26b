"""How imported tool-heavy sessions read: a golden markdown export of a tool-heavy session,
the structure of whole real exports as a markdown parser sees it (one title, one heading
per message, nothing inside tool output turned into markup), rich rendering them, and the
pieces: fences, folding, diffs, call summaries and the terminal form of ``show``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from rich.console import Console
from rich.markdown import Markdown

from cli.importers.claude_code import parse_transcript
from cli.importers.inputs import iter_lines
from eventlog import EventLog
from projections.toolcalls import call_line, fence, markdown_body, nest_headings, terminal_body
from tests.conftest import run_chatlog
from tests.test_import_fixtures import CLAUDE_CODE_DIR, CODEX_ROLLOUT, DATA

GOLDEN = DATA / "golden" / "tool-heavy-session.md"
T0 = "2025-10-05T03:32:"


def tool_heavy_session(home: Path) -> str:
    """A session as the importers write one: reasoning, shell calls with exit codes, an
    edit with its old and new text, output holding backticks and markdown headings, long
    output, an error, and a call recorded before arguments were kept."""
    readme = "# Notes\n\n## Goal\nShip it.\n```sh\nmake test\n```\n"
    long_output = "\n".join(f"test_{n:02d} PASSED" for n in range(40))
    with EventLog(home) as log:
        sid = log.create_session(
            title="Fix the failing test", session_id="2025-10-05_033200_5e551a", ts=T0 + "00+00:00"
        )
        log.append(sid, "user", "Why does the build fail?", ts=T0 + "01+00:00")
        calls = [
            {
                "id": "call_1",
                "name": "shell",
                "arguments": {"command": ["bash", "-lc", "cat README.md"]},
            }
        ]
        log.append(
            sid,
            "assistant",
            "Let me look.\n[shell] cat README.md",
            token_count=42,
            metadata={"tool_calls": calls, "reasoning": "**Reading the notes**\n## first"},
            ts=T0 + "02+00:00",
        )
        log.append(
            sid,
            "tool",
            readme,
            metadata={"tool_call_id": "call_1", "tool_name": "shell", "exit_code": 0},
            ts=T0 + "03+00:00",
        )
        edit = {
            "file_path": "src/app.py",
            "old_string": "def total(xs):\n    return sum(xs) + 1\n",
            "new_string": "def total(xs):\n    return sum(xs)\n",
        }
        run = {"command": "pytest -q"}
        log.append(
            sid,
            "assistant",
            "The off-by-one is in `total`.\n[Edit] src/app.py\n[Bash] pytest -q",
            metadata={
                "tool_calls": [
                    {"id": "toolu_2", "name": "Edit", "arguments": edit},
                    {"id": "toolu_3", "name": "Bash", "arguments": run},
                ]
            },
            ts=T0 + "04+00:00",
        )
        log.append(
            sid,
            "tool",
            "The file src/app.py has been updated.",
            metadata={"tool_call_id": "toolu_2", "tool_name": "Edit"},
            ts=T0 + "05+00:00",
        )
        log.append(
            sid,
            "tool",
            long_output,
            metadata={"tool_call_id": "toolu_3", "tool_name": "Bash", "exit_code": 0},
            ts=T0 + "06+00:00",
        )
        log.append(
            sid,
            "assistant",
            'Checking the CI config.\n\n[tool_use: Read] {"file_path":".github/ci.yml"}',
            metadata={"tool_calls": [{"id": "toolu_4", "name": "Read"}]},
            ts=T0 + "07+00:00",
        )
        log.append(
            sid,
            "tool",
            "File does not exist.",
            metadata={"tool_call_id": "toolu_4", "tool_name": "Read", "is_error": True},
            ts=T0 + "08+00:00",
        )
        log.append(sid, "assistant", "Fixed: `total` no longer adds one.", ts=T0 + "09+00:00")
    return sid


def test_a_message_s_own_headings_nest_under_its_heading_outside_code() -> None:
    text = "## Summary\n\n```md\n## kept in code\n```\n###### deepest\n#hashtag"
    assert nest_headings(text) == (
        "#### Summary\n\n```md\n## kept in code\n```\n###### deepest\n#hashtag"
    )


def test_the_markdown_of_a_tool_heavy_session_matches_the_golden_file(home: Path) -> None:
    sid = tool_heavy_session(home)
    result = run_chatlog("export", sid)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GOLDEN.read_text()


def test_the_golden_markdown_renders_with_rich_as_a_document_with_one_heading_per_message() -> None:
    markdown = GOLDEN.read_text()
    assert [tag for tag, _text in headings(markdown)] == ["h1"] + ["h2"] * 9
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(Markdown(markdown))
    rendered = console.file.getvalue()  # type: ignore[attr-defined]
    assert "-    return sum(xs) + 1" in rendered
    assert "+    return sum(xs)" in rendered
    assert "## Goal" in rendered  # tool output stays text, not a heading


def import_and_export(source: Path, home: Path) -> list[str]:
    result = run_chatlog("import", str(source), "--json", home=home)
    assert result.returncode == 0, result.stderr
    exports = []
    for conversation in json.loads(result.stdout)["conversations"]:
        shown = run_chatlog("export", conversation["session_id"], home=home)
        assert shown.returncode == 0, shown.stderr
        exports.append(shown.stdout)
    return exports


def headings(markdown: str) -> list[tuple[str, str]]:
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    return [
        (token.tag, tokens[index + 1].content)
        for index, token in enumerate(tokens)
        if token.type == "heading_open"
    ]


@pytest.mark.parametrize("source", ["codex", "claude-code"])
def test_whole_real_exports_parse_as_one_title_and_one_heading_per_message(
    source: str, tmp_path: Path, home: Path
) -> None:
    path = CODEX_ROLLOUT if source == "codex" else CLAUDE_CODE_DIR
    for markdown in import_and_export(path, home):
        found = [(tag, text) for tag, text in headings(markdown) if tag in ("h1", "h2")]
        messages = int(markdown.split("**Messages:** ", 1)[1].split("\n", 1)[0])
        assert [tag for tag, _text in found] == ["h1"] + ["h2"] * messages
        assert all(text.endswith(" UTC]") for _tag, text in found[1:])
        console = Console(file=io.StringIO(), width=100, color_system=None)
        console.print(Markdown(markdown))
        rendered = console.file.getvalue()  # type: ignore[attr-defined]
        assert "🔧" in rendered


def first_edit_call() -> dict[str, object]:
    path = next(p for p in sorted(CLAUDE_CODE_DIR.glob("*.jsonl")))
    (conversation,) = parse_transcript(iter_lines(path), str(path)).conversations
    return next(
        call
        for message in conversation.messages
        for call in message.metadata.get("tool_calls", [])
        if call["name"] == "Edit"
    )


def test_an_edit_with_known_old_and_new_text_renders_as_a_diff() -> None:
    call = first_edit_call()
    arguments = call["arguments"]
    assert isinstance(arguments, dict)
    body = markdown_body("assistant", call_line("Edit", arguments), {"tool_calls": [call]})
    assert body.startswith(f"**🔧 Edit** `{arguments['file_path']}`")
    assert "```diff\n@@ " in body
    old_first = arguments["old_string"].splitlines()[0]
    new_lines = set(arguments["new_string"].splitlines())
    if old_first not in new_lines:
        assert f"\n-{old_first}\n" in body
    assert '"old_string"' not in body


def test_a_fence_is_longer_than_any_backtick_run_inside() -> None:
    assert fence("plain") == "```\nplain\n```"
    assert fence("a ``` b\n````", "md") == "`````md\na ``` b\n````\n`````"


def test_tool_output_is_fenced_and_folded_when_long_so_its_markup_stays_text() -> None:
    short = markdown_body("tool", "## Goal\nok", {"tool_call_id": "c1", "tool_name": "Read"})
    assert short == "**Read** result for `c1`\n\n```\n## Goal\nok\n```"
    long_output = "\n".join(f"line {n}" for n in range(30))
    folded = markdown_body("tool", long_output, {"tool_call_id": "c2", "exit_code": 0})
    assert folded.startswith("Result for `c2` · exit code 0\n\n<details><summary>Output (30")
    assert folded.endswith("line 29\n```\n\n</details>")
    assert headings(folded) == []


def test_reasoning_is_collapsed_and_the_calls_replace_their_text_lines() -> None:
    metadata = {
        "reasoning": "**Plan**\n## not a heading",
        "tool_calls": [{"id": "c1", "name": "shell", "arguments": {"command": ["ls", "-la"]}}],
    }
    body = markdown_body("assistant", "Looking.\n[shell] ls -la", metadata)
    assert body.split("\n\n") == [
        "<details><summary>💭 Reasoning</summary>",
        "```text\n**Plan**\n## not a heading\n```",
        "</details>",
        "Looking.",
        "**🔧 shell** `ls -la` <sub>`c1`</sub>",
    ]


def test_show_cuts_long_output_with_a_count_and_keeps_calls_on_one_line() -> None:
    output = "\n".join(f"row {n}" for n in range(50))
    text = terminal_body("tool", output, {"tool_call_id": "c9", "tool_name": "Bash"})
    lines = text.split("\n")
    assert lines[0] == "⏴ Bash result for c9"
    assert lines[1:9] == [f"    row {n}" for n in range(8)]
    assert lines[9] == "    … 42 more lines (chatlog export shows them all)"
    call = terminal_body(
        "assistant",
        "[Read] src/app.py",
        {"tool_calls": [{"id": "c1", "name": "Read", "arguments": {"file_path": "src/app.py"}}]},
    )
    assert call == "⏵ [Read] src/app.py"


def test_sessions_imported_before_arguments_were_kept_render_from_their_text() -> None:
    content = 'Looking.\n\n[tool_use: Bash] {"command":"ls -la"}'
    body = markdown_body("assistant", content, {"tool_calls": [{"id": "t1", "name": "Bash"}]})
    assert body == "Looking.\n\n**🔧 Bash** `ls -la` <sub>`t1`</sub>"


def test_calls_the_repl_recorded_render_with_their_id_under_either_key() -> None:
    metadata = {
        "tool_calls": [
            {"name": "llm_version", "arguments": {}, "tool_call_id": "tc_1"},
            {"name": "search", "arguments": {"query": "lyon"}, "id": "tc_2"},
        ]
    }
    body = markdown_body("assistant", "Checking.", metadata)
    assert body.split("\n\n") == [
        "Checking.",
        "**🔧 llm_version** <sub>`tc_1`</sub>",
        "**🔧 search** `lyon` <sub>`tc_2`</sub>",
    ]
