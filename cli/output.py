"""Printing helpers shared by commands: JSON output and human-readable event lines."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

from eventlog import (
    AnyEvent,
    Message,
    SessionCreated,
    SessionTagged,
    SessionTitled,
    SessionUntagged,
)
from eventlog.clock import parse_timestamp
from eventlog.events import MessageRedacted, SessionForked, event_type
from projections.safe_text import terminal_safe

_json = msgspec.json.Encoder()


def to_json(value: Any, *, pretty: bool = False) -> str:
    data = _json.encode(value)
    if pretty:
        data = msgspec.json.format(data, indent=2)
    return data.decode()


def event_as_dict(event: AnyEvent, session_id: str | None = None) -> dict[str, Any]:
    """The event as a JSON-ready dict with its ``type`` tag (and optionally its session)."""
    data: dict[str, Any] = {"type": event_type(event)}
    data.update(msgspec.structs.asdict(event))
    if session_id is not None:
        data["session_id"] = session_id
    return data


def local_time(ts: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    try:
        return parse_timestamp(ts).astimezone().strftime(fmt)
    except ValueError:
        return terminal_safe(ts)


def describe_event(event: AnyEvent) -> str:
    """One event as a human line (multi-line content indented under it), terminal-safe."""
    return terminal_safe(_event_line(event))


def _event_line(event: AnyEvent) -> str:
    head = f"#{event.seq:<5} {local_time(event.ts)}"
    match event:
        case Message(role=role, content=content, token_count=tokens):
            extra = f" ({tokens} tokens)" if tokens is not None else ""
            body = content.replace("\n", "\n" + " " * 8)
            return f"{head}  {role}{extra}: {body}"
        case SessionCreated(session_id=sid, title=title, tags=tags):
            return (
                f"{head}  created {sid}"
                + (f" {title!r}" if title else "")
                + (f" tags={','.join(tags)}" if tags else "")
            )
        case SessionTitled(title=title):
            return f"{head}  titled {title!r}"
        case SessionTagged(tag=tag):
            return f"{head}  tagged {tag}"
        case SessionUntagged(tag=tag):
            return f"{head}  untagged {tag}"
        case SessionForked(parent=parent, parent_seq=parent_seq):
            return f"{head}  forked from {parent} at #{parent_seq}"
        case MessageRedacted(target=target, reason=reason):
            return f"{head}  redacted #{target}" + (f" ({reason})" if reason else "")
        case _:
            return f"{head}  {event_type(event)}"


def is_terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal (False for anything without a working isatty)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def use_color(stream: object, env: Mapping[str, str] | None = None) -> bool:
    """Colours (and rich rendering) only on a terminal, never with NO_COLOR or TERM=dumb."""
    env = os.environ if env is None else env
    return is_terminal(stream) and not env.get("NO_COLOR") and env.get("TERM", "") != "dumb"


def plural(count: int, noun: str) -> str:
    """``1 message``, ``2 messages``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
