"""Private files whatever the umask: directories 0700, files 0600 (DESIGN §2).

Each case runs in a fresh process with the umask set, since the umask is process-wide."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import chatlog_executable

SCRIPT = r"""
import json, os, stat, sys
os.umask(int(sys.argv[2], 8))
from eventlog import EventLog

home = sys.argv[1]
log = EventLog(home, fsync="always")
sid = log.create_session(title="private")
log.append(sid, "user", "secret")
path = log.layout.log_path(sid)
with open(path, "ab") as crashed:
    crashed.write(b'{"torn')
with EventLog(home, fsync="never") as other:  # cuts the torn tail into quarantine/
    other.append(sid, "assistant", "still secret")
log.delete_session(sid)
again = log.create_session(session_id=sid)  # re-created after a delete
log.append(again, "user", "again")
log.close()
modes = {}
for root, dirs, files in os.walk(home):
    for name in dirs + files:
        full = os.path.join(root, name)
        modes[os.path.relpath(full, home)] = stat.S_IMODE(os.stat(full).st_mode)
modes["."] = stat.S_IMODE(os.stat(home).st_mode)
print(json.dumps(modes))
"""


@pytest.mark.parametrize("umask", ["000", "002", "022", "777"])
def test_every_directory_is_0700_and_every_file_0600_whatever_the_umask(
    tmp_path: Path, umask: str
) -> None:
    home = tmp_path / "deep" / "home"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(home), umask],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modes: dict[str, int] = json.loads(result.stdout)
    kinds = {rel: "dir" if (home / rel).is_dir() else "file" for rel in modes}
    assert {rel for rel, kind in kinds.items() if kind == "dir"} == {
        ".",
        "changes",
        "deleted",
        "events",
        "quarantine",
    }
    assert [rel for rel in modes if rel.startswith("quarantine/")], "nothing was quarantined"
    assert [rel for rel in modes if rel.startswith("events/")], "no log was written"
    assert [rel for rel in modes if rel.startswith("deleted/")], "no tombstone was written"
    for rel, mode in modes.items():
        expected = 0o700 if kinds[rel] == "dir" else 0o600
        assert mode == expected, f"{rel}: {oct(mode)} under umask {umask}"


def test_the_command_line_creates_private_files_under_umask_000(tmp_path: Path) -> None:
    home = tmp_path / "cli-home"
    created = subprocess.run(
        [chatlog_executable(), "--home", str(home), "new", "--title", "t"],
        capture_output=True,
        text=True,
        umask=0,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    sid = created.stdout.strip()
    appended = subprocess.run(
        [chatlog_executable(), "--home", str(home), "append", sid, "--role", "user"],
        input="hello",
        capture_output=True,
        text=True,
        umask=0,
        timeout=60,
        check=False,
    )
    assert appended.returncode == 0, appended.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "events").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "events" / f"{sid}.jsonl").stat().st_mode) == 0o600


def test_an_existing_home_keeps_its_mode_and_a_shared_one_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """chatlog never changes the mode of a directory it did not create (a 1777 shared
    directory given as --home stays 1777); it says once that others can read it."""
    from eventlog import EventLog

    home = tmp_path / "shared-looking"
    (home / "events").mkdir(parents=True)
    home.chmod(0o755)
    (home / "events").chmod(0o777)
    with caplog.at_level("WARNING", logger="chatlog"), EventLog(home, fsync="never") as log:
        log.create_session()
    assert stat.S_IMODE(home.stat().st_mode) == 0o755
    assert stat.S_IMODE((home / "events").stat().st_mode) == 0o777
    assert stat.S_IMODE((home / "changes").stat().st_mode) == 0o700  # created by chatlog
    assert any("accessible to other users" in r.getMessage() for r in caplog.records)
