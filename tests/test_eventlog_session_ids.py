"""Session ids: one strict pattern, checked before any path is built or any file touched.

Hostile ids (path traversal, absolute paths, NUL, ``~``, look-alike digits, stray
whitespace, wrong lengths...) are rejected by every API method that takes an id — proved
to happen before any filesystem access by auditing the process's file calls — and by the
command line with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eventlog import (
    EventLog,
    InvalidSessionIdError,
    SessionNotFoundError,
    StorageError,
    is_valid_session_id,
    new_session_id,
    validate_session_id,
)
from tests.conftest import run_chatlog

SEED_STYLE_ID = "2025-10-04_150808"

HOSTILE_IDS: list[str] = [
    "",
    " ",
    "\t",
    "\n",
    ".",
    "..",
    "../x",
    "../../../../etc/passwd",
    "/etc/passwd",
    "/tmp/2025-10-04_150808",
    "a/b",
    "2025-10-04_150808/..",
    "a\\b",
    "..\\..\\x",
    "~",
    "~root",
    "~/2025-10-04_150808",
    "%2e%2e",
    "%2e%2e%2f2025-10-04_150808",
    "2025-10-04_150808\x00",
    "\x00",
    "2025-10-04_150808\x00/../../x",
    "2025-10-04_150808\n",
    "2025-10-04_150808\r",
    " 2025-10-04_150808",
    "2025-10-04_150808 ",
    "２０２５-１０-０４_１５０８０８",  # fullwidth digits
    "٢٠٢٥-١٠-٠٤_١٥٠٨٠٨",  # Arabic-Indic digits
    "२०२५-१०-०४_१५०८०८",  # Devanagari digits
    "2025-10-04＿150808",  # fullwidth low line
    "2025‐10‐04_150808",  # Unicode hyphens
    "\u202e2025-10-04_150808",  # right-to-left override
    "2025-10-04_150808_ABCDEF",  # upper-case hex suffix
    "2025-10-04_150808_7f3a9g",  # not hex
    "2025-10-04_150808_7f3a9",  # suffix too short
    "2025-10-04_150808_7f3a9c0",  # suffix too long
    "2025-10-04_15080",
    "2025-10-04_1508080",
    "25-10-04_150808",
    "2025-10-04",
    "2025-10-04_150808_",
    "2025-10-04T150808",
    "2025-10-04_150808.jsonl",
    "2025-1o-04_150808",  # letter o
    "x" * 10_000,
    SEED_STYLE_ID * 2,
    "-rf",
    "CON",
]

# Ids the command line may treat as a prefix to look up (its documented convenience):
# they can only be "not found" (exit 3), never reach a path. Everything else is invalid.
PREFIX_SHAPED = re.compile(r"[0-9a-f_-]{1,24}")

METHODS: dict[str, Callable[[EventLog, str], Any]] = {
    "append": lambda log, sid: log.append(sid, "user", "hi"),
    "read": lambda log, sid: log.read(sid),
    "scan": lambda log, sid: log.scan(sid),
    "last_seq": lambda log, sid: log.last_seq(sid),
    "delete_session": lambda log, sid: log.delete_session(sid),
    "create_session": lambda log, sid: log.create_session(session_id=sid),
    "set_title": lambda log, sid: log.set_title(sid, "t"),
    "add_tag": lambda log, sid: log.add_tag(sid, "t"),
    "remove_tag": lambda log, sid: log.remove_tag(sid, "t"),
    "exists": lambda log, sid: log.exists(sid),
}


def test_there_are_at_least_thirty_hostile_ids_and_none_is_valid() -> None:
    assert len(set(HOSTILE_IDS)) == len(HOSTILE_IDS) >= 30
    assert [sid for sid in HOSTILE_IDS if is_valid_session_id(sid)] == []


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_taking_an_id_rejects_every_hostile_id(home: Path, method: str) -> None:
    with EventLog(home, fsync="never") as log:
        log.create_session(session_id=SEED_STYLE_ID)
        for sid in HOSTILE_IDS:
            with pytest.raises(InvalidSessionIdError) as rejected:
                METHODS[method](log, sid)
            assert "\n" not in str(rejected.value)
            assert len(str(rejected.value)) < 200
        assert log.session_ids() == [SEED_STYLE_ID]
    assert sorted(p.name for p in home.iterdir()) == ["changes", "events"]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_hostile_ids_are_rejected_even_when_the_home_is_gone(home: Path, method: str) -> None:
    """Had the id reached the filesystem, the error would be 'not found' or a storage error."""
    log = EventLog(home, fsync="never")
    shutil.rmtree(home)
    for sid in HOSTILE_IDS:
        with pytest.raises(InvalidSessionIdError):
            METHODS[method](log, sid)
    assert not home.exists()
    with pytest.raises((SessionNotFoundError, StorageError)):
        METHODS["append"](log, SEED_STYLE_ID)


def test_ids_that_are_not_strings_are_rejected(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        for sid in (20251004150808, b"2025-10-04_150808", Path(SEED_STYLE_ID), ["x"]):
            with pytest.raises(InvalidSessionIdError):
                log.append(sid, "user", "x")  # type: ignore[arg-type]
            with pytest.raises(InvalidSessionIdError):
                validate_session_id(sid)


AUDIT_SCRIPT = r"""
import json, sys
from eventlog import EventLog, InvalidSessionIdError

