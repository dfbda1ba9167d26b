"""``chatlog stats``: how many tokens were spent, on what, and when — as a summary, a chart
and a table for people, or as JSON / CSV (the same numbers) for scripts.

The numbers come from :mod:`projections.stats` (the projection database, never the logs);
this module parses the window, loads the price table (shipped defaults, then config.toml's
``[prices]``), and renders. The REPL's ``/stats`` and the server's ``session.stats`` use
the same functions. Charts are drawn by plotext, and only on a terminal with colour (see
:func:`cli.output.use_color`); otherwise the output is plain text.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import shutil
import time
from pathlib import Path
from typing import Any, Final, TextIO

import msgspec

from cli.arguments import JSON_HELP, SESSION_ID_HELP, resolve_session
from cli.backends.config import default_config_path, load_file_config
from cli.context import Context
from cli.output import to_json, use_color
from projections import Projections
from projections.safe_text import terminal_safe
from projections.stats import (
    DEFAULT_PRICES,
    GROUPINGS,
    ROW_FIELDS,
    Calendar,
    Grouping,
    Price,
    StatsQuery,
    StatsReport,
    StatsRow,
    parse_bound,
)

DEFAULT_DAYS: Final = 30  # the default view: the last 30 days, today included
CHART_HEIGHT: Final = 15
LABEL_WIDTH: Final = 24
NO_KEY: Final = {"model": "(no model)", "backend": "(no backend)", "tag": "(untagged)"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = sub.add_parser(
        "stats",
        help="messages, tokens, sessions and cost, by day, model, session, ...",
        description="Without --by: a summary and a chart of tokens per day for the last "
        f"{DEFAULT_DAYS} days. Days are local calendar days unless --utc is given.",
    )
    stats.add_argument("--by", choices=GROUPINGS, help="group by (default: day)")
    stats.add_argument(
        "--since", metavar="DATE", help="from DATE (YYYY-MM-DD, a date and time, today, 7d)"
    )
    stats.add_argument("--until", metavar="DATE", help="up to DATE, that day included")
    stats.add_argument("--session", metavar="ID", help=f"only this session: {SESSION_ID_HELP}")
    stats.add_argument(
        "--utc", action="store_true", help="UTC days and dates (default: local time)"
    )
    output = stats.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help=JSON_HELP)
    output.add_argument("--csv", action="store_true", help="the numbers as CSV")
    stats.set_defaults(handler=run_stats)


# ---------------------------------------------------------------------- shared pieces


def load_prices(config_path: Path | None = None) -> dict[str, Price]:
    """The shipped price table with config.toml's ``[prices]`` entries over it."""
    config = load_file_config(config_path or default_config_path())
    return {**DEFAULT_PRICES, **config.prices}


def build_query(
    *,
    by: str | None,
    since: str | None,
    until: str | None,
    session_id: str | None,
    utc: bool,
    default_days: int | None = None,
) -> StatsQuery:
    """A query from user-given text (the CLI's options, a slash command, RPC params).
    ``default_days``: the window when no ``since`` is given (None: all time)."""
    cal = Calendar(utc)
    since_us = parse_bound(since, cal, end=False) if since is not None else None
    if since_us is None and default_days is not None:
        since_us = parse_bound(f"{default_days - 1}d", cal, end=False)
    until_us = parse_bound(until, cal, end=True) if until is not None else None
    grouping: Grouping = "day"
    if by is not None:
        if by not in GROUPINGS:
            from eventlog import InvalidArgumentError

            raise InvalidArgumentError(f"cannot group by {by!r} (choose {', '.join(GROUPINGS)})")
        grouping = by  # type: ignore[assignment]  # checked above
    return StatsQuery(
        by=grouping, since_us=since_us, until_us=until_us, session_id=session_id, utc=utc
    )


def report_dict(report: StatsReport) -> dict[str, Any]:
    """The report as JSON-ready data (``--json`` and ``session.stats``)."""
    return msgspec.to_builtins(report)  # type: ignore[no-any-return]


