"""Writing imported conversations into the event log: idempotent and resumable.

Identity. Each conversation has a stable source key (``chatgpt:<id>``) stored in its
session's ``session_created`` metadata as ``{"import": {"source", "key", "path", ...}}``.
The session of a key is looked up in the projections' index of that metadata, caught up
with the store once per run (:mod:`cli.importers.known`): an import costs O(what it
imports), not O(sessions in the store).
Every read and write goes through the store interface (``first_event``, ``last_event``,
``read``, ``create_session``, ``append``), so an import writes to the local files or to a
JetStream store alike; this module never opens a log file itself. A new session's id is
derived from the conversation's creation time and a hash of its key
(``2024-01-01_000000_3fa2c1``): sorted by when the conversation happened, the same on
every run, and claimed whole by the store (``O_EXCL`` on files, expected sequence 0 on
JetStream), so two imports running at once cannot both create it. The replaced system's
sessions keep their own ids.

Branches. A conversation that is a branch (``ImportedConversation.family`` or
``fork_of``) and has no session under its key yet is written as a fork
(:meth:`EventStore.fork_session`, its ``session_created`` carrying its own import key) of
the session of its family that holds the longest run of its leading messages, at the seq
of the last message they share; then its own messages are appended. When a session of the
family already holds all its messages, it is reported as present there and nothing is
written. When the session under a branch's key holds another branch (a ChatGPT export
whose active branch changed since), the branch is looked up under
``<key>#<source id of its first message the session does not hold>`` and forked when
new, instead of being reported as a conflict. Forks copy what they share, so they stay
whole when their parent is deleted. Once a session of a family turns out to be written by
another import at the same time (an ``expected_seq`` conflict), the rest of that family is
left to that import in this run (reported as conflicts), so no branch is forked from a
session the other import has not finished.

Completion. A session is written as its ``session_created`` event followed by one event
per message, in source order. Whether a previous run finished is decided by comparing the
log with the source, message by message (by source id where the source has ids, else by
role and content): when the log holds a prefix of the source's messages, the missing rest
is appended (a run interrupted mid-way, or a conversation that has grown since); when it
holds them all, nothing is written; when they differ, the session is left alone and
reported as a conflict. The usual re-run is decided from the log's last event alone: when
its seq is the source's message count plus one and it matches the source's last message,
the session is complete. A session whose first event is not an import of this
conversation (or that holds no intact event) is someone else's: a new id is taken (the
replaced system's sessions, whose ids are kept, are reported as present instead).
Appends use ``expected_seq``, so a session changed by another process meanwhile is never
interleaved.

Durability. On files, appends are not fsynced one by one (bulk speed); :meth:`Writer.finish`
asks the store to sync what was written. A crash before that loses at most the tail of the
run, which the next run completes. (On JetStream every append is acknowledged as it goes.)

A dry run writes nothing: it reads through ``reader`` (the store, or none when there is no
home yet, and then nothing is there to read).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from cli.importers.known import ImportedKeys, family_of, import_key
from cli.importers.records import ImportedConversation, ImportedMessage
from cli.importers.timestamps import now_iso, to_datetime
from eventlog import (
    AnyEvent,
    EventStore,
    Message,
    SeqConflictError,
    SessionCreated,
    SessionExistsError,
    SessionNotFoundError,
    new_session_id,
)
from eventlog.redaction import redact_text, redacted_content

if TYPE_CHECKING:
    from projections import Projections

Status = Literal["imported", "completed", "present", "conflict"]
DIFFERS = "differs from the source; session left as it is"
RACED = "changed by another process while importing; run the import again"


class Outcome(msgspec.Struct, frozen=True):
    """What happened to one conversation (or would happen, in a dry run)."""

    key: str
    status: Status
    session_id: str | None
    title: str | None
    messages: int = 0  # messages written by this run
    tokens: int = 0  # their token counts, summed
    note: str = ""


def derived_session_id(created_at: str, key: str) -> str:
    """``YYYY-MM-DD_HHMMSS_xxxxxx`` from the creation time (UTC) and the key's hash."""
    moment = to_datetime(created_at)
    return f"{moment:%Y-%m-%d_%H%M%S}_{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def _fingerprint(role: str, content: str, metadata: dict[str, Any]) -> tuple[str, str]:
    source_id = metadata.get("source_id")
    return (role, f"id:{source_id}") if source_id is not None else (role, f"text:{content}")