home, ids = sys.argv[1], json.loads(sys.stdin.read())
log = EventLog(home, fsync="never")
calls = []
FILE_EVENTS = {"open", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rmdir",
               "os.rename", "os.chmod", "os.truncate", "os.link", "os.symlink",
               "fcntl.flock", "shutil.rmtree"}
def audit(event, args):
    if event in FILE_EVENTS:
        calls.append([event, repr(args)[:200]])
sys.addaudithook(audit)
methods = {
    "append": lambda sid: log.append(sid, "user", "hi"),
    "read": lambda sid: log.read(sid),
    "scan": lambda sid: log.scan(sid),
    "last_seq": lambda sid: log.last_seq(sid),
    "delete_session": lambda sid: log.delete_session(sid),
    "create_session": lambda sid: log.create_session(session_id=sid),
    "set_title": lambda sid: log.set_title(sid, "t"),
    "add_tag": lambda sid: log.add_tag(sid, "t"),
    "remove_tag": lambda sid: log.remove_tag(sid, "t"),
    "exists": lambda sid: log.exists(sid),
    "resolve": lambda sid: log.resolve(sid),
}
report = {"checked": 0, "touched": []}
for name, call in methods.items():
    for sid in ids:
        del calls[:]
        try:
            call(sid)
        except InvalidSessionIdError:
            pass
        else:
            report["touched"].append([name, sid, "accepted"])
        if calls:
            report["touched"].append([name, sid, calls[:]])
        report["checked"] += 1
# The hook does see a valid id reaching the file system.
del calls[:]
log.create_session(session_id="2025-10-04_150808")
report["valid_id_calls"] = len(calls)
print(json.dumps(report))
"""


def test_no_file_is_touched_before_a_hostile_id_is_rejected(home: Path) -> None:
    """An audit hook in a fresh interpreter records every file call the library makes."""
    not_prefixes = [sid for sid in HOSTILE_IDS if not PREFIX_SHAPED.fullmatch(sid)]
    prefixes = [sid for sid in HOSTILE_IDS if PREFIX_SHAPED.fullmatch(sid)]
    result = subprocess.run(
        [sys.executable, "-c", AUDIT_SCRIPT, str(home)],
        input=json.dumps(not_prefixes),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["touched"] == []
    assert report["checked"] == 11 * len(not_prefixes)
    assert report["valid_id_calls"] > 0
    # Prefix-shaped ids are still refused by every method except resolve (which may look
    # them up as a prefix: see the command line test below).
    assert prefixes and all(not is_valid_session_id(sid) for sid in prefixes)


def test_seed_style_and_generated_ids_are_accepted(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        assert log.create_session(session_id=SEED_STYLE_ID) == SEED_STYLE_ID
        assert log.append(SEED_STYLE_ID, "user", "imported").seq == 2
        generated = log.create_session()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{6}_[0-9a-f]{6}", generated)
        assert validate_session_id(generated) == generated
        assert log.session_ids() == sorted([SEED_STYLE_ID, generated])
        assert log.resolve(generated[-6:]) == generated
        assert log.resolve(generated[:-2]) == generated


def test_generated_ids_are_valid_and_sort_by_creation_time() -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2025, 10, 4, 15, 8, 8, tzinfo=UTC)
    ids = [new_session_id(start + timedelta(seconds=n)) for n in range(200)]
    assert all(is_valid_session_id(sid) for sid in ids)
    assert ids == sorted(ids)


def test_sessions_created_in_the_same_second_all_get_distinct_ids(home: Path) -> None:
    # Raw 24-bit suffixes can collide within one second (birthday bound); creation
    # claims each id atomically and retries, so sessions never share one.
    with EventLog(home, fsync="never") as log:
        ids = [log.create_session() for _ in range(2000)]
        assert len(set(ids)) == len(ids)
        assert sorted(log.session_ids()) == sorted(ids)


def test_creating_a_session_never_overwrites_an_existing_log(home: Path) -> None:
    from eventlog import SessionExistsError

    with EventLog(home, fsync="never") as log:
        log.create_session(session_id=SEED_STYLE_ID, title="first")
        with pytest.raises(SessionExistsError):
            log.create_session(session_id=SEED_STYLE_ID, title="second")
        assert [getattr(e, "title", None) for e in log.read(SEED_STYLE_ID)] == ["first"]


CLI_DRIVER = r"""
import contextlib, io, json, sys
from cli.main import main

