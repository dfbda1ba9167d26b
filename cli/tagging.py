"""Adding and removing a session's tags: the one implementation behind ``chatlog tag`` /
``chatlog untag`` and the REPL's ``/tag`` / ``/untag``.

A tag the session already has is not tagged again, and removing a tag it does not have is
an error; either way nothing is written. The check reads the projections (caught up first),
so it sees every tag event appended so far by any process.
"""

from __future__ import annotations

from typing import NamedTuple

from eventlog import EventStore, InvalidArgumentError
from projections import Projections


class TagChange(NamedTuple):
    tag: str  # as stored (stripped)
    changed: bool  # False: the session already had it, nothing was written
    tags: tuple[str, ...]  # the session's tags afterwards
    seq: int | None  # the event written, if any


def missing_tag_error(session_id: str, tag: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"session {session_id} has no tag {tag.strip()!r}")


def add_tag(log: EventStore, projections: Projections, session_id: str, tag: str) -> TagChange:
    clean = tag.strip()
    tags = tuple(projections.session_meta(session_id).tags)
    if clean in tags:
        return TagChange(clean, False, tags, None)
    event = log.add_tag(session_id, tag)
    return TagChange(event.tag, True, tuple(projections.session_meta(session_id).tags), event.seq)


def remove_tag(log: EventStore, projections: Projections, session_id: str, tag: str) -> TagChange:
    clean = tag.strip()
    if clean not in projections.session_meta(session_id).tags:
        raise missing_tag_error(session_id, tag)
    event = log.remove_tag(session_id, tag)
    return TagChange(event.tag, True, tuple(projections.session_meta(session_id).tags), event.seq)
