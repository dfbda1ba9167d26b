"""Usage statistics: messages, sessions, tokens and cost, totalled over a time window and
grouped by day, ISO week, month, model, session, backend or tag.

Everything comes from the projection database's ``messages`` and ``sessions`` rows (see
:mod:`projections.db`), never from the logs: a handful of indexed aggregate queries, so a
report costs about the same over a million messages as over a hundred. Usage a model
reported is read from message metadata in one place, :func:`projections.fold.message_row`.

Time: ``since`` and ``until`` are instants (microseconds since the epoch); days, weeks and
months are calendar days of the process's local time zone (``TZ``), or of UTC with
``utc=True``. A bucket is the half-open range from one local midnight to the next, so a
day of a daylight-saving change has 23 or 25 hours and every message lands in exactly the
day a local clock showed when it was written.

Cost: per model, from the tokens the backend *reported* (``input_tokens`` and
``output_tokens``) and a :class:`Price` table; a model without a price, or a reply without
reported usage, adds nothing and is counted in ``unpriced`` instead: a price is never
guessed. ``tokens`` counts every message's ``token_count`` (reported or estimated);
``estimated_tokens`` says how much of it is estimated.

A fork's log starts with copies of its parent's messages: they count once, in the parent
(a fork counts only the messages written after its fork point).

By tag, a message counts once for each tag its session has (and sessions without a tag
under ``None``), so the rows can add up to more than the total; the total counts every
message once.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

import msgspec

from eventlog import InvalidArgumentError
from projections.db import ProjectionDB

Grouping = Literal["day", "week", "month", "model", "session", "backend", "tag"]
GROUPINGS: Final[tuple[str, ...]] = get_args(Grouping)
TIME_GROUPINGS: Final = ("day", "week", "month")
MAX_BUCKETS: Final = 20_000  # about 55 years of days: beyond it, ask for a narrower window
US: Final = 1_000_000
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})")


class Price(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A model's list price in US dollars per million tokens, and when it was checked."""

    input: float
    output: float
    checked: dt.date | None = None

    def __post_init__(self) -> None:
        if not (self.input >= 0 and self.output >= 0):  # also refuses NaN
            raise ValueError("prices must be numbers >= 0")


# Shipped defaults: the vendors' published list prices for standard (not batch, not
# cached) tokens, as of the date given. config.toml's [prices] table overrides or extends
# them per model (docs/stats.md).
PRICES_CHECKED: Final = dt.date(2026, 11, 30)
DEFAULT_PRICES: Final[Mapping[str, Price]] = {
    model: Price(inp, out, PRICES_CHECKED)
    for model, inp, out in (
        ("gpt-4o", 2.50, 10.00),
        ("gpt-4o-mini", 0.15, 0.60),
        ("gpt-4.1", 2.00, 8.00),
        ("gpt-4.1-mini", 0.40, 1.60),
        ("gpt-4.1-nano", 0.10, 0.40),
        ("o3", 2.00, 8.00),
        ("o4-mini", 1.10, 4.40),
        ("gpt-5", 1.25, 10.00),
        ("gpt-5-mini", 0.25, 2.00),
        ("gpt-5-nano", 0.05, 0.40),
        ("claude-opus-4-1", 15.00, 75.00),
        ("claude-opus-4", 15.00, 75.00),
        ("claude-sonnet-4-5", 3.00, 15.00),
        ("claude-haiku-4-5", 1.00, 5.00),
        ("claude-sonnet-4", 3.00, 15.00),
        ("claude-3-7-sonnet", 3.00, 15.00),
        ("claude-3-5-haiku", 0.80, 4.00),
    )
}


