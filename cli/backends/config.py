"""Which backend answers, and how to reach it.

Sources, strongest first:

- backend: ``--backend`` > ``backend`` in config.toml > ``openai`` when ``OPENAI_BASE_URL``
  or ``OPENAI_API_KEY`` is set (or config.toml names a ``base_url``) > ``echo``;
- model: ``--model`` > config.toml > :data:`DEFAULT_MODEL` (for ``llm``: llm's own default
  model, left empty here);
- base URL and API key: ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` > config.toml > OpenAI's;
- timeout, streaming, a ``system_prompt``, ``prices`` (per model, for ``chatlog stats``)
  and ``llm_log`` (also write replies to llm's own
  ``logs.db``): config.toml only.

config.toml lives in ``platformdirs.user_config_dir("chatlog")`` (on Linux
``$XDG_CONFIG_HOME/chatlog/config.toml``); it is optional.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal, get_args

import msgspec
import platformdirs

from eventlog.errors import InvalidArgumentError
from projections.stats import Price

BackendName = Literal["echo", "openai", "llm"]
BACKEND_NAMES: Final[tuple[str, ...]] = get_args(BackendName)
DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_MODEL: Final = "gpt-4o-mini"
DEFAULT_TIMEOUT: Final = 60.0


class FileConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The keys config.toml may hold (all optional)."""

    backend: BackendName | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    stream: bool = True
    system_prompt: str | None = None
    llm_log: bool = False
    store: str | None = None  # the event store's URL (see cli.context); not a backend key
    prices: dict[str, Price] = {}  # [prices."model"]: read by `chatlog stats`
    redact_secrets: bool = True  # secrets in stored messages are replaced (eventlog.redaction)


class BackendConfig(msgspec.Struct, frozen=True):
    """The settled choice: what to run and why (``reason``, the setting that chose the
    backend, is shown in the banner; empty when nothing did)."""

    backend: BackendName
    reason: str
    model: str  # for llm, "" means llm's default model
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    stream: bool = True
    config_path: Path | None = None
    system_prompt: str | None = None  # sent first unless the session has its own
    llm_log: bool = False  # the llm backend also logs to llm's logs.db


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("chatlog", appauthor=False)) / "config.toml"


def load_file_config(path: Path) -> FileConfig:
    """Read config.toml; a missing file is an empty config, a broken one a clear error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return FileConfig()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidArgumentError(f"{path} is not valid TOML: {exc}") from exc
    try:
        config = msgspec.convert(data, FileConfig)
    except msgspec.ValidationError as exc:
        raise InvalidArgumentError(f"{path}: {exc}") from exc
    if config.timeout is not None and config.timeout <= 0:
        raise InvalidArgumentError(f"{path}: timeout must be a positive number of seconds")
    return config


def resolve_backend_config(
    *,
    backend: str | None,
    model: str | None,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> BackendConfig:
    """Combine flags, environment and config.toml (see the module docstring)."""
    env = os.environ if env is None else env
    path = config_path or default_config_path()
    file = load_file_config(path)
    env_url = env.get("OPENAI_BASE_URL") or None
    env_key = env.get("OPENAI_API_KEY") or None

    chosen: BackendName
    if backend is not None:
        if backend not in BACKEND_NAMES:
            raise InvalidArgumentError(
                f"unknown backend {backend!r} (choose {' or '.join(BACKEND_NAMES)})"
            )
        chosen, reason = backend, "--backend"  # type: ignore[assignment]  # checked above
    elif file.backend is not None:
        chosen, reason = file.backend, str(path)
    elif env_url or env_key:
        chosen, reason = "openai", "OPENAI_BASE_URL" if env_url else "OPENAI_API_KEY"
    elif file.base_url:
        chosen, reason = "openai", str(path)
    else:
        chosen, reason = "echo", ""

    return BackendConfig(
        backend=chosen,
        reason=reason,
        model=model or file.model or ("" if chosen == "llm" else DEFAULT_MODEL),
        base_url=(env_url or file.base_url or DEFAULT_BASE_URL).rstrip("/"),
        api_key=env_key or file.api_key,
        timeout=file.timeout or DEFAULT_TIMEOUT,
        stream=file.stream,
        config_path=path,
        system_prompt=file.system_prompt or None,
        llm_log=file.llm_log,
    )
