"""Upkeep of a JetStream store: check, repair, archive, restore, purge archives.

All of these are O(session): they stream the session's messages (bounded batches).

- ``check`` decodes every message of the session (damage comes only from other clients
  publishing to its subject: JetStream stores messages whole).
- ``repair`` copies each damaged message to ``<stream>.q.<id>`` and deletes it from the
  session; the intact events keep their stream sequences, so readers' positions stay
  valid.
- ``archive`` writes the session's lines, gzip-compressed in chunks, to
  ``<stream>.a.<id>`` ending with a manifest, checks no append came meanwhile (else it
  starts over), then marks the session ``archived`` and erases it. ``restore`` publishes
  the lines back byte-identical (each with the expected last subject sequence of the one
  before, the first with 0: the session must not exist), then drops the archive.
"""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Final

from nats.js import api

from eventlog.errors import SessionExistsError, SessionNotFoundError, StorageError
from eventlog.ids import validate_session_id
from eventlog.jetstream_client import StoredMessage
from eventlog.jetstream_layout import (
    ARCHIVE_HEADER,
    FOREIGN_KINDS,
    SEQ_HEADER,
    EntryDecoder,
    stored_seq,
)
from eventlog.scan import LogIssue
from eventlog.store import ArchivedSession, DamageReport, Repair

if TYPE_CHECKING:
    from eventlog.jetstream import JetStreamStore

CHUNK_BYTES: Final = 256 * 1024  # uncompressed lines per archive message
ARCHIVE_ATTEMPTS: Final = 3


def check(store: JetStreamStore, session_id: str) -> DamageReport | None:
    subject = store.subjects.events(session_id)
    tail = store._call(f"cannot check {session_id}", store._tail(session_id))
    if tail is None:
        return None
    decoder = EntryDecoder(subject)
    damaged: list[LogIssue] = []
    foreign: list[LogIssue] = []
    for messages in store._stream(subject, 1, tail.stream_seq):
        _entries, issues = decoder.feed(messages)
        for issue in issues:
            (foreign if issue.kind in FOREIGN_KINDS else damaged).append(issue)
    return DamageReport(session_id, damaged, foreign)


def repair(store: JetStreamStore, session_id: str) -> Repair | None:
    report = check(store, session_id)
    if report is None or not report.damaged:
        return None
    quarantine = store.subjects.quarantine(session_id)
    total = 0

    async def move(stream_seq: int) -> int:
        found = await store._conn.message_at(stream_seq)
        if found is None:
            return 0
        await store._conn.js.publish(
            quarantine,
            found.data,
            timeout=store.address.timeout,
            headers={"Chatlog-From-Sequence": str(stream_seq)},
        )
        await store._conn.delete_message(stream_seq)
        return len(found.data)

    for issue in report.damaged:
        total += store._call(f"cannot repair {session_id}", move(issue.offset))
    store._call(f"cannot repair {session_id}", store._mark(session_id, "repaired"))
    description = {
        "session_id": session_id,
        "quarantine": quarantine,
        "lines": [
            {"stream_sequence": i.offset, "kind": i.kind, "detail": i.detail, "bytes": i.length}
            for i in report.damaged
        ],
    }
    return Repair(session_id, len(report.damaged), total, quarantine, json.dumps(description))


def archive(store: JetStreamStore, session_id: str) -> ArchivedSession:
    validate_session_id(session_id)
    subject = store.subjects.events(session_id)
    target = store.subjects.archive(session_id)
    what = f"cannot archive {session_id}"
    if store._call(what, store._conn.last_message(target)) is not None:
        raise SessionExistsError(
            f"an archive of {session_id} exists already; restore or purge it first"
        )
    for _attempt in range(ARCHIVE_ATTEMPTS):
        tail = store._call(what, store._tail(session_id))
        if tail is None:
            raise SessionNotFoundError(f"no session {session_id}")
        size = _write_archive(store, subject, target, tail.stream_seq)
        still = store._call(what, store._tail(session_id))
        if still == tail:
            store._call(what, _retire(store, session_id))
            return ArchivedSession(session_id, archive_address(store, session_id), size)
        store._call(what, store._conn.erase(target))  # appended meanwhile: start over
    raise StorageError(f"{what}: it kept changing while being archived; try again")


def _write_archive(store: JetStreamStore, subject: str, target: str, stop: int) -> int:
    decoder = EntryDecoder(subject)

    def lines() -> Iterator[bytes]:
        for messages in store._stream(subject, 1, stop):
            for message in messages:
                if decoder.take(message) is not None:  # not a copy a compaction left
                    yield message.data

    return write_chunks(store, target, lines())[1]


