"""Claude Code transcripts: ``~/.claude/projects/<project>/<session uuid>.jsonl``.

Each line is a JSON object. ``user`` and ``assistant`` lines carry an API ``message``;
other types (``progress``, ``system``, ``file-history-snapshot``, ``queue-operation``)
are bookkeeping and are skipped and counted. Lines form a graph through ``uuid`` and
``parentUuid`` (a compaction boundary restarts it and points back with
``logicalParentUuid``).

Which lines belong to a conversation: the path from its last message up to the root,
plus what hangs off that path without being another branch -- the other lines of an API
message already on it (one response streamed as several ``assistant`` lines sharing
``message.id``, each repeating ``usage``) and the ``tool_result`` lines answering its tool
calls (a result's ``parentUuid`` is its call). The chosen lines keep file order (a parent
always precedes its children); the lines of one API message become one assistant message
whose token count is that message's final ``output_tokens``, counted once.

Rewinds. A line with several typed prompts as children is a rewind (``/rewind``, an
edited earlier prompt). The transcript's conversation is then the one first had (the
earliest prompt at every rewind), and each later prompt starts a branch, imported as a
fork of the conversation it leaves (see :func:`_branches` and
:mod:`cli.importers.writer`), keyed ``claude-code:<session>#<prompt uuid>``. Message lines
on no branch (a dead end that is neither) are skipped and counted.

A line that is not valid JSON is reported with its line number and the others are
imported; an unterminated last line is a transcript still being written and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from cli.importers.blocks import ToolResult, split_blocks
from cli.importers.inputs import Line, lines_of
from cli.importers.records import (
    MAX_BRANCHES,
    ImportedConversation,
    ImportedMessage,
    Parsed,
    Problem,
    Skipped,
    common_prefix,
)
from cli.importers.timestamps import from_iso, now_iso

SOURCE = "claude-code"
MAX_PROBLEMS = 20  # malformed lines reported one by one; the rest are counted
MESSAGE_TYPES = frozenset({"user", "assistant"})
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class _ApiMessage(msgspec.Struct):
    role: str | None = None
    content: Any = None
    id: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None


class _Line(msgspec.Struct, rename="camel"):
    type: str = ""
    uuid: str | None = None
    parent_uuid: str | None = None
    logical_parent_uuid: str | None = None
    is_sidechain: bool | None = None
    is_compact_summary: bool | None = None
    is_meta: bool | None = None
    timestamp: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    message: _ApiMessage | None = None
    summary: str | None = None
    leaf_uuid: str | None = None
    cwd: str | None = None
    version: str | None = None
    git_branch: str | None = None
    request_id: str | None = None


_decoder = msgspec.json.Decoder(_Line)


class _Numbered(msgspec.Struct, frozen=True):
    number: int  # 1-based line number in the file
    line: _Line


def find_transcripts(root: Path) -> list[Path]:
    """Every transcript under ``root``: ``~/.claude`` itself, its ``projects`` directory,
    one project's directory, or any tree of ``.jsonl`` files."""
    projects = root / "projects"
    base = projects if projects.is_dir() else root
    return sorted(p for p in base.rglob("*.jsonl") if p.is_file() and not p.is_symlink())


def _read_lines(
    lines: Iterable[Line], path: str
) -> tuple[list[_Numbered], list[Skipped], list[Problem]]:
    numbered: list[_Numbered] = []
    skipped: list[Skipped] = []
    problems: list[Problem] = []
    bad = 0
    for line in lines:
        where = f"{path}:{line.number}"
        if line.too_long:
            problems.append(Problem(where, "line too long, skipped"))
            continue
        if not line.data.strip():
            continue
        try:
            numbered.append(_Numbered(line.number, _decoder.decode(line.data)))
        except msgspec.DecodeError as exc:
            if not line.terminated:
                skipped.append(Skipped(where, "incomplete last line (still being written?)"))
                continue
            bad += 1
            if bad <= MAX_PROBLEMS:
                problems.append(Problem(where, f"malformed line skipped ({exc})"))
    if bad > MAX_PROBLEMS:
        problems.append(Problem(path, f"{bad - MAX_PROBLEMS} more malformed lines skipped"))
    return numbered, skipped, problems


