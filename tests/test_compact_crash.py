"""kill -9 of ``chatlog compact`` at random moments while another process appends: after
every kill the log holds either its old or its compacted form (fsck finds nothing damaged
but, at most, the appender's line being written), and every acknowledged append is there
with its content."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

from eventlog import EventLog, Message
from tests.conftest import chatlog_executable
from tests.eventlog_helpers import PYTHON, WRITER_SCRIPT, SeededRandom, assert_log_valid
from tests.eventlog_writer import content_for

KILLS = 10
PREFILLED = 1500


class Appender:
    """The writer process, its acknowledged ``seq -> content`` collected as they come."""

    def __init__(self, home: Path, sid: str, stderr: Path) -> None:
        self._errors = open(stderr, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [PYTHON, str(WRITER_SCRIPT), str(home), sid, "never", "w", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
        )
        self.acked: dict[int, str] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.endswith("\n") and line != "ready\n":
                seq, index = map(int, line.split())
                self.acked[seq] = content_for("w", index)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)
        self._reader.join(timeout=60)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._errors.close()


def test_compact_killed_at_random_moments_never_loses_an_acknowledged_append(
    home: Path, tmp_path: Path
):
    rng = SeededRandom(16)
    with EventLog(home, fsync="never", redact_secrets=False) as log:
        sid = log.create_session("crash")
        for index in range(PREFILLED):
            log.append(sid, "user", f"prefilled {index} " + "x" * rng.randrange(400))
        log.sync()
    appender = Appender(home, sid, tmp_path / "writer.stderr")
    redacted: set[int] = set()
    try:
        for kill in range(KILLS):
            with EventLog(home) as log:
                target = rng.randrange(2, PREFILLED + 2)
                if target not in redacted:
                    log.redact(sid, target, f"round {kill}")
                    redacted.add(target)
            compact = subprocess.Popen(
                [chatlog_executable(), "compact", sid],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(rng.uniform(0.05, 1.2))
            compact.send_signal(signal.SIGKILL)
            _out, errors = compact.communicate(timeout=60)
            assert compact.returncode in (0, -signal.SIGKILL), errors
            with EventLog(home) as log:
                report = log.check(sid)
                assert report is not None
                # Only the appender's line being written may be incomplete right now.
                assert [issue.kind for issue in report.damaged] in ([], ["torn"])
    finally:
        appender.stop()
    assert appender.process.returncode == -signal.SIGKILL
    with EventLog(home) as log:
        log.append(sid, "system", "after the kills")  # cuts a torn tail the kill left
        assert log.check(sid).damaged == []  # type: ignore[union-attr]
        assert log.compact(sid) is not None
        scan = assert_log_valid(log.layout.log_path(sid))
    by_seq = {entry.event.seq: entry.event for entry in scan.entries}
    assert appender.acked, "the appender acknowledged nothing"
    for seq, content in appender.acked.items():
        event = by_seq[seq]
        assert isinstance(event, Message) and event.content == content
    for seq in redacted:
        event = by_seq[seq]
        assert isinstance(event, Message) and event.content.startswith("[REDACTED at ")
    for seq in set(range(2, PREFILLED + 2)) - redacted:
        event = by_seq[seq]
        assert isinstance(event, Message) and event.content.startswith(f"prefilled {seq - 2} ")
