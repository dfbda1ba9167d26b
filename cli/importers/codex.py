"""OpenAI Codex CLI rollouts: ``~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl``.

Since Codex 0.3x every line is an envelope ``{"timestamp", "type", "payload"}`` with
``type`` one of ``session_meta`` (id, cwd, git, cli_version, instructions),
``turn_context`` (cwd, model, policies: the model of the turns that follow),
``response_item`` (what the model saw and said: ``message`` with a role and
``input_text``/``output_text`` parts, ``reasoning`` with a ``summary``, ``function_call``
(name, JSON ``arguments``, ``call_id``), ``function_call_output`` (``call_id``, ``output``),
``custom_tool_call``/``custom_tool_call_output``, ``local_shell_call``, ``web_search_call``),
``event_msg`` (what the UI showed: ``token_count`` with ``last_token_usage`` after each
model call, and echoes of the messages) and ``compacted`` (a summary replacing history).
Older rollouts have no envelope: the first line is the session's metadata (id, timestamp,
instructions, git) and every other line a response item or a ``record_type`` marker.

What chatlog keeps: the user's and the assistant's messages; each call as an assistant
message (the call's line in its text, ``tool_calls`` with id, name and arguments in its
metadata) followed by a ``tool`` message holding the output, its ``exit_code`` when the
output reports one; reasoning summaries in the next assistant message's metadata; the
output token count of each model call on the last assistant message it produced (the
whole usage in ``metadata["usage"]``). Context Codex injects as user messages
(``<environment_context>``, ``<user_instructions>``, AGENTS.md instructions) and
developer messages are kept out of the user's messages: they go to the next user
message's ``metadata["injected"]`` (or the session's, when nothing follows). The
``event_msg`` echoes duplicate response items and are skipped. A message's identity is
its line number (rollouts only grow), a call's its ``call_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import msgspec

from cli.importers.inputs import Line
from cli.importers.records import (
    ImportedConversation,
    ImportedMessage,
    ImportFormatError,
    Parsed,
    Problem,
    Skipped,
)
from cli.importers.timestamps import from_iso, now_iso
from projections.toolcalls import call_line

SOURCE: Final = "codex"
ENVELOPE_TYPES: Final = frozenset(
    {"session_meta", "response_item", "event_msg", "turn_context", "compacted"}
)
ITEM_TYPES: Final = frozenset(
    {
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "web_search_call",
    }
)
INJECTED_PREFIXES: Final = (
    ("<environment_context>", "environment_context"),
    ("<user_instructions>", "user_instructions"),
    ("# AGENTS.md instructions", "agents_md"),
    ("<INSTRUCTIONS>", "instructions"),
)
ECHO_EVENTS: Final = frozenset({"user_message", "agent_message", "agent_reasoning"})
MAX_PROBLEMS: Final = 20
_EXIT_CODE = re.compile(r"\AExit code: (-?\d+)\n")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    found: list[str] = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, Mapping) and isinstance(part.get("text"), str):
            found.append(part["text"])
    return found


def _injected_kind(text: str) -> str | None:
    start = text.lstrip()
    return next((kind for prefix, kind in INJECTED_PREFIXES if start.startswith(prefix)), None)


def _arguments(raw: object) -> Any:
    """A call's arguments: the JSON string Codex stores, decoded when it is JSON."""
    if isinstance(raw, str):
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return raw
    return raw


