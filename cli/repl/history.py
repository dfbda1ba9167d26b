"""The REPL's input history: prompt_toolkit's append-only FileHistory in ``<home>/history``,
created 0600 (and tightened if it exists wider) before prompt_toolkit ever opens it, since
it holds everything the user typed."""

from __future__ import annotations

import os
from pathlib import Path

from prompt_toolkit.history import FileHistory

from eventlog.home import FILE_MODE


def private_history(path: Path) -> FileHistory:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return FileHistory(str(path))
