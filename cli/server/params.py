"""The typed parameters of every method, decoded straight from a request's raw ``params``.

Parameters are by name (a JSON object); unknown names are refused, so a typo such as
``sessionid`` is an invalid-params error rather than a silently ignored field. Session ids
are plain strings here and checked against the strict id pattern by the handlers, so an
id that is well-typed but malformed gets its own error code (invalid session id).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from eventlog.events import Role

SEED_LIST_LIMIT = 10
SEARCH_LIMIT = 20
MAX_SEARCH_LIMIT = 1000

Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base of every method's parameters."""


class NoParams(Params, frozen=True, forbid_unknown_fields=True):
    pass


class ListParams(Params, frozen=True, forbid_unknown_fields=True):
    limit: Positive | None = SEED_LIST_LIMIT  # null: every session


class SessionParams(Params, frozen=True, forbid_unknown_fields=True):
    session_id: str


class LoadParams(Params, frozen=True, forbid_unknown_fields=True):
    session_id: str
    at_seq: Positive | None = None  # None: as it is now


class ExportParams(Params, frozen=True, forbid_unknown_fields=True):
    session_id: str
    format: Literal["markdown", "json"] = "markdown"
    at_seq: Positive | None = None  # None: as it is now


class ForkParams(Params, frozen=True, forbid_unknown_fields=True):
    session_id: str
    at_seq: Positive | None = None  # None: at the session's last event
    title: str | None = None


class CreateParams(Params, frozen=True, forbid_unknown_fields=True):
    title: str | None = None
    tags: tuple[str, ...] = ()


class AppendParams(Params, frozen=True, forbid_unknown_fields=True):
    session_id: str
    role: Role
    content: str
    token_count: NonNegative | None = None
    metadata: dict[str, Any] = {}
    expected_seq: NonNegative | None = None


class SearchParams(Params, frozen=True, forbid_unknown_fields=True):
    query: str
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEARCH_LIMIT)] = SEARCH_LIMIT


class SubscribeParams(Params, frozen=True, forbid_unknown_fields=True):
    session_id: str
    from_seq: Positive | None = None  # None: only events appended from now on
