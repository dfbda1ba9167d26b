"""Where chatlog keeps its files, and the permissions they get whatever the umask.

Home resolution: an explicit directory (``--home``) > ``CHATLOG_HOME`` >
``platformdirs.user_data_dir("chatlog")``. Directories are 0700 and files 0600, set with
``chmod``/``fchmod`` after creation so a permissive umask cannot widen them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

import platformdirs

from eventlog.ids import validate_session_id
from eventlog.safefile import warn_once

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
    """Create ``path`` (and missing parents) 0700 whatever the umask; an existing
    directory keeps its mode (chatlog never changes the mode of a directory it did not
    create). A symlink or a non-directory at ``path`` is refused (UnsafeFileError)."""
    from eventlog.safefile import check_private_dir

    check_private_dir(path)
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            check_private_dir(directory)
            continue
        os.chmod(directory, DIR_MODE)  # mkdir applied the umask
    check_private_dir(path)
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
        self.changes_dir = root / "changes"
        self.deleting_dir = root / "deleting"  # intents of deletes not finished yet
        self.deleted_dir = root / "deleted"  # tombstones: which sessions were deleted here
        self.projections_db = root / "projections.sqlite3"

    def tombstone_path(self, session_id: str) -> Path:
        from eventlog.ids import validate_session_id

        return self.deleted_dir / validate_session_id(session_id)

    @property
    def private_dirs(self) -> tuple[Path, ...]:
        """The directories chatlog keeps its files in (each holds regular files only)."""
        return (
            self.events_dir,
            self.sessions_dir,
            self.quarantine_dir,
            self.archive_dir,
            self.changes_dir,
            self.deleting_dir,
            self.deleted_dir,
        )

    @property
    def top_files(self) -> tuple[Path, ...]:
        """The files chatlog may keep at the top of the home (the socket aside)."""
        db = self.projections_db
        return (
            self.index_file,
            self.search_db,
            self.checkpoints_file,
            self.history_file,
            db,
            *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")),
            self.socket_file.with_name(self.socket_file.name + ".lock"),
        )

    def ensure(self) -> None:
        # The home itself may be a symlink to a directory (a dotfiles setup); nothing
        # under it is followed.
        if not (os.path.islink(self.root) and os.path.isdir(self.root)):
            ensure_private_dir(self.root)
        mode = stat.S_IMODE(os.stat(self.root).st_mode)
        if mode & 0o077:
            warn_once(
                f"{self.root} is accessible to other users (mode {mode:o}); "
                f"`chmod 700 {self.root}` keeps your conversations private"
            )
        ensure_private_dir(self.events_dir)

    def log_path(self, session_id: str) -> Path:
        return self.events_dir / f"{validate_session_id(session_id)}{LOG_SUFFIX}"

    def snapshot_path(self, session_id: str) -> Path:
        return self.sessions_dir / f"{validate_session_id(session_id)}.json"

    def session_ids(self) -> list[str]:
        """Ids of every log present, sorted (oldest id first). Stray files are ignored, and
        so (with a warning) is anything at a log's name that is not a regular file."""
        from eventlog.ids import is_valid_session_id

        ids = []
        try:
            entries = os.scandir(self.events_dir)
        except FileNotFoundError:
            return []
        with entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(LOG_SUFFIX) or not is_valid_session_id(
                    name[: -len(LOG_SUFFIX)]
                ):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    warn_once(f"ignored {entry.path}: not a regular file")
                    continue
                ids.append(name[: -len(LOG_SUFFIX)])
        ids.sort()
        return ids
