"""The llm backend against the real llm library and real plugins: ``llm-echo`` from PyPI and
a test-local plugin registered through llm's plugin hooks (tests/llm_scripted_plugin.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import llm
import llm.cli
import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli.backends import (
    BackendConfig,
    BackendError,
    BackendUnavailableError,
    ChatMessage,
    ReplyDone,
    TextDelta,
    Usage,
    create_backend,
    resolve_backend_config,
)
from cli.backends.config import default_config_path
from cli.backends.llm import (
    MAX_ERROR_CHARS,
    MAX_PLAIN_DEPTH,
    MAX_PLAIN_ITEMS,
    LLMBackend,
    model_lines,
    plain,
)
from tests import llm_scripted_plugin
from tests.conftest import run_chatlog

HELLO = [ChatMessage("user", "hello")]


@pytest.fixture(scope="module", autouse=True)
def scripted_plugin() -> Iterator[None]:
    llm.pm.register(llm_scripted_plugin, name="chatlog-scripted")
    yield
    llm.pm.unregister(llm_scripted_plugin)


@pytest.fixture(autouse=True)
def llm_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh llm configuration directory (keys, aliases, default model, logs.db)."""
    path = tmp_path / "llm-user"
    path.mkdir()
    monkeypatch.setenv("LLM_USER_PATH", str(path))
    monkeypatch.delenv("LLM_ECHO_NEEDS_KEY_KEY", raising=False)
    return path


def config(model: str = "scripted", **overrides: object) -> BackendConfig:
    settings: dict[str, object] = {"backend": "llm", "reason": "test", "model": model}
    settings.update(overrides)
    return BackendConfig(**settings)  # type: ignore[arg-type]


class Collected(msgspec.Struct):
    """What one reply produced: its stream items, and the BackendError that ended it."""

    items: list[object] = []
    error: BackendError | None = None

    @property
    def deltas(self) -> list[str]:
        return [i.text for i in self.items if isinstance(i, TextDelta)]

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def usage(self) -> Usage | None:
        return next((i for i in reversed(self.items) if isinstance(i, Usage)), None)

    @property
    def done(self) -> ReplyDone | None:
        return next((i for i in self.items if isinstance(i, ReplyDone)), None)


def ask(settings: BackendConfig, messages: Sequence[ChatMessage]) -> Collected:
    """Run one reply through the backend ``create_backend`` makes of ``settings``."""
    collected = Collected()

    async def run() -> None:
        backend = create_backend(settings)
        try:
            async for item in backend.stream(messages):
                collected.items.append(item)
        except BackendError as exc:
            collected.error = exc
        finally:
            await backend.aclose()

    asyncio.run(run())
    return collected


# ---------------------------------------------------------------- replies


def test_the_echo_plugin_answers_and_its_counts_become_the_usage():
    reply = ask(config("echo"), [ChatMessage("system", "be brief"), ChatMessage("user", "hi")])
    assert reply.error is None
    answer = json.loads(reply.text)
    assert answer["prompt"] == "hi"
    assert answer["system"] == "be brief"
    assert answer["stream"] is True
    assert reply.usage == Usage(3, len(reply.text.split()), 3 + len(reply.text.split()))
    assert reply.done is not None
    assert reply.done.model == "echo"
    assert isinstance(reply.done.details["duration_ms"], int)


def test_the_session_goes_to_the_model_as_system_user_and_assistant_messages():
    session = [
        ChatMessage("system", "be brief"),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "hello"),
        ChatMessage("user", "again"),
    ]
    reply = ask(config(), session)
    assert reply.text == "roles: system,user,assistant,user | system: be brief | you said: again"
    assert len(reply.deltas) > 5  # streamed a word at a time


def test_the_config_system_prompt_goes_first_unless_the_session_has_its_own():
    settings = config(system_prompt="answer in French")
    assert ask(settings, HELLO).text == (
        "roles: system,user | system: answer in French | you said: hello"
    )
    own = ask(settings, [ChatMessage("system", "answer in German"), *HELLO]).text
    assert own == "roles: system,user | system: answer in German | you said: hello"


def test_usage_details_the_resolved_model_and_tool_calls_are_reported():
    reply = ask(config(), [ChatMessage("user", "tool")])
    assert reply.text == "calling lookup"
    assert reply.usage == Usage(1, 2, 3)
    assert reply.done is not None
    assert reply.done.model == "scripted-2026-01"
    details = reply.done.details
    assert details["token_details"]["cached_input"] == 1
    assert details["token_details"]["odd"].startswith("<object object at")
    [call] = details["tool_calls"]
    assert call["name"] == "lookup"
    assert call["arguments"] == {"q": "capital"}
    assert isinstance(call["tool_call_id"], str)
    msgspec.json.encode(details)  # plain JSON, fit for the log


