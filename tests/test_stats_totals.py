"""`chatlog stats` totals agree exactly with sums computed here from the logs themselves.

Random sessions (roles, timestamps in several UTC offsets around a daylight-saving change,
token counts, models, backends, each way backends and importers record usage, tags added
and removed) are written to a real home; every grouping is then recomputed from
``EventLog.read`` with :mod:`zoneinfo` (an implementation independent of the one under
test) and compared number by number.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import EventLog, Message, SessionCreated, SessionTagged, SessionUntagged
from eventlog.clock import parse_timestamp
from projections import Projections
from projections.stats import DEFAULT_PRICES, Price, StatsQuery, price_for

PRICES = {**DEFAULT_PRICES, "house-model": Price(1.25, 3.5)}
MODELS = [None, "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "llama3", "house-model"]
BACKENDS = [None, "openai", "llm"]
TAGS = ["work", "fun", "x y"]
START = dt.datetime(2025, 3, 5, tzinfo=dt.UTC)  # New York changes clocks on 2025-03-09
OFFSETS = [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), ZoneInfo("Etc/GMT+7")]


@contextmanager
def local_zone(name: str) -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def usage_metadata(draw: st.DrawFn) -> dict[str, Any]:
    inp = draw(st.integers(0, 5000))
    out = draw(st.integers(0, 5000))
    return draw(
        st.sampled_from(
            [
                {},
                {"usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": 1}},
                {"usage": {"input_tokens": inp, "output_tokens": out}},
                {"input_tokens": inp, "output_tokens": out},
                {"usage": {"completion_tokens": out}},
            ]
        )
    )


@st.composite
def message_specs(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = usage_metadata(draw)
    model = draw(st.sampled_from(MODELS))
    backend = draw(st.sampled_from(BACKENDS))
    if model is not None:
        meta["model"] = model
    if backend is not None:
        meta["backend"] = backend
    if draw(st.booleans()):
        meta["usage_estimated"] = draw(st.booleans())
    moment = START + dt.timedelta(seconds=draw(st.integers(0, 12 * 86_400)))
    zone = draw(st.sampled_from(OFFSETS))
    return {
        "role": draw(st.sampled_from(["user", "assistant", "assistant", "system", "tool"])),
        "tokens": draw(st.one_of(st.none(), st.integers(0, 10_000))),
        "meta": meta,
        "ts": moment.astimezone(zone).isoformat(),
    }


@st.composite
def session_specs(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "tags": draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=2)),
        "add": draw(st.lists(st.sampled_from(TAGS), max_size=2)),
        "remove": draw(st.lists(st.sampled_from(TAGS), max_size=1)),
        "messages": draw(st.lists(message_specs(), max_size=8)),
    }


def write_home(home: Path, sessions: list[dict[str, Any]]) -> list[str]:
    ids = []
    with EventLog(home, fsync="never") as log:
        for spec in sessions:
            sid = log.create_session(tags=spec["tags"], ts=START.isoformat())
            for m in spec["messages"]:
                log.append(sid, m["role"], "text", m["tokens"], m["meta"], ts=m["ts"])
            for tag in spec["add"]:
                log.add_tag(sid, tag)
            for tag in spec["remove"]:
                log.remove_tag(sid, tag)
            ids.append(sid)
    return ids


def expected(
    home: Path, by: str, zone: dt.tzinfo
) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """Totals per group recomputed from the logs (and the overall total)."""
    groups: dict[Any, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    total: dict[str, Any] = defaultdict(int)
    sessions_of: dict[Any, set[str]] = defaultdict(set)
    total_sessions: set[str] = set()
    with EventLog(home) as log:
        for sid in log.session_ids():
            events = list(log.read(sid))
            tags: list[str] = []
            for event in events:
                if isinstance(event, SessionCreated):
                    tags = list(event.tags)
                elif isinstance(event, SessionTagged) and event.tag not in tags:
                    tags.append(event.tag)
                elif isinstance(event, SessionUntagged):
                    tags = [t for t in tags if t != event.tag]
            for event in events:
                if not isinstance(event, Message):
                    continue
                meta = event.metadata
                day = parse_timestamp(event.ts).astimezone(zone).date()
                keys: list[Any] = {
                    "day": [day.isoformat()],
                    "model": [meta.get("model")],
                    "backend": [meta.get("backend")],
                    "session": [sid],
                    "tag": tags or [None],
                }[by]
                usage = meta.get("usage", meta)
                inp = usage.get("prompt_tokens", usage.get("input_tokens"))
                out = usage.get("completion_tokens", usage.get("output_tokens"))
                tokens = event.token_count or 0
                price = price_for(meta.get("model"), PRICES)
                reply = event.role == "assistant"
                numbers = {
                    "messages": 1,
                    "tokens": tokens,
                    "user_tokens": tokens if event.role == "user" else 0,
                    "assistant_tokens": tokens if reply else 0,
                    "estimated_tokens": tokens if meta.get("usage_estimated") is True else 0,
                    "input_tokens": inp or 0,
                    "output_tokens": out or 0,
                    "unpriced": int(reply and (price is None or (inp is None and out is None))),
                }
                cost = None
                if price is not None and ((reply and (inp, out) != (None, None)) or inp or out):
                    cost = ((inp or 0) * price.input + (out or 0) * price.output) / 1e6
                for target in [*(groups[k] for k in keys), total]:
                    for name, value in numbers.items():
                        target[name] += value
                    if cost is not None:
                        target["cost"] = target.get("cost", 0.0) + cost
                for key in keys:
                    sessions_of[key].add(sid)
                total_sessions.add(sid)
    for key, found in sessions_of.items():
        groups[key]["sessions"] = len(found)
    total["sessions"] = len(total_sessions)
    return groups, total


def assert_row_matches(row: Any, want: dict[str, Any]) -> None:
    for name in (
        "messages",
        "sessions",
        "tokens",
        "user_tokens",
        "assistant_tokens",
        "estimated_tokens",
        "input_tokens",
        "output_tokens",
        "unpriced",
    ):
        assert getattr(row, name) == want.get(name, 0), (row, name)
    if "cost" in want:
        assert row.cost == pytest.approx(want["cost"], abs=2e-6)
    else:
        assert row.cost is None


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(sessions=st.lists(session_specs(), min_size=1, max_size=6))
def test_totals_by_day_model_session_backend_and_tag_equal_sums_over_the_logs(
    sessions: list[dict[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp, local_zone("America/New_York"):
        home = Path(tmp) / "home"
        ids = write_home(home, sessions)
        with EventLog(home) as log, Projections(log) as projections:
            for by, utc in [
                ("day", False),
                ("day", True),
                ("model", False),
                ("backend", False),
                ("session", False),
                ("tag", False),
            ]:
                zone = dt.UTC if utc else ZoneInfo("America/New_York")
                want, want_total = expected(home, by, zone)
                report = projections.stats(StatsQuery(by=by, utc=utc), PRICES)  # type: ignore[arg-type]
                assert_row_matches(report.total, want_total)
                rows = {row.key: row for row in report.rows if row.messages}
                assert set(rows) == set(want), by
                for key, row in rows.items():
                    assert_row_matches(row, want[key])
            one = ids[0]
            report = projections.stats(StatsQuery(by="model", session_id=one), PRICES)
            per_session, _ = expected(home, "session", dt.UTC)
            if one in per_session:
                assert_row_matches(report.total, per_session[one])
            else:
                assert report.total.messages == 0


def test_day_buckets_cover_every_day_of_the_window_in_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EventLog(home) as log:
        sid = log.create_session(ts="2025-01-01T00:00:00+00:00")
        log.append(sid, "user", "a", 5, ts="2025-01-01T12:00:00+00:00")
        log.append(sid, "user", "b", 7, ts="2025-01-04T12:00:00+00:00")
        with Projections(log) as projections:
            report = projections.stats(StatsQuery(by="day", utc=True), PRICES)
    assert [(r.key, r.tokens) for r in report.rows] == [
        ("2025-01-01", 5),
        ("2025-01-02", 0),
        ("2025-01-03", 0),
        ("2025-01-04", 7),
    ]


def test_weeks_are_iso_weeks_and_months_calendar_months(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EventLog(home) as log:
        sid = log.create_session(ts="2024-12-29T00:00:00+00:00")
        for ts in (
            "2024-12-29T10:00:00+00:00",
            "2024-12-30T10:00:00+00:00",
            "2025-02-01T01:00:00+00:00",
        ):
            log.append(sid, "user", "a", 1, ts=ts)
        with Projections(log) as projections:
            weeks = projections.stats(StatsQuery(by="week", utc=True), PRICES)
            months = projections.stats(StatsQuery(by="month", utc=True), PRICES)
    week_tokens = {r.key: r.tokens for r in weeks.rows if r.tokens}
    assert week_tokens == {"2024-W52": 1, "2025-W01": 1, "2025-W05": 1}
    assert [(r.key, r.tokens) for r in months.rows] == [
        ("2024-12", 2),
        ("2025-01", 0),
        ("2025-02", 1),
    ]


def test_a_forks_copies_of_its_parents_messages_are_not_counted_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EventLog(home) as log:
        parent = log.create_session(ts="2025-01-01T00:00:00+00:00")
        log.append(parent, "user", "a", 5, ts="2025-01-01T01:00:00+00:00")
        log.append(parent, "assistant", "b", 7, ts="2025-01-01T01:00:01+00:00")
        fork = log.fork_session(parent)
        log.append(fork, "user", "c", 11, ts="2025-01-02T01:00:00+00:00")
        with Projections(log) as projections:
            by_session = projections.stats(StatsQuery(by="session", utc=True), PRICES)
            by_day = projections.stats(StatsQuery(by="day", utc=True), PRICES)
    assert {r.key: r.tokens for r in by_session.rows} == {parent: 12, fork: 11}
    assert [(r.key, r.tokens) for r in by_day.rows] == [("2025-01-01", 12), ("2025-01-02", 11)]
    assert by_session.total.tokens == by_day.total.tokens == 23
    assert by_day.total.sessions == 2