def price_for(model: str | None, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: its own entry, or that of the name it is a dated snapshot of
    (``gpt-4o-mini-2024-07-18`` and ``claude-sonnet-4-20250514`` are priced as
    ``gpt-4o-mini`` and ``claude-sonnet-4``). Anything else has no price."""
    if model is None:
        return None
    found = prices.get(model)
    if found is None:
        match = _DATED.search(model)
        if match is not None and match.end() == len(model):
            found = prices.get(model[: match.start()])
    return found


class StatsQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What to total: the grouping, a window ``[since_us, until_us)`` (open ends: all
    time), one session (its full id) or all, and which calendar days count."""

    by: Grouping = "day"
    since_us: int | None = None
    until_us: int | None = None
    session_id: str | None = None
    utc: bool = False


class StatsRow(msgspec.Struct, frozen=True, kw_only=True):
    """The totals of one group (``key`` None: no model, backend or tag recorded)."""

    key: str | None
    messages: int = 0
    sessions: int = 0
    tokens: int = 0
    user_tokens: int = 0
    assistant_tokens: int = 0
    estimated_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None  # USD; None: nothing in the group could be priced
    unpriced: int = 0  # replies whose cost is unknown (no price, or no usage reported)


ROW_FIELDS: Final[tuple[str, ...]] = StatsRow.__struct_fields__


class StatsReport(msgspec.Struct, frozen=True, kw_only=True):
    by: Grouping
    utc: bool  # calendar days of UTC (else of local time)
    timezone: str  # the zone's abbreviation ("UTC", "CET", ...)
    since: str | None  # ISO instants of the window's ends (None: open)
    until: str | None
    session_id: str | None
    rows: list[StatsRow]
    total: StatsRow
    unpriced_models: list[str]  # models with replies but no price, most used first


# ---------------------------------------------------------------------- calendar


class Calendar:
    """Calendar days of local time (the process's ``TZ``) or of UTC, as instants."""

    def __init__(self, utc: bool) -> None:
        self.utc = utc

    @property
    def zone(self) -> str:
        if self.utc:
            return "UTC"
        return time.tzname[time.localtime().tm_isdst > 0] or "local"

    def midnight_us(self, day: dt.date) -> int:
        """The instant the day starts (a local midnight skipped by a clock change: the
        first instant of that day)."""
        fields = (day.year, day.month, day.day, 0, 0, 0, 0, 0, -1)
        try:
            seconds = calendar.timegm(fields) if self.utc else int(time.mktime(fields))
        except (OverflowError, ValueError) as exc:
            raise InvalidArgumentError(f"date out of range: {day}") from exc
        return seconds * US

    def date_of(self, instant_us: int) -> dt.date:
        try:
            seconds = instant_us // US
            fields = time.gmtime(seconds) if self.utc else time.localtime(seconds)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidArgumentError(f"instant out of range: {instant_us}") from exc
        return dt.date(fields.tm_year, fields.tm_mon, fields.tm_mday)

    def iso(self, instant_us: int) -> str:
        moment = dt.datetime.fromtimestamp(instant_us / US, dt.UTC)
        return moment.isoformat() if self.utc else moment.astimezone().isoformat()


def bucket_start(by: str, day: dt.date) -> dt.date:
    if by == "week":
        return day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday
    if by == "month":
        return day.replace(day=1)
    return day


def next_bucket(by: str, start: dt.date) -> dt.date:
    if by == "week":
        return start + dt.timedelta(days=7)
    if by == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=1)


def bucket_label(by: str, start: dt.date) -> str:
    if by == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return f"{start.year:04d}-{start.month:02d}"
    return start.isoformat()


def buckets(by: str, cal: Calendar, lo_us: int, hi_us: int) -> list[tuple[str, int, int]]:
    """``(label, start, end)`` of every bucket meeting ``[lo_us, hi_us)``, clipped to it."""
    out: list[tuple[str, int, int]] = []
    start = bucket_start(by, cal.date_of(lo_us))
    start_us = cal.midnight_us(start)
    while start_us < hi_us:
        if len(out) >= MAX_BUCKETS:
            raise InvalidArgumentError(
                f"the window holds more than {MAX_BUCKETS} {by}s: narrow it with "
                "--since/--until or group by a longer period"
            )
        end = next_bucket(by, start)
        end_us = cal.midnight_us(end)
        if end_us > lo_us:
            out.append((bucket_label(by, start), max(start_us, lo_us), min(end_us, hi_us)))
        start, start_us = end, end_us
    return out


# ---------------------------------------------------------------------- queries

# Per group and model: messages, tokens (all / user / assistant / estimated), reported
# input and output tokens, replies, and replies with no usage reported.
_SUMS: Final = (
    "count(*), total(m.token_count),"
    " total(CASE WHEN m.role = 'user' THEN m.token_count END),"
    " total(CASE WHEN m.role = 'assistant' THEN m.token_count END),"
    " total(CASE WHEN m.estimated THEN m.token_count END),"
    " total(m.input_tokens), total(m.output_tokens),"
    " total(m.role = 'assistant'),"
    " total(m.role = 'assistant' AND m.input_tokens IS NULL AND m.output_tokens IS NULL)"
)


class _Plan(msgspec.Struct, frozen=True):
    source: str  # FROM ... (with the window and session conditions)
    key: str  # the group's key expression
    params: tuple[Any, ...]


