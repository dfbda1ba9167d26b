"""Builders for the importers' test inputs, one per source format, helpers to read back
what an import wrote, and the paths of the real files other tools wrote (under
``../shared/testdata`` and ``tests/data``, each with its licence)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from eventlog import EventLog, Message, SessionCreated
from tests.conftest import chatlog_executable

# ---------------------------------------------------------------- reading a home back


def tree_snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file and directory under ``root`` with its mode and bytes (empty for dirs)."""
    if not root.exists():
        return {}
    snapshot: dict[str, tuple[int, bytes]] = {".": (root.stat().st_mode, b"")}
    for path in sorted(root.rglob("*")):
        data = path.read_bytes() if path.is_file() else b""
        snapshot[str(path.relative_to(root))] = (path.stat().st_mode, data)
    return snapshot


def sessions_by_key(home: Path) -> dict[str, tuple[SessionCreated, list[Message]]]:
    """Imported sessions of ``home`` by source key: (header, messages)."""
    found: dict[str, tuple[SessionCreated, list[Message]]] = {}
    with EventLog(home) as log:
        for sid in log.session_ids():
            events = list(log.read(sid))
            header = events[0]
            assert isinstance(header, SessionCreated)
            key = header.metadata.get("import", {}).get("key", sid)
            found[key] = (header, [e for e in events if isinstance(e, Message)])
    return found


def only_session(home: Path) -> tuple[SessionCreated, list[Message]]:
    sessions = sessions_by_key(home)
    assert len(sessions) == 1, sorted(sessions)
    return next(iter(sessions.values()))


# ---------------------------------------------------------------- Claude Code


