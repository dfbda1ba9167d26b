"""ChatGPT data export: ``conversations.json`` (Settings -> Data controls -> Export).

Each conversation holds its messages in ``mapping``, a tree of nodes (``parent``,
``children``); editing a prompt or regenerating an answer adds a branch. Every branch is
imported: the active one (the path from ``current_node`` up through ``parent`` links) is
the conversation's main session, and each other leaf's path is a branch the writer forks
from the session it shares most messages with (see :mod:`cli.importers.writer`). A
branch's key names its first message of its own (``chatgpt:<id>#<message id>``), so it
stays the same when the branch grows.

Roles come from ``author.role``; text from ``content.parts`` (string parts, or the
``text`` of code and tool-output content). Hidden messages, empty ones and parts without
text (images, audio) are skipped with their reason, once however many branches hold them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cli.importers.jsonfile import parse_conversations
from cli.importers.records import (
    MAX_BRANCHES,
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


def _leaves(conversation: _Conversation) -> list[str]:
    """Every branch's last node: the active one first, then the others in the export's
    order (a node none of whose children is in the mapping ends a branch)."""
    active = _leaf(conversation)
    mapping = conversation.mapping
    others = [
        key
        for key, node in mapping.items()
        if key != active and not any(child in mapping for child in node.children)
    ]
    return ([active] if active is not None else []) + others


def _path(conversation: _Conversation, leaf: str) -> list[str]:
    """Node ids from the root to ``leaf``."""
    path: list[str] = []
    seen: set[str] = set()
    current: str | None = leaf
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


class _Nodes:
    """Each node of one conversation read into a message once (its skipped parts
    counted once however many branches it is on)."""

    def __init__(self, conversation: _Conversation, where: str, skipped: list[Skipped]) -> None:
        self.conversation = conversation
        self.where = where
        self.skipped = skipped
        self.created = from_epoch(conversation.create_time)
        self.read: dict[str, tuple[ImportedMessage | None, str | None]] = {}  # (message, ts)

    def messages(self, path: list[str]) -> list[ImportedMessage]:
        """The messages of the nodes on ``path`` (from the root). A node without a time
        takes that of the node before it."""
        last_ts = self.created
        out: list[ImportedMessage] = []
        for key in path:
            if key not in self.read:
                message = self.conversation.mapping[key].message
                if message is None:
                    self.read[key] = (None, last_ts)
                else:
                    ts = from_epoch(message.create_time) or last_ts or now_iso()
                    where = f"{self.where} node {key}"
                    self.read[key] = (_message(message, ts, where, self.skipped), ts)
            imported, last_ts = self.read[key]
            if imported is not None:
                out.append(imported)
        return out


def _conversations(
    conversation: _Conversation, path: str, skipped: list[Skipped]
) -> list[ImportedConversation]:
    """The active branch (from ``current_node``), then every other branch with the
    messages it does not share with the branches before it."""
    ident = conversation.id or conversation.conversation_id
    where = f"{path}: conversation {ident}"
    key = f"{SOURCE}:{ident}"
    nodes = _Nodes(conversation, where, skipped)
    origin: dict[str, Any] = {"original_id": ident}
    if conversation.create_time is not None:
        origin["create_time"] = conversation.create_time
    if conversation.update_time is not None:
        origin["update_time"] = conversation.update_time
    if conversation.default_model_slug:
        origin["model"] = conversation.default_model_slug
    title = conversation.title or None
    leaves = _leaves(conversation)
    # Paths are read for a bounded number of leaves (each holds its whole path).
    considered = 4 * MAX_BRANCHES
    skipped += [
        Skipped(f"{where} node {leaf}", f"branch over {MAX_BRANCHES}")
        for leaf in leaves[considered:]
    ]
    paths = [(leaf, nodes.messages(_path(conversation, leaf))) for leaf in leaves[:considered]]
    # A path ending in a message that another path goes on from is part of that one (its
    # leaf added no message: empty, hidden): it is no branch of its own.
    inner = {id(message) for _leaf, messages in paths for message in messages[:-1]}
    held: set[int] = set()  # the messages of the branches so far
    result: list[ImportedConversation] = []
    for leaf, messages in paths:
        if not result:  # the active branch: the family's main session
            held.update(id(message) for message in messages)
            created = nodes.created or (messages[0].ts if messages and messages[0].ts else None)
            result.append(
                ImportedConversation(
                    source=SOURCE,
                    key=key,
                    path=path,
                    title=title,
                    created_at=created or now_iso(),
                    tags=(SOURCE,),
                    messages=tuple(messages),
                    origin=origin,
                )
            )
            continue
        # the messages it shares with the branches before it: a prefix (a tree's paths
        # share nothing after they part)
        shared = sum(1 for message in messages if id(message) in held)
        if shared == len(messages) or id(messages[-1]) in inner:
            skipped.append(Skipped(f"{where} node {leaf}", "branch without messages of its own"))
            continue
        if len(result) >= MAX_BRANCHES:
            skipped.append(Skipped(f"{where} node {leaf}", f"branch over {MAX_BRANCHES}"))
            continue
        own = messages[shared]
        held.update(id(message) for message in messages[shared:])
        result.append(
            ImportedConversation(
                source=SOURCE,
                key=f"{key}#{own.metadata.get('source_id') or leaf}",
                path=path,
                title=title,
                created_at=own.ts or result[0].created_at,
                tags=(SOURCE,),
                messages=tuple(messages),
                origin={**origin, "leaf": leaf},
                family=key,
                shared=shared,
            )
        )
    if len(result) > 1:
        result[0] = msgspec.structs.replace(result[0], family=key)
    return result


def parse_export(data: bytes, path: str) -> Parsed:
    """A whole ``conversations.json``: every branch of every conversation."""
    return parse_conversations(
        data,
        path,
        _Conversation,
        required="mapping",
        source="ChatGPT",
        ident=lambda conversation: conversation.id or conversation.conversation_id,
        ident_name="id",
        convert=_conversations,
    )
