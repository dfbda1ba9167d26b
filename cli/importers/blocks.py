"""Anthropic-style content blocks (Claude Code transcripts, Claude.ai exports) as text.

A message's ``content`` is a string or a list of blocks: ``text``, ``thinking``,
``tool_use`` (a call: id, name, input) and ``tool_result`` (its answer, pointing at the
call's id). chatlog keeps the text, writes each call as one readable line of text
(:func:`projections.toolcalls.call_line`; its id, name and input go to metadata) and turns
each result into a ``tool`` message. The blocks are split
into parts in their order: a run of text and calls is one :class:`TextPart`, each result
one :class:`ToolResult`. Blocks with no text (images, documents) are counted as skipped.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from projections.toolcalls import call_line

_json = msgspec.json.Encoder()
CALL_TYPES = frozenset({"tool_use", "server_tool_use"})


class ToolCall(NamedTuple):
    id: str
    name: str
    arguments: Any = None

    def as_metadata(self) -> dict[str, Any]:
        """The call as kept in a message's ``metadata["tool_calls"]``."""
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


class TextPart(NamedTuple):
    text: str  # text blocks and rendered tool calls, in order
    tool_calls: tuple[ToolCall, ...]
    thinking: str


class ToolResult(NamedTuple):
    tool_call_id: str
    content: str
    is_error: bool


Part = TextPart | ToolResult


class Blocks(NamedTuple):
    parts: list[Part]
    skipped: list[str]  # one reason per block left out

    @property
    def text_parts(self) -> list[TextPart]:
        return [p for p in self.parts if isinstance(p, TextPart)]


def _result_text(content: object, skipped: list[str]) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text") or ""))
            elif isinstance(block, str):
                parts.append(block)
            else:
                kind = block.get("type") if isinstance(block, dict) else type(block).__name__
                skipped.append(f"{kind} block in a tool result (not text)")
        return "\n".join(parts)
    if content is None:
        return ""
    return _json.encode(content).decode()


class _Run:
    """Text blocks and calls accumulating into one TextPart."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls: list[ToolCall] = []
        self.thinking: list[str] = []

    def flush(self, parts: list[Part]) -> None:
        if self.texts or self.calls or self.thinking:
            parts.append(
                TextPart("\n\n".join(self.texts), tuple(self.calls), "\n\n".join(self.thinking))
            )
        self.texts, self.calls, self.thinking = [], [], []


def split_blocks(content: object) -> Blocks:
    """Split a message's content (a string or a list of blocks) into ordered parts."""
    if isinstance(content, str):
        return Blocks([TextPart(content, (), "")] if content.strip() else [], [])
    parts: list[Part] = []
    skipped: list[str] = []
    run = _Run()
    for block in content if isinstance(content, list) else []:
        if isinstance(block, str):
            run.texts += [block] if block.strip() else []
            continue
        if not isinstance(block, dict):
            skipped.append(f"{type(block).__name__} block (not an object)")
            continue
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if isinstance(text, str) and text.strip():
                run.texts.append(text)
        elif kind == "thinking":
            text = block.get("thinking")
            if isinstance(text, str) and text.strip():
                run.thinking.append(text)
        elif kind in CALL_TYPES:
            name = str(block.get("name") or "tool")
            arguments = block.get("input")
            run.calls.append(ToolCall(str(block.get("id") or ""), name, arguments))
            run.texts.append(call_line(name, arguments))
        elif kind == "tool_result":
            run.flush(parts)
            parts.append(
                ToolResult(
                    str(block.get("tool_use_id") or ""),
                    _result_text(block.get("content"), skipped),
                    bool(block.get("is_error")),
                )
            )
        else:
            skipped.append(f"{kind or 'untyped'} block (not text)")
    run.flush(parts)
    return Blocks(parts, skipped)
