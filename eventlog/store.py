"""The store interface: everything that reads or writes sessions' events goes through it.

A store keeps each session's events in seq order and is the only code that touches them
(DESIGN §1). Two implementations: the local file store (:class:`eventlog.log.EventLog`,
one JSONL log per session under the home) and the NATS JetStream store. One contract test
suite runs against both.

Readers never hold events they do not need: reads are streamed in batches
(:class:`ReadBatch`), "the last N" is read from the end, and resuming needs only an opaque
:class:`SessionPosition`. What changed since a reader last looked comes from the home-wide
change feed (:meth:`EventStore.changes`), so keeping projections current costs O(new
events), never O(sessions) or O(session length).

Positions are opaque: only the store that made one reads its ``token``; callers store it
and hand it back. ``seq`` (the last seq the position covers) is the one field callers may
read.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeVar

import msgspec

from eventlog.arguments import check_text, clean_tags
from eventlog.clock import utc_now_iso
from eventlog.codec import encode_line
from eventlog.errors import (
    AmbiguousSessionIdError,
    InvalidArgumentError,
    SessionNotFoundError,
)
from eventlog.events import (
    ROLES,
    AnyEvent,
    Message,
    MessageRedacted,
    SessionCreated,
    SessionTagged,
    SessionTitled,
    SessionUntagged,
)
from eventlog.ids import is_valid_session_id, validate_session_id
from eventlog.scan import LogEntry, LogIssue

E = TypeVar("E", bound=AnyEvent)
_ID_CHARACTERS: Final = frozenset("0123456789abcdef-_")

if TYPE_CHECKING:
    import asyncio


class SessionPosition(msgspec.Struct, frozen=True, array_like=True):
    """Where a reader stopped in one session's events (opaque but for ``seq``)."""

    seq: int = 0  # the last seq this position covers (0: none)
    token: str = ""  # the store's resume data ("" = the start)


START_POSITION = SessionPosition()


class ReadBatch(NamedTuple):
    """A run of a session's events. ``entries[i].offset`` is the event's *locator*: hand it
    to :meth:`EventStore.read_at` to read that one event again (a byte offset in the file
    store, a stream sequence in JetStream)."""

    entries: list[LogEntry]
    issues: list[LogIssue]  # damaged or not-understood lines skipped in this run
    position: SessionPosition  # resume here for what follows this batch
    size: int = 0  # bytes of the store this batch covered (0: the store does not say)


ReadState = Literal["unchanged", "grown", "restarted", "missing"]


