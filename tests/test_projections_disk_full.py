"""Readers work on a full disk: they answer from the projection database plus the events
it lacks, say once why it could not be updated, and `rebuild` never loses the projections
it could not replace. The disk is a small tmpfs (tests run as root)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_chatlog


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> None:
    """Take every free byte of the disk."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)


def test_readers_answer_on_a_full_disk_and_rebuild_keeps_the_old_projections(
    small_disk: Path,
) -> None:
    home = small_disk / "home"
    sid = run_chatlog("new", "--title", "on a small disk", home=home).stdout.strip()
    for i in range(20):
        run_chatlog("append", sid, "--role", "user", input=f"words number {i}", home=home)
    assert run_chatlog("list", home=home).returncode == 0
    appended = run_chatlog("append", sid, "--role", "user", input="after the index", home=home)
    assert appended.returncode == 0
    fill(small_disk)
    os.sync()

    listed = run_chatlog("list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    (meta,) = json.loads(listed.stdout)
    assert meta["message_count"] == 21  # the database lags; the log's new event is folded in
    assert len(listed.stderr.strip().splitlines()) <= 1
    shown = run_chatlog("show", sid, "--no-pager", home=home)
    assert shown.returncode == 0 and "after the index" in shown.stdout
    found = run_chatlog("search", "words", home=home)
    assert found.returncode == 0 and "words" in found.stdout
    exported = run_chatlog("export", sid, home=home)
    assert exported.returncode == 0 and "after the index" in exported.stdout

    rebuilt = run_chatlog("rebuild", home=home)
    assert rebuilt.returncode in (0, 5)
    errors = [line for line in rebuilt.stderr.splitlines() if line.startswith("chatlog: error")]
    assert len(errors) <= 1 and "Traceback" not in rebuilt.stderr
    (small_disk / "filler").unlink()
    listed = run_chatlog("list", "--json", home=home)
    assert json.loads(listed.stdout)[0]["message_count"] == 21
    assert run_chatlog("rebuild", "--verify", home=home).returncode == 0
