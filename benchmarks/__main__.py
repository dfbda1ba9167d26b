"""The benchmark runner: ``python -m benchmarks [--quick | --smoke | --large] [--only NAMES]``.

Runs every variant module in turn (each one interleaves its own comparisons), shows
progress on stderr, prints a table (or the JSON with ``--json``) on stdout, and writes
``<out>/latest.json`` and ``<out>/latency.svg`` (``quick.json``/``quick.svg`` and
``smoke.json``/``smoke.svg`` for the shorter modes, so they never overwrite a full run;
``--large`` is the full run plus a 1M-message (1.16 GB) session and a home of 100k
sessions, whose logs are built once and kept under ``--cache``, by default
``chatlog-bench-cache`` beside the work directory; it writes ``latest.json`` too).

``--only NAMES --merge`` puts just those sections into the mode's existing results file
(the others are kept; ``combined_from`` says which run measured which sections), so a
slow section can be measured again without a full run. A benchmark that fails is
recorded with its error, the rest still run, and the exit status is 1. Work files live
in a temporary directory (``--workdir`` to choose the filesystem), removed at the end
unless ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import (
    append,
    catchup,
    catchup_cli,
    commands,
    jetstream,
    listing,
    load,
    rebuild,
    redaction,
    search,
    stats,
    watcher,
)
from benchmarks.harness import Json, Progress, machine_info
from benchmarks.report import evaluate_targets, render_svg, render_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Suite:
    append: append.AppendConfig
    load: load.LoadConfig
    catchup: catchup.CatchUpConfig
    catchup_cli: catchup_cli.CatchUpCliConfig
    commands: commands.CommandsConfig
    list: listing.ListConfig
    rebuild: rebuild.RebuildConfig
    search: search.SearchConfig
    stats: stats.StatsConfig
    watcher: watcher.WatcherConfig
    jetstream: jetstream.JetStreamConfig
    redaction: redaction.RedactionConfig


MODES: dict[str, Suite] = {
    "default": Suite(
        append=append.AppendConfig(
            lengths=(1, 1000, 10_000, 100_000),
            samples_fast=2000,
            samples_sync=1000,
            seed_samples={1: 400, 1000: 150, 10_000: 30, 100_000: 6},
        ),
        load=load.LoadConfig(
            lengths=(1000, 10_000, 100_000), samples={1000: 120, 10_000: 25, 100_000: 5}
        ),
        catchup=catchup.CatchUpConfig(
            lengths=(1, 1000, 10_000, 100_000), samples={1: 60, 1000: 40, 10_000: 15, 100_000: 4}
        ),
        catchup_cli=catchup_cli.CatchUpCliConfig(
            lengths=(1, 10_000, 100_000), session_counts=(1, 10_000), samples=15, samples_large=5
        ),
        commands=commands.CommandsConfig(lengths=(50_000,), samples={50_000: 3}),
        list=listing.ListConfig(
            sessions=10_000, messages_per_session=4, samples=100, cli_samples=12
        ),
        rebuild=rebuild.RebuildConfig(sessions=1000, events_per_session=1000, samples=3),
        search=search.SearchConfig(sessions=100, messages_per_session=1000, samples=60),
        stats=stats.StatsConfig(
            sessions=10_000, messages_per_session=10, samples=10, query_samples=20
        ),
        watcher=watcher.WatcherConfig(
            sessions=200, samples=60, long_messages=10_000, long_samples=15
        ),
        jetstream=jetstream.JetStreamConfig(samples=1000, lag_samples=200),
        redaction=redaction.RedactionConfig(samples=2000),
    ),
    "quick": Suite(
        append=append.AppendConfig(
            lengths=(1, 1000, 10_000),
            samples_fast=400,
            samples_sync=100,
            seed_samples={1: 100, 1000: 40, 10_000: 8},
        ),
        load=load.LoadConfig(lengths=(1000, 10_000), samples={1000: 30, 10_000: 8}),
        catchup=catchup.CatchUpConfig(
            lengths=(1, 1000, 10_000), samples={1: 15, 1000: 10, 10_000: 4}
        ),
        catchup_cli=catchup_cli.CatchUpCliConfig(
            lengths=(1, 10_000), session_counts=(1, 1000), samples=5, samples_large=2
        ),
        commands=commands.CommandsConfig(lengths=(5000,), samples={5000: 1}),
        list=listing.ListConfig(sessions=1000, messages_per_session=4, samples=50, cli_samples=4),
        rebuild=rebuild.RebuildConfig(sessions=100, events_per_session=500, samples=1),
        search=search.SearchConfig(sessions=20, messages_per_session=500, samples=20),
        stats=stats.StatsConfig(
            sessions=1000, messages_per_session=10, samples=4, query_samples=10
        ),
        watcher=watcher.WatcherConfig(sessions=50, samples=12, long_messages=5000, long_samples=4),
        jetstream=jetstream.JetStreamConfig(samples=200, lag_samples=40),
        redaction=redaction.RedactionConfig(samples=300),
    ),
    "smoke": Suite(
        append=append.AppendConfig(
            lengths=(1, 100),
            samples_fast=20,
            samples_sync=5,
            seed_samples={1: 5, 100: 3},
            warmup=1,
        ),
        load=load.LoadConfig(lengths=(100,), samples={100: 3}),
        catchup=catchup.CatchUpConfig(lengths=(1, 100), samples={1: 2, 100: 2}),
        catchup_cli=catchup_cli.CatchUpCliConfig(
            lengths=(1, 50), session_counts=(20,), samples=1, samples_large=1
        ),
        commands=commands.CommandsConfig(lengths=(100,), samples={100: 1}, floor_samples=1),
        list=listing.ListConfig(sessions=30, messages_per_session=2, samples=5, cli_samples=1),
        rebuild=rebuild.RebuildConfig(sessions=5, events_per_session=20, samples=1),
        search=search.SearchConfig(sessions=5, messages_per_session=20, samples=3),
        stats=stats.StatsConfig(sessions=20, messages_per_session=4, samples=1, query_samples=2),
        watcher=watcher.WatcherConfig(
            sessions=5, samples=3, long_messages=50, long_samples=1, gap_ms=(10, 30)
        ),
        jetstream=jetstream.JetStreamConfig(samples=5, lag_samples=3, warmup=1),
        redaction=redaction.RedactionConfig(samples=10, warmup=1),
    ),
}
# --large: the default run, plus the cases too slow for it (a 1.16 GB session, 100k sessions)
MODES["large"] = replace(
    MODES["default"],
    catchup_cli=replace(
        MODES["default"].catchup_cli,
        lengths=(1, 10_000, 100_000, 1_000_000),
        session_counts=(1, 10_000, 100_000),
    ),
    commands=replace(
        MODES["default"].commands, lengths=(50_000, 1_000_000), samples={50_000: 3, 1_000_000: 1}
    ),
    stats=replace(MODES["default"].stats, sessions=100_000),  # 1M messages
)
# A --large run is a full run with more in it: it is the last full run too.
OUTPUT_STEM = {"default": "latest", "quick": "quick", "smoke": "smoke", "large": "latest"}
CHART_STEM = {"default": "latency", "quick": "quick", "smoke": "smoke", "large": "latency"}
CACHED = ("catchup_cli", "commands")  # the benchmarks whose large homes are cached
BENCHMARKS: dict[str, Callable[[Any, Path, Progress], Json]] = {
    "append": append.run,
    "load": load.run,
    "catchup": catchup.run,
    "catchup_cli": catchup_cli.run,
    "commands": commands.run,
    "list": listing.run,
    "rebuild": rebuild.run,
    "search": search.run,
    "stats": stats.run,
    "watcher": watcher.run,
    "jetstream": jetstream.run,
    "redaction": redaction.run,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="chatlog's benchmark suite (see docs/performance.md)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a shorter run (~30 s)")
    mode.add_argument("--smoke", action="store_true", help="a tiny run that checks the suite works")
    mode.add_argument(
        "--large",
        action="store_true",
        help="the full run plus a 1.16 GB session and 100k sessions (needs ~5 GB of disk)",
    )
    parser.add_argument(
        "--only", metavar="NAMES", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where results go")
    parser.add_argument("--workdir", type=Path, help="parent dir for work files (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work files")
    parser.add_argument(
        "--cache",
        type=Path,
        help="where large homes' logs are kept between runs "
        "(default: chatlog-bench-cache in the work files' parent dir)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: replace only those sections in the existing results file",
    )
    parser.add_argument("--json", action="store_true", help="print the results JSON, not a table")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = (
        "quick" if args.quick else "smoke" if args.smoke else "large" if args.large else "default"
    )
    cache = args.cache or Path(args.workdir or tempfile.gettempdir()) / "chatlog-bench-cache"
    suite = MODES[mode]
    for name in CACHED:
        suite = replace(suite, **{name: replace(getattr(suite, name), cache_dir=str(cache))})
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="chatlog-bench-", dir=args.workdir))
    progress = Progress(quiet=args.quiet)
    progress.step(f"chatlog benchmarks, mode {mode}, work dir {work}")
    results: Json = {
        "schema": 1,
        "mode": mode,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(work),
        "config": {name: asdict(getattr(suite, name)) for name in names},
        "benchmarks": {},
    }
    failed = False
    started = time.monotonic()
    try:
        for name in names:
            bench_dir = work / name
            bench_dir.mkdir()
            t0 = time.monotonic()
            try:
                section = BENCHMARKS[name](getattr(suite, name), bench_dir, progress)
            except Exception as exc:
                failed = True
                section = {
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc().splitlines()[-12:],
                }
                progress.step(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            section["seconds"] = round(time.monotonic() - t0, 2)
            results["benchmarks"][name] = section
            progress.step(f"{name}: done in {section['seconds']:.1f} s")
            if not args.keep:
                shutil.rmtree(bench_dir, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{OUTPUT_STEM[mode]}.json"
    svg_path = args.out / f"{CHART_STEM[mode]}.svg"
    with _locked(args.out):  # merges of runs that end at once do not lose each other
        if args.merge and json_path.exists():
            results = merge_results(json.loads(json_path.read_text(encoding="utf-8")), results)
        results["targets"] = evaluate_targets(results)
        tmp = json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, json_path)
        svg_path.write_text(render_svg(results), encoding="utf-8")
    progress.step(f"wrote {json_path} and {svg_path}")
    if args.json:
        sys.stdout.write(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(results))
    return 1 if failed else 0


def merge_results(earlier: Json, run: Json) -> Json:
    """``earlier`` with the sections ``run`` measured replaced by ``run``'s, and a note in
    ``combined_from`` of when and under what load they were measured."""
    merged = dict(earlier)
    merged["benchmarks"] = {**earlier.get("benchmarks", {}), **run["benchmarks"]}
    merged["config"] = {**earlier.get("config", {}), **run["config"]}
    notes = earlier.get("combined_from") or []
    if isinstance(notes, dict):  # one note, from a combination made by hand
        notes = [notes]
    measured = set(run["benchmarks"])
    kept = []
    for note in notes:  # an earlier merge's sections measured again are no longer its
        if "sections" not in note:
            kept.append(note)
        elif left := [name for name in note["sections"] if name not in measured]:
            kept.append({**note, "sections": left})
    machine = run.get("machine", {})
    merged["combined_from"] = [
        *kept,
        {
            "sections": sorted(run["benchmarks"]),
            "mode": run.get("mode"),
            "started_at": run.get("started_at"),
            "duration_s": run.get("duration_s"),
            "loadavg_at_start": machine.get("loadavg_at_start"),
            "loadavg_at_end": machine.get("loadavg_at_end"),
        },
    ]
    return merged


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


if __name__ == "__main__":
    raise SystemExit(main())