def _plan(
    query: StatsQuery,
    session_key: int | None,
    bounds: list[tuple[str, int, int]],
    forks: bool,
) -> _Plan:
    where: list[str] = []
    params: list[Any] = []
    if forks:  # a fork's copies of its parent's messages were spent in the parent
        where.append("m.seq > (SELECT parent_seq FROM sessions AS f WHERE f.id = m.session)")
    if session_key is not None:
        where.append("m.session = ?")
        params.append(session_key)
    if query.by in TIME_GROUPINGS:
        source = (
            "json_each(?) AS b CROSS JOIN messages AS m"
            " ON m.ts_us >= b.value ->> 1 AND m.ts_us < b.value ->> 2"
        )
        params.insert(0, msgspec.json.encode(bounds).decode())
        key = "b.value ->> 0"
    else:
        source = "messages AS m"
        if query.since_us is not None:
            where.append("m.ts_us >= ?")
            params.append(query.since_us)
        if query.until_us is not None:
            where.append("m.ts_us < ?")
            params.append(query.until_us)
        if query.by == "tag":
            source += (
                " JOIN sessions AS s ON s.id = m.session"
                " LEFT JOIN json_each(CASE WHEN json_valid(s.tags) THEN s.tags END) AS t"
            )
            key = "t.value"
        elif query.by == "backend":
            source += " JOIN sessions AS s ON s.id = m.session"
            # Imported messages name no backend: the importer's source stands in for it.
            key = (
                "coalesce(m.backend, CASE WHEN json_valid(s.metadata) THEN"
                " 'import:' || (s.metadata ->> '$.import.source') END)"
            )
        elif query.by == "session":
            key = "m.session"
        else:
            key = "m.model"
    if where:
        source += " WHERE " + " AND ".join(where)
    return _Plan(source, key, tuple(params))


def _window(db: ProjectionDB, query: StatsQuery, session_key: int | None) -> tuple[int, int]:
    """The window with open ends closed at the first and last message (0, 0: none)."""
    where, params = ("WHERE session = ?", (session_key,)) if session_key is not None else ("", ())
    first, last = db.query(f"SELECT min(ts_us), max(ts_us) FROM messages {where}", params)[0]
    if first is None:
        return 0, 0
    lo = query.since_us if query.since_us is not None else int(first)
    hi = query.until_us if query.until_us is not None else int(last) + 1
    return lo, hi


def compute(db: ProjectionDB, query: StatsQuery, prices: Mapping[str, Price]) -> StatsReport:
    """The report for ``query`` from the database as it is (callers catch it up first)."""
    cal = Calendar(query.utc)
    session_key: int | None = None
    if query.session_id is not None:
        session_key = db.session_key(query.session_id)
        if session_key is None:
            session_key = -1  # a session with no row yet: nothing to count
    bounds: list[tuple[str, int, int]] = []
    if query.by in TIME_GROUPINGS:
        lo, hi = _window(db, query, session_key)
        bounds = buckets(query.by, cal, lo, hi) if lo < hi else []
    forks = bool(db.query("SELECT 1 FROM sessions WHERE parent IS NOT NULL LIMIT 1"))
    plan = _plan(query, session_key, bounds, forks)
    grouped = db.query(
        f"SELECT {plan.key}, m.model, {_SUMS} FROM {plan.source} GROUP BY 1, 2", plan.params
    )
    if query.by == "session":
        sessions = {row[0]: 1 for row in grouped}
    else:
        sessions = dict(
            db.query(
                f"SELECT {plan.key}, count(DISTINCT m.session) FROM {plan.source} GROUP BY 1",
                plan.params,
            )
        )
    # The total counts every message once: the groups' sums, except by tag (a message
    # counts under each of its session's tags), where it is a query of its own.
    total_plan = _plan(msgspec.structs.replace(query, by="model"), session_key, [], forks)
    if query.by == "tag":
        total_grouped = db.query(
            f"SELECT NULL, m.model, {_SUMS} FROM {total_plan.source} GROUP BY 2",
            total_plan.params,
        )
    else:
        total_grouped = [(None, *row[1:]) for row in grouped]
    if query.by == "session":
        total_sessions = len(sessions)
    elif query.by in TIME_GROUPINGS and not bounds:
        total_sessions = 0
    else:
        total_sessions = db.query(
            f"SELECT count(DISTINCT m.session) FROM {total_plan.source}", total_plan.params
        )[0][0]

    unpriced_replies: dict[str, int] = defaultdict(int)
    rows = _fold(grouped, sessions, prices, unpriced_replies)
    total = _fold(total_grouped, {None: total_sessions}, prices, defaultdict(int))
    total_row = msgspec.structs.replace(
        total[0] if total else StatsRow(key=None), key=None, sessions=int(total_sessions)
    )

    if query.by in TIME_GROUPINGS:  # every bucket of the window, in time order
        found = {row.key: row for row in rows}
        rows = [found.get(label) or StatsRow(key=label) for label, _, _ in bounds]
    elif query.by == "session":
        names = _session_names(db, [row.key for row in rows if row.key is not None])
        rows = [msgspec.structs.replace(row, key=names.get(row.key or "")) for row in rows]
        rows.sort(key=lambda row: row.key or "")
    else:
        rows.sort(key=lambda row: (-row.tokens, -row.messages, row.key is None, row.key or ""))
    return StatsReport(
        by=query.by,
        utc=query.utc,
        timezone=cal.zone,
        since=cal.iso(query.since_us) if query.since_us is not None else None,
        until=cal.iso(query.until_us) if query.until_us is not None else None,
        session_id=query.session_id,
        rows=rows,
        total=total_row,
        unpriced_models=sorted(unpriced_replies, key=lambda m: (-unpriced_replies[m], m)),
    )