def _same(have: Message, want: ImportedMessage) -> bool:
    """Whether the stored message is the source's: by source id, else by role and text,
    the text as stored (secrets redacted on save) or a message redacted since."""
    if _fingerprint(have.role, have.content, have.metadata) == _fingerprint(
        want.role, want.content, want.metadata
    ):
        return True
    if have.role != want.role or want.metadata.get("source_id") is not None:
        return False
    redacted = have.metadata.get("redacted")
    if isinstance(redacted, dict) and have.content == redacted_content(str(redacted.get("at"))):
        return True
    return have.content == redact_text(want.content)[0]


def _branch_mark(messages: tuple[ImportedMessage, ...], index: int) -> str:
    """What names a branch in its key: the source id of its first message of its own."""
    if index < len(messages) and messages[index].metadata.get("source_id") is not None:
        return str(messages[index].metadata["source_id"])
    return f"message-{index + 1}"


def _tokens(messages: tuple[ImportedMessage, ...] | list[ImportedMessage]) -> int:
    return sum(m.token_count or 0 for m in messages)


class Writer:
    """Writes conversations into one home; ``log=None`` makes it a dry run."""

    def __init__(
        self,
        log: EventStore | None,
        reader: EventStore | None = None,
        *,
        index: Projections | None = None,
    ) -> None:
        """``index``: the projections of ``log``, where the sessions of import keys are
        looked up (a dry run has none: it scans ``reader``'s sessions)."""
        self.log = log
        self.reader = log or reader
        self.written: set[str] = set()
        self.partial: Outcome | None = None  # the conversation being written, if writing failed
        self._keys = ImportedKeys(index, self.reader)
        self._unsettled: set[str] = set()  # keys of families another import is writing
        # The messages of the current family's sessions, read once for all its branches.
        self._family_read: dict[str, list[Message]] = {}
        self._read_family: str | None = None  # whose sessions _family_read holds

    @property
    def dry_run(self) -> bool:
        return self.log is None

    def keys(self) -> ImportedKeys:
        """Source key -> session id of the imported sessions in the store."""
        return self._keys

    def _remember(self, key: str, session_id: str) -> None:
        """Note the session this run wrote (or found created meanwhile) under ``key``,
        and of its family: a branch's key is its family's main key, ``#``, what names
        the branch."""
        self._keys[key] = session_id
        family = family_of(key)
        if family is not None:
            branches = self._keys.branches(family)
            if session_id not in branches:
                branches.append(session_id)

    def write(self, conversation: ImportedConversation) -> Outcome:
        family = {
            key
            for key in (conversation.key, conversation.family, conversation.fork_of)
            if key is not None
        }
        if family & self._unsettled:
            # Another import is writing this family: a branch forked now could leave a
            # session it has not finished. The next run finds the family settled.
            self._unsettled.add(conversation.key)
            existing = self.keys().get(conversation.key)
            return self._outcome(conversation, "conflict", existing, note=RACED)
        if conversation.family is None or conversation.family != self._read_family:
            self._family_read.clear()  # one family at a time
            self._read_family = conversation.family
        outcome = self._write(conversation)
        if outcome.note == RACED and conversation.branched:
            self._unsettled.update(family)
        return outcome

    def _write(self, conversation: ImportedConversation) -> Outcome:
        key = conversation.key
        existing = self.keys().get(key)
        if existing is not None and self._exists(existing):
            outcome = self._complete(conversation, existing)
            if not (conversation.branched and outcome.note.endswith(DIFFERS)):
                return outcome
            # The session under this key holds another branch of the family (the source's
            # active branch changed since it was imported): this branch is looked up under
            # a key naming where it leaves that session, and forked from it when new.
            shared, _seq = self._shared_prefix(existing, conversation.messages)
            key = f"{key}#{_branch_mark(conversation.messages, shared)}"
            existing = self.keys().get(key)
            if existing is not None and self._exists(existing):
                return self._complete(conversation, existing)
        if conversation.branched:
            return self._branch(conversation, key)
        target = conversation.session_id or derived_session_id(
            conversation.created_at, conversation.key
        )
        return self._create(conversation, target, explicit=conversation.session_id is not None)

    def finish(self, durable: bool = True) -> None:
        """Make everything this run wrote durable (the store syncs each session written);
        closing the store is its owner's business."""
        if self.log is not None and self.written and durable:
            self.log.sync()

    # ------------------------------------------------------------------ internals

    def _exists(self, session_id: str) -> bool:
        return self.reader is not None and self.reader.exists(session_id)

    def _first(self, session_id: str) -> AnyEvent | None:
        assert self.reader is not None
        try:
            return self.reader.first_event(session_id)
        except SessionNotFoundError:
            return None

    def _messages(self, session_id: str, read_to: list[int] | None = None) -> Iterator[Message]:
        """The session's messages; ``read_to[0]`` follows the seq of every event read."""
        assert self.reader is not None
        for event in self.reader.read(session_id):
            if read_to is not None:
                read_to[0] = event.seq
            if isinstance(event, Message):
                yield event

    def _outcome(
        self,
        conversation: ImportedConversation,
        status: Status,
        session_id: str | None,
        written: tuple[ImportedMessage, ...] = (),
        note: str = "",
    ) -> Outcome:
        return Outcome(
            key=conversation.key,
            status=status,
            session_id=session_id,
            title=conversation.title,
            messages=len(written),
            tokens=_tokens(written),
            note=note,
        )

    def _family(self, conversation: ImportedConversation) -> list[str]:
        """The sessions a branch may fork from: the one its source names, else every
        session of its family (the main one first)."""
        keys = self.keys()
        if conversation.fork_of is not None:
            named = keys.get(conversation.fork_of)
            return [named] if named is not None and self._exists(named) else []
        if conversation.family is None:
            return []
        main = keys.get(conversation.family)
        members = [sid for sid in keys.branches(conversation.family) if sid != main]
        return [sid for sid in ([main] if main else []) + members if self._exists(sid)]

    def _shared_prefix(
        self, session_id: str, messages: tuple[ImportedMessage, ...]
    ) -> tuple[int, int]:
        """(how many leading ``messages`` the session holds, the seq of the last of them:
        1, its ``session_created``, when it holds none)."""
        count, seq = 0, 1
        if session_id not in self._family_read:
            self._family_read[session_id] = list(self._messages(session_id))
        for have in self._family_read[session_id]:
            if count >= len(messages) or not _same(have, messages[count]):
                break
            count, seq = count + 1, have.seq
        return count, seq

    def _branch(self, conversation: ImportedConversation, key: str) -> Outcome:
        """A branch without a session of its own: present when a session of its family
        already holds all its messages, else a fork of the session sharing most of them
        (at the seq of the last shared message), with its own messages appended."""
        best: tuple[str, int, int] | None = None  # (session, shared messages, fork seq)
        for sid in self._family(conversation):
            shared, seq = self._shared_prefix(sid, conversation.messages)
            if shared == len(conversation.messages):
                return self._outcome(conversation, "present", sid)
            if best is None or shared > best[1]:
                best = (sid, shared, seq)
        if self.log is None:  # a dry run: the source says what it shares (nothing written)
            shared = conversation.shared if best is None else best[1]
            return self._outcome(conversation, "imported", None, conversation.messages[shared:])
        if best is None:  # nothing of its family here: a session of its own
            target = derived_session_id(conversation.created_at, key)
            return self._create(conversation, target, explicit=False, key=key)
        parent, shared, at_seq = best
        target = derived_session_id(conversation.created_at, key)
        while True:
            if self._exists(target):
                if import_key(self._first(target)) == key:  # created meanwhile
                    self._remember(key, target)
                    return self._complete(conversation, target)
                target = new_session_id(to_datetime(conversation.created_at))
                continue
            title = (conversation.title or "").replace("\x00", "") or None
            header = self._first(parent)
            if isinstance(header, SessionCreated) and header.title == title:
                title = None  # the fork has its parent's title already
            try:
                self.log.fork_session(
                    parent,
                    at_seq,
                    title=title,
                    session_id=target,
                    metadata={"import": self._provenance(conversation, key)},
                )
            except SessionExistsError:
                continue  # another process got there first: look again
            self.written.add(target)
            self._remember(key, target)
            # The fork's last seq as fork_session wrote it (its session_forked, then its
            # title), never the log's last seq read now: another import may have found the
            # fork and appended meanwhile, and expected_seq must then refuse.
            last = at_seq + 1 + (title is not None)
            return self._append(conversation, target, shared, last, "imported")

    def _create(
        self,
        conversation: ImportedConversation,
        target: str,
        explicit: bool,
        key: str | None = None,
    ) -> Outcome:
        """A session of its own for ``conversation`` at ``target``, imported under ``key``
        (default: the conversation's)."""
        key = key or conversation.key
        while True:
            if self._exists(target):
                if import_key(self._first(target)) == key:  # created meanwhile
                    self._remember(key, target)  # its branches fork from it
                    return self._complete(conversation, target)
                if explicit:
                    return self._outcome(
                        conversation, "present", target, note="session id already in use"
                    )
                target = new_session_id(to_datetime(conversation.created_at))
                continue
            if self.log is None:
                return self._outcome(conversation, "imported", target, conversation.messages)
            try:
                self.log.create_session(
                    title=(conversation.title or "").replace("\x00", "") or None,
                    tags=conversation.tags,
                    session_id=target,
                    ts=conversation.created_at,
                    metadata={"import": self._provenance(conversation, key)},
                )
            except SessionExistsError:
                continue  # another process got there first: look again
            self.written.add(target)
            self._remember(key, target)
            return self._append(conversation, target, 0, 1, "imported")

    def _provenance(
        self, conversation: ImportedConversation, key: str | None = None
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "source": conversation.source,
            "key": key or conversation.key,
            "path": conversation.path,
            "imported_at": now_iso(),
        }
        info.update({k: v for k, v in conversation.origin.items() if v is not None})
        return info

    def _complete(self, conversation: ImportedConversation, session_id: str) -> Outcome:
        source = conversation.messages
        assert self.reader is not None
        last = self.reader.last_event(session_id)
        # The usual re-run: one event per source message after the header, the last one
        # matching: complete, without reading the whole log.
        if (
            last is not None
            and last.seq == len(source) + 1
            and (not source or (isinstance(last, Message) and _same(last, source[-1])))
        ):
            return self._outcome(conversation, "present", session_id)
        stored = 0
        read_to = [0]  # the last seq of what was compared: appends must follow exactly it
        for index, have in enumerate(self._messages(session_id, read_to)):
            if index >= len(source):
                return self._outcome(conversation, "present", session_id)
            want = source[index]
            if not _same(have, want):
                return self._outcome(
                    conversation,
                    "conflict",
                    session_id,
                    note=f"message {index + 1} {DIFFERS}",
                )
            stored = index + 1
        if stored >= len(source):
            return self._outcome(conversation, "present", session_id)
        if self.log is None:
            return self._outcome(conversation, "completed", session_id, source[stored:])
        self.written.add(session_id)
        # Not the log's last seq now: another import may have appended since it was read,
        # and expected_seq must then refuse (a conflict), never append the rest twice.
        return self._append(conversation, session_id, stored, read_to[0], "completed")

    def _append(
        self,
        conversation: ImportedConversation,
        session_id: str,
        start: int,
        seq: int,
        status: Status,
    ) -> Outcome:
        assert self.log is not None
        self._family_read.pop(session_id, None)
        rest = conversation.messages[start:]
        for done, message in enumerate(rest):
            # What this conversation got so far, should the next append fail (disk full):
            # the summary counts what was really written.
            self.partial = self._outcome(conversation, status, session_id, rest[:done])
            try:
                event = self.log.append(
                    session_id,
                    message.role,
                    message.content,
                    token_count=message.token_count,
                    metadata=message.metadata,
                    expected_seq=seq,
                    ts=message.ts,
                )
            except SeqConflictError:
                return self._outcome(
                    conversation,
                    "conflict",
                    session_id,
                    rest[:done],
                    note=RACED,
                )
            seq = event.seq
        self.partial = None
        return self._outcome(conversation, status, session_id, rest)