def _tool_result_ids(line: _Line) -> list[str]:
    content = line.message.content if line.message else None
    if not isinstance(content, list):
        return []
    return [
        str(block.get("tool_use_id"))
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def _tool_use_ids(line: _Line) -> list[str]:
    content = line.message.content if line.message else None
    if not isinstance(content, list):
        return []
    return [
        str(block.get("id"))
        for block in content
        if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use")
    ]


def _active_path(leaf: _Line, by_uuid: dict[str, _Line]) -> set[str]:
    """uuids from ``leaf`` up to the root, crossing compaction boundaries."""
    path: set[str] = set()
    current = leaf.uuid
    while current is not None and current in by_uuid and current not in path:
        path.add(current)
        line = by_uuid[current]
        current = line.parent_uuid or line.logical_parent_uuid
    return path


def _select(
    candidates: list[_Numbered], by_uuid: dict[str, _Line]
) -> tuple[list[_Numbered], list[_Numbered]]:
    """(lines of the conversation ending at the last candidate, in file order; the other
    message lines)."""
    if any(entry.line.uuid is None for entry in candidates):
        return candidates, []  # no graph to follow: keep file order
    on_path = _active_path(candidates[-1].line, by_uuid)
    message_ids: set[str] = set()
    call_ids: set[str] = set()
    for entry in candidates:
        if entry.line.uuid in on_path and entry.line.type == "assistant":
            if entry.line.message and entry.line.message.id:
                message_ids.add(entry.line.message.id)
            call_ids.update(_tool_use_ids(entry.line))
    chosen: list[_Numbered] = []
    dropped: list[_Numbered] = []
    for entry in candidates:
        line = entry.line
        attached = False
        if line.uuid in on_path:
            attached = True
        elif line.type == "assistant":
            attached = bool(line.message and line.message.id in message_ids)
            if attached:
                call_ids.update(_tool_use_ids(line))
        else:
            results = _tool_result_ids(line)
            attached = bool(results) and all(r in call_ids for r in results)
        (chosen if attached else dropped).append(entry)
    return chosen, dropped


def _user_turn(line: _Line) -> bool:
    """A prompt the user typed (not a tool result, a meta line or a compaction summary)."""
    return (
        line.type == "user"
        and not line.is_meta
        and not line.is_compact_summary
        and not _tool_result_ids(line)
    )


Route = tuple[tuple[str, str], ...]  # (rewind point, the user turn taken there), root first


def _branches(
    lines: list[_Numbered], messages: list[_Numbered], by_uuid: dict[str, _Line]
) -> list[tuple[_Numbered | None, list[_Numbered]]]:
    """The transcript's branches: (the user turn that starts it, its message lines).

    A rewind is a line with several user turns as children (Claude Code's ``/rewind``
    and edited prompts answer again from an earlier point). The first branch takes the
    first (earliest) turn at every rewind: the conversation as it was first had. Each later
    turn at a rewind starts a branch taking, at the rewinds above it, the turns that lead
    to it, and elsewhere the first ones. A parent always precedes its children in the
    file, so each line's route (the turns it descends through) is known from its parent's.
    """
    if not messages or any(entry.line.uuid is None for entry in messages):
        return [(None, messages)]
    turns: dict[str, list[str]] = {}
    for entry in messages:
        parent = entry.line.parent_uuid
        if parent is not None and _user_turn(entry.line) and entry.line.uuid is not None:
            turns.setdefault(parent, []).append(entry.line.uuid)
    rewinds = {parent: children for parent, children in turns.items() if len(children) > 1}
    if not rewinds:
        return [(None, messages)]
    routes: dict[str, Route] = {}
    for entry in lines:
        line = entry.line
        if line.uuid is None or line.uuid in routes:
            continue
        parent = line.parent_uuid or line.logical_parent_uuid
        route = routes.get(parent, ()) if parent is not None else ()
        if parent in rewinds and line.uuid in rewinds[parent]:
            route = (*route, (parent, line.uuid))
        routes[line.uuid] = route
    first = {parent: children[0] for parent, children in rewinds.items()}
    starts: list[_Numbered | None] = [None] + [
        entry
        for entry in messages
        if entry.line.parent_uuid in rewinds
        and entry.line.uuid in rewinds[entry.line.parent_uuid][1:]
    ]
    del starts[MAX_BRANCHES:]  # each branch lists its lines: bounded (see MAX_BRANCHES)
    result: list[tuple[_Numbered | None, list[_Numbered]]] = []
    for start in starts:
        taken = dict(routes.get(start.line.uuid or "", ())) if start is not None else {}
        result.append(
            (
                start,
                [
                    entry
                    for entry in messages
                    if all(
                        taken.get(point, first[point]) == turn
                        for point, turn in routes.get(entry.line.uuid or "", ())
                    )
                ],
            )
        )
    return result


def _output_tokens(usage: dict[str, Any] | None) -> int | None:
    value = (usage or {}).get("output_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class _Builder:
    """Turns the chosen lines into messages, merging the lines of one API message."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.messages: list[ImportedMessage] = []
        self.skipped: list[Skipped] = []
        self.tool_names: dict[str, str] = {}

    def where(self, entry: _Numbered) -> str:
        return f"{self.path}:{entry.number}"

    def tool(self, result: ToolResult, ts: str | None, uuid: str | None) -> None:
        metadata: dict[str, Any] = {
            "source_id": result.tool_call_id,
            "tool_call_id": result.tool_call_id,
            "uuid": uuid,
        }
        if result.tool_call_id in self.tool_names:
            metadata["tool_name"] = self.tool_names[result.tool_call_id]
        if result.is_error:
            metadata["is_error"] = True
        self.messages.append(
            ImportedMessage(role="tool", content=result.content, ts=ts, metadata=metadata)
        )

    def assistant(self, group: list[_Numbered]) -> None:
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[dict[str, Any]] = []
        results: list[ToolResult] = []
        usage: dict[str, Any] | None = None
        for entry in group:
            api = entry.line.message
            assert api is not None
            blocks = split_blocks(api.content)
            self.skipped += [Skipped(self.where(entry), reason) for reason in blocks.skipped]
            for part in blocks.parts:
                if isinstance(part, ToolResult):
                    results.append(part)
                    continue
                texts += [part.text] if part.text else []
                thinking += [part.thinking] if part.thinking else []
                for call in part.tool_calls:
                    calls.append(call.as_metadata())
                    self.tool_names[call.id] = call.name
            # Every line repeats the usage seen so far; the largest output count is final.
            if api.usage is not None and (_output_tokens(api.usage) or 0) >= (
                _output_tokens(usage) or 0
            ):
                usage = api.usage
        first = group[0].line
        api = first.message
        assert api is not None
        ts = from_iso(first.timestamp)
        if not texts:
            self.skipped.append(Skipped(self.where(group[0]), "assistant message without text"))
        else:
            metadata: dict[str, Any] = {"source_id": api.id or first.uuid, "uuid": first.uuid}
            if api.model:
                metadata["model"] = api.model
            if first.request_id:
                metadata["request_id"] = first.request_id
            if usage:
                metadata["usage"] = {
                    k: usage[k] for k in USAGE_FIELDS if isinstance(usage.get(k), int)
                }
            if calls:
                metadata["tool_calls"] = calls
            if thinking:
                metadata["thinking"] = "\n\n".join(thinking)
            self.messages.append(
                ImportedMessage(
                    role="assistant",
                    content="\n\n".join(texts),
                    ts=ts,
                    token_count=_output_tokens(usage),
                    metadata=metadata,
                )
            )
        for result in results:
            self.tool(result, ts, first.uuid)

    def user(self, entry: _Numbered) -> None:
        line = entry.line
        api = line.message
        assert api is not None
        blocks = split_blocks(api.content)
        ts = from_iso(line.timestamp)
        self.skipped += [Skipped(self.where(entry), reason) for reason in blocks.skipped]
        texts = 0
        for part in blocks.parts:
            if isinstance(part, ToolResult):
                self.tool(part, ts, line.uuid)
                continue
            if not part.text.strip():
                continue
            texts += 1
            extra: dict[str, Any] = {
                "source_id": line.uuid if texts == 1 else f"{line.uuid}:{texts}"
            }
            if line.is_compact_summary:
                extra["compact_summary"] = True
            if line.is_meta:
                extra["meta"] = True
            self.messages.append(
                ImportedMessage(
                    role="system" if line.is_compact_summary else "user",
                    content=part.text,
                    ts=ts,
                    metadata=extra,
                )
            )
        if not blocks.parts:
            self.skipped.append(Skipped(self.where(entry), "empty user message"))


def _first(lines: list[_Numbered], field: str) -> Any:
    for entry in lines:
        value = getattr(entry.line, field)
        if value:
            return value
    return None


def parse_transcript(data: bytes | Iterable[Line], path: str) -> Parsed:
    """One transcript file (its bytes or its lines) to (at most) one conversation."""
    lines, skipped, problems = _read_lines(
        lines_of(data) if isinstance(data, bytes) else data, path
    )
    by_uuid: dict[str, _Line] = {}
    messages: list[_Numbered] = []
    summaries: dict[str | None, str] = {}
    for entry in lines:
        line = entry.line
        where = f"{path}:{entry.number}"
        if line.uuid is not None:
            if line.uuid in by_uuid:
                skipped.append(Skipped(where, "duplicate line (uuid seen before)"))
                continue
            by_uuid[line.uuid] = line
        if line.type in MESSAGE_TYPES and line.message is not None:
            messages.append(entry)
        elif line.type == "summary" and line.summary:
            summaries[line.leaf_uuid] = line.summary
        else:
            skipped.append(Skipped(where, f"{line.type or 'untyped'} line"))

    main = [e for e in messages if not e.line.is_sidechain]
    sub_agent = not main and bool(messages)
    if main:
        skipped += [
            Skipped(f"{path}:{e.number}", "sub-agent (sidechain) message")
            for e in messages
            if e.line.is_sidechain
        ]
    else:
        main = messages
    if not main:
        skipped.append(Skipped(path, "transcript without messages"))
        return Parsed((), tuple(skipped), tuple(problems))

    session_id = _first(lines, "session_id")
    key = f"{SOURCE}:{session_id or Path(path).stem}"
    if sub_agent:
        key += f"/agent-{_first(main, 'agent_id') or Path(path).stem}"
    origin: dict[str, Any] = {"original_id": session_id}
    for name, field in (("cwd", "cwd"), ("git_branch", "git_branch"), ("version", "version")):
        value = _first(lines, field)
        if value:
            origin[name] = value
    if sub_agent:
        origin["sub_agent"] = True

    conversations: list[ImportedConversation] = []
    built: list[list[ImportedMessage]] = []
    used: set[int] = set()  # line numbers some branch holds (the others are skipped)
    noted: set[tuple[str, str]] = set()  # a skipped part is counted once, however many branches
    for start, candidates in _branches(lines, main, by_uuid):
        chosen, _others = _select(candidates, by_uuid)
        used.update(entry.number for entry in chosen)
        builder = _build(path, chosen)
        for item in builder.skipped:
            if (item.where, item.reason) not in noted:
                noted.add((item.where, item.reason))
                skipped.append(item)
        branch = builder.messages
        shared = max((common_prefix(branch, other) for other in built), default=0)
        if start is not None and shared == len(branch):
            skipped.append(Skipped(f"{path}:{start.number}", "branch without messages of its own"))
            continue
        built.append(branch)
        chosen_uuids = {e.line.uuid for e in chosen}
        title = next((s for leaf, s in summaries.items() if leaf in chosen_uuids), None)
        if title is None and summaries:
            title = list(summaries.values())[-1]
        model = next((m.metadata["model"] for m in branch if "model" in m.metadata), None)
        first_ts = next(
            (m.ts for m in branch[shared:] if m.ts),
            from_iso(start.line.timestamp if start else _first(lines, "timestamp")) or now_iso(),
        )
        conversations.append(
            ImportedConversation(
                source=SOURCE,
                key=key if start is None else f"{key}#{start.line.uuid}",
                path=path,
                title=title,
                created_at=first_ts,
                tags=(SOURCE,),
                messages=tuple(branch),
                origin={**origin, "model": model} if model else origin,
                family=None if start is None else key,
                shared=shared,
            )
        )
    skipped += [
        Skipped(f"{path}:{e.number}", "not on any branch of the conversation")
        for e in main
        if e.number not in used
    ]
    if len(conversations) > 1:
        conversations[0] = msgspec.structs.replace(conversations[0], family=key)
    return Parsed(tuple(conversations), tuple(skipped), tuple(problems))


def _build(path: str, chosen: list[_Numbered]) -> _Builder:
    """The messages of one branch's lines (the lines of one API message merged)."""
    builder = _Builder(path)
    groups: dict[str, list[_Numbered]] = {}
    sequence: list[_Numbered | list[_Numbered]] = []
    for entry in chosen:
        api = entry.line.message
        assert api is not None
        if entry.line.type == "assistant":
            group_id = api.id or entry.line.uuid or f"line {entry.number}"
            if group_id in groups:
                groups[group_id].append(entry)
                continue
            groups[group_id] = [entry]
            sequence.append(groups[group_id])
        else:
            sequence.append(entry)
    for item in sequence:
        if isinstance(item, list):
            builder.assistant(item)
        else:
            builder.user(item)
    return builder