home, ids = sys.argv[1], json.loads(sys.stdin.read())
results = []
for command in ("append", "tail"):
    for sid in ids:
        argv = ["--home", home, command, sid] + (["--role", "user"] if command == "append" else [])
        out, err = io.StringIO(), io.StringIO()
        sys.stdin = io.TextIOWrapper(io.BytesIO(b"content"))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit:
                code = exit.code
        results.append([command, sid, code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""

# A NUL cannot even be passed in argv.
CLI_IDS = [sid for sid in HOSTILE_IDS if "\x00" not in sid]
OTHER_SESSION = "2031-02-03_040506"  # no hostile id is a prefix of it


def check_cli_rejection(command: str, sid: str, code: int, out: str, err: str) -> None:
    where = (command, sid[:40], err)
    assert "Traceback" not in err, where
    assert err.count("\n") == 1 and err.endswith("\n"), where
    assert out == "", where
    if PREFIX_SHAPED.fullmatch(sid):
        # Looked up as a prefix of an existing id, matching none: not found, exit 3.
        assert code == 3 and "no session matches" in err, where
    else:
        assert code == 2 and "error" in err, where


def snapshot(home: Path) -> list[tuple[str, bytes]]:
    return sorted(
        (str(p.relative_to(home)), p.read_bytes() if p.is_file() else b"") for p in home.rglob("*")
    )


def test_the_command_line_rejects_every_hostile_id_with_one_line_and_exit_code_2(
    home: Path,
) -> None:
    """Every id through ``append`` and ``tail``, run by the entry point the ``chatlog``
    script calls, in one interpreter (the installed script is exercised below)."""
    with EventLog(home, fsync="never") as log:
        log.create_session(session_id=OTHER_SESSION)
    before = snapshot(home)
    result = subprocess.run(
        [sys.executable, "-c", CLI_DRIVER, str(home)],
        input=json.dumps(CLI_IDS),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    attempts = json.loads(result.stdout)
    assert len(attempts) == 2 * len(CLI_IDS) >= 60
    for command, sid, code, out, err in attempts:
        check_cli_rejection(command, sid, code, out, err)
    assert snapshot(home) == before


@pytest.mark.parametrize(
    "sid",
    [
        "..",
        "../x",
        "/etc/passwd",
        "~root",
        "２０２５-１０-０４_１５０８０８",
        "2025-10-04_150808\n",
        "",
        "2025-10-04_150808_ABCDEF",
        "x" * 10_000,
        "25-10-04_150808",
    ],
)
def test_the_installed_command_rejects_hostile_ids(home: Path, sid: str) -> None:
    with EventLog(home, fsync="never") as log:
        log.create_session(session_id=OTHER_SESSION)
    before = snapshot(home)
    appended = run_chatlog("append", sid, "--role", "user", input="x")
    tailed = run_chatlog("tail", sid)
    for command, result in (("append", appended), ("tail", tailed)):
        check_cli_rejection(command, sid, result.returncode, result.stdout, result.stderr)
    assert snapshot(home) == before
