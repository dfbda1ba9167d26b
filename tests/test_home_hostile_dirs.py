"""Directories that are not what chatlog expects: a symlinked ``sessions/``, ``archive/``
or ``quarantine/`` is refused or skipped and nothing in its target is touched; a home given
as a symlink to a shared (1777) directory keeps that directory's mode; missing parents of
``--socket`` are created 0700 whatever the umask. Everything runs the real command."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import chatlog_executable, run_chatlog
from tests.test_server_support import START_TIMEOUT, accepts_connections


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``directory`` (and the directory itself, as "."): mode, mtime
    and content, without following anything."""
    found = {}
    for path in [directory, *sorted(directory.rglob("*"))]:
        st = os.lstat(path)
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        found[str(path.relative_to(directory))] = (st.st_mode, st.st_mtime_ns, data)
    return found


def outside_directory(tmp_path: Path, name: str) -> Path:
    """A directory outside the home holding files chatlog would write or remove there
    (``*.json``, ``*.tmp``, an archive, quarantined lines, a dead process's temp file),
    with a mode chatlog would tighten."""
    target = tmp_path / name
    target.mkdir()
    (target / "someones.json").write_text('{"keep": true}')
    (target / "draft.tmp").write_text("keep")
    (target / f"{SESSION}.json").write_text("not chatlog's")
    (target / f"{SESSION}.jsonl.gz").write_bytes(b"not an archive of chatlog's")
    (target / f"{SESSION}.1.torn").write_text("keep")
    (target / f".{SESSION}.jsonl.4194305.1.tmp").write_text("keep")  # pid never running
    target.chmod(0o755)
    return target


SESSION = "2025-01-01_000000_abcdef"


def new_session(home: Path, *messages: str) -> str:
    created = run_chatlog("new", "--title", "t", home=home)
    assert created.returncode == 0, created.stderr
    sid = created.stdout.strip()
    for text in messages:
        assert run_chatlog("append", sid, "--role", "user", input=text, home=home).returncode == 0
    return sid


def test_rebuild_views_and_watch_views_touch_nothing_in_a_symlinked_sessions_dir(
    tmp_path: Path, home: Path
) -> None:
    new_session(home, "hello")
    target = outside_directory(tmp_path, "elsewhere")
    before = snapshot(target)
    (home / "sessions").symlink_to(target)

    for command in (["rebuild", "--views"], ["views"], ["watch", "--views"]):
        result = run_chatlog(*command, home=home, timeout=60)  # watch ends by itself
        assert result.returncode == 5, (command, result.stderr)
        error = result.stderr.strip().splitlines()[-1]
        assert error == (
            f"chatlog: error: {home / 'sessions'} is a symbolic link, not a directory; "
            "chatlog does not use it"
        )
        assert snapshot(target) == before, command
        assert (home / "sessions").is_symlink()
    assert run_chatlog("list", home=home).returncode == 0  # everything else still works


@pytest.mark.parametrize("linked", ["archive", "quarantine"])
def test_delete_cleanup_and_fsck_touch_nothing_in_a_symlinked_archive_or_quarantine(
    tmp_path: Path, home: Path, linked: str
) -> None:
    kept = new_session(home, "kept")
    doomed = new_session(home, "doomed")
    target = outside_directory(tmp_path, f"outside-{linked}")
    for name in [p.name for p in target.iterdir()]:  # the same names for the doomed session
        (target / name.replace(SESSION, doomed)).write_text("keep")
    before = snapshot(target)
    (home / linked).symlink_to(target)

    for command in (
        ["delete", doomed],
        ["fsck", "--repair"],
        ["cleanup", "--max-sessions", "1", "--purge"],
        ["restore", doomed],
        ["compact"],
    ):
        result = run_chatlog(*command, home=home, timeout=60)
        assert "Traceback" not in result.stderr, command
        assert snapshot(target) == before, command
    fsck = run_chatlog("fsck", home=home)
    assert f"unsafe: {home / linked} is a symbolic link where a directory is expected" in (
        fsck.stdout
    )
    listed = run_chatlog("list", "--json", home=home)
    assert listed.returncode == 0 and doomed not in listed.stdout
    shown = run_chatlog("show", kept, "--json", home=home)
    assert shown.returncode == 0 and '"kept"' in shown.stdout


def test_a_home_given_as_a_symlink_to_a_shared_directory_keeps_its_mode(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    link = tmp_path / "home-link"
    link.symlink_to(shared)

    def chatlog(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [chatlog_executable(), "--home", str(link), *args],
            input=input,
            capture_output=True,
            text=True,
            umask=0,
            timeout=60,
            check=False,
        )

    created = chatlog("new", "--title", "on a shared disk")
    assert created.returncode == 0, created.stderr
    assert f"{link} is accessible to other users (mode 1777)" in created.stderr
    sid = created.stdout.strip()
    assert chatlog("append", sid, "--role", "user", input="hello").returncode == 0
    assert chatlog("views").returncode == 0
    assert chatlog("show", sid, "--json").returncode == 0

    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777  # left alone
    assert link.is_symlink() and os.readlink(link) == str(shared)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home-link", "shared"]
    for path in shared.rglob("*"):  # what chatlog made under it: private, whatever the umask
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            pytest.fail(f"{path} is neither a file nor a directory")
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
    assert (shared / "events" / f"{sid}.jsonl").is_file()


def test_missing_parents_of_the_socket_are_created_0700_under_umask_000(
    tmp_path: Path, home: Path
) -> None:
    top = tmp_path / "run"
    socket_path = top / "a" / "b" / "chatlog.sock"
    stderr_path = tmp_path / "serve.stderr"
    with open(stderr_path, "wb") as stderr:
        server = subprocess.Popen(
            [chatlog_executable(), "--home", str(home), "serve", "--socket", str(socket_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            umask=0,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not accepts_connections(socket_path):
            assert server.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        for directory in (top, top / "a", top / "a" / "b"):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
        assert stat.S_IMODE(os.lstat(socket_path).st_mode) == 0o600
        lock = socket_path.with_name("chatlog.sock.lock")
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, stderr_path.read_text()
    assert not socket_path.exists()
