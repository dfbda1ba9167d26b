"""Hostile stored text through every output path, read from a real pseudo-terminal.

A session whose title, tags and messages carry terminal escapes (window title, clipboard,
hyperlink, clear screen, a C1 CSI, bidi overrides) is shown by every command and by the
REPL: no raw escape reaches the terminal, the text is still there (spelled out as
``\\x1b``, ``\\u202e``), ``--json`` stays exact, and the log keeps every byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import EventLog, Message, SessionCreated
from tests.conftest import run_chatlog
from tests.fake_openai import FakeOpenAI, Scripted, running
from tests.repl_pty import Repl
from tests.test_projections_terminal import run_in_terminal

TITLE = "T\x1b]0;PWNED\x07\x1b]52;c;cHduZWQ=\x07"
TAG = "tag\x1b[8mhidden"
CONTENT = (
    "\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07 \x1b[2J wipe "
    "\x9b2J csi \u202eevil\u202c rtl \u2066iso\u2069 del\x7f end"
)
REPLY = "model \x1b]0;OWNED\x07 says \x9b31m red \u202ereversed\u202c done"

# Raw sequences that must never reach the terminal (our own colours are other sequences).
RAW = ("\x07", "\x1b]", "\x1b[2J", "\x1b[8m", "\x9b", "\u202e", "\u202c", "\u2066", "\x7f")
# What shows instead.
SHOWN_TITLE = "T\\x1b]0;PWNED\\x07\\x1b]52;c;cHduZWQ=\\x07"
SHOWN_TAG = "tag\\x1b[8mhidden"
SHOWN_CONTENT = ("\\x1b]8;;http://evil.example/\\x07click", "\\x9b2J csi", "\\u202eevil\\u202c")

FORBIDDEN_IN_FILES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def assert_no_raw_escapes(output: str) -> None:
    found = [seq for seq in RAW if seq in output]
    assert not found, f"raw {found!r} reached the terminal in:\n{output!r}"


def in_terminal(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``chatlog ARGS`` on a pty wide enough not to cut titles; all it printed."""
    output, _status = run_in_terminal(*args, env=env, columns=250)
    return output


@pytest.fixture
def hostile(home: Path) -> str:
    with EventLog(home) as log:
        sid = log.create_session(title=TITLE, tags=[TAG])
        log.append(sid, "user", CONTENT)
        log.append(sid, "assistant", "fine " + CONTENT)
    return sid


COLOURS = pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1"}], ids=["colour", "no-color"])


@COLOURS
def test_list_show_tail_search_and_export_show_escapes_spelled_out(
    hostile: str, env: dict[str, str]
) -> None:
    shown = {
        "list": in_terminal("list", env=env),
        "show": in_terminal("show", hostile, "--no-pager", env=env),
        "tail": in_terminal("tail", hostile, env=env),
        "search": in_terminal("search", "click", env=env),
        "export": in_terminal("export", hostile, env=env),
    }
    for command, output in shown.items():
        assert_no_raw_escapes(output)
        if env:
            assert "\x1b" not in output, command
    for command in ("list", "show", "export"):
        assert SHOWN_TITLE in shown[command], command
    for command in ("list", "show", "tail"):
        assert SHOWN_TAG in shown[command], command
    for command in ("show", "tail", "export"):
        for piece in SHOWN_CONTENT:
            assert piece in shown[command], (command, piece)
    assert "\\x1b[2J wipe \\x9b2J csi \\u202eevil" in shown["search"]
    assert SHOWN_TITLE in shown["search"]


def test_the_pager_gets_the_spelled_out_text(hostile: str, home: Path, tmp_path: Path) -> None:
    with EventLog(home) as log:
        for n in range(60):
            log.append(hostile, "user", f"line {n} {CONTENT}")
    paged = tmp_path / "paged.txt"
    pager = tmp_path / "pager.sh"
    pager.write_text(f"#!/bin/sh\ncat > {paged}\necho PAGED\n")
    pager.chmod(0o700)
    output = in_terminal("show", hostile, env={"PAGER": str(pager)})
    assert "PAGED" in output
    text = paged.read_text()
    assert_no_raw_escapes(text)
    assert SHOWN_TITLE in text and "line 59 \\x1b]8;;http://evil.example/" in text


def test_the_markdown_export_file_holds_no_control_characters(hostile: str, tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    result = run_chatlog("export", hostile, "-o", str(target))
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert FORBIDDEN_IN_FILES.search(text) is None
    assert f"# {SHOWN_TITLE}" in text
    assert all(piece in text for piece in SHOWN_CONTENT)


def test_json_stays_exact_and_the_log_keeps_every_byte(hostile: str, home: Path) -> None:
    listed = json.loads(run_chatlog("list", "--json").stdout)
    assert listed[0]["title"] == TITLE and listed[0]["tags"] == [TAG]
    shown = json.loads(run_chatlog("show", hostile, "--json").stdout)
    assert [m["content"] for m in shown["messages"]] == [CONTENT, "fine " + CONTENT]
    tailed = [
        json.loads(line) for line in run_chatlog("tail", hostile, "--json").stdout.split("\n")[:-1]
    ]
    assert tailed[1]["content"] == CONTENT
    with EventLog(home) as log:
        events = list(log.read(hostile))
    assert isinstance(events[0], SessionCreated) and events[0].title == TITLE
    assert isinstance(events[1], Message) and events[1].content == CONTENT


def test_error_lines_spell_out_hostile_names(tmp_path: Path) -> None:
    bad = tmp_path / "chat\x1b]0;PWNED\x07\u202e.json"
    bad.write_text("{not json")
    output = in_terminal("import", str(bad), "--from", "chatgpt")
    assert_no_raw_escapes(output)
    assert "chat\\x1b]0;PWNED\\x07\\u202e.json" in output
    missing = in_terminal("show", "\x1b[2J\x9bdeadbeef")
    assert_no_raw_escapes(missing)
    assert "error" in missing


# ---------------------------------------------------------------------- the REPL


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    yield from running(Scripted(text=REPLY))


@pytest.mark.parametrize("rich", [True, False], ids=["rich", "no-color"])
def test_the_repl_shows_stored_text_and_replies_spelled_out(
    hostile: str, model: FakeOpenAI, rich: bool
) -> None:
    repl = Repl(
        "--model",
        "tiny",
        rich=rich,
        env={"OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": "sk-test"},
    )
    try:
        out = repl.run("/list", until="messages")
        out += repl.run(f"/load {hostile}", until="wipe")
        out += repl.run("/info", until="Backend:")
        out += repl.run("/search click", until="/load <id> opens a session")
        out += repl.run(f"/export {hostile}", until="Total Tokens")
        out += repl.run("hello", until="done")
        assert repl.quit() == 0
    finally:
        repl.close()
    assert_no_raw_escapes(out)
    for piece in (SHOWN_TITLE, SHOWN_TAG, *SHOWN_CONTENT):
        assert piece in out, piece
    assert "\\x1b]0;OWNED\\x07" in out and "\\u202ereversed\\u202c" in out
