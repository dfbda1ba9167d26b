"""Choosing and configuring a backend; the echo backend; server-sent event parsing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cli.backends import EchoBackend, TextDelta, create_backend, resolve_backend_config
from cli.backends.config import DEFAULT_BASE_URL, DEFAULT_MODEL, default_config_path
from cli.backends.openai import OpenAIBackend
from cli.backends.sse import iter_sse_data
from cli.backends.tokens import estimate_tokens
from eventlog import InvalidArgumentError


def write_config(text: str) -> Path:
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------- which backend answers


def test_with_nothing_configured_the_echo_backend_answers():
    config = resolve_backend_config(backend=None, model=None, env={})
    assert config.backend == "echo"
    assert isinstance(create_backend(config), EchoBackend)


def test_an_openai_base_url_in_the_environment_selects_openai_there():
    env = {"OPENAI_BASE_URL": "http://localhost:11434/v1/"}
    config = resolve_backend_config(backend=None, model="llama3.2", env=env)
    assert config.backend == "openai"
    assert config.base_url == "http://localhost:11434/v1"
    assert config.model == "llama3.2"
    assert config.reason == "OPENAI_BASE_URL"


def test_an_api_key_alone_selects_openai_at_openais_address():
    config = resolve_backend_config(backend=None, model=None, env={"OPENAI_API_KEY": "sk-x"})
    assert config.backend == "openai"
    assert config.base_url == DEFAULT_BASE_URL
    assert config.api_key == "sk-x"
    assert config.model == DEFAULT_MODEL


def test_the_backend_flag_beats_the_config_file_which_beats_the_environment():
    write_config('backend = "echo"\n')
    env = {"OPENAI_API_KEY": "sk-x"}
    assert resolve_backend_config(backend=None, model=None, env=env).backend == "echo"
    assert resolve_backend_config(backend="openai", model=None, env=env).backend == "openai"


def test_config_toml_supplies_defaults_and_the_environment_overrides_address_and_key():
    write_config(
        'model = "qwen2.5"\nbase_url = "http://localhost:8080/v1"\n'
        'api_key = "from-file"\ntimeout = 2.5\nstream = false\n'
        'system_prompt = "Be brief."\n'
    )
    config = resolve_backend_config(backend=None, model=None, env={})
    assert config.system_prompt == "Be brief."
    assert (config.backend, config.model, config.base_url) == (
        "openai",
        "qwen2.5",
        "http://localhost:8080/v1",
    )
    assert (config.api_key, config.timeout, config.stream) == ("from-file", 2.5, False)
    env = {"OPENAI_BASE_URL": "http://other:1/v1", "OPENAI_API_KEY": "from-env"}
    overridden = resolve_backend_config(backend=None, model="m", env=env)
    assert (overridden.base_url, overridden.api_key, overridden.model) == (
        "http://other:1/v1",
        "from-env",
        "m",
    )


def test_a_broken_config_file_is_one_clear_error_naming_the_file():
    path = write_config("model = \n")
    with pytest.raises(InvalidArgumentError, match="not valid TOML") as caught:
        resolve_backend_config(backend=None, model=None, env={})
    assert str(path) in str(caught.value)


def test_a_misspelled_config_key_is_reported_not_ignored():
    write_config('modle = "x"\n')
    with pytest.raises(InvalidArgumentError, match="modle"):
        resolve_backend_config(backend=None, model=None, env={})


def test_a_non_positive_timeout_is_rejected():
    write_config("timeout = 0\n")
    with pytest.raises(InvalidArgumentError, match="timeout"):
        resolve_backend_config(backend=None, model=None, env={})


def test_the_openai_backend_is_built_for_openai_configurations():
    config = resolve_backend_config(backend="openai", model="m", env={})
    backend = create_backend(config)
    assert isinstance(backend, OpenAIBackend)
    assert backend.model == "m"
    assert "m at https://api.openai.com/v1" in backend.describe()
    asyncio.run(backend.aclose())


# ---------------------------------------------------------------- echo


def test_the_echo_backend_repeats_the_last_user_message_and_knows_how_to_configure_a_model():
    from cli.backends import ChatMessage

    async def reply() -> str:
        backend = EchoBackend(Path("/cfg/chatlog/config.toml"))
        parts = [
            item.text
            async for item in backend.stream(
                [
                    ChatMessage("user", "first"),
                    ChatMessage("assistant", "x"),
                    ChatMessage("user", "ping"),
                ]
            )
            if isinstance(item, TextDelta)
        ]
        return "".join(parts)

    text = asyncio.run(reply())
    assert text == "(echo) ping"  # the setup hint is for the screen, never part of a reply
    hint = EchoBackend(Path("/cfg/chatlog/config.toml")).setup_hint
    assert "No model is configured" in hint
    for needed in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "--model", "/cfg/chatlog/config.toml"):
        assert needed in hint


def test_token_estimates_are_about_four_characters_each_and_never_zero_for_text():
    assert estimate_tokens("") == 0
    assert estimate_tokens("hi") == 1
    assert estimate_tokens("x" * 40) == 10
    assert estimate_tokens("x" * 41) == 11


# ---------------------------------------------------------------- server-sent events


def sse(text: str) -> list[str]:
    async def lines() -> AsyncIterator[str]:
        for line in text.split("\n"):
            yield line

    async def collect() -> list[str]:
        return [data async for data in iter_sse_data(lines())]

    return asyncio.run(collect())


def test_sse_events_are_split_on_blank_lines_and_comments_are_skipped():
    assert sse(": keep-alive\n\ndata: one\n\nevent: x\ndata:two\n\n") == ["one", "two"]


def test_sse_data_lines_of_one_event_are_joined_and_a_final_unterminated_event_counts():
    assert sse("data: a\ndata: b\n\ndata: [DONE]") == ["a\nb", "[DONE]"]
