"""Every model Simon Willison's ``llm`` can reach, through its plugins.

Models, aliases, the default model, API keys (``llm keys set``) and default options
(``llm models options set``) all come from the user's llm configuration, in
``llm.user_dir()`` (``LLM_USER_PATH`` when set). This module is imported only when the llm
backend is chosen or its models are listed: ``import llm`` and its plugins cost start-up
time. Without the optional extra, importing it raises one line saying how to install it.

The session goes to the model the way llm continues a conversation itself
(``Response.reply``): ``model.prompt(text, messages=[...])``, where ``messages`` is the
history before the last user message (``llm.system`` / ``llm.user`` / ``llm.assistant``)
and ``text`` is that message. Plugins that read ``prompt.messages`` see the whole
conversation; older ones that read only ``prompt.prompt`` and ``prompt.system`` still get
the turn and the system prompt.

A plugin's async model is used when it has one (Ctrl+C closes the plugin's stream);
otherwise its sync model runs in a daemon thread whose chunks cross to the event loop
through a queue: Ctrl+C stops reading at once, and the thread closes the plugin's stream
after the chunk it is waiting for.

chatlog is the log: nothing is written to llm's ``logs.db`` unless ``llm_log = true`` in
config.toml. Whatever a plugin raises becomes one :class:`BackendError` line (a missing
key names the ``llm keys set`` command); values a plugin reports (token details, tool-call
arguments) are copied into metadata as bounded plain JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import msgspec

from cli.backends.base import (
    BackendError,
    BackendUnavailableError,
    ChatMessage,
    ReplyDone,
    StreamItem,
    TextDelta,
    Usage,
)
from cli.backends.config import BackendConfig

INSTALL_HINT: Final = (
    "the llm backend needs the llm library: pip install 'openagent-chatlog[llm]' "
    "(then `llm install llm-PLUGIN` for more models)"
)

try:
    import llm
    import llm.cli
    import llm.migrations
    import sqlite_utils
except ImportError as _exc:  # the optional extra is not installed (or is broken)
    _why = "" if _exc.name == "llm" else f" ({_exc})"
    raise BackendUnavailableError(INSTALL_HINT + _why) from _exc

logger = logging.getLogger("chatlog.backends.llm")

MAX_ERROR_CHARS: Final = 300
MAX_PLAIN_DEPTH: Final = 6
MAX_PLAIN_ITEMS: Final = 100
MAX_PLAIN_CHARS: Final = 2_000

AnyModel = llm.Model | llm.KeyModel | llm.AsyncModel | llm.AsyncKeyModel


class ModelEntry(msgspec.Struct, frozen=True):
    """One model llm offers, as ``--list-models`` and ``/models`` show it."""

    model_id: str
    aliases: tuple[str, ...]
    needs_key: str | None = None
    key_env_var: str | None = None
    has_key: bool = False  # stored with `llm keys set` or in its environment variable


def _registered() -> list[llm.models.ModelWithAliases]:
    """What llm's plugins register (running their ``register_models`` hooks)."""
    try:
        return llm.get_models_with_aliases()
    except Exception as exc:  # a broken plugin or aliases.json
        raise BackendError(f"llm could not load its models: {_one_line(exc)}") from exc


def _model_id(entry: llm.models.ModelWithAliases) -> str:
    model = entry.model or entry.async_model
    return str(model.model_id)


def default_model_name() -> str:
    """The model llm answers with when none is named (``llm models default``)."""
    try:
        return str(llm.get_default_model())
    except OSError as exc:
        raise BackendError(f"cannot read llm's default model: {_one_line(exc)}") from exc


def list_models() -> list[ModelEntry]:
    entries = []
    for entry in _registered():
        model = entry.model or entry.async_model
        entries.append(
            ModelEntry(
                model_id=_model_id(entry),
                aliases=tuple(sorted(str(alias) for alias in entry.aliases)),
                needs_key=model.needs_key,
                key_env_var=model.key_env_var,
                has_key=bool(
                    model.needs_key and llm.get_key(alias=model.needs_key, env=model.key_env_var)
                ),
            )
        )
    return entries


