"""`chatlog stats` through the installed command: window ends in UTC and local time, the
price table, JSON against CSV, charts only on a terminal, `/stats` in the REPL and
`session.stats` over JSON-RPC."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pexpect
import pytest

from eventlog import EventLog, Message
from projections.fold import message_row
from tests.conftest import chatlog_executable, run_chatlog
from tests.repl_pty import Repl
from tests.test_server_support import serving

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def stats_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_chatlog("stats", *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def around_kolkata_midnight(home: Path) -> str:
    """Two messages a second apart across local midnight in Asia/Kolkata (UTC+05:30):
    2025-06-01 23:59:59 and 2025-06-02 00:00:00 local, both on 2025-06-01 in UTC."""
    with EventLog(home) as log:
        sid = log.create_session(ts="2025-06-01T00:00:00+00:00")
        log.append(sid, "user", "before", 3, ts="2025-06-01T18:29:59+00:00")
        log.append(sid, "user", "after", 5, ts="2025-06-01T18:30:00+00:00")
        return sid


KOLKATA = {"TZ": "Asia/Kolkata"}


def test_local_days_split_at_local_midnight_and_since_starts_there(home: Path) -> None:
    around_kolkata_midnight(home)
    by_day = stats_json("--by", "day", env=KOLKATA)
    assert [(r["key"], r["tokens"]) for r in by_day["rows"]] == [
        ("2025-06-01", 3),
        ("2025-06-02", 5),
    ]
    assert by_day["utc"] is False
    since = stats_json("--by", "day", "--since", "2025-06-02", env=KOLKATA)
    assert since["total"]["tokens"] == 5
    until = stats_json("--by", "model", "--until", "2025-06-01", env=KOLKATA)
    assert until["total"]["tokens"] == 3  # --until names the last day included


def test_utc_days_put_both_messages_on_one_day_whatever_tz_says(home: Path) -> None:
    around_kolkata_midnight(home)
    by_day = stats_json("--by", "day", "--utc", env=KOLKATA)
    assert [(r["key"], r["tokens"]) for r in by_day["rows"]] == [("2025-06-01", 8)]
    assert (
        stats_json("--by", "day", "--utc", "--since", "2025-06-02", env=KOLKATA)["total"]["tokens"]
        == 0
    )
    assert (
        stats_json("--by", "day", "--utc", "--until", "2025-06-01", env=KOLKATA)["total"]["tokens"]
        == 8
    )


def test_a_date_and_time_is_an_exact_instant_and_until_excludes_it(home: Path) -> None:
    around_kolkata_midnight(home)
    window = ("--since", "2025-06-01T18:29:59+00:00", "--until", "2025-06-01T18:30:00Z")
    assert stats_json("--by", "model", *window)["total"]["tokens"] == 3
    naive_local = stats_json("--by", "model", "--since", "2025-06-02T00:00", env=KOLKATA)
    assert naive_local["total"]["tokens"] == 5
    naive_utc = stats_json("--by", "model", "--utc", "--since", "2025-06-01T18:30", env=KOLKATA)
    assert naive_utc["total"]["tokens"] == 5


def test_a_bad_date_is_one_line_and_exit_code_2(home: Path) -> None:
    done = run_chatlog("stats", "--since", "last tuesday")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not a date" in done.stderr


def priced_home(home: Path, config_dir: Path) -> str:
    (config_dir / "chatlog").mkdir(parents=True, exist_ok=True)
    (config_dir / "chatlog" / "config.toml").write_text(
        '[prices."house-model"]\ninput = 2.0\noutput = 10.0\nchecked = 2026-11-01\n',
        encoding="utf-8",
    )
    with EventLog(home) as log:
        sid = log.create_session(ts="2025-06-01T00:00:00+00:00", tags=["paid"])
        log.append(sid, "user", "q", 10, {"usage_estimated": True}, ts="2025-06-01T10:00:00Z")
        usage = {"prompt_tokens": 1_000_000, "completion_tokens": 300_000}
        meta = {"model": "house-model", "backend": "openai", "usage": usage}
        log.append(sid, "assistant", "a", 300_000, meta, ts="2025-06-01T10:00:01Z")
        dated = {"model": "gpt-4o-mini-2024-07-18", "input_tokens": 2_000_000, "output_tokens": 0}
        log.append(sid, "assistant", "b", 0, dated, ts="2025-06-01T10:00:02Z")
        log.append(sid, "assistant", "c", 40, {"model": "mystery-7b"}, ts="2025-06-01T10:00:03Z")
        return sid


def test_costs_come_from_the_price_table_and_unknown_models_have_no_price(
    home: Path, tmp_path: Path
) -> None:
    priced_home(home, tmp_path / "xdg-config")
    report = stats_json("--by", "model")
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["house-model"]["cost"] == 2.0 + 3.0  # 1M input at $2, 0.3M output at $10
    assert rows["gpt-4o-mini-2024-07-18"]["cost"] == 0.3  # the shipped gpt-4o-mini price
    assert rows["mystery-7b"]["cost"] is None and rows["mystery-7b"]["unpriced"] == 1
    assert report["total"]["cost"] == 5.3 and report["total"]["unpriced"] == 1
    assert report["unpriced_models"] == ["mystery-7b"]
    text = run_chatlog("stats", "--by", "model").stdout
    assert re.search(r"mystery-7b .* no price", text)
    assert "$5.30+" in text and "1 reply with no price: mystery-7b" in text


def test_a_broken_price_table_is_one_clear_error(home: Path, tmp_path: Path) -> None:
    priced_home(home, tmp_path / "xdg-config")
    (tmp_path / "xdg-config" / "chatlog" / "config.toml").write_text(
        '[prices."m"]\ninput = -1\noutput = 1\n', encoding="utf-8"
    )
    done = run_chatlog("stats")
    assert done.returncode == 2 and "prices" in done.stderr and done.stderr.count("\n") == 1


def csv_rows(text: str) -> list[dict[str, Any]]:
    def value(name: str, cell: str) -> Any:
        if cell == "":
            return None
        if name == "key":
            return cell
        return float(cell) if name == "cost" else int(cell)

    return [
        {name: value(name, cell) for name, cell in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


@pytest.mark.parametrize("by", ["day", "model", "tag", "backend", "session"])
def test_json_and_csv_give_the_same_numbers(home: Path, tmp_path: Path, by: str) -> None:
    priced_home(home, tmp_path / "xdg-config")
    report = stats_json("--by", by)
    done = run_chatlog("stats", "--by", by, "--csv")
    assert done.returncode == 0, done.stderr
    rows = csv_rows(done.stdout)
    assert rows[:-1] == report["rows"]
    assert rows[-1] == {**report["total"], "key": "total"}


def test_the_default_view_is_the_last_30_days_by_day(home: Path) -> None:
    with EventLog(home) as log:
        sid = log.create_session()
        log.append(sid, "user", "today", 4)
    report = stats_json()
    assert report["by"] == "day" and len(report["rows"]) == 30
    assert report["rows"][-1]["tokens"] == 4 and report["since"] is not None
    text = run_chatlog("stats").stdout
    assert text.startswith("Last 30 days (local days") and "1 message in 1 session" in text


def spawn_stats(home: Path, *args: str, env: dict[str, str]) -> str:
    full = {**os.environ, "CHATLOG_HOME": str(home), "TERM": "xterm", **env}
    child = pexpect.spawn(
        chatlog_executable(),
        ["stats", *args],
        env=full,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 100),
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    return str(child.before)


def test_a_chart_is_drawn_on_a_terminal(home: Path, tmp_path: Path) -> None:
    priced_home(home, tmp_path / "xdg-config")
    env = {"NO_COLOR": ""}
    out = spawn_stats(
        home, "--by", "day", "--since", "2025-05-30", "--until", "2025-06-02", env=env
    )
    assert "\x1b[" in out  # in colour
    plain = ANSI.sub("", out)
    assert "tokens per day" in plain and "█" in plain and "┤" in plain
    assert "05-30" in plain and "06-01" in plain  # one bar per day, labelled
    out = spawn_stats(home, "--by", "model", env=env)
    assert "tokens per model" in ANSI.sub("", out)


def test_no_chart_and_no_colour_with_no_color_or_when_piped(home: Path, tmp_path: Path) -> None:
    priced_home(home, tmp_path / "xdg-config")
    out = spawn_stats(home, "--by", "day", env={"NO_COLOR": "1"})
    piped = run_chatlog("stats", "--by", "day").stdout
    for text in (out, piped):
        assert "\x1b[" not in text
        assert "tokens per day" not in text and "█" not in text
        assert re.search(r"^2025-06-01 +4 +1 +300,050", text, re.M)


def test_repl_stats_shows_this_session_and_today(home: Path) -> None:
    repl = Repl()
    try:
        repl.run("hello there", until="No model is configured")
        plain = ANSI.sub("", repl.run("/stats", until="no model recorded"))
        assert re.search(r"This session \(\d{4}-\d\d-\d\d_\d{6}_[0-9a-f]{6}\): 2 messages", plain)
        assert re.search(r"Today \(local day, [^)]+\): 2 messages in 1 session", plain)
        assert "cost     no price" in plain  # the echo backend has no price
        assert repl.quit() == 0
    finally:
        repl.close()


def test_session_stats_over_json_rpc_equals_the_cli_json(home: Path, tmp_path: Path) -> None:
    sid = priced_home(home, tmp_path / "xdg-config")
    with serving(home) as server, server.client() as client:
        everything = client.call("session.stats", {"by": "model"})
        one = client.call("session.stats", {"session_id": sid, "by": "tag", "utc": True})
    assert everything == stats_json("--by", "model")
    assert one == stats_json("--by", "tag", "--utc", "--session", sid)
    assert one["rows"][0]["key"] == "paid"


def test_usage_recorded_by_importers_is_read_under_their_own_keys() -> None:
    def row(metadata: dict[str, Any]) -> tuple[int | None, int | None, bool]:
        event = Message(
            v=1,
            seq=2,
            ts="2025-01-01T00:00:00+00:00",
            role="assistant",
            content="x",
            token_count=1,
            metadata=metadata,
        )
        found = message_row(event, 0)
        return found.input_tokens, found.output_tokens, found.estimated

    assert row({"usage": {"prompt_tokens": 5, "completion_tokens": 6}}) == (5, 6, False)
    assert row(
        {"usage": {"input_tokens": 5, "output_tokens": 6, "cache_read_input_tokens": 9}}
    ) == (5, 6, False)
    assert row({"input_tokens": 7, "output_tokens": 8}) == (7, 8, False)  # llm logs.db
    assert row({"tokens_sent": "5,244", "tokens_received": "604"}) == (5244, 604, False)
    assert row({"tokens_sent": "12.3k", "tokens_received": "1.1k"}) == (12300, 1100, True)
    assert row({"tokens_sent": "lots", "tokens_received": "-3"}) == (None, None, False)
    assert row({"usage": {"prompt_tokens": -1, "completion_tokens": True}}) == (None, None, False)
    assert row({"usage_estimated": "yes"}) == (None, None, False)
