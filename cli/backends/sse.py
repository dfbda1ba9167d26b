"""Server-sent events: the ``data`` payloads of an event stream, one per event.

Follows the WHATWG rules the chat-completions streams rely on: ``data:`` lines (one
optional space after the colon) accumulate, joined by newlines, until a blank line ends
the event; ``:`` lines are comments; other fields (``event``, ``id``, ``retry``) are
ignored. A final event without its blank line is still delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator


async def iter_sse_data(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)
