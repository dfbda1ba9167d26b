"""Timestamps: UTC ISO-8601 with an explicit offset, microsecond precision."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()


def parse_timestamp(text: str) -> datetime:
    """Parse an event timestamp; naive values (the replaced system wrote them) count as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
