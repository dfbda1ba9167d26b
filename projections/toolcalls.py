"""Tool calls, tool output and reasoning as readable text: pure functions of one message.

The message metadata these read (written by the importers and the REPL's backends):

- an assistant message that calls tools has ``metadata["tool_calls"]``, a list of
  ``{"id", "name", "arguments"}`` (``arguments``: the call's input as JSON, an object when
  the source gave one; the REPL's llm backend names the id ``tool_call_id``). Its
  ``content`` is the readable text: the prose, then one line per call made by
  :func:`call_line` (``[Bash] ls -la``), so search and plain readers see it;
- a ``tool`` message is one call's result: ``content`` is the output, ``metadata`` links it
  with ``tool_call_id`` and ``tool_name``, and may add ``exit_code`` and ``is_error``;
- ``metadata["reasoning"]`` (or ``"thinking"``) holds the model's visible reasoning.

:func:`markdown_body` renders a message body for the markdown export: each call as its
name and a compact argument summary, edits as diffs where the old and new strings are
known, commands, code and output in fenced blocks whose fence is longer than any backtick
run inside, long output folded in ``<details>``, reasoning collapsed, and the message's own
headings nested under its heading. :func:`terminal_body` renders the same for
``chatlog show``, with long output cut to a few lines and a count.
Neither changes what is stored: the log and the JSON export keep the full text.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Mapping
from typing import Any, Final

import msgspec

SUMMARY_WIDTH: Final = 100
FOLD_LINES: Final = 20  # markdown: longer output goes into <details>
FOLD_CHARS: Final = 2000
SHOW_LINES: Final = 8  # show: at most this many lines of one output or diff
SHOW_LINE_WIDTH: Final = 200
_BACKTICKS = re.compile(r"`+")
_HEADING = re.compile(r"(#{1,6})(?:[ \t]|$)")
_json = msgspec.json.Encoder()
# Argument keys that say best what a call is about, in order of preference.
SUMMARY_KEYS: Final = (
    "command",
    "cmd",
    "file_path",
    "path",
    "notebook_path",
    "pattern",
    "query",
    "url",
    "description",
    "prompt",
)
EDIT_KEYS: Final = (("old_string", "new_string"), ("old_str", "new_str"))


class ToolCall(msgspec.Struct, frozen=True):
    id: str = ""
    name: str = "tool"
    arguments: Any = None


def _one_line(text: str, width: int = SUMMARY_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _command_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        # ["bash", "-lc", "cat x"] is shown as the script it runs
        if len(value) == 3 and value[1] in ("-lc", "-c"):
            return str(value[2])
        return " ".join(value)
    return None


def summarize_arguments(arguments: object) -> str:
    """A compact one-line summary of a call's arguments (``src/app.py``, ``ls -la``)."""
    if isinstance(arguments, str):
        return _one_line(arguments)
    if not isinstance(arguments, Mapping):
        return "" if arguments is None else _one_line(_encode(arguments))
    for key in SUMMARY_KEYS:
        value = arguments.get(key)
        text = _command_text(value) if key in ("command", "cmd") else value
        if isinstance(text, str) and text.strip():
            return _one_line(text)
    pairs = [f"{k}={_encode(v)}" for k, v in arguments.items() if not isinstance(v, dict | list)]
    return _one_line(", ".join(pairs))


def call_line(name: str, arguments: object) -> str:
    """The line that stands for a call in a message's stored text: ``[Read] src/app.py``."""
    summary = summarize_arguments(arguments)
    return f"[{name}] {summary}" if summary else f"[{name}]"


def _encode(value: object) -> str:
    try:
        return _json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


