"""Access to the projections package, which the benchmarks measure but do not require:
when it is missing (or lacks what a benchmark calls) that benchmark is skipped with the
reason, and the rest of the suite still runs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Protocol, cast

from eventlog import EventLog


class ProjectionsLike(Protocol):
    def catch_up(self, progress: Any = None) -> Any: ...
    def list_sessions(self, limit: int | None = None) -> Any: ...
    def snapshot_json(self, session_id: str) -> bytes: ...
    def search(self, query: str, limit: int = 20) -> Any: ...
    def rebuild(self, progress: Any = None) -> Any: ...
    def close(self) -> None: ...


class Unavailable(Exception):
    """The projections API a benchmark needs is not there (yet)."""


def open_projections(log: EventLog) -> ProjectionsLike:
    try:
        import projections
    except ImportError as exc:  # pragma: no cover - the package always exists
        raise Unavailable(f"projections cannot be imported: {exc}") from exc
    factory = getattr(projections, "Projections", None)
    if factory is None:
        raise Unavailable("projections.Projections does not exist yet")
    return cast(ProjectionsLike, factory(log))


def subprocess_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment for timed child processes: bytecode cached under ``work`` (as an
    installed package has it compiled), never in the source tree."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(work / "pycache"), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def chatlog_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m cli``."""
    candidate = Path(sys.executable).with_name("chatlog")
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("chatlog")
    if found:
        return [found]
    return [sys.executable, "-m", "cli.main"]
