"""The offline backend: echoes the last user message; :attr:`EchoBackend.setup_hint` says
how to configure a real model.

It is what runs when nothing is configured. Every reply is marked ``(echo)`` so it is plain
that no model answered; the setup hint is for the screen (the REPL shows it once), never
part of a reply, so it does not land in the log, exports or search. It reports no usage:
the caller's token counts are estimates.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from cli.backends.base import ChatMessage, ReplyDone, StreamItem, TextDelta


def setup_hint(config_path: Path | None) -> str:
    """How to get a real model, in one paragraph."""
    where = f" or set `backend`/`model`/`base_url` in `{config_path}`" if config_path else ""
    return (
        "No model is configured, so this is an echo. To talk to a model, set "
        "`OPENAI_BASE_URL` (e.g. `http://localhost:11434/v1` for Ollama) and/or "
        f"`OPENAI_API_KEY` and pass `--model NAME`{where}."
    )


class EchoBackend:
    name = "echo"
    model: str | None = None

    def __init__(self, config_path: Path | None = None) -> None:
        self.setup_hint = setup_hint(config_path)

    def describe(self) -> str:
        return "echo (offline: no model is configured)"

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[StreamItem]:
        import asyncio  # already loaded by the running loop; kept out of CLI start-up

        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        reply = f"(echo) {last_user}"
        # Stream word by word so the offline reply takes the same path as a model's.
        for piece in re.findall(r"\S+\s*|\s+", reply):
            yield TextDelta(piece)
            await asyncio.sleep(0)
        # No Usage: nothing counted these tokens, so the caller estimates and says so.
        yield ReplyDone(model=None, finish_reason="stop")

    async def aclose(self) -> None:
        return None
