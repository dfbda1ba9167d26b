"""Compaction on a JetStream store: the text of redacted messages erased from the stream.

A JetStream message cannot be changed, only removed. So a compaction of a session whose
first redacted message still holding its text is seq K, and whose last seq is T:

1. copies the session's events K..T to the end of its subject, each under its own seq:
   the redacted messages with their text replaced (as every view shows them, checksums
   valid), every other line byte for byte. Each copy carries ``Chatlog-Rewrite: T`` and
   is published with the expected last subject sequence of the message before it (the
   first: the tail), so an append that comes in between makes the next copy fail, and
   the compaction starts over (the copies it made so far are left to the next pass);
2. erases the originals K..T, the last first, each with the stream's secure delete of
   its stream sequence (the server overwrites the message in its block file; a plain
   delete would leave the bytes of a message kept byte for byte, which may be redacted
   later), then every copy an interrupted compaction left behind.

Readers take a subject in stream order and skip a copy whose seq they already delivered
(:meth:`eventlog.jetstream_layout.EntryDecoder.take`). So at every moment, a ``kill -9``
between any two requests included, a session reads each seq once and contiguously: the
originals until step 2, then, as step 2 erases them from the end, the copies of what it
erased. A session's last seq is its last message's, or for a copy its
``Chatlog-Rewrite`` (so an append made meanwhile takes the right seq, and an expected
seq stays valid). Running ``compact`` again finishes what a crash interrupted: the
originals of a redacted message are still there, so it copies and erases again.

Lines without a seq (damaged beyond reading) are neither copied nor erased: they stay
where they are, reported by ``fsck`` as before. Archives and quarantined lines are
compacted too (:func:`compact_archive`, :func:`compact_quarantine`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from eventlog.codec import LineProblem, encode_line
from eventlog.errors import SessionNotFoundError, StorageError
from eventlog.events import AnyEvent, MessageRedacted
from eventlog.jetstream_client import StoredMessage, WrongLastSequence
from eventlog.jetstream_layout import EntryDecoder, Tail, decode
from eventlog.redaction import compacted_version, is_redacted_message_line, note_redaction
from eventlog.scan import LogEntry
from eventlog.store import Compaction

if TYPE_CHECKING:
    from eventlog.jetstream import JetStreamStore

MAX_ROUNDS: Final = 100
# How long appends wait after each copy for the compaction to go on (a crashed one holds
# them back no longer than that).
LEASE_SECONDS: Final = 1.0


def compact(store: JetStreamStore, session_id: str) -> Compaction | None:
    from eventlog.jetstream_upkeep import manifest_of

    live = compact_live(store, session_id)
    what = f"cannot compact {session_id}"
    has_archive = store._call(what, manifest_of(store, session_id)) is not None
    if live is None and not has_archive:
        return None
    archived = compact_archive(store, session_id) if has_archive else (0, set())
    seqs = (live[1] if live is not None else set()) | archived[1]
    quarantined = compact_quarantine(store, session_id, seqs) if seqs else 0
    return Compaction(session_id, live[0] if live else 0, archived[0], quarantined)


def compact_live(store: JetStreamStore, session_id: str) -> tuple[int, set[int]] | None:
    """Compact the session's subject; returns how many messages lost their text, and
    every redacted seq (None: no such session)."""
    what = f"cannot compact {session_id}"
    subject = store.subjects.events(session_id)
    tail = store._call(what, store._tail(session_id))
    if tail is None:
        return None
    redactions: dict[int, MessageRedacted] = {}
    for entry in _entries(store, subject, tail.stream_seq):
        note_redaction(redactions, entry.event)
    copier = _Copier(store, session_id, tail, redactions)
    copier.run()
    if copier.superseded:
        store._call(what, store._mark(session_id, "compacted"))  # appends go on now
    # Every original is erased, not only those whose copy lost text: one kept byte for
    # byte may be redacted later, and a plain delete leaves its bytes in the block file.
    for stream_seq in [*reversed(copier.superseded), *copier.leftovers]:
        store._call(what, store._conn.delete_message(stream_seq))
    return copier.count, set(redactions)


def _entries(store: JetStreamStore, subject: str, stop: int) -> Iterator[LogEntry]:
    decoder = EntryDecoder(subject)
    for messages in store._stream(subject, 1, stop):
        for message in messages:
            found = decoder.take(message)
            if isinstance(found, LogEntry):
                yield found


class _Copier:
    """Step 1: copy the session from its first redacted message still holding text to
    its end. Appends that come meanwhile are copied too (after the copies of what
    precedes them), until the subject ends with the last copy."""

    def __init__(
        self,
        store: JetStreamStore,
        session_id: str,
        tail: Tail,
        redactions: dict[int, MessageRedacted],
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.subject = store.subjects.events(session_id)
        self.redactions = redactions
        self.what = f"cannot compact {session_id}"
        self.tail = tail  # the subject's last message as last seen
        self.count = 0  # copies that lost redacted text
        self.superseded: list[int] = []  # stream sequences of what was copied
        self.leftovers: list[int] = []  # copies earlier compactions left
        self._own: set[int] = set()  # stream sequences of this run's copies
        self._decoder = EntryDecoder(self.subject)
        self._copying = False

    def run(self) -> None:
        scanned = 0
        stop = self.tail.stream_seq
        for _round in range(MAX_ROUNDS):
            others = 0
            for messages in self.store._stream(self.subject, scanned + 1, stop):
                for message in messages:
                    if message.seq not in self._own:
                        others += 1
                        self._take(message)
            if not self._copying or (scanned and not others):
                return  # nothing holds redacted text, or the subject ends with copies
            scanned = stop
            # Appends that came meanwhile (before or between the copies) are copied too.
            stop = self._current_tail().stream_seq
        raise StorageError(f"{self.what}: it kept growing while being compacted; try again")

    def _take(self, message: StoredMessage) -> None:
        found = self._decoder.take(message)
        if found is None:
            self.leftovers.append(message.seq)
            return
        if isinstance(found, LogEntry):
            seq: int | None = found.event.seq
            replaced = compacted_version(found.event, self.redactions)
            self._copying = self._copying or replaced is not None
        elif found.kind == "out_of_order":
            return  # not one of the session's events: left where it is
        else:  # a damaged or foreign line: copied as it is when its seq is known
            seq, replaced = found.seq, None
        if not self._copying or seq is None:
            return
        line = encode_line(replaced) if replaced is not None else message.data
        self._publish(line, seq)
        self.superseded.append(message.seq)
        self.count += replaced is not None

    def _publish(self, line: bytes, seq: int) -> None:
        while True:
            try:
                stream_seq = self.store._call(
                    self.what,
                    self.store._publish(
                        self.session_id,
                        line,
                        seq,
                        self.tail.stream_seq,
                        rewrite_of=self.tail.seq,
                        lease=time.time() + LEASE_SECONDS,
                    ),
                )
            except WrongLastSequence:
                self.tail = self._current_tail()  # an append came first: copy after it
                continue
            self._own.add(stream_seq)
            self.tail = Tail(stream_seq, self.tail.seq)
            return

    def _current_tail(self) -> Tail:
        now = self.store._call(self.what, self.store._tail(self.session_id))
        if now is None:
            raise SessionNotFoundError(f"no session {self.session_id} (deleted meanwhile)")
        return now


# ---------------------------------------------------------------------- archive


def compact_archive(store: JetStreamStore, session_id: str) -> tuple[int, set[int]]:
    """The session's archive without redacted text: its lines rewritten into new chunks
    and a new manifest naming them, then the old chunks and manifest erased. Until the
    new manifest is stored the old one is the archive; after it, the new one is."""
    from eventlog.jetstream_upkeep import archive_lines, manifest_of, write_chunks

    what = f"cannot compact the archive of {session_id}"
    manifest = store._call(what, manifest_of(store, session_id))
    if manifest is None:
        return 0, set()
    redactions: dict[int, MessageRedacted] = {}
    for event in _archived_events(store, session_id, manifest):
        note_redaction(redactions, event)
    if not any(
        compacted_version(event, redactions) is not None
        for event in _archived_events(store, session_id, manifest)
    ):
        return 0, set(redactions)
    rewritten = [0]

    def lines() -> Iterator[bytes]:
        for line in archive_lines(store, session_id, manifest):
            decoded = decode(line)
            replaced = (
                None if isinstance(decoded, LineProblem) else compacted_version(decoded, redactions)
            )
            rewritten[0] += replaced is not None
            yield line if replaced is None else encode_line(replaced)

    target = store.subjects.archive(session_id)
    first, _size = write_chunks(store, target, lines())
    old = [
        message.seq
        for messages in store._stream(target, 1, first - 1, headers_only=True)
        for message in messages
    ]
    for stream_seq in old:
        store._call(what, store._conn.delete_message(stream_seq))
    return rewritten[0], set(redactions)


def _archived_events(
    store: JetStreamStore, session_id: str, manifest: StoredMessage
) -> Iterator[AnyEvent]:
    from eventlog.jetstream_upkeep import archive_lines

    for line in archive_lines(store, session_id, manifest):
        decoded = decode(line)
        if not isinstance(decoded, LineProblem):
            yield decoded


# ---------------------------------------------------------------------- quarantine


def compact_quarantine(store: JetStreamStore, session_id: str, seqs: set[int]) -> int:
    """Erase the session's quarantined lines that were (or began) messages at ``seqs``."""
    what = f"cannot compact the quarantine of {session_id}"
    subject = store.subjects.quarantine(session_id)
    last = store._call(what, store._conn.last_message(subject))
    if last is None:
        return 0
    doomed = [
        message.seq
        for messages in store._stream(subject, 1, last.seq)
        for message in messages
        if is_redacted_message_line(message.data, seqs)
    ]
    for stream_seq in doomed:
        store._call(what, store._conn.delete_message(stream_seq))
    return len(doomed)
