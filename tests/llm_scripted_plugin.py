"""A model plugin for ``llm``, registered through llm's own plugin hooks, for the llm backend's
tests: it streams slowly, fails mid-stream, reports usage, resolves to a dated model and
makes tool calls, as real provider plugins do.

In the test process it is registered with ``llm.pm.register``; a ``chatlog chat`` started
by a test finds it as an installed plugin, through the ``llm`` entry point of a
``.dist-info`` directory the test writes on the child's ``PYTHONPATH``
(:func:`install_for_subprocess`).

What the model does is read from the last user message:

- ``slow N``: streams ``w0 w1 ... w(N-1)``, one word every :data:`SLOW_DELAY` seconds;
- ``fail after N``: streams N words, reports usage, then raises ``llm.ModelError``;
- ``crash``: raises an exception with a multi-line message before any text;
- ``tool``: calls the ``lookup`` tool and says so;
- anything else: replies ``roles: <the roles of prompt.messages> | system: <...> | you
  said: <the message>``, a word at a time.

Every reply reports usage (input: words in all messages; output: words streamed) with
token details, and ``scripted`` resolves to ``scripted-2026-01`` as a dated model would.
``scripted-sync`` has no async model (the backend runs it in a thread).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import llm

SLOW_DELAY = 0.05
DIST_NAME = "chatlog-llm-scripted"

# Set when a stream's generator is closed before its end (Ctrl+C): model id -> event.
closed_early: dict[str, threading.Event] = {}


class Plan(NamedTuple):
    chunks: list[str]
    error: str | None = None  # raised after the chunks
    delay: float = 0.0  # before each chunk


def _plan(prompt: llm.Prompt) -> Plan:
    text = prompt.prompt or ""
    command = text.split()
    if len(command) == 2 and command[0] == "slow":
        return Plan([f"w{n} " for n in range(int(command[1]))], delay=SLOW_DELAY)
    if len(command) == 3 and command[:2] == ["fail", "after"]:
        return Plan([f"w{n} " for n in range(int(command[2]))], "provider exploded\nat line 2")
    if text == "crash":
        return Plan([], "crash")
    if text == "tool":
        return Plan(["calling ", "lookup"])
    roles = ",".join(m.role for m in prompt.messages)
    words = f"roles: {roles} | system: {prompt.system or '-'} | you said: {text}".split(" ")
    return Plan([w + " " for w in words[:-1]] + words[-1:])


def _input_words(prompt: llm.Prompt) -> int:
    return sum(len(getattr(p, "text", "").split()) for m in prompt.messages for p in m.parts)


class _Shared:
    model_id: str
    can_stream = True
    resolved: str | None = "scripted-2026-01"

    def _begin(self, prompt: llm.Prompt, response: Any) -> Plan:
        if self.resolved:
            response.set_resolved_model(self.resolved)
        if prompt.prompt == "tool":
            response.add_tool_call(llm.ToolCall(name="lookup", arguments={"q": "capital"}))
        return _plan(prompt)

    def _finish(self, prompt: llm.Prompt, response: Any, plan: Plan) -> None:
        response.set_usage(
            input=_input_words(prompt),
            output=len(plan.chunks),
            details={"cached_input": 1, "odd": object()},
        )
        if plan.error == "crash":
            raise RuntimeError("the plugin crashed\nTraceback (most recent call last): ...")
        if plan.error is not None:
            raise llm.ModelError(plan.error)

    def _closed_early(self) -> None:
        closed_early.setdefault(self.model_id, threading.Event()).set()


class Scripted(_Shared, llm.Model):
    model_id = "scripted"

    def execute(self, prompt, stream, response, conversation=None) -> Iterator[str]:
        plan = self._begin(prompt, response)
        streamed = 0
        try:
            for chunk in plan.chunks:
                time.sleep(plan.delay)
                yield chunk
                streamed += 1
        finally:
            if streamed < len(plan.chunks):
                self._closed_early()
        self._finish(prompt, response, plan)


class AsyncScripted(_Shared, llm.AsyncModel):
    model_id = "scripted"

    async def execute(
        self, prompt, stream, response, conversation=None
    ) -> AsyncGenerator[str, None]:
        plan = self._begin(prompt, response)
        streamed = 0
        try:
            for chunk in plan.chunks:
                await asyncio.sleep(plan.delay)
                yield chunk
                streamed += 1
        finally:
            if streamed < len(plan.chunks):
                self._closed_early()
        self._finish(prompt, response, plan)


class ScriptedSync(Scripted):
    model_id = "scripted-sync"
    resolved = None


@llm.hookimpl
def register_models(register):
    register(Scripted(), AsyncScripted(), aliases=("sc",))
    register(ScriptedSync())


def install_for_subprocess(site: Path) -> None:
    """Make this module an installed llm plugin for processes with ``site`` (and the project
    root) on their ``PYTHONPATH``: the ``.dist-info`` pip would write for it."""
    info = site / f"{DIST_NAME.replace('-', '_')}-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: 0\n")
    (info / "entry_points.txt").write_text(f"[llm]\nscripted = {__name__}\n")
