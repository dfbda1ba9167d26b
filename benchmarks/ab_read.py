"""Before/after for the read path: ``scan_bytes`` of a git revision against the working
tree's, interleaved in one process, with the raw msgspec floors alongside.

    python -m benchmarks.ab_read --against c865d9f~1 [--lengths 10,1000,10000,100000]

The revision's ``eventlog`` package is extracted to a temporary directory under another
name (its absolute imports rewritten), so both versions live side by side in this
process and every round times each of them on the same bytes, in a random order. Both
must agree on what they read: the scans are compared before anything is timed.
Not part of ``make bench``: a tool for whoever works on the read path.
"""

from __future__ import annotations

import argparse
import importlib
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.harness import Corpus, build_log, human_count
from benchmarks.load import raw_array_typed, raw_lines_typed
from eventlog import scan as current_scan

PACKAGE = "eventlog_before"
ROOT = Path(__file__).resolve().parent.parent


def load_revision(rev: str, into: Path) -> Any:
    """The ``eventlog.scan`` module as it was at ``rev`` (imported as eventlog_before.scan)."""
    target = into / PACKAGE
    target.mkdir()
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "eventlog/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        if not name.endswith(".py"):
            continue
        text = subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        text = re.sub(r"\beventlog\b(?=[. ])", PACKAGE, text)
        (target / Path(name).name).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{PACKAGE}.scan")


def _scan_file(scan_bytes: Callable[[bytes], object], path: Path) -> object:
    return scan_bytes(path.read_bytes())


def _plain(scan: Any) -> object:
    """A scan as plain values (the two versions' classes differ, their contents must not)."""
    entries = [(e.line, e.offset, e.end, msgspec.json.encode(e.event)) for e in scan.entries]
    issues = [msgspec.structs.astuple(i) for i in scan.issues]
    torn = msgspec.structs.astuple(scan.torn) if scan.torn is not None else None
    return entries, issues, torn, scan.good_end, scan.lines, scan.last_seq


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab_read")
    parser.add_argument("--against", default="HEAD~1", help="git revision to compare with")
    parser.add_argument("--lengths", default="10,1000,10000,100000")
    parser.add_argument("--budget", type=float, default=6.0, help="seconds per length")
    args = parser.parse_args(argv)
    lengths = [int(x) for x in args.lengths.split(",")]
    corpus = Corpus(1024)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="chatlog-ab-") as tmp:
        before = load_revision(args.against, Path(tmp))
        print(f"read path: {args.against} (before) against the working tree (after)")
        print(
            f"{'length':>7}  {'before':>10}  {'after':>10}  {'change':>7}  {'floor':>10}  "
            f"{'before÷floor':>12}  {'after÷floor':>11}"
        )
        for length in lengths:
            path = Path(tmp) / f"{length}.jsonl"
            build_log(path, "2025-01-01_000000", length, corpus)
            data = path.read_bytes()
            if _plain(before.scan_bytes(data)) != _plain(current_scan.scan_bytes(data)):
                print(f"{length}: the two versions read different things", file=sys.stderr)
                return 1
            sides: dict[str, Callable[[], object]] = {
                "before": partial(_scan_file, before.scan_bytes, path),
                "after": partial(_scan_file, current_scan.scan_bytes, path),
                "raw_lines": partial(raw_lines_typed, path),
                "raw_array": partial(raw_array_typed, path),
            }
            samples: dict[str, list[int]] = {k: [] for k in sides}
            deadline = time.monotonic() + args.budget
            rounds = 0
            while rounds < 5 or (time.monotonic() < deadline and rounds < 5000):
                order = list(sides)
                rng.shuffle(order)
                for key in order:
                    t0 = time.perf_counter_ns()
                    sides[key]()
                    samples[key].append(time.perf_counter_ns() - t0)
                rounds += 1
            med = {k: statistics.median(v) / 1e6 for k, v in samples.items()}
            floor = min(med["raw_lines"], med["raw_array"])
            print(
                f"{human_count(length):>7}  {med['before']:8.3f}ms  {med['after']:8.3f}ms  "
                f"{(med['after'] / med['before'] - 1) * 100:+6.0f}%  {floor:8.3f}ms  "
                f"{med['before'] / floor:11.2f}×  {med['after'] / floor:10.2f}×"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
