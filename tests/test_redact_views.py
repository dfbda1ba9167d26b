"""Redaction on request (``chatlog redact``, ``/redact`` in the REPL, ``session.redact``
over JSON-RPC): from that moment no view shows the message's text — show, export, search,
the materialized views, tail, the server, the REPL — only that it was redacted and when.
And the REPL sends what was typed to the model in that turn, while storing it redacted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from eventlog import EventLog, Message
from eventlog.events import MessageRedacted
from eventlog.redaction import REDACTED_CONTENT
from projections import Projections
from tests.conftest import run_chatlog
from tests.repl_pty import Repl, messages, only_session
from tests.test_projections_cli import _as_unprivileged
from tests.test_server_support import serving

WORD = "zanzibarite"  # a rare word: search finds exactly the message holding it
SECRET = "sk_live_" + "51HqLyjWDarjtT1zdp7dcXyZ"


def session_with_a_message_to_redact(home: Path) -> str:
    with EventLog(home) as log:
        sid = log.create_session()
        log.append(sid, "user", f"my passphrase is {WORD} blue")
        log.append(sid, "assistant", "noted, keep it safe")
    return sid


def test_after_chatlog_redact_no_view_shows_the_text(home: Path):
    sid = session_with_a_message_to_redact(home)
    assert run_chatlog("views").returncode == 0  # materialized before the redaction
    assert run_chatlog("search", WORD).stdout.count(f"{sid[-6:]} #2 user") == 1

    redacted = run_chatlog("redact", sid[-6:], "2", "--reason", "a passphrase")
    assert redacted.returncode == 0, redacted.stderr
    assert f"redacted message 2 of {sid}" in redacted.stdout

    outputs = {
        "show": run_chatlog("show", sid).stdout,
        "show --json": run_chatlog("show", sid, "--json").stdout,
        "show --last": run_chatlog("show", sid, "--last", "5").stdout,
        "export": run_chatlog("export", sid).stdout,
        "export json": run_chatlog("export", sid, "--format", "json").stdout,
        "tail": run_chatlog("tail", sid).stdout,
        "tail --json": run_chatlog("tail", sid, "--json", "-n", "3").stdout,
        "list": run_chatlog("list").stdout,
        "views": (home / "sessions" / f"{sid}.json").read_text()
        + (home / "index.json").read_text(),
    }
    for name, text in outputs.items():
        assert WORD not in text, name
        assert "noted, keep it safe" in text or name in ("list", "tail --json", "views"), name
    assert WORD not in run_chatlog("search", WORD).stdout
    shown = json.loads(outputs["show --json"])["messages"][0]
    assert shown["content"].startswith("[REDACTED at ")
    assert shown["metadata"]["redacted"]["reason"] == "a passphrase"
    assert shown["metadata"]["redacted"]["at"] >= shown["timestamp"]
    assert "redacted #2 (a passphrase)" in outputs["tail"]


def test_a_title_taken_from_a_redacted_message_is_hidden_too(home: Path):
    sid = session_with_a_message_to_redact(home)
    with EventLog(home) as log, Projections(log) as projections:
        assert WORD in (projections.session_meta(sid).title or "")
        projections.redact(sid, 2)
        assert projections.session_meta(sid).title == REDACTED_CONTENT
        assert projections.verify() == []
        projections.rebuild()
        assert projections.session_meta(sid).title == REDACTED_CONTENT


def test_redacting_what_is_no_message_or_is_redacted_already_is_refused(home: Path):
    sid = session_with_a_message_to_redact(home)
    assert run_chatlog("redact", sid, "1").returncode == 2  # the session_created event
    assert run_chatlog("redact", sid, "9").returncode == 2
    assert run_chatlog("redact", sid, "2").returncode == 0
    again = run_chatlog("redact", sid, "2")
    assert again.returncode == 2
    assert "redacted already" in again.stderr


def test_an_older_reader_skips_the_redaction_event_as_a_foreign_line(home: Path):
    sid = session_with_a_message_to_redact(home)
    with EventLog(home) as log:
        event = log.redact(sid, 2, "why")
    line = log.layout.log_path(sid).read_bytes().splitlines()[-1]
    fields = msgspec.json.decode(line)
    assert (fields["type"], fields["v"], fields["seq"], fields["target"]) == (
        "message_redacted",
        1,
        event.seq,
        2,
    )
    assert isinstance(event, MessageRedacted)


def test_session_redact_over_json_rpc_hides_the_text_from_load_search_and_subscribers(
    tmp_path: Path,
):
    with serving(tmp_path / "home") as server, server.client() as client:
        sid = client.call("session.create", {"title": "rpc"})["session_id"]
        for role, text in (("user", f"the word is {WORD}"), ("assistant", "ok")):
            client.call("session.append", {"session_id": sid, "role": role, "content": text})
        event = client.call("session.redact", {"session_id": sid, "seq": 2, "reason": "r"})
        assert (event["type"], event["target"]) == ("message_redacted", 2)
        loaded = client.call("session.load", {"session_id": sid})
        assert loaded["messages"][0]["content"].startswith("[REDACTED at ")
        assert client.call("session.search", {"query": WORD})["hits"] == []
        exported = client.call("session.export", {"session_id": sid, "format": "json"})
        assert WORD not in exported["content"]
        replay = client.subscribe(sid, from_seq=1)
        events = [next(replay) for _ in range(4)]
        assert WORD not in json.dumps(events)
        assert events[1]["content"].startswith("[REDACTED at ")


def test_the_repl_sends_the_typed_text_to_the_model_but_stores_it_redacted(home: Path):
    repl = Repl()
    try:
        shown = repl.run(f"charge it with {SECRET} today", until="No model is configured")
        assert SECRET in shown  # the echo model got what was typed, in this turn
        repl.run("/redact 3", until="redacted")
        assert repl.quit() == 0
    finally:
        repl.close()
    sid = only_session(home)
    user, reply = messages(home, sid)
    assert user.content == "charge it with [REDACTED:stripe_key] today"
    assert isinstance(reply, Message) and reply.content.startswith("(echo) charge it with [RED")
    shown = json.loads(run_chatlog("show", sid, "--json").stdout)["messages"]
    assert shown[1]["content"].startswith("[REDACTED at ")  # /redact 3: the reply
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_a_read_only_home_shows_a_redaction_its_database_has_not_folded(home: Path):
    sid = session_with_a_message_to_redact(home)
    assert run_chatlog("list").returncode == 0  # the projections exist, without the redaction
    with EventLog(home) as log:
        log.redact(sid, 2)
    home.chmod(0o500)
    try:
        shown = _as_unprivileged("show", sid, "--no-pager", home=home)
        assert shown.returncode == 0, shown.stderr
        assert WORD not in shown.stdout and "[REDACTED at " in shown.stdout
    finally:
        home.chmod(0o700)


def test_a_fork_copies_a_message_redacted_in_its_parent_without_its_text(home: Path):
    sid = session_with_a_message_to_redact(home)
    assert run_chatlog("redact", sid, "2").returncode == 0
    forked = run_chatlog("fork", sid, "--at", "2")  # before the redaction event
    assert forked.returncode == 0, forked.stderr
    fork = forked.stdout.strip()
    assert run_chatlog("compact").returncode == 0
    assert WORD.encode() not in (home / "events" / f"{sid}.jsonl").read_bytes()
    assert WORD.encode() not in (home / "events" / f"{fork}.jsonl").read_bytes()
    assert "[REDACTED at " in run_chatlog("show", fork).stdout
