"""fsck names every damaged line (file:line and why) and, with --repair, moves it to
quarantine/ and rewrites the log without it, losing no concurrent append."""

from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path

import pytest

from eventlog import EventLog
from tests.conftest import chatlog_executable, run_chatlog

FLIP_LINE, GARBAGE_LINE = 3, 5
GARBAGE = b"this is not an event\n"


def foreign_line(seq: int) -> bytes:
    """An intact line of an event type a newer chatlog might write."""
    body = b'{"type":"reaction","v":1,"seq":%d,"ts":"2025-01-01T00:00:00+00:00","emoji":"+1"' % seq
    return b'%s,"crc":"%08x"}\n' % (body, zlib.crc32(body))


@pytest.fixture
def damaged(log: EventLog) -> tuple[str, Path, bytes]:
    """A session whose log has a flipped bit (line 3), a garbage line (line 5), a line
    from a newer version (line 8) and a torn tail (line 9); plus an undamaged session."""
    sid = log.create_session(title="damaged")
    for i in range(5):
        log.append(sid, "user", f"message {i}")
    clean = log.create_session(title="clean")
    log.append(clean, "user", "fine")
    path = log.layout.log_path(sid)
    lines = path.read_bytes().splitlines(keepends=True)
    flipped = bytearray(lines[FLIP_LINE - 1])
    flipped[flipped.index(b"message 1")] ^= 0x01  # 'm' -> 'l'
    lines[FLIP_LINE - 1] = bytes(flipped)
    lines.insert(GARBAGE_LINE - 1, GARBAGE)
    lines.append(foreign_line(7))
    path.write_bytes(b"".join(lines) + b'{"type":"message","seq":8,"con')
    return sid, path, b"".join(lines)


def test_fsck_lists_each_damaged_line_and_exits_1(damaged: tuple[str, Path, bytes]) -> None:
    path = damaged[1]
    before = path.read_bytes()
    result = run_chatlog("fsck")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}:{FLIP_LINE}: checksum: checksum mismatch"
    assert lines[1].startswith(f"{path}:{GARBAGE_LINE}: malformed: ")
    assert lines[2].startswith(f"{path}:9: torn: incomplete last line")
    assert lines[3].startswith(f"{path}:8: unknown_type: ") and lines[3].endswith(
        "(kept: written by a newer chatlog)"
    )
    assert lines[-1] == (
        "checked 2 sessions: 3 damaged lines in 1 session, not repaired (run `chatlog fsck "
        "--repair` to move them to quarantine); 1 line from a newer chatlog kept"
    )
    assert path.read_bytes() == before


def test_fsck_repair_quarantines_damaged_lines_and_keeps_the_rest(
    damaged: tuple[str, Path, bytes], home: Path, log: EventLog
) -> None:
    sid, path, _ = damaged
    original = path.read_bytes()
    result = run_chatlog("fsck", "--repair")
    assert result.returncode == 0, result.stderr
    assert f"repaired {sid}: 3 damaged lines" in result.stdout
    assert result.stdout.splitlines()[-1].startswith(
        "checked 2 sessions: 3 damaged lines in 1 session, all moved to quarantine"
    )

    (moved,) = (home / "quarantine").glob(f"{sid}.*.damaged")
    report = json.loads(moved.with_suffix(".json").read_text())
    assert [(entry["line"], entry["kind"]) for entry in report["lines"]] == [
        (FLIP_LINE, "checksum"),
        (GARBAGE_LINE, "malformed"),
        (9, "torn"),
    ]
    assert report["source"] == str(path) and report["source_size"] == len(original)
    removed = b"".join(
        original[entry["offset"] : entry["offset"] + entry["length"]] for entry in report["lines"]
    )
    assert moved.read_bytes() == removed
    assert GARBAGE in removed
    assert moved.stat().st_mode & 0o777 == 0o600

    repaired = path.read_bytes()
    assert len(repaired) + len(removed) == len(original)
    assert foreign_line(7) in repaired  # a newer version's line is never quarantined
    assert path.stat().st_mode & 0o777 == 0o600
    contents = [
        m["content"] for m in json.loads(run_chatlog("show", sid, "--json").stdout)["messages"]
    ]
    assert contents == ["message 0", "message 2", "message 3", "message 4"]

    again = run_chatlog("fsck", "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["damaged"] == []
    assert log.append(sid, "user", "after repair").seq == 8
    assert run_chatlog("rebuild", "--verify").returncode == 0


def test_fsck_json_reports_damage_foreign_lines_and_repairs(
    damaged: tuple[str, Path, bytes],
) -> None:
    report = json.loads(run_chatlog("fsck", "--json").stdout)
    assert report["sessions_checked"] == 2 and report["clean"] is False
    assert [(d["line"], d["kind"]) for d in report["damaged"]] == [
        (FLIP_LINE, "checksum"),
        (GARBAGE_LINE, "malformed"),
        (9, "torn"),
    ]
    assert [(f["line"], f["kind"]) for f in report["foreign"]] == [(8, "unknown_type")]
    assert report["repairs"] == []
    repaired = json.loads(run_chatlog("fsck", "--repair", "--json").stdout)
    assert repaired["clean"] is True and repaired["repairs"][0]["lines"] == 3


def test_a_healthy_home_passes(log: EventLog) -> None:
    sid = log.create_session()
    log.append(sid, "user", "hi")
    result = run_chatlog("fsck")
    assert (result.returncode, result.stdout) == (0, "checked 1 session: no damage found\n")


def test_repair_loses_no_append_made_while_it_runs(
    damaged: tuple[str, Path, bytes], home: Path
) -> None:
    sid, _path, _ = damaged
    python = str(Path(chatlog_executable()).with_name("python"))
    script = (
        "import sys\nfrom eventlog import EventLog\n"
        "log = EventLog(sys.argv[1], fsync='never')\n"
        "for i in range(300):\n    log.append(sys.argv[2], 'assistant', f'concurrent {i}')\n"
    )
    writer = subprocess.Popen([python, "-c", script, str(home), sid])
    repairs = [run_chatlog("fsck", "--repair") for _ in range(3)]
    assert writer.wait(timeout=60) == 0
    assert all(r.returncode in (0, 1) and "Traceback" not in r.stderr for r in repairs)
    run_chatlog("fsck", "--repair")
    contents = [
        m["content"] for m in json.loads(run_chatlog("show", sid, "--json").stdout)["messages"]
    ]
    assert [c for c in contents if c.startswith("concurrent")] == [
        f"concurrent {i}" for i in range(300)
    ]


def test_fsck_removes_temp_files_that_killed_processes_left_and_keeps_live_ones(
    home: Path,
) -> None:
    import os

    sid = run_chatlog("new").stdout.strip()
    gone_pid = 4_194_305  # above the kernel's largest pid_max: never a running process
    stale = home / "events" / f".{sid}.jsonl.{gone_pid}.140000.tmp"
    stale.write_bytes(b"a whole copy of a log")
    creating = home / "events" / f".{sid}.{gone_pid}.1700000000000000000.creating"
    creating.write_bytes(b"{}")
    live = home / "events" / f".{sid}.jsonl.{os.getpid()}.140000.tmp"
    live.write_bytes(b"being written right now")
    checked = run_chatlog("fsck")
    assert checked.returncode == 0, checked.stderr
    assert not stale.exists() and not creating.exists()
    assert live.exists()
    assert "killed process" in checked.stdout


# ---------------------------------------------------------------------- unsafe entries


def plant_fifo(at: Path) -> None:
    import os

    os.mkfifo(at)


def plant_symlink(at: Path) -> None:
    outside = at.parent.parent.parent / f"outside-{at.name}"
    outside.mkdir(exist_ok=True)
    at.symlink_to(outside)


def plant_directory(at: Path) -> None:
    at.mkdir()


def plant_file(at: Path) -> None:
    at.write_bytes(b"not a directory")


def plant_socket(at: Path) -> None:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(at))  # left behind: nobody listens


