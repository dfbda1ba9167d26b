"""kill -9: a writer process killed at random moments never loses an acknowledged append.

Each round starts a real writer process (``tests/eventlog_writer.py``, appending through
the real EventLog in a tight loop and reporting each seq right after ``append`` returns),
SIGKILLs it after a random delay (sometimes while it is still starting up), then checks
the log: every reported seq is there with its content, every complete line is intact,
seqs are contiguous, and appending goes on — a torn tail being cut away into quarantine/.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

from eventlog import Cursor, EventLog
from tests.eventlog_helpers import (
    PYTHON,
    WRITER_SCRIPT,
    SeededRandom,
    assert_log_valid,
    log_file,
    quarantined,
)
from tests.eventlog_writer import content_for

KILLS = 100


def kill_a_writer_at_a_random_moment(
    home: Path, sid: str, policy: str, tag: str, rng: SeededRandom, stderr: Path
) -> dict[int, str]:
    """Run one writer, SIGKILL it, and return what it reported: seq -> content."""
    with open(stderr, "wb") as errors:
        child = subprocess.Popen(
            [PYTHON, str(WRITER_SCRIPT), str(home), sid, policy, tag, "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            assert child.stdout is not None
            if rng.random() < 0.15:
                time.sleep(rng.uniform(0.0, 0.15))  # maybe still importing, opening the log...
            else:
                assert child.stdout.readline() == "ready\n", stderr.read_text()
                # ...or somewhere in the append loop (soon, for a writer of huge messages)
                time.sleep(rng.uniform(0.0, 0.008 if tag.startswith("big") else 0.025))
        finally:
            child.send_signal(signal.SIGKILL)  # never leave a writer appending forever
            out, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, stderr.read_text()
    reported: dict[int, str] = {}
    for line in out.split("\n")[:-1]:  # a line cut by the kill is not counted
        if line != "ready":
            seq, index = map(int, line.split())
            reported[seq] = content_for(tag, index)
    return reported


def test_a_writer_killed_with_sigkill_at_random_moments_never_loses_an_acknowledged_append(
    home: Path, tmp_path: Path
) -> None:
    rng = SeededRandom()
    parent = EventLog(home, fsync="never")
    sid = parent.create_session(title="kill -9")
    path = log_file(parent, sid)
    in_log: dict[int, str] = {}
    torn_tails: list[bytes] = []
    cursor = Cursor()
    reported_total = 0

    for round_no in range(KILLS):
        policy = "always" if round_no % 5 == 0 else "never"
        tag = f"big{round_no}" if round_no % 10 == 7 else f"r{round_no}"
        reported = kill_a_writer_at_a_random_moment(
            home, sid, policy, tag, rng, tmp_path / "writer.stderr"
        )
        reported_total += len(reported)

        # Only what was written since the last round is scanned (the log grows large).
        scan = parent.scan(sid, cursor)
        assert scan.issues == [], (rng, round_no, [i.describe() for i in scan.issues])
        seqs = [entry.event.seq for entry in scan.entries]
        assert seqs == list(range(cursor.seq + 1, cursor.seq + 1 + len(seqs))), (rng, round_no)
        for entry in scan.entries:
            in_log[entry.event.seq] = getattr(entry.event, "content", "")
        for seq, content in reported.items():
            assert in_log.get(seq) == content, (rng, round_no, seq)
        if scan.torn is not None:
            with open(path, "rb") as file:
                file.seek(scan.torn.offset)
                torn_tails.append(file.read(scan.torn.length))
        cursor = scan.cursor

        if round_no % 4 == 3:  # appends go on from another process, too
            event = parent.append(sid, "system", f"checkpoint {round_no}")
            assert event.seq == cursor.seq + 1, (rng, round_no)

    final = parent.append(sid, "system", "the end")
    whole = assert_log_valid(path)
    assert whole.torn is None
    assert whole.entries[-1].event == final
    for entry in whole.entries:
        if entry.event.seq in in_log:
            assert getattr(entry.event, "content", "") == in_log[entry.event.seq]
    kept = quarantined(parent)
    assert all(torn in kept for torn in torn_tails), rng
    assert reported_total > KILLS, rng  # most kills landed in the middle of appending
    parent.close()
    shutil.rmtree(home)  # tens of megabytes: do not keep them around in pytest's temp dirs
