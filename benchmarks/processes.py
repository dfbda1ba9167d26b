"""Running the installed ``chatlog`` command from a benchmark, as a user's shell would."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


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