def _output(raw: object) -> tuple[str, dict[str, Any]]:
    """(output text, metadata such as exit_code) from a call output in any version's shape:
    ``{"output": ..., "metadata": {"exit_code"}}`` as a JSON string, ``Exit code: N``
    text, a list of content items, or ``{"content", "success"}``."""
    extra: dict[str, Any] = {}
    if isinstance(raw, Mapping):
        if raw.get("success") is False:
            extra["is_error"] = True
        raw = raw.get("content", raw.get("output", ""))
    if isinstance(raw, list):
        return "\n".join(_texts(raw)), extra
    if not isinstance(raw, str):
        return ("" if raw is None else msgspec.json.encode(raw).decode()), extra
    if raw.startswith("{"):
        try:
            decoded = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            decoded = None
        if isinstance(decoded, Mapping) and isinstance(decoded.get("output"), str):
            meta = decoded.get("metadata")
            if isinstance(meta, Mapping):
                if _int(meta.get("exit_code")) is not None:
                    extra["exit_code"] = meta["exit_code"]
                if isinstance(meta.get("duration_seconds"), int | float):
                    extra["duration_seconds"] = meta["duration_seconds"]
            return str(decoded["output"]), extra
    match = _EXIT_CODE.match(raw)
    if match:
        extra["exit_code"] = int(match.group(1))
        marker = raw.find("\nOutput:\n")
        if marker >= 0:
            return raw[marker + len("\nOutput:\n") :], extra
    return raw, extra


class _Record(msgspec.Struct, frozen=True):
    number: int
    ts: str | None
    kind: str  # an envelope type
    payload: dict[str, Any]


