"""Listing sessions with many sessions in the home (10,000 by default).

In-process, interleaved, on a home whose projections are up to date:

- ``list_sessions``: ``Projections.list_sessions()`` on a warm instance (it includes the
  reader's catch-up check: readers never show stale data, DESIGN §1);
- ``list_sessions_20``: the same with ``limit=20`` (what a terminal shows);
- ``catch_up_list``: an explicit ``catch_up()`` then ``list_sessions()``;
- ``fresh_list``: a new ``Projections`` instance, ``list_sessions()``, ``close()`` (what a
  one-shot command pays in-process);
- floors: ``index_decode`` (read ``index.json`` and ``msgspec.json.decode`` it: the least
  a list can do) and ``stat_logs`` (``scandir`` + ``stat`` of every log: the least a
  catch-up check by file size can do);
- peer ``seed_list``: the seed's ``list_sessions`` over its in-memory index
  (``from_dict`` of every entry, sort), and ``seed_list_reload`` which first re-reads
  its ``index.json`` (``indent=2``) as a fresh process does.

End to end, interleaved: the command ``chatlog list --json`` against bare interpreter
start-up (``python -c pass``) and start-up plus importing the CLI. Bytecode is cached (in
the work directory, whatever ``PYTHONDONTWRITEBYTECODE`` says), as for an installed
package; the warm-up run fills the cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import msgspec

from benchmarks.harness import (
    TOKENS,
    Corpus,
    Json,
    Progress,
    Variant,
    build_log,
    interleave,
    session_id_for,
    summarize_ns,
    time_once,
)
from benchmarks.peers.seed_save import SeedMetadata, SeedSessionManager
from benchmarks.processes import chatlog_command, subprocess_env
from eventlog import EventLog
from eventlog.atomic import write_atomic
from projections import Projections

LABELS = {
    "list_sessions": "Projections.list_sessions() (incl. catch-up check)",
    "list_sessions_20": "Projections.list_sessions(limit=20)",
    "catch_up_list": "catch_up() + list_sessions()",
    "fresh_list": "new Projections + list_sessions() + close()",
    "index_decode": "floor: read index.json + msgspec decode",
    "stat_logs": "floor: scandir + stat of every log",
    "seed_list": "seed list_sessions (in-memory index)",
    "seed_list_reload": "seed: json.load index.json + list_sessions",
    "cli_list_json": "chatlog list --json (new process)",
    "python_startup": "floor: python -c pass",
    "python_import_cli": "floor: python -c 'import cli.main'",
}


@dataclass(frozen=True)
class ListConfig:
    sessions: int
    messages_per_session: int
    samples: int
    cli_samples: int
    message_bytes: int = 256


def build_home(home: Path, sessions: int, messages: int, corpus: Corpus) -> EventLog:
    log = EventLog(home, fsync="never")
    for n in range(sessions):
        sid = session_id_for(10_000 + n)
        build_log(log.layout.log_path(sid), sid, messages, corpus, first=n * 3, title=None)
    return log


def _stat_logs(events_dir: Path) -> int:
    total = 0
    with os.scandir(events_dir) as it:
        for entry in it:
            total += entry.stat().st_size
    return total


def run(cfg: ListConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes, variety=64, seed=3)
    home = work / "list-home"
    progress.step(f"list: building {cfg.sessions} sessions of {cfg.messages_per_session} messages")
    log = build_home(home, cfg.sessions, cfg.messages_per_session, corpus)
    proj = Projections(log)
    extra: Json = {}
    try:
        progress.step("list: first catch-up (builds index, snapshots, search)")
        extra["first_catch_up_s"] = time_once(proj.catch_up) / 1e9
        extra["second_catch_up_ms"] = time_once(proj.catch_up) / 1e6
        listed = proj.list_sessions()
        extra["listed"] = len(listed)

        seed = SeedSessionManager(work / "list-seed" / "sessions")
        base = datetime(2025, 1, 1)
        for n in range(cfg.sessions):
            when = base + timedelta(seconds=n * 3)
            seed.index["sessions"].append(
                SeedMetadata(
                    session_id_for(10_000 + n),
                    when,
                    when,
                    cfg.messages_per_session,
                    TOKENS * cfg.messages_per_session,
                ).to_dict()
            )
        seed._save_index()

        index_file = log.layout.index_file
        write_atomic(index_file, proj.index_chunks(), durable=False)  # the view, once
        variants = [
            Variant("list_sessions", proj.list_sessions, cfg.samples),
            Variant("list_sessions_20", partial(proj.list_sessions, limit=20), cfg.samples),
            Variant("catch_up_list", partial(_catch_up_list, proj), cfg.samples),
            Variant("fresh_list", partial(_fresh_list, log), max(cfg.samples // 4, 3)),
            Variant("index_decode", partial(_decode_file, index_file), cfg.samples),
            Variant("stat_logs", partial(_stat_logs, log.layout.events_dir), cfg.samples),
            Variant("seed_list", seed.list_sessions, cfg.samples),
            Variant(
                "seed_list_reload",
                partial(_seed_reload_list, seed),
                max(cfg.samples // 4, 3),
            ),
        ]
        total = sum(v.samples for v in variants)
        progress.step(f"list: {len(variants)} in-process variants, {total} samples, interleaved")
        interleave(variants, progress, "list", seed=3, collect_every=0, pause_gc=False)
    finally:
        proj.close()

    env = subprocess_env(work, CHATLOG_HOME=str(home))
    cli = [*chatlog_command(), "--home", str(home), "list", "--json"]

    def run_cli() -> None:
        done = subprocess.run(cli, env=env, capture_output=True, check=False)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"chatlog list failed: {message}")

    py = sys.executable
    cli_variants = [
        Variant("cli_list_json", run_cli, cfg.cli_samples, warmup=1),
        Variant(
            "python_startup",
            lambda: subprocess.run([py, "-c", "pass"], env=env, check=True),
            cfg.cli_samples,
            warmup=1,
        ),
        Variant(
            "python_import_cli",
            lambda: subprocess.run([py, "-c", "import cli.main"], env=env, check=True),
            cfg.cli_samples,
            warmup=1,
        ),
    ]
    progress.step(f"list: chatlog list --json end to end, {cfg.cli_samples} samples each")
    run_cli()
    interleave(cli_variants, progress, "list (cli)", seed=4, collect_every=0, pause_gc=False)

    results = {v.key: summarize_ns(v.results) for v in [*variants, *cli_variants]}
    refs = {
        "list_sessions": "index_decode",
        "list_sessions_20": "index_decode",
        "catch_up_list": "index_decode",
        "fresh_list": "index_decode",
        "seed_list": "index_decode",
        "seed_list_reload": "index_decode",
        "stat_logs": "stat_logs",
        "index_decode": "index_decode",
        "cli_list_json": "python_import_cli",
        "python_startup": "python_startup",
        "python_import_cli": "python_startup",
    }
    for key, stats in results.items():
        ref = results.get(refs[key], {"p50": None, "p99": None})
        for q in ("p50", "p99"):
            stats[f"{q}_vs_floor"] = stats[q] / ref[q] if ref[q] else None
    return {
        "unit": "ms",
        "sessions": cfg.sessions,
        "messages_per_session": cfg.messages_per_session,
        "labels": LABELS,
        "floor_of": refs,
        "series": results,
        "index_bytes": index_file.stat().st_size if index_file.exists() else None,
        **extra,
    }


def _catch_up_list(proj: Projections) -> object:
    proj.catch_up()
    return proj.list_sessions()


def _decode_file(path: Path) -> object:
    return msgspec.json.decode(path.read_bytes())


def _seed_reload_list(seed: SeedSessionManager) -> object:
    seed.reload_index()
    return seed.list_sessions()


def _fresh_list(log: EventLog) -> object:
    proj = Projections(log)
    try:
        return proj.list_sessions()
    finally:
        proj.close()
