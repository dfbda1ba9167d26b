"""REPL pieces on their own: the session view, completion, output choice, slash-command parsing."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from cli.backends import ChatMessage
from cli.output import use_color
from cli.repl.commands import COMMANDS, completion_entries, find_command, run_command
from cli.repl.completion import ReplCompleter
from cli.repl.current import SessionView
from cli.repl.render import PlainScreen
from eventlog import EventLog, InvalidArgumentError

# ---------------------------------------------------------------- the session view


def test_a_new_view_is_pending_and_creates_its_log_under_the_reserved_id(log: EventLog):
    view = SessionView(log)
    reserved = view.session_id
    assert view.pending
    assert view.refresh().new_messages == 0
    assert log.session_ids() == []
    assert view.ensure_created() == reserved
    assert log.session_ids() == [reserved]
    assert not view.pending


def test_refresh_counts_only_messages_written_by_others(log: EventLog):
    view = SessionView(log)
    sid = view.ensure_created()
    own = log.append(sid, "user", "mine")
    view.note_own(own.seq)
    log.append(sid, "assistant", "from another process")
    log.set_title(sid, "not a message")
    result = view.refresh()
    assert result.new_messages == 1
    assert view.unseen_from_others == 1
    assert [m.content for m in view.messages] == ["mine", "from another process"]
    assert view.refresh().new_messages == 0  # read incrementally: nothing twice


def test_the_context_holds_every_chat_role_in_order_and_skips_tool_messages(log: EventLog):
    sid = log.create_session()
    log.append(sid, "system", "be kind")
    log.append(sid, "user", "hi", token_count=1)
    log.append(sid, "tool", "{}")
    log.append(sid, "assistant", "hello", token_count=2)
    view = SessionView(log, sid)
    view.refresh()
    assert view.context() == [
        ChatMessage("system", "be kind"),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "hello"),
    ]
    assert (view.message_count, view.total_tokens) == (4, 3)


# ---------------------------------------------------------------- completion


def completions(text: str, sessions: list[tuple[str, str | None]] | None = None) -> list[str]:
    completer = ReplCompleter(completion_entries(), lambda: sessions or [])
    document = Document(text, len(text))
    return [c.text for c in completer.get_completions(document, CompleteEvent())]


def test_command_names_complete_from_their_prefix():
    assert completions("/l") == ["/list", "/load"]
    assert completions("/cur") == ["/current"]
    assert completions("hello") == []


def test_session_ids_complete_by_prefix_or_short_id_after_commands_that_take_one():
    sessions = [("2025-01-02_030405_abcdef", "One"), ("2025-01-02_030405_123456", None)]
    assert completions("/load 2025", sessions) == [s for s, _ in sessions]
    assert completions("/delete abc", sessions) == ["2025-01-02_030405_abcdef"]
    assert completions("/title abc", sessions) == []


def test_export_options_complete():
    assert completions("/export --f") == ["--format=markdown", "--format=json", "--force"]


# ---------------------------------------------------------------- output


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_output_only_on_a_terminal_without_no_color_or_a_dumb_term():
    assert use_color(FakeTTY(), env={"TERM": "xterm"})
    assert not use_color(io.StringIO(), env={"TERM": "xterm"})
    assert not use_color(FakeTTY(), env={"TERM": "xterm", "NO_COLOR": "1"})
    assert not use_color(FakeTTY(), env={"TERM": "dumb"})


def test_plain_output_streams_text_exactly_and_ends_the_line():
    out = io.StringIO()
    screen = PlainScreen(out)
    reply = screen.reply("🤖 m")
    for piece in ("**not ", "rendered**"):
        reply.add(piece)
    reply.finish()
    assert out.getvalue() == "🤖 m\n**not rendered**\n"


# ---------------------------------------------------------------- command parsing


def test_every_command_and_alias_is_found_case_insensitively():
    for command in COMMANDS:
        for name in (command.name, *command.aliases):
            assert find_command(name.upper()) is command


def test_an_unknown_command_raises_one_line_with_a_suggestion(tmp_path: Path):
    with pytest.raises(
        InvalidArgumentError, match=r"unknown command /serach: did you mean /search\?"
    ):
        asyncio.run(run_command(None, "/serach x"))  # type: ignore[arg-type]
