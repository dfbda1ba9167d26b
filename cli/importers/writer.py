"""Writing imported conversations into the event log: idempotent and resumable.

Identity. Each conversation has a stable source key (``chatgpt:<id>``) stored in its
session's ``session_created`` metadata as ``{"import": {"source", "key", "path", ...}}``.
Before writing, the first line of every log is read once to map keys to sessions. A new
session's id is derived from the conversation's creation time and a hash of its key
(``2024-01-01_000000_3fa2c1``): sorted by when the conversation happened, the same on
every run, and claimed with ``O_EXCL``, so two imports running at once cannot both create
it. The replaced system's sessions keep their own ids.

Completion. A session is written as its ``session_created`` event followed by one event
per message, in source order. Whether a previous run finished is decided by comparing the
log with the source, message by message (by source id where the source has ids, else by
role and content): when the log holds a prefix of the source's messages, the missing rest
is appended (a run interrupted mid-way, or a conversation that has grown since); when it
holds them all, nothing is written; when they differ, the session is left alone and
reported as a conflict. The usual re-run is decided from the log's tail alone: when its
last seq is the source's message count plus one and its last message matches the source's
last, the session is complete. A log that exists but holds no intact event is being
created by another process, or a crash cut its creation short between claiming the file
and writing its first line: once the claim is two seconds old it is replaced.
Appends use ``expected_seq``, so a session changed by another process meanwhile is never
interleaved.

Durability. Appends are not fsynced one by one (bulk speed); :meth:`Writer.finish`
fdatasyncs every log written and the events directory. A crash before that loses at most
the tail of the run, which the next run completes.

A dry run (no EventLog) reads the home and writes nothing, not even the home directory.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any, Literal

import msgspec

from cli.importers.records import ImportedConversation, ImportedMessage
from cli.importers.timestamps import now_iso, to_datetime
from eventlog import (
    AnyEvent,
    EventLog,
    HomeLayout,
    Message,
    Scan,
    SeqConflictError,
    SessionCreated,
    SessionExistsError,
    decode_line,
    new_session_id,
    scan_bytes,
)
from eventlog.atomic import fsync_dir

Status = Literal["imported", "completed", "present", "conflict"]
HEADER_CHUNK = 64 * 1024
# A log claimed (created) but still empty is being written by another process, unless
# its claim is this old: then a crash cut the creation short and the file is replaced.
CLAIM_WAIT_SECONDS = 2.0


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


def read_header(layout: HomeLayout, session_id: str) -> SessionCreated | None:
    """The session's first event when it is an intact ``session_created``."""
    try:
        with open(layout.log_path(session_id), "rb") as file:
            data = b""
            while b"\n" not in data:
                chunk = file.read(HEADER_CHUNK)
                if not chunk:
                    return None
                data += chunk
    except OSError:
        return None
    event = decode_line(data[: data.index(b"\n")])
    return event if isinstance(event, SessionCreated) else None


def import_key(header: SessionCreated | None) -> str | None:
    info = header.metadata.get("import") if header is not None else None
    key = info.get("key") if isinstance(info, dict) else None
    return key if isinstance(key, str) else None


def read_last_event(layout: HomeLayout, session_id: str) -> AnyEvent | None:
    """The log's last intact event, reading only its tail (widening until a line is found)."""
    path = layout.log_path(session_id)
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            chunk = HEADER_CHUNK
            while True:
                start = max(0, size - chunk)
                file.seek(start)
                data = file.read(size - start)
                if start:
                    data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
                entries = scan_bytes(data, path=str(path)).entries
                if entries or start == 0:
                    return entries[-1].event if entries else None
                chunk *= 2
    except OSError:
        return None


def read_log(layout: HomeLayout, session_id: str) -> Scan:
    """A read-only scan of one log (no lock, no repair: safe in a dry run)."""
    path = layout.log_path(session_id)
    return scan_bytes(path.read_bytes(), path=str(path))


def _fingerprint(role: str, content: str, metadata: dict[str, Any]) -> tuple[str, str]:
    source_id = metadata.get("source_id")
    return (role, f"id:{source_id}") if source_id is not None else (role, f"text:{content}")


def _tokens(messages: tuple[ImportedMessage, ...] | list[ImportedMessage]) -> int:
    return sum(m.token_count or 0 for m in messages)