def plant_device(at: Path) -> None:
    import os
    import stat

    os.mknod(at, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers


UNSAFE_CASES = [
    # (where, planted how, kind, what chatlog expects there)
    ("events/2025-01-01_000000_abcdef.jsonl", plant_fifo, "fifo", "file"),
    ("events/2025-01-01_000000_abcdee.jsonl", plant_directory, "directory", "file"),
    ("events/2025-01-01_000000_abcded.jsonl", plant_symlink, "symlink", "file"),
    ("events/2025-01-01_000000_abcdec.jsonl", plant_device, "device", "file"),
    ("events/stray.sock", plant_socket, "socket", "file"),
    ("sessions", plant_symlink, "symlink", "directory"),
    ("archive", plant_file, "file", "directory"),
    ("quarantine", plant_fifo, "fifo", "directory"),
    ("index.json", plant_directory, "directory", "file"),
    ("projections.sqlite3-wal", plant_fifo, "fifo", "file"),
    ("history", plant_symlink, "symlink", "file"),
    ("someone.sock", plant_socket, "socket", "file or directory"),
    ("notes", plant_symlink, "symlink", "file or directory"),
]


@pytest.mark.parametrize(
    ("where", "plant", "kind", "expected"), UNSAFE_CASES, ids=[c[0] for c in UNSAFE_CASES]
)
def test_fsck_lists_each_entry_under_the_home_that_chatlog_does_not_use(
    home: Path, where: str, plant: object, kind: str, expected: str
) -> None:
    sid = run_chatlog("new", "--title", "fine").stdout.strip()
    run_chatlog("append", sid, "--role", "user", input="hello")
    assert callable(plant)
    plant(home / where)

    result = run_chatlog("fsck", timeout=30)
    assert result.returncode == 1, result.stderr
    line = f"unsafe: {home / where} is "
    assert [text for text in result.stdout.splitlines() if text.startswith(line)] == [
        f"{line}{KIND_TEXT[kind]} where a {expected} is expected; chatlog does not use it"
    ]
    assert result.stdout.splitlines()[-1].endswith(
        "; 1 unsafe entry under the home (not used: remove or move them)"
    )
    report = json.loads(run_chatlog("fsck", "--json", timeout=30).stdout)
    assert report["unsafe"] == [{"path": str(home / where), "kind": kind, "expected": expected}]
    assert report["clean"] is True  # the logs themselves are fine
    assert report["sessions_checked"] == 1


KIND_TEXT = {
    "fifo": "a FIFO",
    "directory": "a directory",
    "symlink": "a symbolic link",
    "device": "a device",
    "socket": "a socket",
    "file": "a regular file",
}


def test_fsck_lists_nothing_in_a_healthy_home_with_a_server_running(home: Path) -> None:
    from tests.test_server_support import serving

    sid = run_chatlog("new").stdout.strip()
    run_chatlog("append", sid, "--role", "user", input="hello")
    assert run_chatlog("views").returncode == 0
    (home / "my-notes").mkdir()  # someone else's directory: not entered, not listed
    with serving(home) as server:
        assert server.socket_path.is_socket()
        result = run_chatlog("fsck", "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["unsafe"] == []