def csv_text(report: StatsReport) -> str:
    """One line per group and a last ``total`` line, the columns of ``--json``'s rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ROW_FIELDS)
    for row in [*report.rows, msgspec.structs.replace(report.total, key="total")]:
        values = msgspec.structs.astuple(row)
        writer.writerow("" if value is None else value for value in values)
    return out.getvalue()


def number(value: int) -> str:
    return f"{value:,}"


def count(value: int, noun: str, nouns: str | None = None) -> str:
    """``1 message``, ``2,000 messages``."""
    return f"{number(value)} {noun if value == 1 else nouns or noun + 's'}"


def short_number(value: int) -> str:
    """``950``, ``12.5k``, ``3.2M`` (chart axes)."""
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= limit:
            return f"{value / limit:.1f}".removesuffix(".0") + suffix
    return str(value)


def money(row: StatsRow) -> str:
    """``$1.23``; ``$1.23+`` when some replies have no price; ``no price``; ``-``."""
    if row.cost is None:
        return "no price" if row.unpriced else "-"
    text = f"${row.cost:,.2f}" if row.cost >= 1 else f"${row.cost:.4f}"
    return text + ("+" if row.unpriced else "")


def summary_lines(report: StatsReport, heading: str) -> list[str]:
    """A few lines that answer "how much, on what" for the report's window."""
    t = report.total
    lines = [f"{heading}: {count(t.messages, 'message')} in {count(t.sessions, 'session')}"]
    estimated = f"; {number(t.estimated_tokens)} estimated" if t.estimated_tokens else ""
    lines.append(
        f"  tokens   {number(t.tokens)} (user {number(t.user_tokens)}, "
        f"assistant {number(t.assistant_tokens)}{estimated})"
    )
    if t.input_tokens or t.output_tokens:
        lines.append(f"  reported {number(t.input_tokens)} input, {number(t.output_tokens)} output")
    cost = f"  cost     {money(t)}"
    if report.unpriced_models:
        models = report.unpriced_models
        shown = ", ".join(models[:4]) + (f" and {len(models) - 4} more" if len(models) > 4 else "")
        cost += f"  ({count(t.unpriced, 'reply', 'replies')} with no price: {shown})"
    lines.append(cost)
    return [terminal_safe(line) for line in lines]


def table_lines(report: StatsReport, *, skip_empty: bool) -> list[str]:
    """The rows as an aligned plain-text table (empty time buckets left out on request)."""
    header = ("", "MSGS", "SESSIONS", "TOKENS", "USER", "ASSISTANT", "EST.", "INPUT", "OUTPUT")
    body = [
        (
            _label(report, row.key),
            number(row.messages),
            number(row.sessions),
            number(row.tokens),
            number(row.user_tokens),
            number(row.assistant_tokens),
            number(row.estimated_tokens),
            number(row.input_tokens),
            number(row.output_tokens),
            money(row),
        )
        for row in report.rows
        if row.messages or not skip_empty
    ]
    total = report.total
    body.append(
        (
            "total",
            number(total.messages),
            number(total.sessions),
            number(total.tokens),
            number(total.user_tokens),
            number(total.assistant_tokens),
            number(total.estimated_tokens),
            number(total.input_tokens),
            number(total.output_tokens),
            money(total),
        )
    )
    cells = [(report.by.upper(), *header[1:], "COST"), *body]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r)
        ).rstrip()
        for r in cells
    ]


def _label(report: StatsReport, key: str | None) -> str:
    if key is None:
        return NO_KEY.get(report.by, "-")
    return terminal_safe(key)


def chart(report: StatsReport, width: int, *, title: str) -> str:
    """Tokens per group as a bar chart (vertical for time, horizontal otherwise)."""
    import plotext as plt  # type: ignore[import-untyped]  # loaded only to draw

    rows = report.rows
    timeline = report.by in ("day", "week", "month")
    if not timeline:
        rows = rows[: CHART_HEIGHT - 3]
    labels = [_short(_label(report, row.key), timeline) for row in rows]
    values = [row.tokens for row in rows]
    plt.clear_figure()
    plt.plotsize(width, CHART_HEIGHT + (0 if timeline else len(rows)))
    plt.bar(
        labels or ["-"],
        values or [0],
        orientation="vertical" if timeline else "horizontal",
        width=0.6,
    )
    top = max(values, default=0)
    ticks = [round(top * i / 4) for i in range(5)] if top else [0]
    if timeline:
        plt.yticks(ticks, [short_number(t) for t in ticks])
    else:
        plt.xticks(ticks, [short_number(t) for t in ticks])
    plt.theme("pro")
    plt.title(title)
    text: str = plt.build()
    plt.clear_figure()
    return text


