"""``compact`` removes redacted text from every byte under the home: the log (each redacted
line rewritten, seq and time kept, checksums valid), its archive, quarantined lines, the
search database with its write-ahead log, and materialized views; every other event stays
as it was. Secrets redacted on save never reach the disk at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import EventLog, Message
from eventlog.events import MessageRedacted
from eventlog.redaction import redacted_content
from projections import Projections
from tests.conftest import run_chatlog
from tests.eventlog_helpers import assert_log_valid
from tests.test_import_fixtures import seed_session, write_seed_dir

SECRET = "ghp_" + "R8nK2vQ9xL4mT7wB1cZ6yH3jF5dS0aPeUuIo"
PLAIN_SECRET = "purple-" + "elephant-" + "tangerine-4471"  # no detector finds this one


def files_holding(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` whose bytes contain ``needle`` (as UTF-8)."""
    data = needle.encode()
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and data in path.read_bytes()
    )


def test_a_secret_appended_with_chatlog_append_never_reaches_the_disk(home: Path):
    sid = run_chatlog("new", "--title", "deploy").stdout.strip()
    stored = run_chatlog("append", sid, "--role", "user", input=f"use token {SECRET} please\n")
    assert stored.returncode == 0, stored.stderr
    assert run_chatlog("search", "token").returncode == 0  # the search database is written
    assert run_chatlog("views").returncode == 0
    shown = run_chatlog("show", sid)
    assert "[REDACTED:github_token]" in shown.stdout
    assert files_holding(home, SECRET) == []
    assert os.path.exists(f"{home}/projections.sqlite3-wal") or True  # the WAL was grepped too


def test_no_redact_stores_the_text_as_typed(home: Path):
    sid = run_chatlog("new").stdout.strip()
    stored = run_chatlog("append", sid, "--role", "user", "--no-redact", input=SECRET)
    assert stored.returncode == 0, stored.stderr
    assert files_holding(home, SECRET) == [f"events/{sid}.jsonl"]


def test_redact_secrets_false_in_config_toml_turns_redaction_off(home: Path, tmp_path: Path):
    config = tmp_path / "xdg-config" / "chatlog" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("redact_secrets = false\n")
    sid = run_chatlog("new").stdout.strip()
    assert run_chatlog("append", sid, "--role", "user", input=SECRET).returncode == 0
    assert files_holding(home, SECRET) == [f"events/{sid}.jsonl"]