def fence(text: str, info: str = "") -> str:
    """``text`` in a fenced code block, the fence longer than any backtick run inside."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text.rstrip(chr(10))}\n{marks}"


def tool_calls(metadata: Mapping[str, Any]) -> list[ToolCall]:
    """The calls recorded in ``metadata["tool_calls"]`` (malformed entries are skipped)."""
    raw = metadata.get("tool_calls")
    calls: list[ToolCall] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping):
            calls.append(
                ToolCall(
                    id=str(item.get("id") or item.get("tool_call_id") or ""),
                    name=str(item.get("name") or "tool"),
                    arguments=item.get("arguments"),
                )
            )
    return calls


def reasoning(metadata: Mapping[str, Any]) -> str:
    for key in ("reasoning", "thinking"):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _legacy_arguments(content: str, calls: list[ToolCall]) -> list[ToolCall]:
    """Calls imported before arguments were kept: read them back from their text line
    (``[tool_use: Read] {"file_path": "/x"}``)."""
    found: list[ToolCall] = []
    lines = content.split("\n")
    for call in calls:
        arguments = call.arguments
        prefix = f"[tool_use: {call.name}] "
        line = next((text for text in lines if text.startswith(prefix)), None)
        if arguments is None and line is not None:
            with contextlib.suppress(msgspec.DecodeError):
                arguments = msgspec.json.decode(line[len(prefix) :])
        found.append(ToolCall(call.id, call.name, arguments))
    return found


def _prose(content: str, calls: list[ToolCall]) -> str:
    """``content`` without the lines that stand for ``calls`` (they are rendered richly)."""
    lines = {call_line(c.name, c.arguments) for c in calls}
    prefixes = tuple(f"[tool_use: {c.name}] " for c in calls)
    kept = [
        line for line in content.split("\n") if line not in lines and not line.startswith(prefixes)
    ]
    return "\n".join(kept).strip("\n")


def _diff(arguments: object) -> str | None:
    """A unified diff for an edit call whose old and new strings are known."""
    if not isinstance(arguments, Mapping):
        return None
    edits = arguments.get("edits")
    pairs: list[tuple[object, object]] = []
    if isinstance(edits, list):
        pairs += [
            (e.get("old_string"), e.get("new_string")) for e in edits if isinstance(e, Mapping)
        ]
    for old_key, new_key in EDIT_KEYS:
        if old_key in arguments or new_key in arguments:
            pairs.append((arguments.get(old_key, ""), arguments.get(new_key, "")))
    chunks: list[str] = []
    for old, new in pairs:
        if not isinstance(old, str) or not isinstance(new, str):
            continue
        lines = difflib.unified_diff(
            old.splitlines(), new.splitlines(), "before", "after", lineterm="", n=2
        )
        chunks.append("\n".join(list(lines)[2:]))  # the ---/+++ header says nothing here
    return "\n".join(chunks) if chunks else None


def _patch(call: ToolCall) -> str | None:
    """The patch text of an ``apply_patch`` call (Codex), given as a string or ``input``."""
    if "patch" not in call.name:
        return None
    args = call.arguments
    if isinstance(args, str):
        return args
    if isinstance(args, Mapping):
        for key in ("input", "patch"):
            if isinstance(args.get(key), str):
                return str(args[key])
    return None


def _detail(call: ToolCall) -> tuple[str, str] | None:
    """(fence info string, text) shown under a call: a diff, a command, or its arguments."""
    diff = _diff(call.arguments)
    if diff is not None:
        return "diff", diff
    patch = _patch(call)
    if patch is not None:
        return "diff", patch
    args = call.arguments
    if isinstance(args, Mapping):
        command = _command_text(args.get("command", args.get("cmd")))
        if command is not None:
            return ("sh", command) if "\n" in command or len(command) > SUMMARY_WIDTH else None
        content = args.get("content")
        if isinstance(content, str):
            return "", content
        simple = all(not isinstance(v, dict | list) for v in args.values())
        if simple and len(summarize_arguments(args)) < SUMMARY_WIDTH and len(args) <= 1:
            return None
        if args:
            return "json", msgspec.json.format(_encode(args), indent=2)
        return None
    if isinstance(args, str) and ("\n" in args or len(args) > SUMMARY_WIDTH):
        return "", args
    return None


def _folded(text: str, info: str, summary: str) -> str:
    block = fence(text, info)
    lines = text.count("\n") + 1
    if lines <= FOLD_LINES and len(text) <= FOLD_CHARS:
        return block
    return f"<details><summary>{summary} ({lines:,} lines)</summary>\n\n{block}\n\n</details>"


def _call_markdown(call: ToolCall) -> str:
    summary = summarize_arguments(call.arguments)
    head = f"**🔧 {call.name}**" + (f" {_inline_code(summary)}" if summary else "")
    if call.id:
        head += f" <sub>{_inline_code(call.id)}</sub>"
    detail = _detail(call)
    if detail is None:
        return head
    info, text = detail
    label = {"json": "Arguments", "diff": "Diff", "sh": "Command"}.get(info, "Input")
    return f"{head}\n\n{_folded(text, info, label)}"


def _inline_code(text: str) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    marks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{marks}{pad}{text}{pad}{marks}"


def _result_head(metadata: Mapping[str, Any]) -> str:
    name = metadata.get("tool_name")
    parts = [f"**{name}** result" if isinstance(name, str) and name else "Result"]
    call_id = metadata.get("tool_call_id")
    if isinstance(call_id, str) and call_id:
        parts.append(f"for {_inline_code(call_id)}")
    code = metadata.get("exit_code")
    if isinstance(code, int) and not isinstance(code, bool):
        parts.append(f"· exit code {code}")
    if metadata.get("is_error") is True:
        parts.append("· error")
    return " ".join(parts)


def _reasoning_markdown(text: str) -> str:
    return "<details><summary>💭 Reasoning</summary>\n\n" + fence(text, "text") + "\n\n</details>"


def nest_headings(text: str) -> str:
    """``text`` with its ATX headings two levels deeper (``## Plan`` -> ``#### Plan``, at
    most ``######``), outside fenced code, so a message's own headings sit under the
    message's ``##`` heading instead of starting sections of the document."""
    out: list[str] = []
    fence_marks = ""
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if indent <= 3 and stripped.startswith(("```", "~~~")):
            marks = stripped[: len(stripped) - len(stripped.lstrip(stripped[0]))]
            if not fence_marks:
                fence_marks = marks
            elif marks[0] == fence_marks[0] and len(marks) >= len(fence_marks):
                fence_marks = ""
        elif not fence_marks and indent <= 3 and (match := _HEADING.match(stripped)):
            level = min(len(match.group(1)) + 2, 6)
            out.append(" " * indent + "#" * level + stripped[len(match.group(1)) :])
            continue
        out.append(line)
    return "\n".join(out)


def markdown_body(role: str, content: str, metadata: Mapping[str, Any]) -> str:
    """A message's body for the markdown export (what goes under its ``##`` heading)."""
    blocks: list[str] = []
    thought = reasoning(metadata)
    if thought:
        blocks.append(_reasoning_markdown(thought))
    if role == "tool" or "tool_call_id" in metadata:
        blocks.append(_result_head(metadata))
        blocks.append(_folded(content, "", "Output") if content else "*(no output)*")
        return "\n\n".join(blocks)
    calls = _legacy_arguments(content, tool_calls(metadata))
    if not calls:
        blocks.append(nest_headings(content))
        return "\n\n".join(blocks)
    prose = _prose(content, calls)
    if prose:
        blocks.append(nest_headings(prose))
    blocks += [_call_markdown(call) for call in calls]
    return "\n\n".join(blocks)


def _cut(text: str, limit: int = SHOW_LINES) -> list[str]:
    lines = text.rstrip("\n").split("\n")
    shown = [
        line if len(line) <= SHOW_LINE_WIDTH else line[: SHOW_LINE_WIDTH - 1] + "…"
        for line in lines[:limit]
    ]
    if len(lines) > limit:
        shown.append(f"… {len(lines) - limit:,} more lines (chatlog export shows them all)")
    return shown


def _indent(lines: list[str], prefix: str = "    ") -> list[str]:
    return [prefix + line if line else line for line in lines]


def terminal_body(role: str, content: str, metadata: Mapping[str, Any]) -> str:
    """A message's body for ``chatlog show``: calls as one line each, long output cut."""
    lines: list[str] = []
    thought = reasoning(metadata)
    if thought:
        count = thought.count("\n") + 1
        lines.append(f"💭 {_one_line(thought, 80)}" + (f" ({count} lines)" if count > 1 else ""))
    if role == "tool" or "tool_call_id" in metadata:
        head = _result_head(metadata).replace("**", "").replace("`", "")
        lines.append(f"⏴ {head}")
        lines += _indent(_cut(content)) if content else ["    (no output)"]
        return "\n".join(lines)
    calls = _legacy_arguments(content, tool_calls(metadata))
    if not calls:
        lines.append(content)
        return "\n".join(lines)
    prose = _prose(content, calls)
    if prose:
        lines.append(prose)
    for call in calls:
        lines.append(f"⏵ {call_line(call.name, call.arguments)}")
        detail = _detail(call)
        if detail is not None and detail[0] == "diff":
            lines += _indent(_cut(detail[1]))
    return "\n".join(lines)
