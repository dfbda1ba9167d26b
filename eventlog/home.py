"""Where chatlog keeps its files, and the permissions they get whatever the umask.

Home resolution: an explicit directory (``--home``) > ``CHATLOG_HOME`` >
``platformdirs.user_data_dir("chatlog")``. Directories are 0700 and files 0600, set with
``chmod``/``fchmod`` after creation so a permissive umask cannot widen them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import platformdirs

from eventlog.ids import validate_session_id

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
LOG_SUFFIX: Final = ".jsonl"


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser().absolute()
    env = os.environ.get("CHATLOG_HOME")
    if env:
        return Path(env).expanduser().absolute()
    return Path(platformdirs.user_data_dir("chatlog", appauthor=False)).absolute()


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing and make it 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if (path.stat().st_mode & 0o777) != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


class HomeLayout:
    """The file layout under one home directory (DESIGN §2). Builds paths, creates nothing
    except through :meth:`ensure`; session paths are built only from validated ids."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.events_dir = root / "events"
        self.sessions_dir = root / "sessions"
        self.quarantine_dir = root / "quarantine"
        self.archive_dir = root / "archive"
        self.index_file = root / "index.json"
        self.search_db = root / "search.sqlite3"
        self.checkpoints_file = root / "checkpoints.json"
        self.history_file = root / "history"
        self.socket_file = root / "chatlog.sock"

    def ensure(self) -> None:
        ensure_private_dir(self.root)
        ensure_private_dir(self.events_dir)

    def log_path(self, session_id: str) -> Path:
        return self.events_dir / f"{validate_session_id(session_id)}{LOG_SUFFIX}"

    def snapshot_path(self, session_id: str) -> Path:
        return self.sessions_dir / f"{validate_session_id(session_id)}.json"

    def session_ids(self) -> list[str]:
        """Ids of every log present, sorted (oldest id first). Stray files are ignored."""
        from eventlog.ids import is_valid_session_id

        try:
            names = os.listdir(self.events_dir)
        except FileNotFoundError:
            return []
        ids = [
            name[: -len(LOG_SUFFIX)]
            for name in names
            if name.endswith(LOG_SUFFIX) and is_valid_session_id(name[: -len(LOG_SUFFIX)])
        ]
        ids.sort()
        return ids