def write_jsonl(path: Path, lines: Sequence[dict[str, Any] | str], *, tail: str = "") -> Path:
    """Lines as JSONL (a str is written as it is, e.g. a corrupt line); ``tail`` is written
    after the last newline (an unterminated line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(body + tail, encoding="utf-8")
    return path


def cc_line(
    kind: str, uuid: str | None, parent: str | None, ts: str, **extra: Any
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/u/proj",
        "sessionId": "cc-session-1",
        "version": "2.1.39",
        "gitBranch": "main",
        "type": kind,
        "uuid": uuid,
        "timestamp": ts,
    }
    line.update(extra)
    return line


def cc_user(uuid: str, parent: str | None, content: Any, ts: str, **extra: Any) -> dict[str, Any]:
    return cc_line("user", uuid, parent, ts, message={"role": "user", "content": content}, **extra)


def cc_assistant(
    uuid: str,
    parent: str | None,
    message_id: str,
    blocks: list[dict[str, Any]],
    output_tokens: int,
    ts: str,
    **extra: Any,
) -> dict[str, Any]:
    message = {
        "model": "claude-opus-4-6",
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": blocks,
        "stop_reason": None,
        "usage": {
            "input_tokens": 3,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 2000,
            "output_tokens": output_tokens,
        },
    }
    return cc_line(
        "assistant", uuid, parent, ts, message=message, requestId=f"req-{message_id}", **extra
    )


def cc_progress(uuid: str, parent: str | None, ts: str) -> dict[str, Any]:
    return cc_line("progress", uuid, parent, ts, data={"type": "hook_progress"})


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def tool_result(call_id: str, content: Any, *, is_error: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id, "content": content}
    if is_error:
        block["is_error"] = True
    return block


def small_transcript(path: Path, session: str = "cc-small", prompt: str = "Hello") -> Path:
    """A two-message transcript (one prompt, one answer of 4 output tokens)."""
    return write_jsonl(
        path,
        [
            cc_user(f"{session}-u", None, prompt, "2025-03-01T12:00:00.000Z", sessionId=session),
            cc_assistant(
                f"{session}-a",
                f"{session}-u",
                f"msg-{session}",
                [text(f"Hi! ({prompt})")],
                4,
                "2025-03-01T12:00:01.000Z",
                sessionId=session,
            ),
        ],
    )


# ---------------------------------------------------------------- ChatGPT


def gpt_node(
    node_id: str,
    parent: str | None,
    children: Sequence[str],
    role: str | None,
    parts: Sequence[Any] | None = None,
    create_time: float | None = None,
    *,
    content: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    recipient: str = "all",
) -> tuple[str, dict[str, Any]]:
    message = None
    if role is not None:
        message = {
            "id": node_id,
            "author": {"role": role, "name": name, "metadata": {}},
            "create_time": create_time,
            "update_time": None,
            "content": content or {"content_type": "text", "parts": list(parts or [])},
            "status": "finished_successfully",
            "end_turn": True,
            "weight": 1.0,
            "metadata": metadata or {},
            "recipient": recipient,
        }
    return node_id, {
        "id": node_id,
        "message": message,
        "parent": parent,
        "children": list(children),
    }


def gpt_conversation(
    conversation_id: str,
    nodes: Iterable[tuple[str, dict[str, Any]]],
    current_node: str | None,
    *,
    title: str | None = "A conversation",
    create_time: float | None = 1_704_067_200.0,
) -> dict[str, Any]:
    conversation: dict[str, Any] = {
        "title": title,
        "create_time": create_time,
        "update_time": create_time,
        "mapping": dict(nodes),
        "moderation_results": [],
        "current_node": current_node,
        "conversation_id": conversation_id,
        "id": conversation_id,
    }
    return {k: v for k, v in conversation.items() if v is not None}


def simple_gpt_conversation(
    conversation_id: str, prompt: str, answer: str, at: float
) -> dict[str, Any]:
    return gpt_conversation(
        conversation_id,
        [
            gpt_node(f"{conversation_id}-root", None, [f"{conversation_id}-u"], None),
            gpt_node(
                f"{conversation_id}-u",
                f"{conversation_id}-root",
                [f"{conversation_id}-a"],
                "user",
                [prompt],
                at,
            ),
            gpt_node(
                f"{conversation_id}-a", f"{conversation_id}-u", [], "assistant", [answer], at + 5
            ),
        ],
        f"{conversation_id}-a",
        title=f"About {prompt}",
        create_time=at,
    )


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1), encoding="utf-8")
    return path


# ---------------------------------------------------------------- Claude.ai


def claude_message(
    uuid: str, sender: str, text_value: str, created_at: str, **extra: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "uuid": uuid,
        "text": text_value,
        "sender": sender,
        "created_at": created_at,
        "updated_at": created_at,
        "attachments": [],
        "files": [],
    }
    message.update(extra)
    return message


def claude_conversation(
    uuid: str, name: str, created_at: str, messages: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    conversation: dict[str, Any] = {
        "uuid": uuid,
        "name": name,
        "created_at": created_at,
        "updated_at": created_at,
        "account": {"uuid": "acct-1"},
        "chat_messages": messages,
    }
    conversation.update(extra)
    return conversation


# ---------------------------------------------------------------- llm logs.db

LLM_CONVERSATIONS = (
    "CREATE TABLE [conversations] ([id] TEXT PRIMARY KEY, [name] TEXT, [model] TEXT)"
)
LLM_RESPONSES_OLD = (
    "CREATE TABLE [responses] ([id] TEXT PRIMARY KEY, [model] TEXT, [prompt] TEXT, [system] TEXT,"
    " [prompt_json] TEXT, [options_json] TEXT, [response] TEXT, [response_json] TEXT,"
    " [conversation_id] TEXT REFERENCES [conversations]([id]), [duration_ms] INTEGER,"
    " [datetime_utc] TEXT)"
)
LLM_TOKEN_COLUMNS = ("input_tokens INTEGER", "output_tokens INTEGER", "token_details TEXT")


def write_llm_db(
    path: Path,
    conversations: Sequence[tuple[str, str | None, str | None]],
    responses: Sequence[dict[str, Any]],
    *,
    with_tokens: bool = True,
) -> Path:
    """A logs.db in llm's schema (with the 0.19 token columns unless ``with_tokens`` is off)."""
    db = sqlite3.connect(path)
    try:
        db.execute(LLM_CONVERSATIONS)
        db.execute(LLM_RESPONSES_OLD)
        if with_tokens:
            for column in LLM_TOKEN_COLUMNS:
                db.execute(f"ALTER TABLE responses ADD COLUMN {column}")
        db.executemany("INSERT INTO conversations VALUES (?, ?, ?)", conversations)
        for row in responses:
            columns = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            db.execute(f"INSERT INTO responses ({columns}) VALUES ({marks})", tuple(row.values()))
        db.commit()
    finally:
        db.close()
    return path


# ---------------------------------------------------------------- the replaced system


