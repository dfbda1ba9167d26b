"""What every model backend speaks: chat messages in, a stream of text deltas and usage out.

A backend knows nothing about sessions or the event log: the REPL builds the context from
the log, consumes :meth:`Backend.stream`, and saves what it produced. Backends raise
:class:`BackendError` (or a subclass) with a message fit to show the user as one line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import msgspec

from eventlog.errors import ChatlogError


class ChatMessage(msgspec.Struct, frozen=True):
    """One message of the context sent to the model."""

    role: str
    content: str


class TextDelta(msgspec.Struct, frozen=True):
    """A piece of the reply's text, in the order it arrived."""

    text: str


class Usage(msgspec.Struct, frozen=True):
    """Token counts as the server reported them (fields it did not send stay None)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class ReplyDone(msgspec.Struct, frozen=True):
    """The reply is complete; ``model`` is the model the server says answered; ``details``
    are further facts about the reply (plain JSON values) kept in its metadata."""

    model: str | None = None
    finish_reason: str | None = None
    details: dict[str, Any] = {}


StreamItem = TextDelta | Usage | ReplyDone


class Backend(Protocol):
    """A source of assistant replies."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    def describe(self) -> str:
        """One line for the banner and /info: what answers, and where."""
        ...

    def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[StreamItem]:
        """Yield the reply to ``messages`` as it arrives; end with a :class:`ReplyDone`."""
        ...

    async def aclose(self) -> None: ...


class BackendError(ChatlogError):
    """The model could not produce a (complete) reply; the message is one user-facing line."""


class BackendUnavailableError(BackendError):
    """The server could not be reached (connection refused, unknown host)."""


class BackendTimeoutError(BackendError):
    """The server did not answer (or stopped sending) within the configured timeout."""


class BackendHTTPError(BackendError):
    """The server answered with an HTTP error status."""

    def __init__(self, status: int, detail: str, url: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"HTTP {status} from {url}: {detail}")


class StreamDroppedError(BackendError):
    """The connection ended before the reply was complete."""