class Writer:
    """Writes conversations into one home; ``log=None`` makes it a dry run."""

    def __init__(self, layout: HomeLayout, log: EventLog | None) -> None:
        self.layout = layout
        self.log = log
        self.written: set[str] = set()
        self.partial: Outcome | None = None  # the conversation being written, if writing failed
        self._keys: dict[str, str] | None = None

    @property
    def dry_run(self) -> bool:
        return self.log is None

    def keys(self) -> dict[str, str]:
        """Source key -> session id of every imported session in the home."""
        if self._keys is None:
            self._keys = {}
            for sid in self.layout.session_ids():
                key = import_key(read_header(self.layout, sid))
                if key is not None:
                    self._keys.setdefault(key, sid)
        return self._keys

    def write(self, conversation: ImportedConversation) -> Outcome:
        existing = self.keys().get(conversation.key)
        if existing is not None and self._exists(existing):
            return self._complete(conversation, existing)
        target = conversation.session_id or derived_session_id(
            conversation.created_at, conversation.key
        )
        return self._create(conversation, target, explicit=conversation.session_id is not None)

    def finish(self, durable: bool = True) -> None:
        """Make everything this run wrote durable (one fdatasync per log written)."""
        if self.log is None or not self.written:
            return
        self.log.close()
        if not durable:
            return
        for sid in sorted(self.written):
            try:
                fd = os.open(self.layout.log_path(sid), os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
        fsync_dir(self.layout.events_dir)

    # ------------------------------------------------------------------ internals

    def _exists(self, session_id: str) -> bool:
        return self.layout.log_path(session_id).exists()

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

    def _create(self, conversation: ImportedConversation, target: str, explicit: bool) -> Outcome:
        while True:
            if self._exists(target):
                entries = read_log(self.layout, target).entries  # one read decides
                first = entries[0].event if entries else None
                if isinstance(first, SessionCreated) and import_key(first) == conversation.key:
                    return self._complete(conversation, target)  # created meanwhile
                if entries:
                    if explicit:
                        return self._outcome(
                            conversation, "present", target, note="session id already in use"
                        )
                    target = new_session_id(to_datetime(conversation.created_at))
                    continue
                # Claimed but holding no event: another process is creating it right now
                # (its first line follows within microseconds), or a crash cut the
                # creation short. Give a young claim time to be written, then replace it.
                if self._claim_age(target) < CLAIM_WAIT_SECONDS:
                    time.sleep(0.05)
                    continue
                if self.log is not None:
                    self.log.delete_session(target)
            if self.log is None:
                return self._outcome(conversation, "imported", target, conversation.messages)
            try:
                self.log.create_session(
                    title=(conversation.title or "").replace("\x00", "") or None,
                    tags=conversation.tags,
                    session_id=target,
                    ts=conversation.created_at,
                    metadata={"import": self._provenance(conversation)},
                )
            except SessionExistsError:
                continue  # another process got there first: look again
            self.written.add(target)
            self.keys()[conversation.key] = target
            return self._append(conversation, target, 0, 1, "imported")

    def _claim_age(self, session_id: str) -> float:
        try:
            return time.time() - self.layout.log_path(session_id).stat().st_mtime
        except FileNotFoundError:
            return CLAIM_WAIT_SECONDS

    def _provenance(self, conversation: ImportedConversation) -> dict[str, Any]:
        info: dict[str, Any] = {
            "source": conversation.source,
            "key": conversation.key,
            "path": conversation.path,
            "imported_at": now_iso(),
        }
        info.update({k: v for k, v in conversation.origin.items() if v is not None})
        return info

    def _complete(self, conversation: ImportedConversation, session_id: str) -> Outcome:
        source = conversation.messages
        last = read_last_event(self.layout, session_id)
        # The usual re-run: one event per source message after the header, the last one
        # matching: complete, without reading the whole log.
        if (
            last is not None
            and last.seq == len(source) + 1
            and (
                not source
                or (
                    isinstance(last, Message)
                    and _fingerprint(last.role, last.content, last.metadata)
                    == _fingerprint(source[-1].role, source[-1].content, source[-1].metadata)
                )
            )
        ):
            return self._outcome(conversation, "present", session_id)
        scan = read_log(self.layout, session_id)
        stored = [e.event for e in scan.entries if isinstance(e.event, Message)]
        for index, (have, want) in enumerate(zip(stored, source, strict=False)):
            if _fingerprint(have.role, have.content, have.metadata) != _fingerprint(
                want.role, want.content, want.metadata
            ):
                return self._outcome(
                    conversation,
                    "conflict",
                    session_id,
                    note=f"message {index + 1} differs from the source; session left as it is",
                )
        if len(stored) >= len(source):
            return self._outcome(conversation, "present", session_id)
        if self.log is None:
            return self._outcome(conversation, "completed", session_id, source[len(stored) :])
        self.written.add(session_id)
        return self._append(conversation, session_id, len(stored), scan.last_seq, "completed")

    def _append(
        self,
        conversation: ImportedConversation,
        session_id: str,
        start: int,
        seq: int,
        status: Status,
    ) -> Outcome:
        assert self.log is not None
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
                    note="changed by another process while importing; run the import again",
                )
            seq = event.seq
        self.partial = None
        return self._outcome(conversation, status, session_id, rest)
