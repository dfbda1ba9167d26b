"""What a new user meets in the REPL's first hour, through the installed command on a pty:
tags that behave as on the command line, the echo hint shown once and never saved, typed
line breaks kept on screen, honest /load and /info, the /delete question, and a goodbye
line whose command works from a new shell."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime
from pathlib import Path

from eventlog import EventLog, SessionCreated, SessionTagged, SessionUntagged
from tests.conftest import run_chatlog
from tests.repl_pty import Repl, messages, only_session, session_with_short_id, start


def tag_events(home: Path, sid: str) -> list[str]:
    with EventLog(home) as log:
        return [
            f"{type(e).__name__}:{e.tag}"
            for e in log.read(sid)
            if isinstance(e, SessionTagged | SessionUntagged)
        ]


# ---------------------------------------------------------------------- /tag and /untag


def test_tag_twice_and_untag_a_missing_tag_write_nothing_as_on_the_command_line(
    home: Path, repls: list[Repl]
) -> None:
    repl = start(repls)
    repl.run("something to tag", until="(echo) something to tag")
    sid = session_with_short_id(home, repl.session_short)
    repl.run("/tag work", until="Tagged")
    out = repl.run("/tag work", until="already tagged work")
    assert "✓" not in out
    out = repl.run("/untag nothere", until="has no tag 'nothere'")
    assert "Removed" not in out
    repl.quit()
    assert tag_events(home, sid) == ["SessionTagged:work"]
    # the command line says the same about the same session
    assert "already tagged work" in run_chatlog("tag", sid, "work").stdout
    untag = run_chatlog("untag", sid, "nothere")
    assert untag.returncode == 2 and "has no tag 'nothere'" in untag.stderr
    assert tag_events(home, sid) == ["SessionTagged:work"]


def test_untag_before_anything_is_saved_creates_no_session(home: Path, repls: list[Repl]) -> None:
    repl = start(repls)
    repl.run("/untag work", until="has no tag 'work'")
    repl.quit()
    with EventLog(home) as log:
        assert log.session_ids() == []


# ---------------------------------------------------------------------- echo hint


def test_the_echo_setup_hint_is_shown_once_and_never_saved(home: Path, repls: list[Repl]) -> None:
    repl = start(repls)
    first = repl.run("first question", until="No model is configured")
    second = repl.run("second question", until="(echo) second question")
    third = repl.run("/export", until="second question")
    repl.quit()
    assert first.count("OPENAI_BASE_URL") == 1
    assert "No model is configured" not in second + third
    replies = [m.content for m in messages(home, only_session(home)) if m.role == "assistant"]
    assert replies == ["(echo) first question", "(echo) second question"]


# ---------------------------------------------------------------------- line breaks


def test_line_breaks_typed_with_esc_enter_stay_line_breaks_in_a_rendered_reply(
    home: Path, repls: list[Repl]
) -> None:
    repl = start(repls, rich=True)
    repl.type("line one")
    repl.key("esc-enter")
    repl.type("line two")
    repl.enter()
    out = repl.expect("No model is configured")
    repl.prompt()
    repl.quit()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.split("🤖", 1)[1])
    assert re.search(r"\(echo\) line one *\r?\n *line two", plain), plain
    assert "line one line two" not in plain
    (_user, reply) = messages(home, only_session(home))
    assert reply.content == "(echo) line one\nline two"


# ---------------------------------------------------------------------- /load, /info, banner


def test_load_says_how_many_of_the_messages_it_shows(home: Path, repls: list[Repl]) -> None:
    with EventLog(home) as log:
        sid = log.create_session(title="Six")
        for n in range(6):
            log.append(sid, "user" if n % 2 == 0 else "assistant", f"message {n}", token_count=2)
    repl = start(repls)
    out = repl.run(f"/load {sid[-6:]}", until="message 5")
    repl.quit()
    assert "6 messages, 12 tokens; the last 4 of 6 below" in out
    assert "message 1" not in out and "message 2" in out


def test_a_new_session_is_created_at_the_moment_its_id_names(home: Path, repls: list[Repl]) -> None:
    repl = start(repls)
    banner_id = re.search(r"new session (\S+)", repl.startup)
    assert banner_id is not None
    out = repl.run("/info", until="Backend:")
    repl.run("a little later", until="(echo) a little later")
    info = repl.run("/info", until="Log:")
    repl.quit()
    sid = banner_id.group(1)
    assert sid in out
    with EventLog(home) as log:
        created = next(e for e in log.read(sid) if isinstance(e, SessionCreated))
    stamp = datetime.fromisoformat(created.ts)
    assert f"{stamp:%Y-%m-%d_%H%M%S}" == sid.rsplit("_", 1)[0]
    assert f"Created:  {stamp.astimezone():%Y-%m-%d %H:%M:%S}" in info


def test_piped_input_gets_no_key_hints_but_a_terminal_does(home: Path, repls: list[Repl]) -> None:
    piped = run_chatlog("chat", input="hello\n")
    assert piped.returncode == 0
    assert "Esc Enter" not in piped.stdout and "Ctrl+D" not in piped.stdout
    assert "Esc Enter adds a line" in start(repls).startup


def test_help_lists_the_external_editor_key(repls: list[Repl]) -> None:
    repl = start(repls)
    out = repl.run("/help", until="Backend:")
    repl.quit()
    assert re.search(r"Ctrl\+X Ctrl\+E\s+edit the message in \$EDITOR", out)


# ---------------------------------------------------------------------- /delete question


def test_the_delete_question_takes_a_whole_answer_and_leaves_no_keys_behind(
    home: Path, repls: list[Repl]
) -> None:
    repl = start(repls)
    repl.run("doomed", until="(echo) doomed")
    current = session_with_short_id(home, repl.session_short)
    repl.type(f"/delete {repl.session_short}")
    repl.enter()
    repl.expect("Delete the current session")
    repl.expect("[y/N]")
    repl.type("yes")
    repl.enter()
    repl.expect(f"Session deleted: {current}")
    repl.prompt()
    out = repl.run("/info", until="Backend:")
    repl.quit()
    assert "new: saved with its first message" in out  # "es" was not sent as a message
    with EventLog(home) as log:
        assert log.session_ids() == []


# ---------------------------------------------------------------------- /export and goodbye


def test_export_prints_the_absolute_path_it_wrote(
    home: Path, tmp_path: Path, repls: list[Repl]
) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    repl = start(repls, cwd=work)
    repl.run("export me", until="(echo) export me")
    out = repl.run("/export --output=x.md", until="Exported")
    repl.quit()
    target = work / "x.md"
    assert f"to {target}" in re.sub(r"\s*\r?\n\s*", "", out + repl.child.before)
    assert target.read_text().startswith("# ")


def test_the_goodbye_command_resumes_the_session_from_a_new_shell(
    home: Path, repls: list[Repl]
) -> None:
    repl = start(repls)
    repl.run("remember me", until="(echo) remember me")
    repl.control("d")
    repl.expect("to pick it up again: ")
    repl.wait_exit()
    command = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", str(repl.child.before)).strip()
    assert command.endswith(f"chat --session {repl.session_short}")
    # A new shell: no CHATLOG_HOME, a PATH without this virtualenv.
    env = {k: v for k, v in os.environ.items() if k not in ("CHATLOG_HOME", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"
    resumed = subprocess.run(
        ["bash", "-c", command],
        input="/info\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resumed session {only_session(home)}" in resumed.stdout
