"""Claude.ai: the data export's ``conversations.json`` (Settings -> Privacy -> Export data),
or one conversation as the web app's API returns it.

The export is a JSON array of conversations (``uuid``, ``name``, ``created_at``,
``chat_messages``); a single conversation is one such object, with
``current_leaf_message_uuid``, ``parent_message_uuid`` on its messages and ``files_v2``.
Each message has a ``sender`` (``human`` -> user, ``assistant``), its text in ``text`` and,
in newer exports, ``content`` blocks (text, tool_use, tool_result, thinking) that are
preferred when present. When messages carry ``parent_message_uuid`` and the conversation
names its ``current_leaf_message_uuid``, only that branch is imported, as for ChatGPT.
Attachments keep their name, type, size and extracted text in the message's metadata.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cli.importers.blocks import TextPart, ToolResult, split_blocks
from cli.importers.jsonfile import parse_conversations
from cli.importers.records import ImportedConversation, ImportedMessage, Parsed, Skipped
from cli.importers.timestamps import from_iso, now_iso

SOURCE = "claude-ai"
SENDER_ROLES = {"human": "user", "user": "user", "assistant": "assistant"}
ATTACHMENT_FIELDS = ("file_name", "file_type", "file_size", "extracted_content")


class _Message(msgspec.Struct):
    uuid: str | None = None
    sender: str = ""
    text: str | None = None
    content: list[Any] | None = None
    created_at: str | None = None
    parent_message_uuid: str | None = None
    attachments: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    files_v2: list[dict[str, Any]] = []


class _Conversation(msgspec.Struct):
    uuid: str | None = None
    name: str | None = None
    summary: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    current_leaf_message_uuid: str | None = None
    chat_messages: list[_Message] = []


def _branch(conversation: _Conversation) -> tuple[list[_Message], list[_Message]]:
    """(messages of the active branch in order, messages on other branches)."""
    messages = conversation.chat_messages
    by_uuid = {m.uuid: m for m in messages if m.uuid}
    leaf = conversation.current_leaf_message_uuid
    if leaf not in by_uuid or not any(m.parent_message_uuid for m in messages):
        return messages, []
    path: list[_Message] = []
    seen: set[str] = set()
    current: str | None = leaf
    while current is not None and current in by_uuid and current not in seen:
        seen.add(current)
        path.append(by_uuid[current])
        current = by_uuid[current].parent_message_uuid
    path.reverse()
    return path, [m for m in messages if m.uuid not in seen]


def _attachments(message: _Message) -> list[dict[str, Any]]:
    found = [
        {k: a[k] for k in ATTACHMENT_FIELDS if a.get(k) not in (None, "")}
        for a in message.attachments
    ]
    found += [
        {"file_name": f["file_name"]}
        for f in message.files + message.files_v2
        if isinstance(f, dict) and isinstance(f.get("file_name"), str)
    ]
    return [a for a in found if a]


class _Builder:
    def __init__(self, where: str) -> None:
        self.where = where
        self.messages: list[ImportedMessage] = []
        self.skipped: list[Skipped] = []
        self.tool_names: dict[str, str] = {}

    def add(self, message: _Message, ts: str) -> None:
        where = f"{self.where} message {message.uuid}"
        role = SENDER_ROLES.get(message.sender)
        if role is None:
            self.skipped.append(Skipped(where, f"unknown sender {message.sender!r}"))
            return
        blocks = split_blocks(message.content)
        if not blocks.parts and message.text:
            blocks = split_blocks(message.text)  # older exports: text only
        self.skipped += [Skipped(where, reason) for reason in blocks.skipped]
        attachments = _attachments(message)
        parts = blocks.parts or ([TextPart("", (), "")] if attachments else [])
        if not parts:
            self.skipped.append(Skipped(where, f"empty {role} message"))
        texts = 0
        for part in parts:
            if isinstance(part, ToolResult):
                self._tool(message, part, ts)
                continue
            texts += 1
            metadata: dict[str, Any] = {
                "source_id": message.uuid if texts == 1 else f"{message.uuid}:{texts}"
            }
            for call in part.tool_calls:
                self.tool_names[call.id] = call.name
            if part.tool_calls:
                metadata["tool_calls"] = [c.as_metadata() for c in part.tool_calls]
            if part.thinking:
                metadata["thinking"] = part.thinking
            if attachments and texts == 1:
                metadata["attachments"] = attachments
            self.messages.append(
                ImportedMessage(
                    role="user" if role == "user" else "assistant",
                    content=part.text,
                    ts=ts,
                    metadata=metadata,
                )
            )

    def _tool(self, message: _Message, result: ToolResult, ts: str) -> None:
        metadata: dict[str, Any] = {
            "source_id": f"{message.uuid}:{result.tool_call_id}",
            "tool_call_id": result.tool_call_id,
        }
        if result.tool_call_id in self.tool_names:
            metadata["tool_name"] = self.tool_names[result.tool_call_id]
        if result.is_error:
            metadata["is_error"] = True
        self.messages.append(
            ImportedMessage(role="tool", content=result.content, ts=ts, metadata=metadata)
        )


def _conversation(
    conversation: _Conversation, path: str, skipped: list[Skipped]
) -> ImportedConversation:
    where = f"{path}: conversation {conversation.uuid}"
    branch, others = _branch(conversation)
    skipped += [Skipped(f"{where} message {m.uuid}", "not on the active branch") for m in others]
    created = from_iso(conversation.created_at)
    builder = _Builder(where)
    last_ts = created
    for message in branch:
        ts = from_iso(message.created_at) or last_ts or now_iso()
        last_ts = ts
        builder.add(message, ts)
    skipped += builder.skipped
    origin: dict[str, Any] = {"original_id": conversation.uuid}
    for name in ("created_at", "updated_at", "summary"):
        value = getattr(conversation, name)
        if value:
            origin[name] = value
    first_ts = builder.messages[0].ts if builder.messages else None
    return ImportedConversation(
        source=SOURCE,
        key=f"{SOURCE}:{conversation.uuid}",
        path=path,
        title=conversation.name or None,
        created_at=created or first_ts or now_iso(),
        tags=(SOURCE,),
        messages=tuple(builder.messages),
        origin=origin,
    )


def parse_export(data: bytes, path: str) -> Parsed:
    """A whole Claude.ai ``conversations.json``."""
    return parse_conversations(
        data,
        path,
        _Conversation,
        required="chat_messages",
        source="Claude.ai",
        ident=lambda conversation: conversation.uuid,
        ident_name="uuid",
        convert=lambda conversation, path, skipped: [_conversation(conversation, path, skipped)],
    )
