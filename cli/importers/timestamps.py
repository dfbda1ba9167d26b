"""Source timestamps to chatlog's form: UTC ISO-8601 with an explicit offset.

Sources write times three ways: Unix epochs (ChatGPT), ISO strings with an offset or
``Z`` (Claude Code, Claude.ai), and naive ISO strings (the replaced system wrote local
time; llm writes UTC). Each parser says which zone a naive value is in. Values that do not
parse give None; the parser then falls back to a neighbouring time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from typing import Literal

NaiveZone = Literal["utc", "local"]


def from_epoch(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    try:
        return datetime.fromtimestamp(value, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(value: object, naive: NaiveZone = "utc") -> str | None:
    """An ISO-8601 string as UTC with offset; a naive value is read in the ``naive`` zone."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        zone: tzinfo | None = UTC if naive == "utc" else None
        # astimezone() on a naive value interprets it in the machine's local zone.
        moment = moment.replace(tzinfo=zone) if zone else moment.astimezone()
    return moment.astimezone(UTC).isoformat()


def to_datetime(iso: str) -> datetime:
    """Parse a value produced by this module (always aware)."""
    return datetime.fromisoformat(iso)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
