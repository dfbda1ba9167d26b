"""The REPL talking to a local OpenAI-compatible server: replies, token counts, failures,
and Ctrl+C in the middle of a streaming reply."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.backends.config import default_config_path
from tests.fake_openai import FakeOpenAI, Scripted, free_port, running
from tests.repl_pty import Repl, messages, only_session

LONG_REPLY = " ".join(f"word{n}" for n in range(200))


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    yield from running()


def chat_with(repls: list[Repl], base_url: str, *args: str) -> Repl:
    repl = Repl(*args, env={"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test"})
    repls.append(repl)
    return repl


def set_config(text: str) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ---------------------------------------------------------------- replies and token counts


def test_a_streamed_reply_is_shown_and_saved_with_the_servers_token_counts(
    home: Path, server: FakeOpenAI, repls
):
    server.script(Scripted(text="Paris is the capital of France.", usage=(23, 8)))
    repl = chat_with(repls, server.base_url, "--model", "tiny")
    out = repl.run("capital of France?", until="capital of France.")
    assert "🤖 tiny" in out
    assert repl.quit() == 0

    user, reply = messages(home, only_session(home))
    assert user.content == "capital of France?"
    assert user.metadata == {"usage_estimated": True}
    assert reply.content == "Paris is the capital of France."
    assert reply.token_count == 8
    assert reply.metadata == {
        "backend": "openai",
        "model": "fake-model-1",
        "usage": {"prompt_tokens": 23, "completion_tokens": 8, "total_tokens": 31},
        "usage_estimated": False,
        "finish_reason": "stop",
    }
    assert server.requests[-1].body["model"] == "tiny"


def test_the_whole_session_is_sent_as_context(home: Path, server: FakeOpenAI, repls):
    server.script(Scripted(text="First answer."), Scripted(text="Second answer."))
    repl = chat_with(repls, server.base_url)
    repl.run("first question", until="First answer.")
    repl.run("second question", until="Second answer.")
    repl.quit()
    assert server.requests[-1].body["messages"] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "second question"},
    ]


def test_without_usage_from_the_server_the_count_is_an_estimate_and_says_so(
    home: Path, server: FakeOpenAI, repls
):
    server.script(Scripted(text="No usage here, sorry.", usage=None))
    repl = chat_with(repls, server.base_url)
    repl.run("count?", until="sorry.")
    repl.quit()
    (_user, reply) = messages(home, only_session(home))
    assert reply.metadata["usage_estimated"] is True
    assert "usage" not in reply.metadata
    assert reply.token_count == 6  # 21 characters, about four per token


def test_a_non_streaming_server_configuration_works_through_the_repl(
    home: Path, server: FakeOpenAI, repls
):
    set_config(f'base_url = "{server.base_url}"\nmodel = "whole"\nstream = false\n')
    repl = Repl()
    repls.append(repl)
    repl.run("all at once", until="Hello from the fake model.")
    repl.quit()
    assert server.requests[-1].body["stream"] is False
    (_user, reply) = messages(home, only_session(home))
    assert reply.token_count == 7


# ---------------------------------------------------------------- failures


def test_an_http_500_is_one_line_the_message_stays_saved_and_the_repl_goes_on(
    home: Path, server: FakeOpenAI, repls
):
    server.script(Scripted(status=500, error_message="GPU on fire"), Scripted(text="Better now."))
    repl = chat_with(repls, server.base_url)
    out = repl.run("are you there?", until="/retry asks again")
    errors = [line for line in out.splitlines() if "✗" in line]
    assert len(errors) == 1
    assert "HTTP 500" in errors[0]
    assert "GPU on fire" in errors[0]
    sid = only_session(home)
    assert [m.role for m in messages(home, sid)] == ["user"]

    repl.run("/retry", until="Better now.")
    repl.quit()
    assert [(m.role, m.content) for m in messages(home, sid)] == [
        ("user", "are you there?"),
        ("assistant", "Better now."),
    ]


def test_a_connection_dropped_mid_stream_keeps_the_part_that_arrived(
    home: Path, server: FakeOpenAI, repls
):
    server.script(Scripted(text="one two three four five six", drop_after_chunks=3))
    repl = chat_with(repls, server.base_url)
    out = repl.run("count to six", until="/retry asks again")
    assert "dropped before the reply was complete" in out
    assert "The partial reply is saved." in out
    repl.quit()
    (_user, reply) = messages(home, only_session(home))
    assert reply.content == "one two three "
    assert reply.metadata["interrupted"] is True
    assert "dropped" in reply.metadata["interrupted_reason"]


def test_a_server_that_never_answers_times_out_with_one_line(home: Path, server: FakeOpenAI, repls):
    set_config("timeout = 0.5\n")
    server.script(Scripted(hang=True))
    repl = chat_with(repls, server.base_url)
    out = repl.run("hello?", until="/retry asks again")
    assert re.search(r"✗ openai: no answer from \S+ within 0.5s", out)
    repl.quit()
    assert [m.role for m in messages(home, only_session(home))] == ["user"]


def test_a_refused_connection_is_one_line_and_the_next_message_still_saves(home: Path, repls):
    repl = chat_with(repls, f"http://127.0.0.1:{free_port()}/v1")
    out = repl.run("anyone?", until="/retry asks again")
    assert "cannot connect to http://127.0.0.1" in out
    repl.run("still me", until="/retry asks again")
    repl.quit()
    assert [m.content for m in messages(home, only_session(home))] == ["anyone?", "still me"]


# ---------------------------------------------------------------- Ctrl+C while streaming


def test_ctrl_c_stops_a_streaming_reply_saves_what_was_shown_and_the_repl_goes_on(
    home: Path, server: FakeOpenAI, repls
):
    server.script(Scripted(text=LONG_REPLY, chunk_delay=0.05), Scripted(text="Short one."))
    repl = chat_with(repls, server.base_url)
    repl.type("tell me everything")
    repl.enter()
    repl.expect("word3 ")
    repl.control("c")
    repl.expect("⏹ stopped; the partial reply is saved")
    repl.prompt()
    sid = only_session(home)
    (_user, partial) = messages(home, sid)
    assert partial.metadata["interrupted"] is True
    assert partial.metadata["interrupted_reason"] == "stopped with Ctrl+C"
    assert partial.content.startswith("word0 word1 word2 word3 ")
    assert LONG_REPLY.startswith(partial.content)
    assert len(partial.content) < len(LONG_REPLY)

    repl.run("and now briefly", until="Short one.")
    assert repl.quit() == 0
    assert [m.content for m in messages(home, sid)][-1] == "Short one."


def test_keys_typed_while_a_reply_streams_are_not_echoed_into_it_but_wait_for_the_prompt(
    home: Path, server: FakeOpenAI, repls
):
    words = " ".join(f"w{n}" for n in range(30))
    server.script(Scripted(text=words + " END", chunk_delay=0.03), Scripted(text="Got it."))
    repl = chat_with(repls, server.base_url)
    repl.type("stream please")
    repl.enter()
    repl.expect("w2 ")
    repl.type("typed ahead")
    during = repl.expect("END")
    assert "typed ahead" not in during
    repl.prompt()
    repl.enter()
    repl.expect("Got it.")
    repl.prompt()
    repl.quit()
    users = [m.content for m in messages(home, only_session(home)) if m.role == "user"]
    assert users == ["stream please", "typed ahead"]