class SessionRead:
    """The result of :meth:`EventStore.read_from`.

    ``state``:

    - ``unchanged``: nothing after the position (``batches`` yields nothing);
    - ``grown``: events after the position follow in ``batches``;
    - ``restarted``: the position no longer applies (the session was deleted and created
      again, repaired or compacted): whatever was folded from it must be dropped, and
      ``batches`` yields the session from its first event;
    - ``missing``: the session does not exist (any more).

    Iterate ``batches`` once; each batch is bounded in size, so memory stays constant
    however long the session.
    """

    __slots__ = ("_close", "batches", "state")

    def __init__(
        self,
        state: ReadState,
        batches: Iterator[ReadBatch] | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.state: ReadState = state
        self.batches: Iterator[ReadBatch] = batches if batches is not None else iter(())
        self._close = close

    def close(self) -> None:
        """Release what the read holds (needed only when ``batches`` is not read to its
        end)."""
        if self._close is not None:
            self._close()


class Changes(NamedTuple):
    """What :meth:`EventStore.changes` reports.

    ``sessions`` may have changed since the position the caller gave (appended to,
    created, deleted, archived, restored, repaired, compacted); ``None`` means the store
    cannot tell (first call, a reboot lost what it knew, ...): check every session.
    ``position`` is where to resume next time; store it together with what was applied
    and then call :meth:`EventStore.changes_applied`."""

    sessions: frozenset[str] | None
    position: str
    consumed: tuple[str, ...] = ()  # store bookkeeping for changes_applied


class DamageReport(msgspec.Struct, frozen=True):
    """``fsck`` of one session: damaged lines (torn tail included, kind ``torn``), and
    intact lines a newer chatlog wrote (``foreign``: kept, never repaired away)."""

    session_id: str
    damaged: list[LogIssue]
    foreign: list[LogIssue]


class Repair(msgspec.Struct, frozen=True):
    """Damaged lines of one session moved to quarantine."""

    session_id: str
    lines: int
    bytes: int
    quarantine: str  # where the removed bytes are kept
    report: str  # its JSON description


class Compaction(msgspec.Struct, frozen=True):
    """What :meth:`EventStore.compact` did to one session: ``messages`` lines rewritten
    without their redacted text (in the live log, ``archived`` in its archive), and
    ``quarantined`` quarantined lines of it removed."""

    session_id: str
    messages: int = 0
    archived: int = 0
    quarantined: int = 0


class Tombstone(msgspec.Struct, frozen=True):
    """What a store keeps of a session it deleted, so ``chatlog sync`` can carry the
    delete to another store: when, and which last event the deleted session had (a copy
    elsewhere is deleted only if it ends with that same event: one changed since is
    reported, never deleted). No text of the session, nor any hash of it."""

    session_id: str
    at: str
    last_seq: int
    last_event: str  # event_fingerprint() of the last event ("" if it had none intact)


def event_fingerprint(event: AnyEvent | None) -> str:
    """Which event this is, without its text: its type, seq and timestamp (to the
    microsecond), e.g. ``message:12:2026-11-30T04:07:28.123456+00:00``."""
    if event is None:
        return ""
    return f"{event.__struct_config__.tag}:{event.seq}:{event.ts}"


class ArchivedSession(msgspec.Struct, frozen=True):
    session_id: str
    path: str  # where the archive is kept (a file, or a store address)
    size: int  # compressed bytes


class Follower(abc.ABC):
    """One session followed from a position, for live readers (``tail -f``, server
    subscriptions, the REPL). It keeps hold of the session, so when the session is deleted
    every event acknowledged before the delete is still delivered, then ``gone`` is set."""

    @abc.abstractmethod
    def read(self, max_events: int = 1024) -> ReadBatch:
        """Up to ``max_events`` events after the last read (an empty batch: none yet)."""

    @property
    @abc.abstractmethod
    def position(self) -> SessionPosition:
        """Where the next read starts."""

    @property
    @abc.abstractmethod
    def gone(self) -> bool:
        """The session was deleted and nothing of it is left to read."""

    @abc.abstractmethod
    def close(self) -> None: ...


class EventStore(abc.ABC):
    """Sessions' events, appended and read in seq order (see the module docstring)."""

    # Secrets in messages (and new sessions' titles and metadata) are replaced by
    # [REDACTED:<kind>] before anything is written (see eventlog.redaction); stores take
    # it as a constructor argument.
    redact_secrets: bool = True

    # ------------------------------------------------------------------ writing

    @abc.abstractmethod
    def create_session(
        self,
        title: str | None = None,
        tags: Sequence[str] = (),
        *,
        session_id: str | None = None,
        ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a session (whole: its first event is there or nothing is) and return its
        id; an explicit ``session_id`` that exists raises SessionExistsError."""

    def first_event_for(
        self,
        title: str | None,
        tags: Sequence[str],
        session_id: str | None,
        ts: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> Callable[[str], SessionCreated]:
        """The checked (and, with :attr:`redact_secrets`, redacted) arguments of
        :meth:`create_session`, as the builder of the new session's first event from its
        id. Stores call it before they claim an id."""

        check_text("title", title, optional=True)
        cleaned_tags = clean_tags(tags)
        created_at = ts or utc_now_iso()
        if session_id is not None:
            validate_session_id(session_id)  # refused before the detectors load
        if self.redact_secrets:
            from eventlog import redaction

            title = redaction.redact_text(title)[0] if title else title
            metadata = redaction.redact_message("", metadata or {}).metadata
        meta = dict(metadata or {})

        def build(sid: str) -> SessionCreated:
            return SessionCreated(
                seq=1,
                ts=created_at,
                session_id=sid,
                title=title or None,
                tags=cleaned_tags,
                metadata=dict(meta),
            )

        return build

    def append(
        self,
        session_id: str,
        role: str,
        content: str,
        token_count: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        expected_seq: int | None = None,
        *,
        ts: str | None = None,
    ) -> Message:
        """Append one message and return it as stored (its seq and time); SeqConflictError
        unless the session is at ``expected_seq``. With :attr:`redact_secrets` its content
        and metadata are redacted first (the one place every store does it)."""

        message_builder(role, content, token_count, metadata, ts)  # checked before anything
        validate_session_id(session_id)  # a hostile id is refused before the detectors load
        if self.redact_secrets:
            from eventlog import redaction

            content, metadata, _kinds = redaction.redact_message(content, dict(metadata or {}))
        build = message_builder(role, content, token_count, metadata, ts)
        return self.append_event(session_id, build, expected_seq)

    @abc.abstractmethod
    def append_event(
        self, session_id: str, build: Callable[[int, str], E], expected_seq: int | None = None
    ) -> E:
        """Append the event ``build(seq, now)`` makes for the next seq."""

    def set_title(
        self, session_id: str, title: str, expected_seq: int | None = None
    ) -> SessionTitled:

        check_text("title", title)
        return self.append_event(
            session_id, lambda seq, now: SessionTitled(seq=seq, ts=now, title=title), expected_seq
        )

    def add_tag(self, session_id: str, tag: str) -> SessionTagged:

        (clean,) = clean_tags([tag])
        return self.append_event(
            session_id, lambda seq, now: SessionTagged(seq=seq, ts=now, tag=clean)
        )

    def remove_tag(self, session_id: str, tag: str) -> SessionUntagged:

        (clean,) = clean_tags([tag])
        return self.append_event(
            session_id, lambda seq, now: SessionUntagged(seq=seq, ts=now, tag=clean)
        )

    def fork_session(
        self,
        parent: str,
        at_seq: int | None = None,
        *,
        title: str | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """A new session that starts as ``parent`` was right after its event ``at_seq``
        (default: its last); returns its id. The parent is untouched.

        The fork's log holds copies of the parent's events up to ``at_seq`` under the same
        seqs (its ``session_created`` gets the new id and ``metadata``, never the
        parent's), then a ``session_forked`` event naming the parent and ``at_seq``, then a
        title of its own when ``title`` is given. So a fork stays whole whatever happens to
        its parent, and its seq K shows what the parent's seq K showed. ``session_id``
        (importers) names the fork: SessionExistsError if it is taken."""
        from eventlog.events import SessionCreated, SessionForked
        from eventlog.ids import new_session_id, validate_session_id
        from eventlog.redaction import redacted_message

        check_text("title", title, optional=True)
        last = self.last_seq(parent)
        at = last if at_seq is None else at_seq
        if isinstance(at, bool) or not isinstance(at, int) or not 1 <= at <= last:
            raise InvalidArgumentError(
                f"seq {at} is not an event of {parent} (its seqs are 1 to {last})"
            )
        fork_id = new_session_id() if session_id is None else validate_session_id(session_id)
        if self.redact_secrets and metadata:
            from eventlog import redaction

            metadata = redaction.redact_message("", metadata).metadata
        fork_metadata = dict(metadata or {})
        now = utc_now_iso()

        # A message redacted in the parent, even after ``at``, is copied without its text.
        redactions = {
            event.target: event for event in self.read(parent) if isinstance(event, MessageRedacted)
        }

        def events() -> Iterator[AnyEvent]:
            seq = 0
            for event in self.read(parent):
                if event.seq > at:
                    break
                if isinstance(event, SessionCreated):
                    yield msgspec.structs.replace(event, session_id=fork_id, metadata=fork_metadata)
                elif isinstance(event, Message) and event.seq in redactions:
                    redaction = redactions[event.seq]
                    yield redacted_message(event, redaction.ts, redaction.reason)
                else:
                    yield event
                seq = event.seq
            seq = max(seq, at)
            yield SessionForked(seq=seq + 1, ts=now, parent=parent, parent_seq=at)
            if title is not None:
                yield SessionTitled(seq=seq + 2, ts=now, title=title)

        return self.create_from_events(fork_id, events())

    def create_from_events(self, session_id: str, events: Iterable[AnyEvent]) -> str:
        """Create ``session_id`` holding ``events`` (the first one a ``session_created``),
        their seqs and times kept. Stores override this to write them at once."""
        from eventlog.events import SessionCreated

        stream = iter(events)
        first = next(stream)
        if not isinstance(first, SessionCreated):
            raise TypeError("a session starts with its session_created event")
        self.create_session(
            first.title,
            first.tags,
            session_id=session_id,
            ts=first.ts,
            metadata=first.metadata,
        )
        for event in stream:
            self.append_event(session_id, _renumbered(event))
        return session_id

    def redact(self, session_id: str, target: int, reason: str | None = None) -> MessageRedacted:
        """Append a redaction of the event at seq ``target`` (the caller checks it is a
        message); ``compact`` then removes its text for good."""

        check_text("reason", reason, optional=True)
        if isinstance(target, bool) or not isinstance(target, int) or target < 1:
            raise InvalidArgumentError("the seq to redact must be a positive integer")

        def build(seq: int, now: str) -> MessageRedacted:
            if target >= seq:
                raise InvalidArgumentError(f"session {session_id} has no seq {target}")
            return MessageRedacted(seq=seq, ts=now, target=target, reason=reason or None)

        return self.append_event(session_id, build)

    @abc.abstractmethod
    def delete_session(self, session_id: str, *, expected_seq: int | None = None) -> None:
        """Remove the session's events for good and keep its :class:`Tombstone`;
        SessionNotFoundError if there are none, SeqConflictError unless its last seq is
        ``expected_seq`` (when given)."""

    @abc.abstractmethod
    def deletion(self, session_id: str) -> Tombstone | None:
        """The tombstone of the session's last delete in this store (None: never deleted
        here). It stays when the session is created again: callers check ``exists``."""

    # ------------------------------------------------------------------ sessions

    @abc.abstractmethod
    def exists(self, session_id: str) -> bool: ...

    @abc.abstractmethod
    def session_ids(self) -> list[str]:
        """Every session's id, sorted."""

    def resolve(self, id_or_prefix: str) -> str:
        """A full id from a full id, a unique prefix, or the 6-hex suffix."""

        if is_valid_session_id(id_or_prefix) and self.exists(id_or_prefix):
            return id_or_prefix
        text = id_or_prefix
        # Only characters an id can hold: no whitespace to strip, no upper case, no look-alikes.
        if not text or len(text) > 24 or not all(c in _ID_CHARACTERS for c in text):
            validate_session_id(id_or_prefix)  # raises the standard invalid-id error
        matches = [
            sid for sid in self.session_ids() if sid.startswith(text) or sid.endswith("_" + text)
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SessionNotFoundError(f"no session matches {text!r}")
        shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
        raise AmbiguousSessionIdError(f"{text!r} matches {len(matches)} sessions: {shown}")

    # ------------------------------------------------------------------ reading

    def read(self, session_id: str) -> Iterator[AnyEvent]:
        """Every intact event in seq order, streamed. The session is looked up when
        ``read`` is called, so a missing one raises SessionNotFoundError here."""
        result = self.read_from(session_id)
        if result.state == "missing":
            raise SessionNotFoundError(f"no session {session_id}")
        return (entry.event for batch in result.batches for entry in batch.entries)

    @abc.abstractmethod
    def read_from(
        self,
        session_id: str,
        position: SessionPosition | None = None,
        *,
        until: SessionPosition | None = None,
    ) -> SessionRead:
        """The events after ``position`` (all of them when None), up to ``until`` when
        given (a position an earlier read returned: a view as of that moment)."""

    def stored_bytes(self, session_ids: Sequence[str]) -> int | None:
        """About how many bytes reading these sessions whole covers (the ``size`` of
        their batches added up), for progress; None when the store cannot tell cheaply."""
        return None

    @abc.abstractmethod
    def read_last(self, session_id: str, n: int, *, messages_only: bool = False) -> list[LogEntry]:
        """The last ``n`` events (or messages), oldest first, read from the end."""

    @abc.abstractmethod
    def read_at(self, session_id: str, locator: int) -> AnyEvent | None:
        """The one event at ``locator`` (see :class:`ReadBatch`); None if it is gone."""

    @abc.abstractmethod
    def first_event(self, session_id: str) -> AnyEvent | None:
        """The session's first intact event (normally its ``session_created``)."""

    @abc.abstractmethod
    def last_event(self, session_id: str) -> AnyEvent | None:
        """The session's last intact event."""

    @abc.abstractmethod
    def last_seq(self, session_id: str) -> int:
        """The current last seq, as the next appender sees it."""

    @abc.abstractmethod
    def position_after(self, session_id: str, entry: LogEntry) -> SessionPosition:
        """A position just after ``entry`` (one this store read), e.g. to follow a
        session from the last N events :meth:`read_last` returned."""

    @abc.abstractmethod
    def open_follower(self, session_id: str, position: SessionPosition | None = None) -> Follower:
        """Follow the session from ``position`` (the start when None); SessionNotFoundError
        if it does not exist."""

    # ------------------------------------------------------------------ change feed

    @abc.abstractmethod
    def changes(self, since: str | None) -> Changes:
        """Sessions that may have changed since the feed position ``since``."""

    def changes_applied(self, changes: Changes) -> None:  # noqa: B027 - optional hook
        """The caller has durably recorded ``changes.position`` with what it applied: the
        store may forget what it kept to report them."""

    @abc.abstractmethod
    def follow(self, stop: threading.Event, tick_ms: int) -> Iterator[set[str]]:
        """Wake-ups: sets of session ids that changed, and an empty set at least every
        ``tick_ms`` (treat every yield as "maybe something changed"). Ends when ``stop``
        is set."""

    @abc.abstractmethod
    def afollow(self, stop: asyncio.Event, tick_ms: int) -> AsyncIterator[set[str]]:
        """:meth:`follow` for asyncio code."""

    # ------------------------------------------------------------------ upkeep

    @abc.abstractmethod
    def check(self, session_id: str) -> DamageReport | None:
        """Damaged and foreign lines of one session (None: it does not exist)."""

    @abc.abstractmethod
    def repair(self, session_id: str) -> Repair | None:
        """Move the session's damaged lines to quarantine (None: nothing to repair).
        Taken under the same exclusion as appends: no append is lost."""

    @abc.abstractmethod
    def compact(self, session_id: str) -> Compaction | None:
        """Remove the text of the session's redacted messages for good: each such event
        is rewritten with its content and metadata replaced (seq, time, role kept), in the
        live session (under the same exclusion as appends: no append is lost; a crash
        leaves the old session or the compacted one, readable, seqs contiguous, and a
        second run finishes it), in its archive and in quarantined lines. None: the
        session does not exist (live or archived). On JetStream the originals are erased
        from the stream (see :mod:`eventlog.jetstream_compact`)."""

    @abc.abstractmethod
    def archive(self, session_id: str) -> ArchivedSession:
        """Retire a session: keep its events, compressed, out of the live sessions."""

    @abc.abstractmethod
    def restore(self, session_id: str) -> None:
        """Bring an archived session back, byte-identical."""

    @abc.abstractmethod
    def archive_location(self, session_id: str | None = None) -> str:
        """Where archives are kept, for people; with ``session_id``, where that session's
        archive is (or would be) kept, as :attr:`ArchivedSession.path` names it. Nothing is
        looked up."""

    @abc.abstractmethod
    def archived(self) -> list[ArchivedSession]:
        """Every archived session, oldest id first."""

    @abc.abstractmethod
    def purge_archives(self, session_ids: Sequence[str] | None = None) -> list[str]:
        """Delete archives for real (all, or those named); returns what was deleted."""

    def remove_stale_temps(self) -> list[str]:
        """Remove what killed processes left half-written (temp files of the file store);
        returns what was removed. Stores that write nothing aside have nothing to do."""
        return []

    @abc.abstractmethod
    def session_location(self, session_id: str) -> str:
        """Where the session's events are kept, for people (a log file's path, a store's
        address and subject); nothing is looked up."""

    @abc.abstractmethod
    def sync(self, session_id: str | None = None) -> None:
        """Make every acknowledged append durable now (DurabilityError if one is not)."""

    @abc.abstractmethod
    def close(self) -> None: ...


def _renumbered(event: AnyEvent) -> Callable[[int, str], AnyEvent]:
    """A builder for ``append_event`` that stores ``event`` as it is, under the next seq."""
    return lambda seq, _now: msgspec.structs.replace(event, seq=seq)


def message_builder(
    role: str,
    content: str,
    token_count: int | None,
    metadata: Mapping[str, Any] | None,
    ts: str | None,
) -> Callable[[int, str], Message]:
    """The checked arguments of an append, as the builder of its Message."""

    if role not in ROLES:
        raise InvalidArgumentError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    check_text("content", content)
    if token_count is not None and (
        isinstance(token_count, bool) or not isinstance(token_count, int) or token_count < 0
    ):
        raise InvalidArgumentError("token_count must be a non-negative integer")
    meta = dict(metadata or {})

    def build(seq: int, now: str) -> Message:
        return Message(
            seq=seq,
            ts=ts or now,
            role=role,  # type: ignore[arg-type]  # checked against ROLES above
            content=content,
            token_count=token_count,
            metadata=meta,
        )

    return build


def encode_event(event: AnyEvent) -> bytes:
    """The event's checksummed line; an event that cannot be encoded is the caller's
    InvalidArgumentError."""
    try:
        return encode_line(event)
    except (msgspec.EncodeError, TypeError, OverflowError, UnicodeEncodeError) as exc:
        raise InvalidArgumentError(f"cannot encode event: {exc}") from exc
