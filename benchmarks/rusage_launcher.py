"""Run one command and report the kernel's count of *its* peak RSS and its wall time.

``python -I -S rusage_launcher.py REPORT_FILE COMMAND [ARGS...]``

Linux carries a process's resident-set high-water mark across ``fork`` and ``exec``, so a
command started straight from a benchmark process that holds a few hundred MB would be
reported with at least that much. This launcher is a fresh, small interpreter (no
``site``, nothing imported beyond ``os``, ``signal``, ``sys``, ``time``): the command it
forks starts from its few MB, and ``wait4`` returns the command's own peak. It writes
``<wall ns> <peak RSS KiB> <exit status>`` to REPORT_FILE, forwards SIGTERM and SIGINT to
the command, and imports nothing from the project (it runs without it on ``sys.path``).
"""

import os
import signal
import sys
import time


def main() -> int:
    report, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter_ns()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)

    def forward(signum: int, _frame: object) -> None:
        os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    _pid, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter_ns() - started
    with open(report, "w", encoding="ascii") as f:
        f.write(f"{elapsed} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