def _short(label: str, timeline: bool) -> str:
    if timeline and len(label) == 10:  # 2026-11-30 -> 11-30
        return label[5:]
    return label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 1] + "…"


def window_heading(report: StatsReport, default_days: int | None) -> str:
    zone = "UTC days" if report.utc else f"local days, {report.timezone}"
    if report.since is None and report.until is None:
        span = "All time"
    elif default_days is not None and report.until is None:
        span = f"Last {default_days} days"
    else:
        span = f"From {_when(report.since, 'the start')} {_until(report.until)}"
    return f"{span} ({zone})"


def _when(iso: str | None, missing: str) -> str:
    """``2026-11-24`` for a midnight, ``2026-11-24 13:05`` otherwise."""
    if iso is None:
        return missing
    text = iso[:16].replace("T", " ")
    return text.removesuffix(" 00:00")


def _until(iso: str | None) -> str:
    """``to 2026-11-29`` (that day included) for a midnight, ``before 13:05 ...`` else."""
    if iso is None:
        return "to now"
    if iso[11:16] != "00:00":
        return f"before {_when(iso, '')}"
    last_day = dt.date.fromisoformat(iso[:10]) - dt.timedelta(days=1)
    return f"to {last_day.isoformat()}"


# ---------------------------------------------------------------------- the command


def run_stats(args: argparse.Namespace, ctx: Context) -> int:
    default_view = args.by is None
    session_id = resolve_session(ctx.log, args.session) if args.session else None
    query = build_query(
        by=args.by,
        since=args.since,
        until=args.until,
        session_id=session_id,
        utc=args.utc,
        default_days=DEFAULT_DAYS if default_view else None,
    )
    prices = load_prices()
    with Projections(ctx.log, layout=ctx.layout) as projections:
        report = projections.stats(query, prices)
    if args.json:
        ctx.out(to_json(report_dict(report)))
        return 0
    if args.csv:
        ctx.stdout.write(csv_text(report))
        return 0
    shown_days = DEFAULT_DAYS if default_view and not args.since else None
    write_text(report, ctx.stdout, default_days=shown_days, default_view=default_view)
    return 0


def write_text(
    report: StatsReport, stream: TextIO, *, default_days: int | None, default_view: bool
) -> None:
    """Summary, chart (terminal with colour only) and, unless it is the default view on a
    terminal, the table."""
    heading = window_heading(report, default_days)
    if report.session_id:
        heading += f", session {report.session_id}"
    lines = summary_lines(report, heading)
    draw = use_color(stream)
    if draw and report.total.messages:
        width = min(shutil.get_terminal_size((100, 24)).columns, 120)
        lines += ["", chart(report, width, title=f"tokens per {report.by}")]
    if not (draw and default_view):
        lines += ["", *table_lines(report, skip_empty=True)]
    stream.write("\n".join(lines) + "\n")


def session_and_today(projections: Projections, session_id: str | None) -> list[str]:
    """The REPL's ``/stats``: the summary of one session (if saved yet) and of today so
    far (the local day)."""
    prices = load_prices()
    lines: list[str] = []
    if session_id is not None:
        report = projections.stats(StatsQuery(by="model", session_id=session_id), prices)
        lines += summary_lines(report, f"This session ({session_id})")
    else:
        lines.append("This session: nothing saved yet")
    cal = Calendar(utc=False)
    midnight = cal.midnight_us(cal.date_of(time.time_ns() // 1000))
    report = projections.stats(StatsQuery(by="model", since_us=midnight), prices)
    lines += summary_lines(report, f"Today (local day, {report.timezone})")
    return lines