def _records(
    lines: Iterable[Line], path: str, skipped: list[Skipped], problems: list[Problem]
) -> Iterable[_Record]:
    """The rollout's lines as envelopes (older rollouts are wrapped into the same shape)."""
    enveloped: bool | None = None
    bad = 0
    for line in lines:
        where = f"{path}:{line.number}"
        if line.too_long:
            problems.append(Problem(where, "line too long, skipped"))
            continue
        if not line.data.strip():
            continue
        try:
            value = msgspec.json.decode(line.data)
        except msgspec.DecodeError as exc:
            if not line.terminated:
                skipped.append(Skipped(where, "incomplete last line (still being written?)"))
                continue
            bad += 1
            if enveloped is None and bad >= 3:
                raise ImportFormatError(f"{path}: not a Codex rollout (no JSON lines)") from None
            if bad <= MAX_PROBLEMS:
                problems.append(Problem(where, f"malformed line skipped ({exc})"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(where, "not a JSON object, skipped"))
            continue
        kind, payload = value.get("type"), value.get("payload")
        if kind in ENVELOPE_TYPES and isinstance(payload, dict):
            enveloped = True
            yield _Record(line.number, from_iso(value.get("timestamp")), kind, payload)
        elif enveloped is None and "id" in value and "type" not in value:
            enveloped = False  # the metadata line of a rollout without envelopes
            yield _Record(line.number, from_iso(value.get("timestamp")), "session_meta", value)
        elif "record_type" in value:
            skipped.append(Skipped(where, f"{value['record_type']} record"))
        elif kind in ITEM_TYPES:
            yield _Record(line.number, None, "response_item", value)
        else:
            skipped.append(Skipped(where, f"unknown line type {str(kind)[:40]!r}"))
    if bad > MAX_PROBLEMS:
        problems.append(Problem(path, f"{bad - MAX_PROBLEMS} more malformed lines skipped"))


class _Draft:
    """A message being built (calls of one model step merge into one assistant message)."""

    def __init__(self, role: str, content: str, ts: str | None, metadata: dict[str, Any]):
        self.role = role
        self.content = content
        self.ts = ts
        self.metadata = metadata
        self.token_count: int | None = None

    def freeze(self) -> ImportedMessage:
        return ImportedMessage(
            role="assistant" if self.role == "assistant" else self.role,  # type: ignore[arg-type]
            content=self.content,
            ts=self.ts,
            token_count=self.token_count,
            metadata=self.metadata,
        )


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.drafts: list[_Draft] = []
        self.skipped: list[Skipped] = []
        self.reasoning: list[str] = []
        self.injected: list[dict[str, Any]] = []
        self.tool_names: dict[str, str] = {}
        self.model: str | None = None
        self.last_total: object = None
        self.since_count = 0  # drafts made before the last new token_count event
        self.pending: Mapping[str, Any] | None = None  # a count for the next assistant draft
        self.ts: str | None = None

    def where(self, record: _Record) -> str:
        return f"{self.path}:{record.number}"

    def _take_reasoning(self, metadata: dict[str, Any]) -> None:
        if self.reasoning:
            metadata["reasoning"] = "\n\n".join(self.reasoning)
            self.reasoning = []

    def _add(self, draft: _Draft) -> None:
        if draft.role == "assistant" and self.pending is not None:
            self._count(draft, self.pending)
            self.pending = None
        self.drafts.append(draft)

    @staticmethod
    def _count(draft: _Draft, usage: Mapping[str, Any]) -> None:
        output = _int(usage.get("output_tokens"))
        draft.token_count = output if output is not None and output >= 0 else None
        draft.metadata["usage"] = {k: v for k, v in usage.items() if _int(v) is not None}

    def _assistant_metadata(self, source_id: str) -> dict[str, Any]:
        metadata: dict[str, Any] = {"source_id": source_id}
        if self.model:
            metadata["model"] = self.model
        self._take_reasoning(metadata)
        return metadata

    def message(self, record: _Record) -> None:
        item = record.payload
        role = item.get("role")
        texts = [t for t in _texts(item.get("content")) if t.strip()]
        if not texts:
            self.skipped.append(Skipped(self.where(record), f"empty {role} message"))
            return
        if role in ("developer", "system"):
            self.injected += [{"kind": str(role), "text": t} for t in texts]
            return
        if role == "user":
            kept: list[str] = []
            for text in texts:
                kind = _injected_kind(text)
                if kind is None:
                    kept.append(text)
                else:
                    self.injected.append({"kind": kind, "text": text})
            if not kept:
                return
            metadata: dict[str, Any] = {"source_id": f"line:{record.number}"}
            if self.injected:
                metadata["injected"], self.injected = self.injected, []
            self._add(_Draft("user", "\n\n".join(kept), self.ts, metadata))
            return
        if role == "assistant":
            metadata = self._assistant_metadata(f"line:{record.number}")
            self._add(_Draft("assistant", "\n\n".join(texts), self.ts, metadata))
            return
        self.skipped.append(Skipped(self.where(record), f"message with role {str(role)[:20]!r}"))

    def call(self, record: _Record) -> None:
        item = record.payload
        kind = item.get("type")
        call_id = str(item.get("call_id") or item.get("id") or f"line:{record.number}")
        if kind == "local_shell_call":
            action = item.get("action")
            name, arguments = "shell", action if isinstance(action, Mapping) else {}
        elif kind == "web_search_call":
            action = item.get("action")
            name, arguments = "web_search", action if isinstance(action, Mapping) else {}
        else:
            name = str(item.get("name") or "tool")
            arguments = _arguments(item.get("arguments", item.get("input")))
        self.tool_names[call_id] = name
        call = {"id": call_id, "name": name, "arguments": arguments}
        line = call_line(name, arguments)
        last = self.drafts[-1] if self.drafts else None
        if (
            last is not None
            and last.role == "assistant"
            and "tool_calls" in last.metadata
            and not self.reasoning
            and len(self.drafts) > self.since_count
        ):
            last.metadata["tool_calls"].append(call)  # another call of the same model step
            last.content += "\n" + line
            return
        metadata = self._assistant_metadata(call_id)
        metadata["tool_calls"] = [call]
        self._add(_Draft("assistant", line, self.ts, metadata))

    def output(self, record: _Record) -> None:
        item = record.payload
        call_id = str(item.get("call_id") or "")
        text, extra = _output(item.get("output"))
        metadata: dict[str, Any] = {"source_id": f"{call_id}:output", "tool_call_id": call_id}
        if call_id in self.tool_names:
            metadata["tool_name"] = self.tool_names[call_id]
        metadata.update(extra)
        self._add(_Draft("tool", text, self.ts, metadata))

    def tokens(self, record: _Record) -> None:
        info = record.payload.get("info")
        if not isinstance(info, Mapping):
            return
        total = info.get("total_token_usage")
        last = info.get("last_token_usage")
        if total == self.last_total or not isinstance(last, Mapping):
            return  # the same count reported again
        self.last_total = total
        # Codex 0.44 writes the count just before the items of the call it counts; other
        # versions write it after them. Uncounted assistant messages since the previous
        # count mean "after"; none mean "before": the next assistant message takes it.
        uncounted = [
            d
            for d in self.drafts[self.since_count :]
            if d.role == "assistant" and "usage" not in d.metadata
        ]
        self.since_count = len(self.drafts)
        if uncounted and self.pending is None:
            self._count(uncounted[-1], last)
        else:
            self.pending = last

    def compacted(self, record: _Record) -> None:
        text = record.payload.get("message")
        if isinstance(text, str) and text.strip():
            metadata = {"source_id": f"line:{record.number}", "compact_summary": True}
            self._add(_Draft("system", text, self.ts, metadata))

    def reasoning_item(self, record: _Record) -> None:
        texts = _texts(record.payload.get("summary")) + _texts(record.payload.get("content"))
        self.reasoning += [t for t in texts if t.strip()]


def _dispatch(builder: _Builder, record: _Record, meta: dict[str, Any]) -> None:
    builder.ts = record.ts or builder.ts
    payload = record.payload
    if record.kind == "session_meta":
        if not meta:
            meta.update(payload)
        return
    if record.kind == "turn_context":
        model = payload.get("model")
        builder.model = model if isinstance(model, str) and model else builder.model
        return
    if record.kind == "compacted":
        builder.compacted(record)
        return
    kind = payload.get("type")
    if record.kind == "event_msg":
        if kind == "token_count":
            builder.tokens(record)
        elif kind not in ECHO_EVENTS:
            builder.skipped.append(Skipped(builder.where(record), f"{kind} event"))
        return
    if kind == "message":
        builder.message(record)
    elif kind == "reasoning":
        builder.reasoning_item(record)
    elif kind in ("function_call_output", "custom_tool_call_output"):
        builder.output(record)
    elif kind in ITEM_TYPES:
        builder.call(record)
    else:
        builder.skipped.append(Skipped(builder.where(record), f"{kind} item"))


def _origin(meta: dict[str, Any], builder: _Builder, first_model: str | None) -> dict[str, Any]:
    origin: dict[str, Any] = {"original_id": meta.get("id")}
    for name in ("cwd", "cli_version", "originator", "source", "instructions", "model_provider"):
        value = meta.get(name)
        if isinstance(value, str) and value:
            origin[name] = value
    git = meta.get("git")
    if isinstance(git, Mapping):
        origin["git"] = {k: v for k, v in git.items() if isinstance(v, str)}
    if first_model:
        origin["model"] = first_model
    if builder.injected:
        origin["injected"] = builder.injected
    return origin


def parse_rollout(lines: Iterable[Line], path: str) -> Parsed:
    """One rollout file's lines to (at most) one conversation."""
    skipped: list[Skipped] = []
    problems: list[Problem] = []
    builder = _Builder(path)
    meta: dict[str, Any] = {}
    first_model: str | None = None
    first_ts: str | None = None
    for record in _records(lines, path, skipped, problems):
        first_ts = first_ts or record.ts
        _dispatch(builder, record, meta)
        first_model = first_model or builder.model
    skipped += builder.skipped
    if builder.pending is not None:
        uncounted = [
            d for d in builder.drafts if d.role == "assistant" and "usage" not in d.metadata
        ]
        if uncounted:
            builder._count(uncounted[-1], builder.pending)
    if builder.reasoning:
        skipped.append(Skipped(path, "reasoning without a message after it"))
    messages = [d.freeze() for d in builder.drafts]
    if not messages:
        skipped.append(Skipped(path, "rollout without messages"))
        return Parsed((), tuple(skipped), tuple(problems))
    ident = meta.get("id") if isinstance(meta.get("id"), str) else None
    created = from_iso(meta.get("timestamp")) or first_ts or messages[0].ts or now_iso()
    conversation = ImportedConversation(
        source=SOURCE,
        key=f"{SOURCE}:{ident or Path(path).stem}",
        path=path,
        title=None,
        created_at=created,
        tags=(SOURCE,),
        messages=tuple(messages),
        origin=_origin(meta, builder, first_model),
    )
    return Parsed((conversation,), tuple(skipped), tuple(problems))