def test_an_imported_transcript_holding_a_secret_leaves_no_trace_of_it(home: Path, tmp_path: Path):
    session = seed_session(
        "2025-10-04_150808",
        [
            ("user", f"my token is {SECRET}", "2025-10-04T15:08:15.123456", 5),
            ("assistant", "Please revoke it.", "2025-10-04T15:08:16.234567", 5),
        ],
        title="Leaky",
    )
    directory = write_seed_dir(tmp_path / "seed" / "sessions", [session])
    imported = run_chatlog("import", str(directory))
    assert imported.returncode == 0, imported.stderr
    assert run_chatlog("search", "revoke").returncode == 0
    assert run_chatlog("views").returncode == 0
    assert files_holding(home, SECRET) == []
    # A re-run finds it complete: the stored text is the source's, redacted.
    again = run_chatlog("import", str(directory), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["sessions"]["present"] == 1
    sid = json.loads(again.stdout)["conversations"][0]["session_id"]
    # ...and so after one of its messages is redacted and compacted.
    assert run_chatlog("redact", sid, "3").returncode == 0
    assert run_chatlog("compact").returncode == 0
    third = run_chatlog("import", str(directory), "--json")
    assert json.loads(third.stdout)["sessions"]["present"] == 1, third.stdout
    assert files_holding(home, SECRET) == []


def test_redact_then_compact_removes_the_text_from_every_byte_under_the_home(home: Path):
    with EventLog(home, redact_secrets=False) as log, Projections(log) as projections:
        sid = log.create_session("kept")
        log.append(sid, "user", "first question")
        log.append(sid, "assistant", "an answer")
        # A crashed writer left a torn line of seq 4 holding the text; the next append
        # moves it to quarantine/ and writes seq 4 again.
        path = log.layout.log_path(sid)
        with open(path, "ab") as file:
            file.write(b'{"type":"message","v":1,"seq":4,"ts":"x","role":"user","content":"')
            file.write(f"oops {PLAIN_SECRET} and".encode())
        leaked = log.append(sid, "user", f"oops {PLAIN_SECRET} and more")
        assert leaked.seq == 4
        log.append(sid, "assistant", "noted")
        other = log.create_session("archived one")
        log.append(other, "user", f"also {PLAIN_SECRET}")

        assert projections.search("elephant")  # indexed
        projections.write_views()
        projections.redact(sid, 4, "pasted a passphrase")
        projections.redact(other, 2)
        log.archive(other)
        assert projections.search("elephant") == []

        done = projections.compact()
        assert {(c.session_id, c.messages, c.archived) for c in done} >= {(sid, 1, 0)}
        assert any(c.session_id == other and c.archived == 1 for c in done)
        assert any(c.session_id == sid and c.quarantined == 1 for c in done)
        assert files_holding(home, "tangerine") == []
        assert files_holding(home, "elephant") == []

        scan = assert_log_valid(path)
        events = [entry.event for entry in scan.entries]
        assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
        redacted = events[3]
        assert isinstance(redacted, Message)
        assert redacted.content == redacted_content(redacted.metadata["redacted"]["at"])
        assert redacted.ts == leaked.ts
        assert redacted.metadata["redacted"]["reason"] == "pasted a passphrase"
        assert log.check(sid) is not None
        assert log.check(sid).damaged == []  # type: ignore[union-attr]
        assert projections.verify() == []
        log.restore(other)
        (restored,) = [e for e in log.read(other) if isinstance(e, Message)]
        assert restored.content == redacted_content(restored.metadata["redacted"]["at"])


def test_compact_with_nothing_redacted_rewrites_nothing(home: Path):
    with EventLog(home) as log, Projections(log) as projections:
        sid = log.create_session()
        log.append(sid, "user", "hello")
        before = os.stat(log.layout.log_path(sid)).st_ino
        assert projections.compact() == []
        assert os.stat(log.layout.log_path(sid)).st_ino == before


def test_the_compact_command_reports_what_it_removed(home: Path):
    sid = run_chatlog("new").stdout.strip()
    run_chatlog("append", sid, "--role", "user", input=f"say {PLAIN_SECRET}")
    assert run_chatlog("redact", sid, "2", "--reason", "private").returncode == 0
    compacted = run_chatlog("compact", sid)
    assert compacted.returncode == 0, compacted.stderr
    assert f"{sid}: removed the text of 1 message in the log" in compacted.stdout
    assert run_chatlog("compact").stdout.strip() == "nothing to compact: no redacted text is left"
    assert files_holding(home, "tangerine") == []
    listing = json.loads(run_chatlog("show", sid, "--json").stdout)
    assert listing["messages"][0]["content"].startswith("[REDACTED at ")


texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    messages=st.lists(st.tuples(st.sampled_from(["user", "assistant"]), texts), max_size=12),
    picks=st.lists(st.integers(min_value=0, max_value=11), max_size=6),
    tags=st.lists(st.sampled_from(["a", "b"]), max_size=2),
)
def test_compaction_keeps_every_event_that_is_not_redacted(
    tmp_path_factory, messages: list[tuple[str, str]], picks: list[int], tags: list[str]
):
    home = tmp_path_factory.mktemp("home")
    with EventLog(home, redact_secrets=False) as log:
        sid = log.create_session("t", tags)
        for role, content in messages:
            log.append(sid, role, content, metadata={"n": len(content)})
        message_seqs = [e.seq for e in log.read(sid) if isinstance(e, Message)]
        targets = sorted({message_seqs[i] for i in picks if i < len(message_seqs)})
        for seq in targets:
            log.redact(sid, seq, "test")
        log.add_tag(sid, "after")
        before = list(log.read(sid))
        log.compact(sid)
        after = list(log.read(sid))
        assert_log_valid(log.layout.log_path(sid))
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        assert (type(new), new.seq, new.ts) == (type(old), old.seq, old.ts)
        if isinstance(old, Message) and old.seq in targets:
            assert isinstance(new, Message)
            at = new.metadata["redacted"]["at"]
            assert (new.role, new.content) == (old.role, redacted_content(at))
            assert new.metadata == {"redacted": {"at": at, "reason": "test"}}
        else:
            assert new == old
    assert sum(isinstance(e, MessageRedacted) for e in after) == len(targets)