def model_lines(current: str | None = None) -> list[str]:
    """The models llm offers, one line each, the default and the current one marked."""
    default = default_model_name()
    entries = list_models()
    if not entries:
        return ["llm offers no models: `llm install llm-PLUGIN` adds some"]
    lines = [f"Models llm offers ({len(entries)}; `--model NAME` takes an id or an alias):"]
    for entry in entries:
        names = {entry.model_id, *entry.aliases}
        marks = []
        if default in names:
            marks.append("llm's default")
        if current and current in names:
            marks.append("current")
        line = f"  {entry.model_id}"
        if entry.aliases:
            line += f"  (aliases: {', '.join(entry.aliases)})"
        if entry.needs_key:
            line += f"  key: {entry.needs_key}" + ("" if entry.has_key else " (not set)")
        if marks:
            line += f"  [{', '.join(marks)}]"
        lines.append(line)
    return lines


def resolve_model(name: str) -> AnyModel:
    """The model called ``name`` (id or alias; empty: llm's default), async if it has one."""
    wanted = name or default_model_name()
    registered = _registered()
    by_id = [e for e in registered if _model_id(e) == wanted]
    found = by_id or [e for e in registered if wanted in map(str, e.aliases)]
    if not found:
        raise BackendError(
            f"llm has no model {wanted!r} (`chatlog chat --backend llm --list-models` "
            "lists them; `llm install llm-PLUGIN` adds more)"
        )
    entry = found[-1]  # an id before an alias; then, as in llm, the later registration
    return entry.async_model or entry.model


class LLMBackend:
    name = "llm"

    def __init__(self, config: BackendConfig) -> None:
        self._config = config
        self._requested = config.model
        self._default = "" if config.model else default_model_name()
        self._resolved: AnyModel | None = None

    @property
    def model(self) -> str:
        return self._requested or self._default

    def describe(self) -> str:
        if self._requested:
            return f"llm · model {self._requested}"
        return f"llm · model {self._default} (llm's default)"

    async def _model(self) -> AnyModel:
        if self._resolved is None:
            # Plugins may do I/O while registering (llm-ollama asks its server).
            self._resolved = await asyncio.to_thread(resolve_model, self._requested)
        return self._resolved

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[StreamItem]:
        model = await self._model()
        started = time.monotonic()
        model_id = str(model.model_id)
        history, text, system = _conversation(messages, self._config.system_prompt)
        try:
            options = _default_options(model_id)
            response = model.prompt(
                text,
                system=system,
                messages=history,
                stream=bool(model.can_stream) and self._config.stream,
                options=options,
            )
        except Exception as exc:
            raise _failure(model, exc) from exc
        events = (
            response.astream_events()
            if isinstance(response, llm.AsyncResponse)
            else _in_thread(response.stream_events())
        )
        try:
            async for event in events:
                if getattr(event, "type", None) == "text" and event.chunk:
                    yield TextDelta(str(event.chunk))
        except Exception as exc:
            usage = _usage(response)  # what the plugin counted before it failed
            if usage is not None:
                yield usage
            raise _failure(model, exc) from exc
        usage = _usage(response)
        if usage is not None:
            yield usage
        if self._config.llm_log:
            await asyncio.to_thread(_log_to_llm, response)
        yield ReplyDone(
            model=str(response.resolved_model or model_id),
            details=_details(response, time.monotonic() - started),
        )

    async def aclose(self) -> None:
        return None


def _conversation(
    messages: Sequence[ChatMessage], system_prompt: str | None
) -> tuple[list[llm.Message], str | None, str | None]:
    """(history before the last user message, that message, the system prompt) in llm's
    terms; config.toml's ``system_prompt`` goes first unless the session has its own."""
    turns = list(messages)
    if system_prompt and not any(m.role == "system" for m in turns):
        turns.insert(0, ChatMessage("system", system_prompt))
    text: str | None = None
    if turns and turns[-1].role == "user":
        text = turns.pop().content
    builders = {"system": llm.system, "user": llm.user, "assistant": llm.assistant}
    history = [builders[m.role](m.content) for m in turns if m.role in builders]
    system = "\n\n".join(m.content for m in turns if m.role == "system") or None
    return history, text, system


