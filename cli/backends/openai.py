"""Any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, Ollama, llama.cpp, vLLM).

Streams with server-sent events (``stream: true`` and ``stream_options.include_usage`` so
the server reports token usage in its last chunk); a server that answers with one JSON
body instead is understood too. Every transport failure becomes one :class:`BackendError`
line naming what went wrong and where: connection refused, timeout, an HTTP error status
with the server's own message, or a connection that ended before the reply did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import httpx
import msgspec

from cli.backends.base import (
    BackendError,
    BackendHTTPError,
    BackendTimeoutError,
    BackendUnavailableError,
    ChatMessage,
    ReplyDone,
    StreamDroppedError,
    StreamItem,
    TextDelta,
    Usage,
)
from cli.backends.config import BackendConfig
from cli.backends.sse import iter_sse_data

CONNECT_TIMEOUT: Final = 10.0
MAX_DETAIL_CHARS: Final = 300


class _Delta(msgspec.Struct, frozen=True):
    content: str | None = None


class _StreamChoice(msgspec.Struct, frozen=True):
    delta: _Delta = _Delta()
    finish_reason: str | None = None


class _Message(msgspec.Struct, frozen=True):
    content: str | None = None


class _Choice(msgspec.Struct, frozen=True):
    message: _Message = _Message()
    finish_reason: str | None = None


class _Usage(msgspec.Struct, frozen=True):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def as_usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens, self.total_tokens)


class _Chunk(msgspec.Struct, frozen=True):
    """One streamed ``chat.completion.chunk`` (unknown fields are ignored)."""

    choices: list[_StreamChoice] = []
    usage: _Usage | None = None
    model: str | None = None
    error: Any = None


class _Completion(msgspec.Struct, frozen=True):
    """A whole ``chat.completion`` (non-streaming answer)."""

    choices: list[_Choice] = []
    usage: _Usage | None = None
    model: str | None = None


_chunk_decoder = msgspec.json.Decoder(_Chunk)
_completion_decoder = msgspec.json.Decoder(_Completion)


class OpenAIBackend:
    name = "openai"

    def __init__(
        self, config: BackendConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._url = f"{config.base_url}/chat/completions"
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, CONNECT_TIMEOUT)),
            transport=transport,
        )

    @property
    def model(self) -> str:
        return self._config.model

    def describe(self) -> str:
        return f"openai · model {self._config.model} at {self._config.base_url}"

    def _request(self, messages: Sequence[ChatMessage]) -> tuple[dict[str, Any], dict[str, str]]:
        turns = [{"role": m.role, "content": m.content} for m in messages]
        prompt = self._config.system_prompt
        if prompt and not any(m.role == "system" for m in messages):
            turns.insert(0, {"role": "system", "content": prompt})
        payload: dict[str, Any] = {
            "model": self._config.model,
            "messages": turns,
            "stream": self._config.stream,
        }
        if self._config.stream:
            payload["stream_options"] = {"include_usage": True}
        headers = {"Accept": "text/event-stream" if self._config.stream else "application/json"}
        if self._config.api_key:
            headers["Authorization"] = f"Bearer {self._config.api_key}"
        return payload, headers

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[StreamItem]:
        payload, headers = self._request(messages)
        try:
            async with self._client.stream(
                "POST", self._url, json=payload, headers=headers
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise BackendHTTPError(response.status_code, _error_detail(response), self._url)
                if "text/event-stream" in response.headers.get("content-type", ""):
                    async for item in self._read_events(response):
                        yield item
                else:
                    for item in self._read_completion(await response.aread()):
                        yield item
        except httpx.ConnectError as exc:
            raise BackendUnavailableError(
                f"cannot connect to {self._config.base_url} ({_reason(exc)}): "
                "is the server running?"
            ) from exc
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(
                f"no answer from {self._url} within {self._config.timeout:g}s "
                "(set `timeout` in config.toml to wait longer)"
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise StreamDroppedError(
                f"the connection to {self._config.base_url} dropped before the reply was "
                f"complete ({_reason(exc)})"
            ) from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"request to {self._url} failed: {_reason(exc)}") from exc

    async def _read_events(self, response: httpx.Response) -> AsyncIterator[StreamItem]:
        model: str | None = None
        finish: str | None = None
        async for data in iter_sse_data(response.aiter_lines()):
            if data.strip() == "[DONE]":
                yield ReplyDone(model, finish or "stop")
                return
            try:
                chunk = _chunk_decoder.decode(data)
            except msgspec.DecodeError as exc:
                raise BackendError(f"{self._url} sent an event that is not a chunk: {exc}") from exc
            if chunk.error is not None:
                raise BackendError(f"{self._url} reported an error: {_describe_error(chunk.error)}")
            model = chunk.model or model
            for choice in chunk.choices:
                if choice.delta.content:
                    yield TextDelta(choice.delta.content)
                finish = choice.finish_reason or finish
            if chunk.usage is not None:
                yield chunk.usage.as_usage()
        if finish is None:
            raise StreamDroppedError(
                f"the stream from {self._config.base_url} ended before the reply was complete"
            )
        yield ReplyDone(model, finish)

    def _read_completion(self, body: bytes) -> list[StreamItem]:
        try:
            completion = _completion_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise BackendError(
                f"{self._url} answered with something other than a chat completion"
            ) from exc
        if not completion.choices:
            raise BackendError(f"{self._url} answered with no choices")
        choice = completion.choices[0]
        items: list[StreamItem] = []
        if choice.message.content:
            items.append(TextDelta(choice.message.content))
        if completion.usage is not None:
            items.append(completion.usage.as_usage())
        items.append(ReplyDone(completion.model, choice.finish_reason or "stop"))
        return items

    async def aclose(self) -> None:
        await self._client.aclose()


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _describe_error(error: object) -> str:
    """The human part of an error object as OpenAI, Ollama, llama.cpp or vLLM send it."""
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        for key in ("message", "detail", "error"):
            value = error.get(key)
            if isinstance(value, str | dict) and value:
                return _describe_error(value)
    return str(error)


def _error_detail(response: httpx.Response) -> str:
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        text = response.text.strip().splitlines()
        detail = text[0] if text else ""
    else:
        detail = _describe_error(body) if isinstance(body, dict | str) else str(body)
    detail = " ".join(detail.split()) or response.reason_phrase or "no details"
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 3] + "..."
    return detail