def seed_session(
    session_id: str,
    messages: Sequence[tuple[str, str, str, int | None]],
    *,
    title: str | None = None,
    tags: Sequence[str] = (),
    created_at: str | None = None,
) -> dict[str, Any]:
    """A session file of the replaced system; messages are (role, content, naive ts, tokens)."""
    rows = [
        {
            "role": role,
            "content": content,
            "timestamp": ts,
            "token_count": tokens,
            "tool_calls": None,
            "metadata": {"query_id": f"q{n}"},
        }
        for n, (role, content, ts, tokens) in enumerate(messages)
    ]
    created = created_at or (messages[0][2] if messages else "2025-10-04T15:08:08.107338")
    return {
        "metadata": {
            "session_id": session_id,
            "created_at": created,
            "updated_at": messages[-1][2] if messages else created,
            "message_count": len(rows),
            "total_tokens": sum(m[3] or 0 for m in messages),
            "title": title,
            "tags": list(tags),
        },
        "messages": rows,
    }


def write_seed_dir(
    directory: Path, sessions: Sequence[dict[str, Any]], *, index_only: Sequence[str] = ()
) -> Path:
    """A sessions directory: one file per session and an index listing them (plus
    ``index_only`` ids that have no file)."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = [s["metadata"] for s in sessions]
    entries += [
        {
            "session_id": sid,
            "created_at": "2025-10-04T16:00:00",
            "updated_at": "2025-10-04T16:00:00",
            "message_count": 0,
            "total_tokens": 0,
            "title": None,
            "tags": [],
        }
        for sid in index_only
    ]
    write_json(directory / "index.json", {"sessions": entries, "version": "1.0"})
    for session in sessions:
        write_json(directory / f"{session['metadata']['session_id']}.json", session)
    return directory


# ---------------------------------------------------------------- real files

PROJECT = Path(__file__).resolve().parents[1]
TESTDATA = PROJECT / ".." / "shared" / "testdata"  # real files other tools wrote (README there)
DATA = PROJECT / "tests" / "data"  # real files kept in this project, with their licences
CODEX_ROLLOUT = (
    TESTDATA / "codex" / "rollout-2025-10-04T22-31-15-0199b26c-737a-71a2-9939-52ce68c95cbe.jsonl"
)
AIDER_HISTORY = TESTDATA / "aider" / "zen-mcp-server.aider.chat.history.md"
AIDER_WITH_REPLIES = DATA / "aider" / "fixture-head.aider.chat.history.md"
CLAUDE_CODE_DIR = TESTDATA / "claude-code"
CHATGPT_EXPORT = TESTDATA / "chatgpt" / "example-conversation.json"


def real_json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


LLM_CONVERSATION = """
import sys
import llm
import sqlite_utils
from llm.migrations import migrate

directory = sys.argv[1]
db = sqlite_utils.Database(f"{directory}/logs.db")
migrate(db)
model = llm.get_model("echo")
chat = model.conversation()
for prompt, system in (("hello there", "Be terse."), ("second turn", None)):
    response = chat.prompt(prompt, system=system)
    response.text()
    response.log_to_db(db)
"""
LLM_SCRIPT = (
    LLM_CONVERSATION
    + """
fragment = llm.Fragment("fragment text from a file\\n", f"{directory}/fragment.txt")
response = model.prompt("using a fragment", fragments=[fragment], thinking=True)
response.text()
response.log_to_db(db)
call = '{"prompt": "call a tool", "tool_calls": [{"name": "llm_version"}]}'
for response in model.chain(call, tools=[llm.get_tools()["llm_version"]]).responses():
    response.text()
    response.log_to_db(db)
"""
)


def write_llm_logs(directory: Path, script: str = LLM_SCRIPT) -> Path:
    """A logs.db written by the real ``llm`` library (>= 0.32) with the ``llm-echo`` model,
    by ``script`` (default: a conversation with a system prompt and a follow-up, a prompt
    with a fragment and visible reasoning, and a chain with a tool call and its result)."""
    directory.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LLM_USER_PATH": str(directory)}
    subprocess.run(
        [sys.executable, "-c", script, str(directory)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return directory / "logs.db"


def import_twice_at_once(source: Path, home: Path, timeout: float = 120) -> None:
    """Run two ``chatlog import SOURCE`` processes into ``home`` at the same time."""
    runs = [
        subprocess.Popen(
            [chatlog_executable(), "import", str(source), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CHATLOG_HOME": str(home)},
        )
        for _ in range(2)
    ]
    for run in runs:
        run.communicate(timeout=timeout)