def write_chunks(store: JetStreamStore, target: str, lines: Iterable[bytes]) -> tuple[int, int]:
    """``lines`` gzip-compressed in chunks on ``target``, then a manifest naming the
    first chunk's stream sequence. Returns that sequence and the compressed size."""
    what = f"cannot archive {target}"
    pending = bytearray()
    parts = count = size = 0
    first = 0

    def flush() -> None:
        nonlocal parts, size, pending, first
        if not pending:
            return
        data = gzip.compress(bytes(pending), mtime=0)
        ack = store._call(what, store._conn.js.publish(target, data, timeout=store.address.timeout))
        first = first or int(ack.seq)
        parts += 1
        size += len(data)
        pending = bytearray()

    for line in lines:
        pending += line
        count += 1
        if len(pending) >= CHUNK_BYTES:
            flush()
    flush()
    manifest = {"parts": parts, "lines": count, "size": size, "first": first}
    ack = store._call(
        what,
        store._conn.js.publish(
            target,
            json.dumps(manifest).encode(),
            timeout=store.address.timeout,
            headers={ARCHIVE_HEADER: "end"},
        ),
    )
    return first or int(ack.seq), size


async def _retire(store: JetStreamStore, session_id: str) -> None:
    await store._mark(session_id, "archived")
    await store._conn.erase(store.subjects.events(session_id))


def archive_address(store: JetStreamStore, session_id: str) -> str:
    """Where the session's archive is kept: the first server and the archive's subject."""
    return f"{store.address.servers[0]}/{store.subjects.archive(session_id)}"


async def manifest_of(store: JetStreamStore, session_id: str) -> StoredMessage | None:
    """The newest complete archive's manifest: the subject's last message, or when a
    compaction of the archive was interrupted before its manifest, the last manifest
    before its chunks (archive subjects hold a few messages)."""
    subject = store.subjects.archive(session_id)
    found = await store._conn.last_message(subject)
    if found is None or found.headers.get(ARCHIVE_HEADER) == "end":
        return found
    newest: StoredMessage | None = None
    async for batch in store._conn.messages([subject], 1, found.seq, headers_only=True):
        for message in batch:
            if message.headers.get(ARCHIVE_HEADER) == "end":
                newest = message
    return None if newest is None else await store._conn.message_at(newest.seq)


def archive_lines(
    store: JetStreamStore, session_id: str, manifest: StoredMessage
) -> Iterator[bytes]:
    """The archived session's lines, in order, from the chunks ``manifest`` names."""
    try:
        first = int(json.loads(manifest.data).get("first") or 1)
    except (ValueError, TypeError, AttributeError):
        first = 1
    source = store.subjects.archive(session_id)
    for messages in store._stream(source, first, manifest.seq - 1):
        for message in messages:
            yield from gzip.decompress(message.data).splitlines(keepends=True)


def restore(store: JetStreamStore, session_id: str) -> None:
    validate_session_id(session_id)
    what = f"cannot restore {session_id}"
    manifest = store._call(what, manifest_of(store, session_id))
    if manifest is None:
        raise SessionNotFoundError(f"no archived session {session_id}")
    if store.exists(session_id):
        raise SessionExistsError(
            f"session {session_id} exists already; delete it before restoring the archive"
        )
    expected = 0
    for line in archive_lines(store, session_id, manifest):
        expected = store._call(what, _put_back(store, session_id, line, expected))
    store._call(what, _finish_restore(store, session_id, store.subjects.archive(session_id)))


async def _put_back(store: JetStreamStore, session_id: str, line: bytes, expected: int) -> int:
    """One archived line back on the session's subject, after stream sequence ``expected``."""
    seq = stored_seq(StoredMessage("", 0, line, {}))
    headers = {
        api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: str(expected),
        api.Header.MSG_ID.value: f"{session_id}.r{expected}.{secrets.token_hex(8)}",
    }
    if seq is not None:
        headers[SEQ_HEADER] = str(seq)
    ack = await store._conn.publish(
        store.subjects.events(session_id), line, headers, store.address.timeout
    )
    return int(ack.seq)


async def _finish_restore(store: JetStreamStore, session_id: str, source: str) -> None:
    await store._conn.erase(source)
    await store._mark(session_id, "restored")


def archived(store: JetStreamStore) -> list[ArchivedSession]:
    counts = store._call("cannot list archives", store._conn.subjects(store.subjects.every("a")))
    found = []
    for subject in sorted(counts):
        sid = store.subjects.session_of(subject, "a")
        if sid is None:
            continue
        manifest = store._call("cannot list archives", manifest_of(store, sid))
        if manifest is None:
            continue  # an archive being written (or abandoned half-way)
        try:
            size = int(json.loads(manifest.data)["size"])
        except (ValueError, KeyError, TypeError):
            size = 0
        found.append(ArchivedSession(sid, archive_address(store, sid), size))
    return found


def purge_archives(store: JetStreamStore, session_ids: Sequence[str] | None = None) -> list[str]:
    targets = (
        [validate_session_id(sid) for sid in session_ids]
        if session_ids is not None
        else [entry.session_id for entry in archived(store)]
    )
    deleted = []
    for sid in targets:
        subject = store.subjects.archive(sid)
        if store._call("cannot purge archives", store._conn.last_message(subject)) is None:
            continue
        store._call("cannot purge archives", store._conn.erase(subject))
        deleted.append(archive_address(store, sid))
    return deleted
