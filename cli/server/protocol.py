"""JSON-RPC 2.0 messages and their newline-delimited framing, shared by server and client.

One frame is one line of UTF-8 JSON: a request object, or a batch (a non-empty array of
request objects). ``parse_frame`` decodes a frame with one typed decoder; only when that
fails does it look closer, to answer with the precise error the specification asks for
(-32700 when the line is not JSON at all, -32600 when it is JSON but not a request). A
request's ``params`` stay raw JSON until the method is known, so each method decodes its
own typed parameters (see :mod:`cli.server.params`).

A frame nested more than ``MAX_NESTING`` arrays/objects deep (the request object itself
counts as one) is refused before any decoding with -32600 and ``id: null``: decoders
recurse, and a request thousands of levels deep would otherwise end in a RecursionError
instead of an answer. The check is a few passes of C-speed byte operations over the frame.

Outgoing messages (responses, notifications) are encoded here too, each as one line.
"""

from __future__ import annotations

import operator
import re
from itertools import accumulate, chain, zip_longest
from typing import Any, Final, Literal, NamedTuple

import msgspec
from msgspec import UNSET, UnsetType

from cli.server.errors import INVALID_REQUEST, PARSE_ERROR, RpcError

RequestId = int | float | str | None

MAX_NESTING: Final = 100  # arrays and objects inside one another, the request included

NO_PARAMS: Final = msgspec.Raw()
EMPTY_OBJECT: Final = b"{}"


class Request(msgspec.Struct, frozen=True, omit_defaults=True):
    """A request; without ``id`` it is a notification (it gets no response).

    ``id: null`` is a request (answered with ``id: null``), not a notification."""

    jsonrpc: Literal["2.0"]
    method: str
    params: msgspec.Raw = NO_PARAMS
    id: RequestId | UnsetType = UNSET

    @property
    def is_notification(self) -> bool:
        return self.id is UNSET

    @property
    def params_json(self) -> bytes:
        """The raw params (``{}`` when the request had none)."""
        return self.params if self.params else EMPTY_OBJECT


class ErrorObject(msgspec.Struct, frozen=True, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class Success(msgspec.Struct, frozen=True, kw_only=True):
    jsonrpc: Literal["2.0"] = "2.0"
    id: RequestId
    result: Any


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    jsonrpc: Literal["2.0"] = "2.0"
    id: RequestId
    error: ErrorObject


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    jsonrpc: Literal["2.0"] = "2.0"
    method: str
    params: Any


Response = Success | Failure


class InvalidMessage(NamedTuple):
    """A frame (or batch element) that is not a valid request, with the id to answer to
    (``None`` when no valid id could be found in it)."""

    id: RequestId
    error: RpcError


Frame = Request | InvalidMessage | list[Request | InvalidMessage]


class _IdProbe(msgspec.Struct):
    id: RequestId = None


_BATCH_START: Final = re.compile(rb"[ \t\r\n]*\[")
_request_decoder: Final = msgspec.json.Decoder(Request)
_batch_decoder: Final = msgspec.json.Decoder(list[msgspec.Raw])
_id_probe_decoder: Final = msgspec.json.Decoder(_IdProbe)
_any_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


def parse_frame(frame: bytes) -> Frame:
    """Decode one line into a request, a batch, or the error to answer it with."""
    if nested_deeper_than(frame, MAX_NESTING):
        return InvalidMessage(None, _too_deep())
    try:
        if _BATCH_START.match(frame):
            return _parse_batch(frame)
        return _parse_request(frame, whole_frame=True)
    except RecursionError:  # not expected after the check; still never a dropped connection
        return InvalidMessage(None, _too_deep())


def _too_deep() -> RpcError:
    return RpcError(
        INVALID_REQUEST,
        f"invalid request: nested deeper than {MAX_NESTING} levels",
        {"max_nesting": MAX_NESTING},
    )


_AS_SQUARE: Final = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING_RUN: Final = re.compile(rb"\[+")
_CLOSING_RUN: Final = re.compile(rb"\]+")
PEEL_PASSES: Final = 32
PEEL_WORTH: Final = 0.75  # another pass only while the last one removed a quarter


def nested_deeper_than(data: bytes, limit: int) -> bool:
    """Whether the JSON text ``data`` nests arrays/objects more than ``limit`` deep.

    Strings are cut out (escaped backslashes and quotes first, then every other piece
    between quotes) and the rest reduced to its brackets, all made square. Each pass then
    drops every innermost ``[]`` pair, lowering the deepest nesting by exactly one; after
    a few passes (which shrink wide or shallow frames to little) the running depth over
    the runs of brackets left is followed until it passes what remains of ``limit``. All
    at C speed and linear in the frame: microseconds for ordinary requests (strings go
    first, whatever brackets they hold), about 1 s at worst for a hostile 8 MiB frame of
    millions of small nested arrays."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(_AS_SQUARE, _NOT_BRACKETS)
    peeled = 0
    while peeled <= limit and peeled < PEEL_PASSES:
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return False  # nothing nested is left (leftovers: invalid JSON)
        shrank_enough = len(shorter) < len(brackets) * PEEL_WORTH
        brackets = shorter
        peeled += 1
        if not shrank_enough:
            break  # long runs left (deep chains): following the runs is cheaper
    if peeled > limit:
        return True
    if not brackets.startswith(b"["):
        return False  # unbalanced: invalid JSON, for the decoder to report
    opening = map(len, _OPENING_RUN.findall(brackets))
    closing = map(operator.neg, map(len, _CLOSING_RUN.findall(brackets)))
    depths = accumulate(chain.from_iterable(zip_longest(opening, closing, fillvalue=0)))
    return next(filter((limit - peeled).__lt__, depths), None) is not None


def _parse_batch(frame: bytes) -> Frame:
    try:
        elements = _batch_decoder.decode(frame)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return InvalidMessage(None, RpcError(PARSE_ERROR, f"parse error: {exc}"))
    if not elements:
        return InvalidMessage(None, RpcError(INVALID_REQUEST, "invalid request: empty batch"))
    return [_parse_request(element, whole_frame=False) for element in elements]


def _parse_request(data: bytes, *, whole_frame: bool) -> Request | InvalidMessage:
    try:
        return _request_decoder.decode(data)
    except msgspec.ValidationError as exc:
        # The typed decoder can stop at a wrong type before reaching a syntax error.
        if whole_frame and not _is_json(data):
            return InvalidMessage(None, RpcError(PARSE_ERROR, "parse error: invalid JSON"))
        return InvalidMessage(_probe_id(data), RpcError(INVALID_REQUEST, f"invalid request: {exc}"))
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return InvalidMessage(None, RpcError(PARSE_ERROR, f"parse error: {exc}"))


def _is_json(data: bytes) -> bool:
    try:
        _any_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    return True


def _probe_id(data: bytes) -> RequestId:
    try:
        return _id_probe_decoder.decode(data).id
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def error_response(request_id: RequestId, error: RpcError) -> Failure:
    return Failure(id=request_id, error=ErrorObject(error.code, error.message, error.data))


Outgoing = Request | Response | Notification | list[Request] | list[Response]


def encode_frame(message: Outgoing) -> bytearray:
    """One message (or batch) as a newline-terminated frame."""
    buffer = bytearray()
    _encoder.encode_into(message, buffer)
    buffer.extend(b"\n")
    return buffer


def raw_params(params: Any) -> msgspec.Raw:
    """Params as the raw JSON a :class:`Request` carries (``None``: no params member)."""
    return NO_PARAMS if params is None else msgspec.Raw(_encoder.encode(params))