def _default_options(model_id: str) -> dict[str, Any]:
    """The options set with ``llm models options set`` for this model."""
    options = llm.cli.get_model_options(model_id)
    return dict(options) if isinstance(options, Mapping) else {}


async def _in_thread(events: Iterator[Any]) -> AsyncIterator[Any]:
    """Run a sync plugin's stream in a daemon thread, yielding its events on this loop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def post(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is gone: nobody is listening any more
            stop.set()

    def pump() -> None:
        try:
            for event in events:
                if stop.is_set():
                    break
                post("event", event)
        except BaseException as exc:  # handed to the reader, which raises it
            post("error", exc)
        else:
            post("end", None)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()  # the plugin's own cleanup (closing its HTTP stream)

    threading.Thread(target=pump, name="llm-stream", daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def _usage(response: llm.Response | llm.AsyncResponse) -> Usage | None:
    prompt_tokens = _count(response.input_tokens)
    completion_tokens = _count(response.output_tokens)
    if prompt_tokens is None and completion_tokens is None:
        return None
    total = (
        prompt_tokens + completion_tokens
        if prompt_tokens is not None and completion_tokens is not None
        else None
    )
    return Usage(prompt_tokens, completion_tokens, total)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _details(response: llm.Response | llm.AsyncResponse, seconds: float) -> dict[str, Any]:
    details: dict[str, Any] = {"duration_ms": round(seconds * 1000)}
    if response.token_details:
        details["token_details"] = plain(response.token_details)
    calls = response.tool_calls_or_raise()
    if calls:
        details["tool_calls"] = [
            {
                "name": plain(call.name),
                "arguments": plain(call.arguments),
                "tool_call_id": plain(call.tool_call_id),
            }
            for call in calls[:MAX_PLAIN_ITEMS]
        ]
    return details


def plain(value: object, depth: int = 0) -> Any:
    """``value`` as bounded plain JSON: nesting, items and text are capped; anything that is
    not a JSON value becomes its text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:MAX_PLAIN_CHARS]
    if depth < MAX_PLAIN_DEPTH:
        if isinstance(value, Mapping):
            return {
                str(key)[:MAX_PLAIN_CHARS]: plain(item, depth + 1)
                for key, item in _first(value.items())
            }
        if isinstance(value, list | tuple):
            return [plain(item, depth + 1) for item in _first(value)]
    return _text(value)[:MAX_PLAIN_CHARS]


def _first(items: Iterable[Any]) -> list[Any]:
    bounded: list[Any] = []
    for item in items:
        if len(bounded) == MAX_PLAIN_ITEMS:
            break
        bounded.append(item)
    return bounded


def _text(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a hostile __str__
        return f"<{type(value).__name__}>"


def _log_to_llm(response: llm.Response | llm.AsyncResponse) -> None:
    """Record the reply in llm's own logs.db too (``llm_log = true``); the reply itself is
    complete and saved whatever happens here, so a failure is reported, not raised."""
    try:
        with sqlite_utils.Database(llm.cli.logs_db_path()) as db:
            llm.migrations.migrate(db)
            response.log_to_db(db)  # type: ignore[no-untyped-call]  # llm: untyped
    except Exception as exc:
        logger.error("could not write the reply to llm's logs.db: %s", _one_line(exc))


def _failure(model: AnyModel, exc: BaseException) -> BackendError:
    """One line for whatever a plugin raised."""
    model_id = model.model_id
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, llm.NeedsKeyException):
        where = f" (or set {model.key_env_var})" if model.key_env_var else ""
        alias = model.needs_key or "NAME"
        return BackendError(f"{model_id} needs an API key: run `llm keys set {alias}`{where}")
    if isinstance(exc, llm.ConversationNotSupported):
        return BackendError(f"{model_id} answers single prompts only: /new starts a session")
    if isinstance(exc, llm.ModelError):
        return BackendError(f"{model_id}: {_one_line(exc)}")
    return BackendError(f"{model_id} failed: {type(exc).__name__}: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    text = " ".join(_text(exc).split()) or type(exc).__name__
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return text
