"""``chatlog chat --backend llm`` through a real terminal, with real llm plugins: llm-echo
and the test-local scripted plugin, installed for the child through its entry point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import llm.cli
import pytest
from click.testing import CliRunner

from cli.backends.config import default_config_path
from tests import llm_scripted_plugin
from tests.conftest import PROJECT_ROOT
from tests.repl_pty import Repl, messages, only_session


@pytest.fixture
def llm_user(tmp_path: Path) -> Path:
    path = tmp_path / "llm-user"
    path.mkdir()
    return path


@pytest.fixture
def repls(tmp_path: Path, llm_user: Path) -> Iterator[list[Repl]]:
    started: list[Repl] = []
    yield started
    for repl in started:
        repl.close()


@pytest.fixture
def plugin_env(tmp_path: Path, llm_user: Path) -> dict[str, str]:
    site = tmp_path / "site"
    llm_scripted_plugin.install_for_subprocess(site)
    return {
        "LLM_USER_PATH": str(llm_user),
        "PYTHONPATH": f"{site}:{PROJECT_ROOT}",
        # Exactly these plugins, whatever else the environment has installed.
        "LLM_LOAD_PLUGINS": f"llm-echo,{llm_scripted_plugin.DIST_NAME}",
        "LLM_ECHO_NEEDS_KEY_KEY": "",
    }


def chat(repls: list[Repl], env: dict[str, str], *args: str) -> Repl:
    repl = Repl(*args, env=env)
    repls.append(repl)
    return repl


def test_a_reply_streams_is_saved_with_usage_and_the_session_goes_as_a_conversation(
    home: Path, llm_user: Path, plugin_env, repls
):
    repl = chat(repls, plugin_env, "--backend", "llm", "--model", "scripted")
    assert "Backend: llm · model scripted (from --backend)" in repl.startup
    out = repl.run("first", until="you said: first")
    assert "🤖 scripted" in out
    repl.run("second", until="you said: second")
    assert repl.quit() == 0

    user, first, _, second = messages(home, only_session(home))
    assert user.content == "first"
    assert first.content == "roles: user | system: - | you said: first"
    assert second.content == "roles: user,assistant,user | system: - | you said: second"
    meta = dict(first.metadata)
    assert isinstance(meta.pop("duration_ms"), int)
    assert meta == {
        "backend": "llm",
        "model": "scripted-2026-01",
        "usage": {"prompt_tokens": 1, "completion_tokens": 9, "total_tokens": 10},
        "usage_estimated": False,
        "token_details": {"cached_input": 1, "odd": meta["token_details"]["odd"]},
    }
    assert first.token_count == 9
    assert not (llm_user / "logs.db").exists()


def test_ctrl_c_stops_a_streaming_reply_saves_the_part_shown_and_the_repl_goes_on(
    home: Path, plugin_env, repls
):
    repl = chat(repls, plugin_env, "--backend", "llm", "--model", "scripted")
    repl.type("slow 400")
    repl.enter()
    repl.expect("w3 ")
    repl.control("c")
    repl.expect("⏹ stopped; the partial reply is saved")
    repl.prompt()
    repl.run("after", until="you said: after")
    assert repl.quit() == 0
    _, partial, _, reply = messages(home, only_session(home))
    assert partial.content.startswith("w0 w1 w2 w3 ")
    assert len(partial.content.split()) < 400
    assert partial.metadata["interrupted"] is True
    assert partial.metadata["interrupted_reason"] == "stopped with Ctrl+C"
    assert reply.content.startswith("roles: user,assistant,user |")


def test_a_provider_error_mid_stream_is_one_line_keeps_the_partial_reply_and_retry_works(
    home: Path, plugin_env, repls
):
    repl = chat(repls, plugin_env, "--backend", "llm", "--model", "scripted")
    out = repl.run("fail after 3", until="/retry asks again")
    errors = [line for line in out.splitlines() if "✗" in line]
    assert errors == ["✗ llm: scripted: provider exploded at line 2"]
    assert "The partial reply is saved." in out
    repl.run("crash", until="/retry asks again")
    repl.quit()
    user, partial, crashed = messages(home, only_session(home))
    assert partial.content == "w0 w1 w2 "
    assert partial.metadata["interrupted_reason"] == "scripted: provider exploded at line 2"
    assert partial.metadata["usage"]["completion_tokens"] == 3
    assert (user.role, crashed.role) == ("user", "user")


def test_an_unknown_model_and_a_missing_key_are_one_line_and_models_lists_what_llm_offers(
    home: Path, plugin_env, repls
):
    repl = chat(repls, plugin_env, "--backend", "llm", "--model", "nope")
    out = repl.run("hello?", until="/retry asks again")
    assert "✗ llm: llm has no model 'nope'" in out
    listing = repl.run("/models", until="scripted-sync")
    assert "  echo-needs-key  key: echo-needs-key (not set)" in listing
    assert "  scripted  (aliases: sc)" in listing
    repl.quit()

    repl = chat(repls, plugin_env, "--continue", "--backend", "llm", "--model", "echo-needs-key")
    out = repl.run("/retry", until="/retry asks again")
    assert "✗ llm: echo-needs-key needs an API key: run `llm keys set echo-needs-key`" in out
    repl.quit()
    assert [m.content for m in messages(home, only_session(home))] == ["hello?"]


def test_backend_llm_from_config_toml_with_llm_log_on_writes_llms_log_too(
    home: Path, llm_user: Path, plugin_env, repls, monkeypatch: pytest.MonkeyPatch
):
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('backend = "llm"\nllm_log = true\n')
    (llm_user / "default_model.txt").write_text("echo")
    repl = chat(repls, plugin_env)
    assert "Backend: llm · model echo (llm's default)" in repl.startup
    repl.run("logged?", until='"prompt": "logged?"')
    assert repl.quit() == 0
    (_user, reply) = messages(home, only_session(home))
    assert json.loads(reply.content)["prompt"] == "logged?"
    monkeypatch.setenv("LLM_USER_PATH", str(llm_user))
    logged = CliRunner().invoke(llm.cli.cli, ["logs", "list", "--json"])  # llm's own reader
    [entry] = json.loads(logged.output)
    assert (entry["prompt"], entry["response"]) == ("logged?", reply.content)
