"""Many writers, one session: one write() per event under an exclusive flock, so no event
is lost, no bytes interleave, and seqs stay contiguous; expected_seq gives optimistic
concurrency."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from eventlog import EventLog, Message, SeqConflictError
from eventlog.fileops import FileOps
from tests.eventlog_helpers import PYTHON, WRITER_SCRIPT, assert_log_valid, log_file
from tests.eventlog_writer import content_for

PROCESSES = 4
APPENDS = 2000


def test_four_processes_appending_2000_events_each_lose_nothing_and_interleave_nothing(
    home: Path, tmp_path: Path
) -> None:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session(title="four writers")
        path = log_file(log, sid)
    writers = []
    for n in range(PROCESSES):
        errors = open(tmp_path / f"writer{n}.stderr", "wb")  # noqa: SIM115
        writers.append(
            subprocess.Popen(
                [
                    PYTHON,
                    str(WRITER_SCRIPT),
                    str(home),
                    sid,
                    "never",
                    f"p{n}",
                    str(APPENDS),
                    "--wait",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        )
        errors.close()
    outputs: list[str] = []
    try:
        for writer in writers:  # all started and holding the log open...
            assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        for writer in writers:  # ...then released together
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        outputs = [writer.communicate(timeout=300)[0] for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
    reported: dict[str, list[int]] = {}
    for n, (writer, out) in enumerate(zip(writers, outputs, strict=True)):
        assert writer.returncode == 0, (tmp_path / f"writer{n}.stderr").read_text()
        lines = [line.split() for line in out.splitlines() if line != "ready"]
        assert [int(index) for _seq, index in lines] == list(range(APPENDS))
        reported[f"p{n}"] = [int(seq) for seq, _index in lines]

    scan = assert_log_valid(path)  # every line intact, seqs 1..n
    assert scan.torn is None
    assert len(scan.entries) == 1 + PROCESSES * APPENDS
    assert scan.entries[-1].event.seq == 1 + PROCESSES * APPENDS
    by_writer: dict[str, list[Message]] = {tag: [] for tag in reported}
    for entry in scan.entries[1:]:
        assert isinstance(entry.event, Message)
        by_writer[entry.event.content.split(" #", 1)[0]].append(entry.event)
    for tag, events in by_writer.items():
        # Each writer's messages are all there, in its own order, with the seqs it was told.
        assert [e.content for e in events] == [content_for(tag, i) for i in range(APPENDS)]
        assert [e.seq for e in events] == reported[tag]
        assert [e.token_count for e in events] == list(range(APPENDS))


def test_threads_sharing_one_eventlog_get_contiguous_seqs(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session()
        seqs: list[list[int]] = [[] for _ in range(4)]

        def write(n: int) -> None:
            for i in range(250):
                seqs[n].append(log.append(sid, "user", f"t{n} {i}").seq)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(s for part in seqs for s in part) == list(range(2, 1002))
        assert all(part == sorted(part) for part in seqs)
        assert len(assert_log_valid(log_file(log, sid)).entries) == 1001


def test_two_eventlogs_in_one_process_exclude_each_other(home: Path) -> None:
    first = EventLog(home, fsync="never")
    second = EventLog(home, fsync="never")
    sid = first.create_session()
    for i in range(50):
        assert (first if i % 2 else second).append(sid, "user", str(i)).seq == i + 2
    assert [e.seq for e in first.read(sid)] == list(range(1, 52))
    first.close()
    second.close()


def test_a_stale_expected_seq_is_a_conflict_and_writes_nothing(home: Path) -> None:
    with EventLog(home, fsync="never") as mine, EventLog(home, fsync="never") as theirs:
        sid = mine.create_session()
        assert mine.append(sid, "user", "hello", expected_seq=1).seq == 2
        theirs.append(sid, "assistant", "their reply", expected_seq=2)
        before = log_file(mine, sid).read_bytes()
        with pytest.raises(SeqConflictError) as conflict:
            mine.append(sid, "assistant", "my reply", expected_seq=2)
        assert (conflict.value.session_id, conflict.value.expected_seq) == (sid, 2)
        assert conflict.value.actual_seq == 3
        assert "seq 3" in str(conflict.value)
        assert log_file(mine, sid).read_bytes() == before
        # Having re-read, the writer retries against the seq it now knows.
        assert mine.append(sid, "assistant", "my reply", expected_seq=3).seq == 4


def test_expected_seq_guards_titles_too(home: Path) -> None:
    with EventLog(home, fsync="never") as log:
        sid = log.create_session()
        with pytest.raises(SeqConflictError):
            log.set_title(sid, "late", expected_seq=0)
        assert log.set_title(sid, "on time", expected_seq=1).seq == 2


class PausingFileOps(FileOps):
    """Holds the first write after ``armed`` until released."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, fd: int, data: bytes) -> int:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.release.wait(timeout=60)
        return super().write(fd, data)


def test_threads_never_share_a_seq_when_the_session_was_re_created_behind_their_back(
    home: Path,
) -> None:
    sid = "2025-10-04_150808"
    ops = PausingFileOps()
    shared = EventLog(home, fsync="never", file_ops=ops)
    shared.create_session(session_id=sid)
    with EventLog(home, fsync="never") as other:  # delete and re-create under the same id
        other.delete_session(sid)
        other.create_session(session_id=sid)
    seqs: list[int] = []
    ops.armed = True
    first = threading.Thread(target=lambda: seqs.append(shared.append(sid, "user", "1").seq))
    first.start()
    assert ops.entered.wait(timeout=60)  # the first thread is writing to the new file...
    second = threading.Thread(target=lambda: seqs.append(shared.append(sid, "user", "2").seq))
    second.start()
    time.sleep(0.2)  # ...give the second every chance to barge in (it must wait)
    ops.release.set()
    first.join()
    second.join()
    assert sorted(seqs) == [2, 3]
    assert [e.seq for e in shared.read(sid)] == [1, 2, 3]
    assert_log_valid(log_file(shared, sid))
    shared.close()
