"""How to run this chatlog again from a new shell, for messages that suggest a command.

``make run`` starts ``.venv/bin/chatlog`` without putting it on ``PATH``, and an activated
virtualenv is gone in the next shell: a suggestion that says plain ``chatlog`` would then
fail. So it is plain ``chatlog`` only when that name finds this very script outside an
activated virtualenv (``pipx``/``uv tool`` installs), else the script's absolute path; a
home other than the default one is passed along with ``--home``, and a store given with
``--store`` along with ``--store`` (one from CHATLOG_STORE or config.toml is there for the
next command too).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import platformdirs

COMMAND_NAME = "chatlog"


def chatlog_command(home: Path, store: str | None = None) -> str:
    """The shell command (program and global options) that reaches ``home`` (and the
    ``--store`` option ``store``) again."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which(COMMAND_NAME)
    on_path = found is not None and script is not None and Path(found).resolve() == script
    venv = os.environ.get("VIRTUAL_ENV")
    in_activated_venv = venv is not None and script is not None and script.is_relative_to(venv)
    if (on_path and not in_activated_venv) or script is None or script.name != COMMAND_NAME:
        program = COMMAND_NAME
    else:
        program = shlex.quote(str(script))
    if home.resolve() != _default_home().resolve():
        program += f" --home {shlex.quote(str(home))}"
    if store:
        program += f" --store {shlex.quote(store)}"
    return program


def _default_home() -> Path:
    """The home a new shell gets when it sets neither --home nor CHATLOG_HOME (DESIGN §2)."""
    return Path(platformdirs.user_data_dir("chatlog", appauthor=False))
