"""What a new user meets in the first hour on the command line: help, version, guesses for
typos, and errors that say what to do. Everything runs through the installed command."""

from __future__ import annotations

import argparse
import json
import re
from importlib.metadata import version
from pathlib import Path

import pexpect
import pytest

from cli.main import build_parser
from tests.conftest import chatlog_executable, run_chatlog


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


# ---------------------------------------------------------------------- version and help


def test_version_prints_the_installed_version() -> None:
    done = run_chatlog("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"chatlog {version('openagent-chatlog')}"


def test_help_lists_every_command_and_help_command_equals_command_dash_dash_help() -> None:
    overview = run_chatlog("help")
    assert overview.returncode == 0
    for name in subcommand_parsers():
        assert re.search(rf"^\s+{name}\s", overview.stdout, re.M), name
    for name in ("search", "append", "help"):
        via_help = run_chatlog("help", name)
        via_flag = run_chatlog(name, "--help")
        assert via_help.returncode == via_flag.returncode == 0
        assert via_help.stdout == via_flag.stdout


def test_help_on_an_unknown_command_guesses_and_exits_2() -> None:
    done = run_chatlog("help", "serach")
    assert done.returncode == 2
    assert done.stderr == (
        "chatlog: error: no command 'serach'; did you mean `search`? (`chatlog help` lists them)\n"
    )


def test_a_mistyped_command_gets_a_guess_instead_of_the_list_of_all() -> None:
    done = run_chatlog("lsit")
    assert done.returncode == 2
    assert done.stderr == (
        "chatlog: error: unknown command 'lsit'; did you mean `list`? (see chatlog help)\n"
    )
    nothing_close = run_chatlog("xyzzy")
    assert nothing_close.returncode == 2
    assert "did you mean" not in nothing_close.stderr and "choose from" not in nothing_close.stderr


@pytest.mark.parametrize("name", sorted(subcommand_parsers()))
def test_every_command_describes_itself_and_every_argument(name: str) -> None:
    parser = subcommand_parsers()[name]
    assert parser.description and len(parser.description) > len(name) + 20
    for action in parser._actions:
        assert action.help, f"chatlog {name}: {action.dest} has no help text"
        if action.metavar == "ID":
            assert "unique prefix, or its 6-hex suffix" in action.help
    shown = run_chatlog("help", name).stdout
    assert parser.description.split()[0] in shown


def test_the_two_verbose_meanings_have_two_names() -> None:
    chat_help = run_chatlog("help", "chat").stdout
    assert "--show-saves" in chat_help and "--verbose" not in chat_help
    assert "-v, --verbose" in run_chatlog("help").stdout


def test_the_seed_format_is_explained_where_it_is_offered() -> None:
    shown = " ".join(run_chatlog("help", "import").stdout.split())
    assert "seed is OpenAgent Terminal's own session files" in shown
    assert "replaced system" not in shown


# ---------------------------------------------------------------------- append


def test_append_refuses_an_empty_message_and_stores_nothing(home: Path) -> None:
    sid = run_chatlog("new").stdout.strip()
    for given in ("", "\n", "  \n"):
        done = run_chatlog("append", sid, "--role", "user", input=given)
        assert done.returncode == 2
        assert done.stderr.startswith("chatlog: error: nothing to append: the message on stdin")
        assert "echo TEXT | chatlog append" in done.stderr
    events = run_chatlog("tail", sid, "--json").stdout.splitlines()
    assert [json.loads(line)["type"] for line in events] == ["session_created"]


def test_append_on_a_terminal_says_how_to_end_the_message(home: Path) -> None:
    sid = run_chatlog("new").stdout.strip()
    child = pexpect.spawn(
        chatlog_executable(), ["append", sid, "--role", "user"], encoding="utf-8", timeout=15
    )
    child.expect_exact("press Ctrl+D on a line of its own")
    child.send("typed on a terminal\r")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    events = [json.loads(line) for line in run_chatlog("tail", sid, "--json").stdout.splitlines()]
    assert events[-1]["content"] == "typed on a terminal"


def test_append_with_nothing_typed_on_a_terminal_is_refused(home: Path) -> None:
    sid = run_chatlog("new").stdout.strip()
    child = pexpect.spawn(
        chatlog_executable(), ["append", sid, "--role", "user"], encoding="utf-8", timeout=15
    )
    child.expect_exact("Ctrl+D")
    child.sendeof()
    child.expect_exact("nothing to append")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2


# ---------------------------------------------------------------------- errors that help


def test_a_word_that_cannot_be_an_id_says_what_can(home: Path) -> None:
    done = run_chatlog("show", "nosuch")
    assert done.returncode == 2
    assert done.stderr == (
        "chatlog: error: 'nosuch' is not a session id: give a full id "
        "(YYYY-MM-DD_HHMMSS_xxxxxx), a unique prefix of one, or its 6-hex suffix "
        "(`chatlog list` shows the sessions)\n"
    )
    missing = run_chatlog("show", "abcdef")
    assert missing.returncode == 3
    assert missing.stderr == (
        "chatlog: error: no session matches 'abcdef' (`chatlog list` shows the sessions)\n"
    )


def test_a_home_that_is_a_file_is_named_as_such(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("not a directory")
    done = run_chatlog("--home", str(plain), "list")
    assert done.returncode == 2
    assert done.stderr == (
        f"chatlog: error: the chatlog home {plain} is a file, not a directory; "
        "choose another with --home DIR or CHATLOG_HOME\n"
    )
    below = run_chatlog("--home", str(plain / "home"), "new")
    assert below.returncode == 2
    assert f"cannot be created: {plain} is a file" in below.stderr
    assert plain.read_text() == "not a directory"


def test_export_into_a_missing_directory_says_it_does_not_exist(home: Path, tmp_path: Path) -> None:
    sid = run_chatlog("new", "--title", "x").stdout.strip()
    target = tmp_path / "nowhere" / "dir" / "x.md"
    done = run_chatlog("export", sid, "-o", str(target))
    assert done.returncode == 2
    assert done.stderr == (
        f"chatlog: error: cannot write {target}: the directory {target.parent} does not exist\n"
    )


def test_a_query_that_looks_like_an_option_gets_the_double_dash_hint(home: Path) -> None:
    done = run_chatlog("search", "-x")
    assert done.returncode == 2
    assert "a query starting with - needs -- first: chatlog search -- -x" in done.stderr
    assert run_chatlog("search", "--", "-x").returncode == 0


def test_cleanup_dry_run_says_what_it_would_keep_and_that_nothing_changed(home: Path) -> None:
    sids = [run_chatlog("new", "--title", f"s{n}").stdout.strip() for n in range(2)]
    done = run_chatlog("cleanup", "--max-sessions", "1", "--dry-run")
    assert done.returncode == 0
    assert done.stdout == f"would archive {sids[0]}\n"
    assert done.stderr == (
        f"would archive 1 session to {home / 'archive'} and keep 1; nothing was changed "
        "(run it without --dry-run to do it)\n"
    )
    assert len(json.loads(run_chatlog("list", "--json").stdout)) == 2
