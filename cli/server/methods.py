"""The methods the server offers, and how a request becomes a response.

Each method is registered once with its parameter type; ``answer`` looks the method up,
decodes the raw params with that method's typed decoder, runs the handler and turns the
outcome into a response: a result, or an error object (chatlog errors through the one
table in :mod:`cli.server.errors`; anything unexpected is logged and answered -32603).
A notification runs the same way and gets no response, whatever happens.

Session ids must be given in full: an API client gets them from ``session.create`` or
``session.list``, and a prefix that is unique today can become ambiguous tomorrow.

The seed's four methods (``session.list``, ``.load``, ``.export``, ``.delete``) keep its
result shapes, including ``"status": "success"``, extended with the fields chatlog has; its
in-band ``{"status": "error"}`` results became JSON-RPC error responses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Generic, TypeVar

import msgspec
from msgspec import UnsetType

from cli.export import render_export
from cli.output import event_as_dict
from cli.server.errors import (
    ALREADY_SUBSCRIBED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RpcError,
    rpc_error_for,
)
from cli.server.params import (
    AppendParams,
    CreateParams,
    ExportParams,
    ForkParams,
    ListParams,
    LoadParams,
    Params,
    SearchParams,
    SessionParams,
    SubscribeParams,
)
from cli.server.protocol import (
    InvalidMessage,
    Request,
    Response,
    Success,
    error_response,
)
from cli.server.storage import Storage
from cli.server.streaming import Streamed, batched, export_result, load_result
from cli.server.subscriptions import ChangeHub, SubscriptionSet
from eventlog import ChatlogError, validate_session_id
from projections import Projections

logger = logging.getLogger("chatlog.server")

P = TypeVar("P", bound=Params)


@dataclass
class Caller:
    """What a handler may use: the storage, the change hub, and the calling connection's
    subscriptions. ``defer`` schedules work to run once the response has been queued."""

    storage: Storage
    hub: ChangeHub
    subscriptions: SubscriptionSet
    deferred: list[Callable[[], None]] = field(default_factory=list)

    def defer(self, action: Callable[[], None]) -> None:
        self.deferred.append(action)

    def run_deferred(self) -> None:
        actions, self.deferred = self.deferred, []
        for action in actions:
            action()


Handler = Callable[[Caller, P], Awaitable[Any]]


@dataclass(frozen=True)
class Method(Generic[P]):
    params: type[P]
    handler: Handler[P]
    decoder: msgspec.json.Decoder[P]

    async def invoke(self, caller: Caller, raw_params: bytes) -> Any:
        try:
            params = self.decoder.decode(raw_params)
        except msgspec.ValidationError as exc:
            raise RpcError(INVALID_PARAMS, f"invalid params: {_explain(exc)}") from None
        return await self.handler(caller, params)


METHODS: Final[dict[str, Method[Any]]] = {}


def method(name: str, params: type[P]) -> Callable[[Handler[P]], Handler[P]]:
    def register(handler: Handler[P]) -> Handler[P]:
        METHODS[name] = Method(params, handler, msgspec.json.Decoder(params))
        return handler

    return register


def _explain(error: msgspec.ValidationError) -> str:
    text = str(error)
    if text.startswith("Expected `object`, got `array`"):
        return "params must be an object of named parameters (positional params are not supported)"
    return text


async def answer(caller: Caller, item: Request | InvalidMessage) -> Response | None:
    """The response to one request (None for a notification)."""
    if isinstance(item, InvalidMessage):
        return error_response(item.id, item.error)
    error: RpcError | None = None
    try:
        found = METHODS.get(item.method)
        if found is None:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {item.method}")
        result = await found.invoke(caller, item.params_json)
    except RpcError as exc:
        error = exc
    except ChatlogError as exc:
        error = rpc_error_for(exc)
    except Exception:
        logger.exception("%s failed", item.method)
        error = RpcError(INTERNAL_ERROR, f"internal error in {item.method} (see the server log)")
    if isinstance(item.id, UnsetType):  # a notification: no response, whatever happened
        return None
    if error is not None:
        return error_response(item.id, error)
    return Success(id=item.id, result=result)


# ---------------------------------------------------------------------- the seed's four


@method("session.list", ListParams)
async def session_list(caller: Caller, params: ListParams) -> dict[str, Any]:
    sessions = await caller.storage.projections(lambda p: p.list_sessions(params.limit))
    return {"status": "success", "sessions": sessions}


@method("session.load", LoadParams)
async def session_load(caller: Caller, params: LoadParams) -> Streamed:
    """The seed's ``session.load`` result plus its session file's ``metadata``, streamed
    (see :mod:`cli.server.streaming`): a session of any length costs constant memory.
    With ``at_seq``, the session as it was right after that event (``show --at``)."""
    session_id = validate_session_id(params.session_id)
    meta, messages = await caller.storage.projections(
        lambda p: p.messages_as_of(session_id, params.at_seq)
    )
    return Streamed(batched(load_result(meta, messages)))


@method("session.export", ExportParams)
async def session_export(caller: Caller, params: ExportParams) -> Streamed:
    """``chatlog export [--at SEQ]``'s content, streamed."""
    session_id = validate_session_id(params.session_id)

    def content(p: Projections) -> Iterator[str]:
        chunks = render_export(p, session_id, params.format, params.at_seq)
        return (chunk.decode() for chunk in chunks)  # each chunk is whole characters

    pieces = await caller.storage.projections(content)
    return Streamed(batched(export_result(session_id, params.format, pieces)))


