"""The REPL's input history: prompt_toolkit's append-only FileHistory in ``<home>/history``,
created 0600 (and tightened if it exists wider) before prompt_toolkit ever opens it, since
it holds everything the user typed (secrets redacted, as in the log, unless redaction
is off).

Each entry's comment line names the session it was typed in (``# <time> session=<id>``;
prompt_toolkit reads only the ``+`` lines), so deleting a session also removes what was
typed in it (see :func:`projections.deletion.scrub_history`)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from prompt_toolkit.history import FileHistory

from eventlog.home import FILE_MODE
from eventlog.redaction import redact_text


class SessionHistory(FileHistory):
    """FileHistory whose entries say which session they were typed in."""

    session_id: str | None = None
    redact_secrets: bool = True

    def store_string(self, string: str) -> None:
        if self.redact_secrets:  # only the file's copy: this run recalls the line as typed
            string = redact_text(string)[0]
        lines = [f"\n# {datetime.datetime.now()} session={self.session_id or ''}\n"]
        lines += [f"+{line}\n" for line in string.split("\n")]
        with open(self.filename, "ab") as file:
            file.write("".join(lines).encode("utf-8", errors="replace"))


def private_history(path: Path, *, redact_secrets: bool = True) -> SessionHistory:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    history = SessionHistory(str(path))
    history.redact_secrets = redact_secrets
    return history