def _fold(
    grouped: list[tuple[Any, ...]],
    sessions: Mapping[Any, Any],
    prices: Mapping[str, Price],
    unpriced_models: dict[str, int],
) -> list[StatsRow]:
    """One row per key from per-(key, model) sums: counts added, cost priced per model."""
    acc: dict[Any, list[int]] = {}
    cost: dict[Any, float] = {}
    priced: set[Any] = set()
    for key, model, *sums in sorted(grouped, key=lambda g: (str(g[0]), str(g[1]))):
        messages, tokens, user, assistant, estimated, inp, out, replies, no_usage = (
            int(v) for v in sums
        )
        numbers = acc.setdefault(key, [0] * 8)
        for i, value in enumerate((messages, tokens, user, assistant, estimated, inp, out)):
            numbers[i] += value
        price = price_for(model, prices)
        if price is None:
            numbers[7] += replies
            if replies:
                unpriced_models[model or "(no model recorded)"] += replies
        else:
            numbers[7] += no_usage
            if replies - no_usage or inp or out:
                priced.add(key)
                cost[key] = cost.get(key, 0.0) + (inp * price.input + out * price.output) / US
    return [
        StatsRow(
            key=None if key is None else str(key),
            messages=n[0],
            sessions=int(sessions.get(key, 0)),
            tokens=n[1],
            user_tokens=n[2],
            assistant_tokens=n[3],
            estimated_tokens=n[4],
            input_tokens=n[5],
            output_tokens=n[6],
            cost=round(cost.get(key, 0.0), 6) if key in priced else None,
            unpriced=n[7],
        )
        for key, n in acc.items()
    ]


def _session_names(db: ProjectionDB, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    rows = db.query(
        "SELECT id, session_id FROM sessions WHERE id IN (SELECT value FROM json_each(?))",
        (msgspec.json.encode([int(k) for k in keys]).decode(),),
    )
    return {str(key): sid for key, sid in rows}


# ---------------------------------------------------------------------- window ends

_RELATIVE = re.compile(r"(\d{1,5})d")


def parse_bound(text: str, cal: Calendar, *, end: bool, today: dt.date | None = None) -> int:
    """A window end as an instant. ``YYYY-MM-DD`` is that calendar day (local, or UTC for
    a UTC calendar): its start for ``since``, its end for ``until`` (so ``--until`` names
    the last day included); ``today``, ``yesterday`` and ``Nd`` (N days before today) are
    days too. A date and time is an instant: with an offset as given, without one in the
    calendar's zone."""
    text = text.strip()
    today = today or cal.date_of(time.time_ns() // 1000)
    day: dt.date | None = None
    if text == "today":
        day = today
    elif text == "yesterday":
        day = today - dt.timedelta(days=1)
    elif (relative := _RELATIVE.fullmatch(text)) is not None:
        day = today - dt.timedelta(days=int(relative[1]))
    elif len(text) == 10:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            day = None
    if day is not None:
        return cal.midnight_us(day + dt.timedelta(days=1) if end else day)
    try:
        moment = dt.datetime.fromisoformat(text) if len(text) <= 40 else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidArgumentError(
            f"not a date: {text!r} (use YYYY-MM-DD, YYYY-MM-DDTHH:MM[+HH:MM], today, "
            "yesterday or Nd)"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC) if cal.utc else moment.astimezone()
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds
