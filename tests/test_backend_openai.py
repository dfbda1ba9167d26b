"""The openai backend against a real local HTTP server speaking the chat-completions protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest

from cli.backends import (
    BackendConfig,
    BackendError,
    BackendHTTPError,
    BackendTimeoutError,
    BackendUnavailableError,
    ChatMessage,
    ReplyDone,
    StreamDroppedError,
    TextDelta,
    Usage,
)
from cli.backends.openai import OpenAIBackend
from tests.fake_openai import FakeOpenAI, Scripted, free_port, running


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    yield from running()


def config_for(base_url: str, **overrides: object) -> BackendConfig:
    settings: dict[str, object] = {
        "backend": "openai",
        "reason": "test",
        "model": "test-model",
        "base_url": base_url,
        "api_key": "sk-test",
        "timeout": 5.0,
    }
    settings.update(overrides)
    return BackendConfig(**settings)  # type: ignore[arg-type]


class Collected:
    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.usage: Usage | None = None
        self.done: ReplyDone | None = None

    @property
    def text(self) -> str:
        return "".join(self.deltas)


def ask(
    config: BackendConfig, messages: Sequence[ChatMessage], into: Collected | None = None
) -> Collected:
    collected = into if into is not None else Collected()

    async def run() -> None:
        backend = OpenAIBackend(config)
        try:
            async for item in backend.stream(messages):
                match item:
                    case TextDelta(text=text):
                        collected.deltas.append(text)
                    case Usage():
                        collected.usage = item
                    case ReplyDone():
                        collected.done = item
        finally:
            await backend.aclose()

    asyncio.run(run())
    return collected


HELLO = [ChatMessage("user", "hello")]


# ---------------------------------------------------------------- streaming replies


def test_a_streamed_reply_arrives_in_pieces_that_join_to_the_whole_text(server: FakeOpenAI):
    server.script(Scripted(text="One two three four."))
    reply = ask(config_for(server.base_url), HELLO)
    assert reply.text == "One two three four."
    assert len(reply.deltas) == 4
    assert reply.done == ReplyDone(model="fake-model-1", finish_reason="stop")


def test_the_servers_usage_is_reported_when_include_usage_is_asked(server: FakeOpenAI):
    server.script(Scripted(usage=(42, 9)))
    reply = ask(config_for(server.base_url), HELLO)
    assert reply.usage == Usage(prompt_tokens=42, completion_tokens=9, total_tokens=51)
    body = server.requests[-1].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_a_server_that_sends_no_usage_gives_none(server: FakeOpenAI):
    server.script(Scripted(usage=None))
    reply = ask(config_for(server.base_url), HELLO)
    assert reply.usage is None
    assert reply.text == "Hello from the fake model."


def test_the_whole_conversation_model_and_key_are_sent(server: FakeOpenAI):
    messages = [
        ChatMessage("system", "be brief"),
        ChatMessage("user", "first"),
        ChatMessage("assistant", "reply"),
        ChatMessage("user", "second"),
    ]
    ask(config_for(server.base_url, model="llama3.2"), messages)
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "llama3.2"
    assert request.body["messages"] == [{"role": m.role, "content": m.content} for m in messages]
    assert request.headers["Authorization"] == "Bearer sk-test"


def test_no_api_key_means_no_authorization_header(server: FakeOpenAI):
    ask(config_for(server.base_url, api_key=None), HELLO)
    assert "Authorization" not in server.requests[-1].headers


# ---------------------------------------------------------------- non-streaming replies


def test_a_non_streaming_configuration_asks_for_and_reads_one_json_body(server: FakeOpenAI):
    server.script(Scripted(text="All at once.", usage=(5, 3)))
    reply = ask(config_for(server.base_url, stream=False), HELLO)
    assert server.requests[-1].body["stream"] is False
    assert "stream_options" not in server.requests[-1].body
    assert reply.deltas == ["All at once."]
    assert reply.usage == Usage(5, 3, 8)
    assert reply.done is not None and reply.done.finish_reason == "stop"


def test_a_server_that_ignores_stream_true_and_answers_json_is_understood(server: FakeOpenAI):
    server.script(Scripted(text="I do not stream.", stream=False))
    reply = ask(config_for(server.base_url), HELLO)
    assert reply.text == "I do not stream."


# ---------------------------------------------------------------- failures


def test_an_http_500_shows_the_status_and_the_servers_message(server: FakeOpenAI):
    server.script(Scripted(status=500, error_message="model exploded"))
    with pytest.raises(BackendHTTPError) as caught:
        ask(config_for(server.base_url), HELLO)
    assert caught.value.status == 500
    assert "HTTP 500" in str(caught.value)
    assert "model exploded" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unknown_model_404_names_the_servers_reason(server: FakeOpenAI):
    server.script(Scripted(status=404, error_message='model "nope" not found, try pulling it'))
    with pytest.raises(BackendHTTPError, match=r"HTTP 404.*model \"nope\" not found"):
        ask(config_for(server.base_url), HELLO)


def test_a_connection_refused_says_the_server_cannot_be_reached():
    config = config_for(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(BackendUnavailableError, match=r"cannot connect to http://127\.0\.0\.1"):
        ask(config, HELLO)


def test_a_server_that_never_answers_times_out_after_the_configured_time(server: FakeOpenAI):
    server.script(Scripted(hang=True))
    with pytest.raises(BackendTimeoutError, match=r"within 0.5s"):
        ask(config_for(server.base_url, timeout=0.5), HELLO)


def test_a_connection_dropped_mid_stream_is_an_error_after_the_pieces_that_arrived(
    server: FakeOpenAI,
):
    server.script(Scripted(text="one two three four five six", drop_after_chunks=3))
    partial = Collected()
    with pytest.raises(StreamDroppedError, match="dropped before the reply was complete"):
        ask(config_for(server.base_url), HELLO, into=partial)
    assert partial.text == "one two three "
    assert partial.done is None


def test_errors_are_all_backend_errors_of_one_line(server: FakeOpenAI):
    server.script(Scripted(status=503, error_message="overloaded\nplease retry"))
    with pytest.raises(BackendError) as caught:
        ask(config_for(server.base_url), HELLO)
    assert "\n" not in str(caught.value)
    assert "overloaded please retry" in str(caught.value)


def test_a_configured_system_prompt_is_sent_first_unless_the_session_has_one(
    server: FakeOpenAI,
) -> None:
    server.script(Scripted(text="ok"), Scripted(text="ok"))
    config = config_for(server.base_url, system_prompt="Answer in one sentence.")
    ask(config, [ChatMessage("user", "hi")])
    ask(config, [ChatMessage("system", "Be a pirate."), ChatMessage("user", "hi")])
    first, second = (request.body["messages"] for request in server.requests)
    assert first == [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "hi"},
    ]
    assert second == [
        {"role": "system", "content": "Be a pirate."},
        {"role": "user", "content": "hi"},
    ]