def test_a_plugins_tool_calls_from_llm_echo_are_kept():
    prompt = json.dumps({"prompt": "x", "tool_calls": [{"name": "add", "arguments": {"a": 1}}]})
    reply = ask(config("echo"), [ChatMessage("user", prompt)])
    assert reply.done is not None
    assert [(c["name"], c["arguments"]) for c in reply.done.details["tool_calls"]] == [
        ("add", {"a": 1})
    ]


def test_a_model_without_an_async_version_streams_from_a_thread():
    reply = ask(config("scripted-sync"), [ChatMessage("user", "hi")])
    assert reply.text == "roles: user | system: - | you said: hi"
    assert reply.done is not None
    assert reply.done.model == "scripted-sync"
    assert reply.usage == Usage(1, len(reply.deltas), 1 + len(reply.deltas))


# ---------------------------------------------------------------- which model


def test_aliases_from_the_plugin_and_from_aliases_json_name_models(llm_user: Path):
    (llm_user / "aliases.json").write_text(json.dumps({"parrot": "echo"}))
    assert ask(config("sc"), HELLO).text.endswith("you said: hello")
    reply = ask(config("parrot"), HELLO)
    assert json.loads(reply.text)["prompt"] == "hello"
    assert reply.done is not None
    assert reply.done.model == "echo"


def test_without_a_model_llms_default_model_answers(llm_user: Path):
    (llm_user / "default_model.txt").write_text("scripted-sync\n")
    backend = LLMBackend(config(""))
    assert backend.model == "scripted-sync"
    assert backend.describe() == "llm · model scripted-sync (llm's default)"
    assert ask(config(""), HELLO).text.endswith("you said: hello")


def test_backend_llm_in_config_toml_selects_llm_and_leaves_the_model_to_llm():
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('backend = "llm"\nllm_log = true\n')
    settings = resolve_backend_config(backend=None, model=None, env={})
    assert (settings.backend, settings.model, settings.llm_log) == ("llm", "", True)
    assert isinstance(create_backend(settings), LLMBackend)


def test_model_lines_list_ids_aliases_keys_and_mark_the_default_and_current(llm_user: Path):
    (llm_user / "default_model.txt").write_text("echo")
    lines = model_lines("sc")
    assert lines[0].startswith("Models llm offers (")
    assert "  echo  [llm's default]" in lines
    assert "  echo-needs-key  key: echo-needs-key (not set)" in lines
    assert "  scripted  (aliases: sc)  [current]" in lines
    assert "  scripted-sync" in lines
    (llm_user / "keys.json").write_text(json.dumps({"echo-needs-key": "sk-stored"}))
    assert "  echo-needs-key  key: echo-needs-key" in model_lines()


# ---------------------------------------------------------------- failures


def test_an_unknown_model_is_one_line_pointing_at_the_list():
    reply = ask(config("no-such-model"), HELLO)
    assert reply.error is not None
    assert str(reply.error) == (
        "llm has no model 'no-such-model' (`chatlog chat --backend llm --list-models` "
        "lists them; `llm install llm-PLUGIN` adds more)"
    )


def test_a_missing_key_names_the_llm_keys_set_command_and_a_stored_key_is_used(llm_user: Path):
    reply = ask(config("echo-needs-key"), HELLO)
    assert str(reply.error) == (
        "echo-needs-key needs an API key: run `llm keys set echo-needs-key` "
        "(or set LLM_ECHO_NEEDS_KEY_KEY)"
    )
    (llm_user / "keys.json").write_text(json.dumps({"echo-needs-key": "sk-stored"}))
    assert json.loads(ask(config("echo-needs-key"), HELLO).text)["key"] == "sk-stored"


@pytest.mark.parametrize("model", ["scripted", "scripted-sync"])
def test_a_failure_mid_stream_keeps_the_text_and_usage_and_is_one_line(model: str):
    reply = ask(config(model), [ChatMessage("user", "fail after 3")])
    assert reply.text == "w0 w1 w2 "
    assert reply.usage == Usage(3, 3, 6)
    assert reply.done is None
    assert str(reply.error) == f"{model}: provider exploded at line 2"


def test_a_crashing_plugin_is_one_line_with_the_exception_type():
    reply = ask(config(), [ChatMessage("user", "crash")])
    message = str(reply.error)
    assert message.startswith("scripted failed: RuntimeError: the plugin crashed Traceback")
    assert "\n" not in message
    assert len(message) <= MAX_ERROR_CHARS + len("scripted failed: RuntimeError: ")


