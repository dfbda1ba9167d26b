"""ChatGPT data export: ``conversations.json`` (Settings -> Data controls -> Export).

Each conversation holds its messages in ``mapping``, a tree of nodes (``parent``,
``children``); editing a prompt or regenerating an answer adds a branch. The active branch
is the path from ``current_node`` up through ``parent`` links; nodes on other branches are
skipped and counted. Roles come from ``author.role``; text from ``content.parts`` (string
parts, or the ``text`` of code and tool-output content). Hidden messages, empty ones and
parts without text (images, audio) are skipped with their reason.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cli.importers.jsonfile import parse_conversations
from cli.importers.records import (
    ImportedConversation,
    ImportedMessage,
    Parsed,
    Skipped,
    as_role,
)
from cli.importers.timestamps import from_epoch, now_iso
from eventlog import ROLES

SOURCE = "chatgpt"


class _Author(msgspec.Struct):
    role: str = ""
    name: str | None = None


class _Content(msgspec.Struct):
    content_type: str = "text"
    parts: list[Any] | None = None
    text: Any = None


class _Message(msgspec.Struct):
    id: str | None = None
    author: _Author = msgspec.field(default_factory=_Author)
    create_time: float | None = None
    content: _Content = msgspec.field(default_factory=_Content)
    metadata: dict[str, Any] | None = None
    recipient: str | None = None


class _Node(msgspec.Struct):
    id: str | None = None
    parent: str | None = None
    children: list[str] = []
    message: _Message | None = None


class _Conversation(msgspec.Struct):
    id: str | None = None
    conversation_id: str | None = None
    title: str | None = None
    create_time: float | None = None
    update_time: float | None = None
    current_node: str | None = None
    mapping: dict[str, _Node] = {}
    default_model_slug: str | None = None


def _leaf(conversation: _Conversation) -> str | None:
    """``current_node``, or when it is missing the most recent node without children."""
    if conversation.current_node in conversation.mapping:
        return conversation.current_node
    leaves = [(key, node) for key, node in conversation.mapping.items() if not node.children]
    if not leaves:
        return None
    return max(
        leaves, key=lambda item: (item[1].message.create_time or 0.0) if item[1].message else 0.0
    )[0]


def _active_branch(conversation: _Conversation) -> list[str]:
    """Node ids from the root to the active leaf."""
    path: list[str] = []
    seen: set[str] = set()
    current = _leaf(conversation)
    while current is not None and current in conversation.mapping and current not in seen:
        seen.add(current)
        path.append(current)
        current = conversation.mapping[current].parent
    path.reverse()
    return path


def _text(content: _Content, skipped: list[str]) -> str:
    if content.parts is None:
        if isinstance(content.text, str):
            return content.text  # code, execution_output, tether_quote, system_error...
        skipped.append(f"{content.content_type} content (no text)")
        return ""
    texts: list[str] = []
    for part in content.parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])  # e.g. an audio transcription
        else:
            kind = part.get("content_type") if isinstance(part, dict) else type(part).__name__
            skipped.append(f"non-text part ({kind})")
    return "\n".join(t for t in texts if t)


def _message(
    message: _Message, ts: str, where: str, skipped: list[Skipped]
) -> ImportedMessage | None:
    meta = message.metadata or {}
    role = message.author.role
    if meta.get("is_visually_hidden_from_conversation"):
        skipped.append(Skipped(where, "hidden message"))
        return None
    if role not in ROLES:
        skipped.append(Skipped(where, f"unknown role {role!r}"))
        return None
    content = message.content
    reasons: list[str] = []
    text = _text(content, reasons)
    skipped += [Skipped(where, reason) for reason in reasons]
    if not text.strip():
        if not reasons:
            skipped.append(Skipped(where, f"empty {role} message"))
        return None
    metadata: dict[str, Any] = {"source_id": message.id}
    if meta.get("model_slug"):
        metadata["model"] = meta["model_slug"]
    if message.author.name:
        metadata["author_name"] = message.author.name
    if message.recipient and message.recipient != "all":
        metadata["recipient"] = message.recipient
    if content.content_type != "text":
        metadata["content_type"] = content.content_type
    return ImportedMessage(role=as_role(role), content=text, ts=ts, metadata=metadata)


def _conversation(
    conversation: _Conversation, path: str, skipped: list[Skipped]
) -> ImportedConversation:
    ident = conversation.id or conversation.conversation_id
    where = f"{path}: conversation {ident}"
    branch = _active_branch(conversation)
    on_branch = set(branch)
    for key, node in conversation.mapping.items():
        if key not in on_branch and node.message is not None:
            skipped.append(Skipped(f"{where} node {key}", "not on the active branch"))
    created = from_epoch(conversation.create_time)
    last_ts = created
    messages: list[ImportedMessage] = []
    for key in branch:
        node = conversation.mapping[key]
        if node.message is None:
            continue
        ts = from_epoch(node.message.create_time) or last_ts or now_iso()
        last_ts = ts
        imported = _message(node.message, ts, f"{where} node {key}", skipped)
        if imported is not None:
            messages.append(imported)
    origin: dict[str, Any] = {"original_id": ident}
    if conversation.create_time is not None:
        origin["create_time"] = conversation.create_time
    if conversation.update_time is not None:
        origin["update_time"] = conversation.update_time
    if conversation.default_model_slug:
        origin["model"] = conversation.default_model_slug
    return ImportedConversation(
        source=SOURCE,
        key=f"{SOURCE}:{ident}",
        path=path,
        title=conversation.title or None,
        created_at=created or (messages[0].ts if messages and messages[0].ts else now_iso()),
        tags=(SOURCE,),
        messages=tuple(messages),
        origin=origin,
    )


def parse_export(data: bytes, path: str) -> Parsed:
    """A whole ``conversations.json``: every conversation's active branch."""
    return parse_conversations(
        data,
        path,
        _Conversation,
        required="mapping",
        source="ChatGPT",
        ident=lambda conversation: conversation.id or conversation.conversation_id,
        ident_name="id",
        convert=_conversation,
    )
