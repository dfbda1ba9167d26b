"""Running the installed ``chatlog`` command from a benchmark, as a user's shell would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def subprocess_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment for timed child processes: bytecode cached under ``work`` (as an
    installed package has it compiled), never in the source tree."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(work / "pycache"), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def chatlog_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m cli``."""
    candidate = Path(sys.executable).with_name("chatlog")
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("chatlog")
    if found:
        return [found]
    return [sys.executable, "-m", "cli.main"]


@dataclass(frozen=True)
class ChildRun:
    """One finished child process: its wall time from fork to exit, its peak resident set
    as the kernel counted it (``ru_maxrss`` from ``wait4``), its exit status and the end
    of what it wrote on stderr."""

    seconds: float
    peak_rss_bytes: int
    returncode: int
    stderr_tail: str

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / 1e6

    def check(self, what: str) -> ChildRun:
        if self.returncode != 0:
            raise RuntimeError(f"{what} exited with {self.returncode}: {self.stderr_tail}")
        return self


LAUNCHER = Path(__file__).resolve().with_name("rusage_launcher.py")


def start_child(
    argv: Sequence[str],
    report: Path,
    *,
    env: dict[str, str],
    stdout: int | IO[bytes] | None = subprocess.DEVNULL,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    stderr: int | IO[bytes] | None = subprocess.DEVNULL,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` under :mod:`benchmarks.rusage_launcher` (in its own session, so a
    timeout can kill the whole group); :func:`finish_child` reaps it."""
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(LAUNCHER), str(report), *argv],
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        start_new_session=True,
    )


def finish_child(
    process: subprocess.Popen[bytes], report: Path, timeout: float, stderr_tail: str = ""
) -> ChildRun:
    """Wait for a child started by :func:`start_child`; past ``timeout`` seconds its
    process group is killed and it is reported with the signal as a negative status."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    try:
        elapsed_ns, rss_kib, status = (int(x) for x in report.read_text().split())
    except (OSError, ValueError):
        return ChildRun(0.0, 0, process.returncode or -signal.SIGKILL, "killed: " + stderr_tail)
    finally:
        report.unlink(missing_ok=True)
    return ChildRun(elapsed_ns / 1e9, rss_kib * 1024, status, stderr_tail)


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    stdout: int | IO[bytes] | None = subprocess.DEVNULL,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    cwd: Path | None = None,
    timeout: float = 3600.0,
) -> ChildRun:
    """Run ``argv`` to completion; its own wall time and peak RSS come from the launcher
    (the time excludes the launcher's start-up)."""
    with tempfile.TemporaryDirectory(prefix="chatlog-bench-child-") as scratch:
        report = Path(scratch) / "report"
        with open(Path(scratch) / "stderr", "w+b") as err:
            process = start_child(
                argv, report, env=env, stdout=stdout, stdin=stdin, stderr=err, cwd=cwd
            )
            run = finish_child(process, report, timeout)
            err.seek(0, os.SEEK_END)
            err.seek(max(0, err.tell() - 2000))
            tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
    return ChildRun(run.seconds, run.peak_rss_bytes, run.returncode, " | ".join(tail))
