"""The REPL through a real terminal: chatting, auto-save, resuming, input editing and history."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from eventlog import EventLog, Message
from tests.conftest import chatlog_executable
from tests.repl_pty import Repl, messages, only_session, session_with_short_id, start

# ---------------------------------------------------------------- chatting and saving


def test_a_message_and_the_echo_reply_are_saved_with_token_counts(home: Path, repls):
    repl = start(repls)
    repl.run("hello there", until="(echo) hello there")
    assert repl.quit() == 0

    sid = only_session(home)
    user, reply = messages(home, sid)
    assert (user.role, user.content) == ("user", "hello there")
    assert user.token_count == 3
    assert user.metadata == {"usage_estimated": True}
    assert reply.role == "assistant"
    assert reply.content.startswith("(echo) hello there")
    assert reply.token_count is not None and reply.token_count > 0
    assert reply.metadata["backend"] == "echo"
    assert reply.metadata["usage_estimated"] is True


def test_the_prompt_shows_the_short_id_of_the_session_being_saved(home: Path, repls):
    repl = start(repls)
    shown = repl.session_short
    repl.run("hi", until="(echo) hi")
    repl.quit()
    assert only_session(home).endswith("_" + shown)


def test_the_user_message_is_on_disk_before_the_reply_is_asked_for(home: Path, repls):
    """The echo reply quotes the log: by the time it streams, the user line is durable."""
    repl = start(repls, "--show-saves")
    out = repl.run("persist me", until="saved the reply")
    assert out.index("saved your message") < out.index("(echo) persist me")
    repl.quit()


def test_show_saves_prints_one_line_per_save_and_quiet_prints_none(home: Path, repls):
    loud = start(repls, "--show-saves")
    out = loud.run("one", until="saved the reply")
    assert re.search(r"💾 saved your message to \S+ \(#2, ~1 tokens\)", out)
    loud.quit()
    quiet = start(repls)
    out = quiet.run("two", until="(echo) two")
    assert "(echo) two" in out
    assert "💾" not in out
    quiet.quit()


def test_starting_and_leaving_without_a_word_leaves_no_empty_session(home: Path, repls):
    repl = start(repls)
    assert repl.quit() == 0
    with EventLog(home) as log:
        assert log.session_ids() == []


def test_ctrl_d_exits_cleanly_and_says_where_the_session_is(home: Path, repls):
    repl = start(repls)
    repl.run("bye soon", until="(echo) bye soon")
    repl.control("d")
    repl.expect(f"is saved; to pick it up again: {chatlog_executable()} --home {home} chat ")
    repl.expect(f"--session {repl.session_short}")
    assert repl.wait_exit() == 0


def test_ctrl_c_on_an_empty_prompt_leaves_and_on_typed_text_only_clears_it(home: Path, repls):
    repl = start(repls)
    repl.type("half a thought")
    repl.control("c")
    repl.run("/info", until="new: saved with its first message")
    repl.control("c")
    assert repl.wait_exit() == 0
    with EventLog(home) as log:
        assert log.session_ids() == []


# ---------------------------------------------------------------- resuming


def test_continue_resumes_the_most_recently_updated_session(home: Path, repls):
    with EventLog(home) as log:
        older = log.create_session(title="Older")
        newer = log.create_session(title="Newer")
        log.append(older, "user", "touching the older one last")
    repl = start(repls, "--continue")
    assert session_with_short_id(home, repl.session_short) == older
    repl.run("and on", until="(echo) and on")
    repl.quit()
    assert [m.content for m in messages(home, older)][-2] == "and on"
    assert messages(home, newer) == []


def test_continue_shows_what_was_said_last(home: Path, repls):
    first = start(repls)
    first.run("remember the llama", until="(echo) remember the llama")
    first.quit()
    again = Repl("--continue")
    repls.append(again)
    again.type("/info")
    again.enter()
    again.expect("Messages: 2")
    again.prompt()
    again.quit()


def test_session_flag_resumes_by_unique_prefix_or_short_id(home: Path, repls):
    with EventLog(home) as log:
        sid = log.create_session(title="Picked")
    repl = start(repls, "--session", sid.rsplit("_", 1)[1])
    assert sid.endswith(repl.session_short)
    repl.quit()


def test_an_unknown_session_flag_is_one_error_line_and_exit_code_3(home: Path):
    from tests.conftest import run_chatlog

    result = run_chatlog("chat", "--session", "2020-01-01_000000")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert "no session" in result.stderr


# ---------------------------------------------------------------- input editing and history


def test_esc_enter_adds_a_line_and_enter_sends_the_whole_message(home: Path, repls):
    repl = start(repls)
    repl.type("first line")
    repl.key("esc-enter")
    repl.type("second line")
    repl.enter()
    repl.expect("(echo) first line")
    repl.prompt()
    repl.quit()
    (user, _reply) = messages(home, only_session(home))
    assert user.content == "first line\nsecond line"


def test_up_arrow_recalls_earlier_input_even_from_a_previous_run(home: Path, repls):
    first = start(repls)
    first.run("the recalled message", until="(echo) the recalled message")
    first.quit()
    history = home / "history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert "the recalled message" in history.read_text()

    second = start(repls)
    second.key("up")
    second.enter()
    second.expect("(echo) the recalled message")
    second.prompt()
    second.quit()


def test_ctrl_r_finds_an_earlier_input_by_a_word_in_it(home: Path, repls):
    repl = start(repls)
    repl.run("alpha apples", until="(echo) alpha apples")
    repl.run("beta bananas", until="(echo) beta bananas")
    repl.control("r")
    repl.type("apples")
    repl.enter()  # accept the search result into the input
    repl.enter()  # send it
    repl.expect("(echo) alpha apples")
    repl.prompt()
    repl.quit()
    contents = [m.content for m in messages(home, only_session(home)) if m.role == "user"]
    assert contents == ["alpha apples", "beta bananas", "alpha apples"]


def test_tab_completes_a_command_name(home: Path, repls):
    repl = start(repls)
    repl.type("/inf")
    # Completions are computed in the background as you type: Tab picks from the menu.
    repl.expect("show the current session")
    repl.key("tab")
    repl.enter()
    repl.expect("new: saved with its first message")
    repl.prompt()
    repl.quit()


def test_tab_completes_a_session_id_after_load(home: Path, repls):
    with EventLog(home) as log:
        sid = log.create_session(title="Completable")
        log.append(sid, "user", "something to load")
    repl = start(repls)
    repl.type("/load " + sid[:4])
    repl.key("tab")
    repl.enter()
    repl.expect(f"Loaded session {sid}: Completable")
    repl.prompt()
    repl.quit()


# ---------------------------------------------------------------- keys


def test_ctrl_l_shows_the_recent_messages_and_keeps_the_typed_text(home: Path, repls):
    repl = start(repls)
    repl.run("what was said", until="(echo) what was said")
    repl.type("draft")
    repl.control("l")
    repl.expect("last 2 of 2 messages")
    repl.expect("what was said")
    repl.type(" continues")
    repl.enter()
    repl.expect("(echo) draft continues")
    repl.prompt()
    repl.quit()


def test_ctrl_n_starts_a_new_session_and_the_next_message_goes_there(home: Path, repls):
    repl = start(repls)
    repl.run("in the first", until="(echo) in the first")
    first = repl.session_short
    repl.control("n")
    repl.expect("New session")
    second = repl.prompt()
    assert second != first
    repl.run("in the second", until="(echo) in the second")
    repl.quit()
    assert messages(home, session_with_short_id(home, second))[0].content == "in the second"
    assert len(messages(home, session_with_short_id(home, first))) == 2


def test_ctrl_k_clears_the_screen_and_the_repl_goes_on(home: Path, repls):
    repl = start(repls)
    repl.control("k")
    repl.expect("\x1b[2J")
    repl.run("still here", until="(echo) still here")
    repl.quit()


# ---------------------------------------------------------------- rendering


def test_on_a_color_terminal_replies_are_rendered_as_markdown(home: Path, repls):
    repl = start(repls, rich=True)
    out = repl.run("**bold** and `code`", until="No model")
    repl.quit()
    reply_part = out.split("🤖", 1)[1]
    assert "**bold**" not in reply_part
    assert re.search(r"\(echo\) \x1b\[1mbold\x1b\[0m and", reply_part)
    (_user, reply) = messages(home, only_session(home))
    assert reply.content.startswith("(echo) **bold** and `code`")  # saved as written


def test_no_color_prints_the_reply_text_as_it_is(home: Path, repls):
    repl = start(repls)
    out = repl.run("**bold** stays", until="(echo) **bold** stays")
    assert "(echo) **bold** stays" in out
    repl.quit()


def test_piped_input_is_read_line_by_line_without_prompt_or_terminal_noise(home: Path) -> None:
    from tests.conftest import run_chatlog

    result = run_chatlog("chat", input="what is a wombat?\n/title Marsupials\n/info\n")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout
    assert "]>" not in result.stdout  # no prompt is drawn
    assert "Title:    Marsupials" in result.stdout
    with EventLog(home) as log:
        (sid,) = log.session_ids()
        messages = [e for e in log.read(sid) if isinstance(e, Message)]
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "what is a wombat?"
