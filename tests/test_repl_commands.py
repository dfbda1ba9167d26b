"""Every slash command, typed into the real REPL; results checked in the log and projections."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import EventLog, SessionTagged, SessionTitled
from projections import Projections
from tests.repl_pty import Repl, only_session, session_with_short_id


@pytest.fixture
def repl() -> Iterator[Repl]:
    started = Repl()
    yield started
    started.close()


def saved_session(home: Path, title: str, *lines: str) -> str:
    with EventLog(home) as log:
        sid = log.create_session(title=title)
        for number, line in enumerate(lines):
            log.append(sid, "user" if number % 2 == 0 else "assistant", line, token_count=5)
    return sid


def one_line_error(out: str) -> str:
    errors = [line for line in out.splitlines() if "✗" in line]
    assert len(errors) == 1, out
    return errors[0]


# ---------------------------------------------------------------- help and mistakes


def test_help_lists_every_command_and_the_keys(repl: Repl):
    out = repl.run("/help", until="Backend:")
    for command in ("/list", "/load", "/export", "/delete", "/info", "/current", "/new"):
        assert command in out
    for command in ("/title", "/tag", "/search", "/help", "/retry", "/quit"):
        assert command in out
    for key in ("Ctrl+R", "Ctrl+K", "Ctrl+L", "Ctrl+N", "Ctrl+C", "Ctrl+D", "Esc Enter"):
        assert key in out


def test_an_unknown_command_is_one_line_with_a_suggestion(repl: Repl):
    out = repl.run("/lsit", until="/help lists them all")
    assert "unknown command /lsit: did you mean /list?" in one_line_error(out)
    repl.run("/info", until="Backend:")  # still running


def test_bad_arguments_are_one_line_with_the_usage(repl: Repl):
    out = repl.run("/list many", until="usage: /list [limit]")
    assert "/list: limit must be a positive number" in one_line_error(out)
    out = repl.run("/load", until="usage: /load <id>")
    one_line_error(out)
    out = repl.run("/export --format=pdf", until=re.compile(r"usage: /export.*\n"))
    assert "invalid choice: 'pdf'" in one_line_error(out)
    out = repl.run("/title", until="usage: /title <text>")
    one_line_error(out)


# ---------------------------------------------------------------- /list /load /info /new


def test_list_shows_sessions_newest_first_and_marks_the_current_one(home: Path, repl: Repl):
    saved_session(home, "Older talk", "a", "b")
    saved_session(home, "Newer talk", "c")
    repl.run("hello", until="(echo) hello")
    out = repl.run("/list", until="Newer talk")
    out += repl.run("/list", until="Older talk")
    current = session_with_short_id(home, repl.session_short)
    assert re.search(rf"\*\s+1\. {current}  hello", out)
    assert re.search(r" {2}2\. \S+  Newer talk", out)
    assert "2 messages  10 tokens" in out
    limited = repl.run("/list 1", until="more: /list 3 shows them all")
    assert "Sessions (1 of 3" in limited
    assert "Newer talk" not in limited


def test_load_switches_by_unique_prefix_and_shows_the_recent_messages(home: Path, repl: Repl):
    sid = saved_session(home, "Trip plans", "where to go", "the mountains")
    out = repl.run(f"/load {sid[-6:]}", until="the mountains")
    assert f"Loaded session {sid}: Trip plans" in out
    assert "2 messages, 10 tokens" in out
    assert sid.endswith(repl.session_short)
    repl.run("and when?", until="(echo) and when?")
    with EventLog(home) as log:
        contents = [getattr(e, "content", None) for e in log.read(sid)]
    assert contents[-2:] == ["and when?", contents[-1]]
    assert str(contents[-1]).startswith("(echo) and when?")


def test_load_of_an_unknown_or_ambiguous_id_is_one_line_and_keeps_the_session(
    home: Path, repl: Repl
):
    first = saved_session(home, "One")
    saved_session(home, "Two")
    before = repl.session_short
    out = repl.run("/load 1999-01-01", until="no session matches")
    one_line_error(out)
    prefix = first[:4]
    out = repl.run(f"/load {prefix}", until="matches 2 sessions")
    one_line_error(out)
    assert repl.session_short == before


def test_info_and_current_describe_the_session(home: Path, repl: Repl):
    repl.run("count me", until="(echo) count me")
    repl.run("/title Counting", until="Title set")
    repl.run("/tag numbers", until="Tagged")
    out = repl.run("/info", until="Backend:")
    assert "Title:    Counting" in out
    assert "Messages: 2" in out
    assert "Tags:     numbers" in out
    assert re.search(r"Tokens:   \d+", out)
    again = repl.run("/current", until="Backend:")
    assert "Messages: 2" in again


def test_new_starts_a_fresh_session_and_leaves_the_old_one_intact(home: Path, repl: Repl):
    repl.run("in the old one", until="(echo) in the old one")
    old = repl.session_short
    repl.run("/new", until="New session")
    assert repl.session_short != old
    repl.run("in the new one", until="(echo) in the new one")
    with Projections(EventLog(home)) as proj:
        counts = {m.session_id[-6:]: m.message_count for m in proj.list_sessions()}
    assert counts == {old: 2, repl.session_short: 2}


# ---------------------------------------------------------------- /title /tag /untag


def test_title_and_tags_are_events_in_the_log(home: Path, repl: Repl):
    repl.run("/title Weekend project", until="Title set: Weekend project")
    repl.run("/tag diy", until="Tagged")
    repl.run("/tag wood", until="Tagged")
    repl.run("/untag diy", until="Removed tag diy")
    sid = only_session(home)
    with EventLog(home) as log:
        events = list(log.read(sid))
    assert [e.title for e in events if isinstance(e, SessionTitled)] == ["Weekend project"]
    assert [e.tag for e in events if isinstance(e, SessionTagged)] == ["diy", "wood"]
    with Projections(EventLog(home)) as proj:
        meta = proj.session_meta(sid)
    assert (meta.title, meta.tags) == ("Weekend project", ["wood"])


# ---------------------------------------------------------------- /search


def test_search_finds_messages_in_every_session(home: Path, repl: Repl):
    other = saved_session(home, "Garden", "the tomatoes need water", "daily, in the morning")
    repl.run("are tomatoes a fruit", until="(echo) are tomatoes a fruit")
    out = repl.run("/search tomatoes", until="/load <id> opens a session")
    assert other in out
    assert "Garden" in out
    assert "«tomatoes»" in out
    assert session_with_short_id(home, repl.session_short) in out
    nothing = repl.run("/search zeppelin", until="No messages match 'zeppelin'")
    assert "✗" not in nothing


# ---------------------------------------------------------------- /export


def test_export_without_output_prints_the_markdown_export(home: Path, repl: Repl):
    repl.run("export this", until="(echo) export this")
    out = repl.run("/export", until="## 🤖 Assistant")
    sid = session_with_short_id(home, repl.session_short)
    assert f"**Session ID:** {sid}" in out
    assert "## 👤 User" in out


def test_export_writes_json_relative_to_the_working_directory(home: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    repl = Repl(cwd=workdir)
    try:
        repl.run("json please", until="(echo) json please")
        out = repl.run("/export --format=json --output=out.json", until="Exported")
        assert str(workdir / "out.json") in out
        repl.quit()
    finally:
        repl.close()
    sid = only_session(home)
    data = json.loads((workdir / "out.json").read_text())
    assert data["metadata"]["session_id"] == sid
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert stat.S_IMODE((workdir / "out.json").stat().st_mode) == 0o600
    with Projections(EventLog(home)) as proj:
        assert (workdir / "out.json").read_bytes() == proj.snapshot_json(sid)


def test_export_refuses_to_overwrite_without_force(home: Path, tmp_path: Path, repl: Repl):
    sid = saved_session(home, "Exported", "content")
    target = tmp_path / "existing.md"
    target.write_text("precious")
    out = repl.run(
        f"/export {sid} --output={target}", until="exists already (use --force to overwrite it)"
    )
    one_line_error(out)
    assert target.read_text() == "precious"
    repl.run(f"/export {sid} --output={target} --force", until="Exported")
    with Projections(EventLog(home)) as proj:
        assert target.read_text() == proj.markdown(sid)


def test_export_into_a_missing_directory_is_one_line(home: Path, tmp_path: Path, repl: Repl):
    sid = saved_session(home, "Nowhere", "content")
    out = repl.run(f"/export {sid} --output={tmp_path}/no/such/dir/x.md", until="does not exist")
    one_line_error(out)


def test_export_of_a_session_with_nothing_saved_yet_says_so(repl: Repl):
    out = repl.run("/export", until="nothing to export")
    one_line_error(out)


# ---------------------------------------------------------------- /delete


def test_delete_of_another_session_removes_its_log_and_projections(home: Path, repl: Repl):
    victim = saved_session(home, "Disposable", "bye")
    with Projections(EventLog(home)) as proj:
        assert [m.session_id for m in proj.list_sessions()] == [victim]
    repl.run(f"/delete {victim}", until=f"Session deleted: {victim}")
    assert not (home / "events" / f"{victim}.jsonl").exists()
    with Projections(EventLog(home)) as proj:
        assert proj.list_sessions() == []
        assert proj.db.known_sessions() == []


def test_delete_of_the_current_session_asks_first(home: Path, repl: Repl):
    repl.run("keep me, maybe", until="(echo) keep me, maybe")
    current = session_with_short_id(home, repl.session_short)
    repl.type(f"/delete {repl.session_short}")
    repl.enter()
    repl.expect("Delete the current session")
    repl.type("n")
    repl.enter()  # the answer is a line: its Enter is not left over for the next prompt
    repl.expect("Kept it.")
    repl.prompt()
    assert (home / "events" / f"{current}.jsonl").exists()

    repl.type(f"/delete {repl.session_short}")
    repl.enter()
    repl.expect("Delete the current session")
    repl.type("yes")
    repl.enter()
    repl.expect(f"Session deleted: {current}")
    repl.expect("Now in a new session")
    new_short = repl.prompt()
    assert not current.endswith(new_short)
    assert not (home / "events" / f"{current}.jsonl").exists()
    repl.run("a fresh start", until="(echo) a fresh start")
    assert session_with_short_id(home, new_short) != current


# ---------------------------------------------------------------- /quit


def test_quit_leaves_cleanly(repl: Repl):
    repl.type("/quit")
    repl.enter()
    assert repl.wait_exit() == 0
