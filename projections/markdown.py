"""Markdown export: the seed's format, rendered from a snapshot.

Times are shown in UTC, so an export (like every projection file) is the same on every
machine whatever its timezone; the command line shows local times in its own tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Final

from eventlog.clock import parse_timestamp
from projections.records import SessionMeta, SessionSnapshot, SnapshotMessage
from projections.safe_text import terminal_safe
from projections.toolcalls import markdown_body

UNTITLED: Final = "Untitled Session"
ROLE_HEADINGS: Final[dict[str, str]] = {
    "user": "👤 User",
    "assistant": "🤖 Assistant",
    "system": "🧭 System",
    "tool": "🔧 Tool",
}


def utc_time(ts: str, fmt: str) -> str:
    """``ts`` formatted in UTC (shown as stored when it is not a timestamp)."""
    try:
        return parse_timestamp(ts).astimezone(UTC).strftime(fmt)
    except ValueError:
        return terminal_safe(ts)


def render(snapshot: SessionSnapshot) -> str:
    return "".join(render_chunks(snapshot.metadata, snapshot.messages))


def render_chunks(meta: SessionMeta, messages: Iterable[SnapshotMessage]) -> Iterator[str]:
    """The export a piece at a time (the header, then one piece per message), so a session
    of any length is written with bounded memory."""
    yield render_header(meta)
    for message in messages:
        yield "\n" + render_message(message)


def render_header(meta: SessionMeta) -> str:
    lines = [
        f"# {terminal_safe(meta.title or UNTITLED)}",
        "",
        f"**Session ID:** {meta.session_id}",
        f"**Created:** {utc_time(meta.created_at, '%Y-%m-%d %H:%M:%S UTC')}",
        f"**Updated:** {utc_time(meta.updated_at, '%Y-%m-%d %H:%M:%S UTC')}",
        f"**Messages:** {meta.message_count}",
        f"**Total Tokens:** {meta.total_tokens}",
        "",
        "---",
        "",
    ]
    return "\n".join(lines)


def render_message(message: SnapshotMessage) -> str:
    heading = terminal_safe(ROLE_HEADINGS.get(message.role, message.role.title()))
    lines = [
        f"## {heading} [{utc_time(message.timestamp, '%H:%M:%S UTC')}]",
        "",
        terminal_safe(markdown_body(message.role, message.content, message.metadata)),
        "",
    ]
    return "\n".join(lines)
