"""``chatlog secrets`` finds secrets already stored (session, seq, kind; never the secret),
and ``--redact`` redacts every message found and compacts, so none is left on disk."""

from __future__ import annotations

import json
from pathlib import Path

from eventlog import EventLog
from tests.conftest import run_chatlog
from tests.test_compact import files_holding

SLACK = "xoxb-" + "2847561930-4819273645018-" + "Hk3LmN8pQr2StV5wXy9Za1Bc"
OPENAI = "sk-proj-" + "Vq3mK8xR2tN5wL9yB4zH" + "T3BlbkFJ" + "pQ7sD1fG6hJ0kL3zX8cV"


def history_with_secrets(home: Path) -> tuple[str, str]:
    with EventLog(home, redact_secrets=False) as log:
        first = log.create_session("one")
        log.append(first, "user", "nothing to see")
        log.append(first, "user", f"bot token {SLACK}")
        second = log.create_session("two")
        log.append(second, "assistant", "ok", metadata={"env": {"OPENAI_API_KEY": OPENAI}})
    return first, second


def test_secrets_names_session_seq_and_kind_but_never_the_secret(home: Path):
    first, second = history_with_secrets(home)
    found = run_chatlog("secrets")
    assert found.returncode == 1  # something was found
    assert found.stdout.splitlines() == sorted(
        [f"{first}  seq 3  slack_token", f"{second}  seq 2  openai_key"]
    )
    assert SLACK not in found.stdout + found.stderr
    as_json = [json.loads(line) for line in run_chatlog("secrets", "--json").stdout.splitlines()]
    assert {(f["session_id"], f["seq"], tuple(f["kinds"])) for f in as_json} == {
        (first, 3, ("slack_token",)),
        (second, 2, ("openai_key",)),
    }


def test_secrets_redact_redacts_them_all_and_compacts(home: Path):
    first, _second = history_with_secrets(home)
    assert run_chatlog("search", "nothing").returncode == 0
    fixed = run_chatlog("secrets", "--redact")
    assert fixed.returncode == 0, fixed.stderr
    assert "redacted 2 messages" in fixed.stderr
    assert files_holding(home, SLACK) == []
    assert files_holding(home, OPENAI) == []
    again = run_chatlog("secrets")
    assert (again.returncode, again.stdout) == (0, "")
    assert "nothing to see" in run_chatlog("show", first).stdout


def test_a_history_without_secrets_reports_none(home: Path):
    with EventLog(home) as log:
        sid = log.create_session()
        log.append(sid, "user", "a uuid 123e4567-e89b-12d3-a456-426614174000 and no secret")
    found = run_chatlog("secrets")
    assert (found.returncode, found.stdout) == (0, "")
    assert "no secrets found" in found.stderr
