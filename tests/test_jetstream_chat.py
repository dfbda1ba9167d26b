"""The REPL (``chatlog chat``) through a real terminal with ``--store nats://...`` on a real
nats-server: every message is saved to the stream (nothing to the home's log files), the
slash commands read and write the stream, another home resumes the session, and the REPL
notices another machine's appends and deletes."""

from __future__ import annotations

import json
from pathlib import Path

from eventlog import Message, SessionUntagged
from eventlog.jetstream import JetStreamStore
from tests.conftest import run_chatlog
from tests.repl_pty import Repl, start


def on_store(url: str, home: Path | None = None) -> dict[str, str]:
    env = {"CHATLOG_STORE": url}
    if home is not None:
        env["CHATLOG_HOME"] = str(home)
    return env


def stored_messages(url: str, session_id: str) -> list[tuple[str, str]]:
    with JetStreamStore(url) as store:
        return [(e.role, e.content) for e in store.read(session_id) if isinstance(e, Message)]


def only_stored_session(url: str) -> str:
    with JetStreamStore(url) as store:
        (sid,) = store.session_ids()
    return sid


def full_id(url: str, short: str) -> str:
    with JetStreamStore(url) as store:
        return store.resolve(short)


def no_local_logs(home: Path) -> bool:
    events = home / "events"
    return not events.exists() or not list(events.iterdir())


def cli(home: Path, url: str, *args: str, input: str | None = None) -> str:
    done = run_chatlog(*args, input=input, home=home, env=on_store(url))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_chat_is_saved_to_the_store_and_resumed_from_another_home(
    home: Path, tmp_path: Path, url: str, repls: list[Repl]
) -> None:
    repl = start(repls, env=on_store(url))
    repl.run("hello over nats", until="(echo) hello over nats")
    repl.run("/title Shared chat", until="Title set")
    repl.run("/tag team", until="Tagged")
    info = repl.run("/info", until="Backend:")
    assert "subject" in info and "Shared chat" in info
    assert "Shared chat" in repl.run("/list", until="most recently updated first")
    assert "over" in repl.run("/search nats", until="/load <id> opens a session")
    assert repl.quit() == 0
    sid = only_stored_session(url)
    assert sid.endswith(repl.session_short)
    assert stored_messages(url, sid)[0] == ("user", "hello over nats")
    assert no_local_logs(home)

    laptop = tmp_path / "laptop"
    resumed = start(repls, "--session", repl.session_short, env=on_store(url, laptop))
    assert "Resumed session" in resumed.startup and "Shared chat" in resumed.startup
    assert "hello over nats" in resumed.startup
    resumed.run("and from the laptop", until="(echo) and from the laptop")
    assert resumed.quit() == 0
    assert [content for _, content in stored_messages(url, sid)][2] == "and from the laptop"
    listed = json.loads(cli(home, url, "list", "--json"))
    assert [(e["session_id"], e["message_count"], e["tags"]) for e in listed] == [
        (sid, 4, ["team"])
    ]
    assert no_local_logs(laptop)


def test_the_conversation_tree_redaction_and_delete_work_on_the_store(
    home: Path, url: str, repls: list[Repl]
) -> None:
    repl = start(repls, env=on_store(url))
    repl.run("first question", until="(echo) first question")
    repl.run("second question", until="(echo) second question")
    parent = only_stored_session(url)
    repl.run("/rewind 1", until="previous branch stays")
    with JetStreamStore(url) as store:
        (fork,) = (sid for sid in store.session_ids() if sid != parent)
    assert fork.endswith(repl.session_short)
    assert stored_messages(url, fork) == [("user", "first question")]
    assert f"→ {fork[-6:]}" in repl.run("/branches", until=f"→ {fork[-6:]}")
    repl.run("a new turn", until="(echo) a new turn")
    repl.run("/redact 4", until="Message 4 redacted")  # seq 4: "a new turn"
    assert "a new turn" not in repl.run("/export", until="**Total Tokens:**").split("(echo)")[0]
    with JetStreamStore(url) as store:
        assert [type(e).__name__ for e in store.read(fork)][-1] == "MessageRedacted"
    repl.run(f"/delete {parent}", until=f"Session deleted: {parent}")
    assert repl.quit() == 0
    with JetStreamStore(url) as store:
        assert store.session_ids() == [fork]
    assert no_local_logs(home)


def test_the_repl_sees_another_machines_append_and_delete(
    tmp_path: Path, url: str, repls: list[Repl]
) -> None:
    repl = start(repls, env=on_store(url))
    repl.run("are you there", until="(echo) are you there")
    sid = only_stored_session(url)
    elsewhere = tmp_path / "desktop"
    cli(elsewhere, url, "append", sid, "--role", "user", input="typed on the desktop\n")
    repl.expect("1 new message in this session from elsewhere")
    assert "typed on the desktop" in repl.run("/retry", until="(echo) typed on the desktop")
    cli(elsewhere, url, "delete", sid)
    repl.expect(f"session {sid} was deleted elsewhere")
    out = repl.run("after the deletion", until="continuing in a new session")
    assert "(echo) after the deletion" in out
    assert repl.quit() == 0
    new_sid = only_stored_session(url)
    assert new_sid != sid
    assert stored_messages(url, new_sid)[0] == ("user", "after the deletion")


def test_leaving_says_how_to_come_back_with_the_same_store(url: str, repls: list[Repl]) -> None:
    repl = start(repls, options=("--store", url))
    repl.run("remember me", until="(echo) remember me")
    repl.control("d")
    repl.expect(f"--store '{url}' chat --session {repl.session_short}")
    assert repl.wait_exit() == 0


def test_new_load_fork_edit_untag_stats_and_continue_work_on_the_store(
    url: str, repls: list[Repl]
) -> None:
    repl = start(repls, env=on_store(url))
    repl.run("one", until="(echo) one")
    first = repl.session_short
    repl.run("/tag tmp", until="Tagged")
    repl.run("/untag tmp", until="Removed tag")
    repl.run("/new", until="New session")
    repl.run("two", until="(echo) two")
    assert "one" in repl.run(f"/load {first}", until="Loaded session")
    assert f"This session ({full_id(url, first)})" in repl.run("/stats", until="Today")
    repl.run("/fork", until="Forked into")
    repl.run("/edit one, edited", until="(echo) one, edited")
    edited = repl.session_short
    assert repl.quit() == 0
    with JetStreamStore(url) as store:
        assert len(store.session_ids()) == 4  # one, two, the fork and the edit's fork
        untagged = [e for e in store.read(store.resolve(first)) if isinstance(e, SessionUntagged)]
    assert [e.tag for e in untagged] == ["tmp"]
    resumed = start(repls, "--continue", env=on_store(url))
    assert resumed.session_short == edited and "Continuing" in resumed.startup
    assert resumed.quit() == 0


def test_chat_with_a_store_that_is_down_is_one_line_and_exit_5(tmp_path: Path) -> None:
    from tests.nats_servers import free_port

    down = f"nats://127.0.0.1:{free_port()}?timeout=1"
    done = run_chatlog("--store", down, "chat", input="hello\n", home=tmp_path / "home")
    assert done.returncode == 5
    assert done.stderr.count("\n") == 1 and "no server reachable" in done.stderr