@method("session.delete", SessionParams)
async def session_delete(caller: Caller, params: SessionParams) -> dict[str, Any]:
    session_id = validate_session_id(params.session_id)
    await caller.storage.projections(lambda p: p.delete_session(session_id))
    caller.hub.notify([session_id])
    return {"status": "success", "deleted": session_id}


# ---------------------------------------------------------------------- chatlog's own


@method("session.create", CreateParams)
async def session_create(caller: Caller, params: CreateParams) -> dict[str, Any]:
    session_id = await caller.storage.create_session(params.title, params.tags)
    return {"session_id": session_id}


@method("session.append", AppendParams)
async def session_append(caller: Caller, params: AppendParams) -> dict[str, Any]:
    session_id = validate_session_id(params.session_id)
    event = await caller.storage.append(
        session_id,
        params.role,
        params.content,
        params.token_count,
        params.metadata,
        params.expected_seq,
    )
    caller.hub.notify([session_id])
    return event_as_dict(event, session_id)


@method("session.fork", ForkParams)
async def session_fork(caller: Caller, params: ForkParams) -> dict[str, Any]:
    """``chatlog fork``: a new session holding the session's events up to ``at_seq``
    (default: all); the parent is never changed."""
    parent = validate_session_id(params.session_id)
    fork = await caller.storage.fork_session(parent, params.at_seq, params.title)
    meta = await caller.storage.projections(lambda p: p.session_meta(fork))
    return {"session_id": fork, "metadata": meta}


@method("session.tree", SessionParams)
async def session_tree(caller: Caller, params: SessionParams) -> dict[str, Any]:
    """``chatlog tree --json``: the session's family of forks, from its oldest ancestor
    still here, each fork after the session it came from."""
    session_id = validate_session_id(params.session_id)
    nodes = await caller.storage.projections(lambda p: p.tree(session_id))
    return {"session_id": session_id, "sessions": [node.entry() for node in nodes]}


class RedactParams(Params, frozen=True, forbid_unknown_fields=True):
    session_id: str
    seq: Annotated[int, msgspec.Meta(ge=1)]
    reason: str | None = None


@method("session.redact", RedactParams)
async def session_redact(caller: Caller, params: RedactParams) -> dict[str, Any]:
    session_id = validate_session_id(params.session_id)
    event = await caller.storage.projections(
        lambda p: p.redact(session_id, params.seq, params.reason)
    )
    caller.hub.notify([session_id])
    return event_as_dict(event, session_id)


@method("session.info", SessionParams)
async def session_info(caller: Caller, params: SessionParams) -> dict[str, Any]:
    session_id = validate_session_id(params.session_id)
    last_seq = await caller.storage.last_seq(session_id)
    meta = await caller.storage.projections(lambda p: p.session_meta(session_id))
    return {**msgspec.to_builtins(meta), "last_seq": last_seq}


@method("session.search", SearchParams)
async def session_search(caller: Caller, params: SearchParams) -> dict[str, Any]:
    hits = await caller.storage.projections(lambda p: p.search(params.query, params.limit))
    return {"hits": hits}


class StatsParams(Params, frozen=True, forbid_unknown_fields=True):
    """``session.stats``: every field optional; the result is ``chatlog stats --json``'s."""

    session_id: str | None = None
    by: str | None = None
    since: str | None = None
    until: str | None = None
    utc: bool = False


@method("session.stats", StatsParams)
async def session_stats(caller: Caller, params: StatsParams) -> dict[str, Any]:
    from cli.cmd_stats import build_query, load_prices, report_dict

    if params.session_id is not None:
        validate_session_id(params.session_id)
    query = build_query(
        by=params.by,
        since=params.since,
        until=params.until,
        session_id=params.session_id,
        utc=params.utc,
    )
    prices = load_prices()
    report = await caller.storage.projections(lambda p: p.stats(query, prices))
    return report_dict(report)


@method("session.subscribe", SubscribeParams)
async def session_subscribe(caller: Caller, params: SubscribeParams) -> dict[str, Any]:
    session_id = validate_session_id(params.session_id)
    if session_id in caller.subscriptions:
        raise RpcError(
            ALREADY_SUBSCRIBED,
            f"already subscribed to {session_id} on this connection",
            {"session_id": session_id},
        )
    follower = await caller.storage.open_follower(session_id)
    try:  # read after the follower is open: every later event reaches it
        last_seq = await caller.storage.last_seq(session_id)
    except BaseException:
        follower.close()
        raise
    next_seq = last_seq + 1 if params.from_seq is None else params.from_seq
    redactions = (  # a replay must not show text redacted before it started
        await caller.storage.projections(lambda p: p.redactions(session_id))
        if next_seq <= last_seq
        else {}
    )
    caller.defer(caller.subscriptions.add(session_id, follower, next_seq, redactions))
    return {"session_id": session_id, "last_seq": last_seq}


@method("session.unsubscribe", SessionParams)
async def session_unsubscribe(caller: Caller, params: SessionParams) -> dict[str, Any]:
    session_id = validate_session_id(params.session_id)
    return {"session_id": session_id, "unsubscribed": caller.subscriptions.remove(session_id)}
