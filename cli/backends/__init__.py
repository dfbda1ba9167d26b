"""Model backends for the REPL: ``echo`` (offline), ``openai`` (any compatible server) and
``llm`` (every model llm's plugins reach)."""

from __future__ import annotations

from cli.backends.base import (
    Backend,
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
from cli.backends.config import BackendConfig, resolve_backend_config
from cli.backends.echo import EchoBackend


def create_backend(config: BackendConfig) -> Backend:
    if config.backend == "openai":
        from cli.backends.openai import OpenAIBackend  # httpx is only imported when used

        return OpenAIBackend(config)
    if config.backend == "llm":
        from cli.backends.llm import LLMBackend  # llm and its plugins load only when chosen

        return LLMBackend(config)
    return EchoBackend(config.config_path)


__all__ = [
    "Backend",
    "BackendConfig",
    "BackendError",
    "BackendHTTPError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "ChatMessage",
    "EchoBackend",
    "ReplyDone",
    "StreamDroppedError",
    "StreamItem",
    "TextDelta",
    "Usage",
    "create_backend",
    "resolve_backend_config",
]