def test_invalid_default_options_are_one_line(llm_user: Path):
    (llm_user / "model_options.json").write_text(json.dumps({"echo": {"no_such_option": 1}}))
    reply = ask(config("echo"), HELLO)
    assert reply.error is not None
    assert str(reply.error).startswith("echo failed: ValidationError:")
    assert "\n" not in str(reply.error)


def test_default_options_set_with_llm_are_sent(llm_user: Path):
    (llm_user / "model_options.json").write_text(json.dumps({"echo": {"example_bool": True}}))
    assert json.loads(ask(config("echo"), HELLO).text)["options"] == {"example_bool": True}


@pytest.mark.parametrize("model", ["scripted", "scripted-sync"])
def test_cancelling_a_reply_closes_the_plugins_stream(model: str):
    closed = llm_scripted_plugin.closed_early.setdefault(model, __import__("threading").Event())
    closed.clear()
    arrived: list[str] = []

    async def run() -> None:
        backend = LLMBackend(config(model))

        async def consume() -> None:
            async for item in backend.stream([ChatMessage("user", "slow 400")]):
                if isinstance(item, TextDelta):
                    arrived.append(item.text)
                    if len(arrived) == 3:
                        started.set()

        started = asyncio.Event()
        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert arrived[:3] == ["w0 ", "w1 ", "w2 "]
    assert len(arrived) < 400
    assert closed.wait(10), "the plugin's generator was not closed"


# ---------------------------------------------------------------- llm's own log


def test_nothing_is_written_to_llms_logs_db_by_default(llm_user: Path):
    assert ask(config("echo"), HELLO).error is None
    assert not (llm_user / "logs.db").exists()


def test_llm_log_writes_the_reply_to_llms_logs_db(llm_user: Path):
    reply = ask(config("echo", llm_log=True), HELLO)
    assert reply.error is None
    logged = CliRunner().invoke(llm.cli.cli, ["logs", "list", "--json"])  # llm's own reader
    assert logged.exit_code == 0, logged.output
    [entry] = json.loads(logged.output)
    assert (entry["model"], entry["prompt"], entry["response"]) == ("echo", "hello", reply.text)


# ---------------------------------------------------------------- hostile values


def _nested() -> st.SearchStrategy[object]:
    leaves = st.none() | st.booleans() | st.integers() | st.text() | st.builds(object)
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.tuples(inner, inner)
            | st.dictionaries(st.text() | st.integers(), inner, max_size=4)
        ),
        max_leaves=40,
    )


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@given(_nested())
def test_plugin_values_become_bounded_plain_json(value: object):
    result = plain(value)
    assert msgspec.json.decode(msgspec.json.encode(result)) == result
    assert _depth(result) <= MAX_PLAIN_DEPTH


def test_plain_caps_items_text_and_nesting():
    deep: object = "bottom"
    for _ in range(MAX_PLAIN_DEPTH + 3):
        deep = [deep]
    assert len(plain(list(range(10_000)))) == MAX_PLAIN_ITEMS
    assert len(plain("x" * 1_000_000)) < 10_000
    assert _depth(plain(deep)) == MAX_PLAIN_DEPTH


# ---------------------------------------------------------------- without the extra


def test_without_the_llm_library_the_backend_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from cli.main import main

    monkeypatch.setitem(sys.modules, "llm", None)  # what `import llm` finds when absent
    monkeypatch.delitem(sys.modules, "cli.backends.llm")
    with pytest.raises(BackendUnavailableError, match=r"pip install 'openagent-chatlog\[llm\]'"):
        create_backend(config())
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("hello\n"))
    assert main(["chat", "--backend", "llm"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("chatlog: error: the llm backend needs the llm library: pip install")


# ---------------------------------------------------------------- chatlog chat --list-models


def test_list_models_prints_what_llm_offers(llm_user: Path):
    done = run_chatlog("chat", "--backend", "llm", "--list-models", "--model", "echo")
    assert done.returncode == 0, done.stderr
    assert "  echo  [current]" in done.stdout.splitlines()
    assert "  echo-needs-key  key: echo-needs-key (not set)" in done.stdout.splitlines()


def test_list_models_with_another_backend_is_one_line_and_exit_2():
    done = run_chatlog("chat", "--backend", "openai", "--list-models")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "chatlog: error: --list-models lists the llm backend's models, not openai's: "
        'add --backend llm (or set backend = "llm" in config.toml)'
    ]


def test_the_models_command_of_another_backend_says_it_has_no_list():
    done = run_chatlog("chat", "--backend", "echo", input="/models\n")
    assert done.returncode == 0
    assert (
        "✗ /models: the echo backend has no model list "
        "(it lists llm's models: chatlog chat --backend llm)\n"
    ) in done.stdout
