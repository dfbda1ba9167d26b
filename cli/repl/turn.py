"""One exchange with the model, saved as it happens (auto-save).

The user's message is appended *before* the model is called, so nothing typed is lost
whatever the model does; the reply is appended once it ends. A reply that stops early —
Ctrl+C, a dropped connection, a timeout mid-stream — is still saved with what arrived
(``metadata.interrupted = true`` and the reason), because nothing the user saw should
vanish from the log. A failure before any text arrived saves no reply at all.

Token counts: the server's ``usage`` when it reports one, else an estimate, and the
message's metadata says which (``usage_estimated``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cli.backends import (
    Backend,
    BackendError,
    ReplyDone,
    TextDelta,
    Usage,
)
from cli.backends.tokens import estimate_tokens
from cli.repl.current import SessionView
from cli.repl.render import Screen
from eventlog import Message

INTERRUPTED_BY_USER = "stopped with Ctrl+C"


def save_user_message(view: SessionView, text: str, screen: Screen, verbose: bool) -> Message:
    sid = view.ensure_created()
    tokens = estimate_tokens(text)
    event = view.log.append(
        sid, "user", text, token_count=tokens, metadata={"usage_estimated": True}
    )
    view.note_own(event.seq)
    view.typed = (event.seq, text) if event.content != text else None
    if verbose:
        screen.notice(f"💾 saved your message to {sid} (#{event.seq}, ~{tokens} tokens)")
    return event


class _Reply:
    """What has arrived of a reply so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.usage: Usage | None = None
        self.done: ReplyDone | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def metadata(self, backend: Backend, stopped: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"backend": backend.name}
        model = (self.done.model if self.done else None) or backend.model
        if model:
            meta["model"] = model
        if self.usage is not None:
            usage = {k: v for k, v in _usage_items(self.usage) if v is not None}
            if usage:
                meta["usage"] = usage
        meta["usage_estimated"] = self.usage is None or self.usage.completion_tokens is None
        if self.done is not None:
            if self.done.finish_reason:
                meta["finish_reason"] = self.done.finish_reason
            for key, value in self.done.details.items():
                meta.setdefault(key, value)
        if stopped is not None:
            meta["interrupted"] = True
            meta["interrupted_reason"] = stopped
        return meta

    def token_count(self) -> int:
        if self.usage is not None and self.usage.completion_tokens is not None:
            return self.usage.completion_tokens
        return estimate_tokens(self.text)


def _usage_items(usage: Usage) -> list[tuple[str, int | None]]:
    return [
        ("prompt_tokens", usage.prompt_tokens),
        ("completion_tokens", usage.completion_tokens),
        ("total_tokens", usage.total_tokens),
    ]


async def respond(view: SessionView, backend: Backend, screen: Screen, verbose: bool) -> None:
    """Ask the model to answer the session as it stands; show and save the reply."""
    view.refresh()
    reply = _Reply()
    display = screen.reply(f"🤖 {backend.model or backend.name}")
    context = view.context()
    view.typed = None  # the typed text goes to the model in its own turn only
    try:
        async for item in backend.stream(context):
            match item:
                case TextDelta(text=text):
                    reply.parts.append(text)
                    display.add(text)
                case Usage():
                    reply.usage = item
                case ReplyDone():
                    reply.done = item
    except asyncio.CancelledError:
        display.finish()
        saved = _save_reply(view, backend, screen, reply, INTERRUPTED_BY_USER, verbose)
        screen.notice(
            "⏹ stopped" + ("; the partial reply is saved" if saved else " before any reply")
        )
        raise
    except BackendError as exc:
        display.finish()
        saved = _save_reply(view, backend, screen, reply, str(exc), verbose)
        screen.error(f"{backend.name}: {exc}")
        screen.notice(
            ("The partial reply is saved. " if saved else "")
            + "Your message is saved; /retry asks again."
        )
        return
    display.finish()
    _save_reply(view, backend, screen, reply, None, verbose)


def _save_reply(
    view: SessionView,
    backend: Backend,
    screen: Screen,
    reply: _Reply,
    stopped: str | None,
    verbose: bool,
) -> bool:
    text = reply.text
    if stopped is not None and not text:
        return False
    tokens = reply.token_count()
    event = view.log.append(
        view.session_id,
        "assistant",
        text,
        token_count=tokens,
        metadata=reply.metadata(backend, stopped),
    )
    view.note_own(event.seq)
    if verbose:
        estimated = "~" if reply.usage is None or reply.usage.completion_tokens is None else ""
        what = "partial reply" if stopped else "reply"
        screen.notice(
            f"💾 saved the {what} to {view.session_id} "
            f"(#{event.seq}, {len(text)} chars, {estimated}{tokens} tokens)"
        )
    return True
