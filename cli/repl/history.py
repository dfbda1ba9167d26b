"""The REPL's input history: prompt_toolkit's append-only FileHistory in ``<home>/history``,
created 0600 (and tightened if it exists wider) before prompt_toolkit ever opens it, since
it holds everything the user typed.

Each entry's comment line names the session it was typed in (``# <time> session=<id>``;
prompt_toolkit reads only the ``+`` lines), so deleting a session also removes what was
typed in it (see :func:`projections.deletion.scrub_history`)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from prompt_toolkit.history import FileHistory

from eventlog.home import FILE_MODE


class SessionHistory(FileHistory):
    """FileHistory whose entries say which session they were typed in."""

    session_id: str | None = None

    def store_string(self, string: str) -> None:
        lines = [f"\n# {datetime.datetime.now()} session={self.session_id or ''}\n"]
        lines += [f"+{line}\n" for line in string.split("\n")]
        with open(self.filename, "ab") as file:
            file.write("".join(lines).encode("utf-8", errors="replace"))


def private_history(path: Path) -> SessionHistory:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return SessionHistory(str(path))
