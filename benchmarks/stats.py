"""``chatlog stats`` over a large home, against the CLI's own start-up.

The home: ``sessions`` sessions of ``messages_per_session`` messages (by default 10k x 10;
``--large``: 100k x 10 = 1M messages), written directly with the codec, their times spread
over the year before now (so the default view's last 30 days hold about a twelfth of
them), replies carrying a model, a backend and reported usage as the REPL writes them,
every third session tagged. The projections are built once (untimed, reported as
``first_build_s``); then, interleaved, as real processes:

- ``startup``: ``chatlog list --limit 1 --json`` — the CLI's start-up with a warm
  projection database (the floor);
- ``stats_default``: ``chatlog stats`` piped (summary and table of the last 30 days);
- ``stats_by_model_json``, ``stats_by_day_json``, ``stats_by_tag_json``: every message
  read, grouped;
- ``stats_by_session_csv``: a row per session;

and in-process, the query alone (``Projections.stats``): ``query_all_by_model``,
``query_30_days``. Each series carries its ``p50_vs_floor`` against ``startup``: the
target is "within a few times CLI start-up".
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.harness import Json, Progress, Variant, interleave, summarize_ns, time_once
from benchmarks.processes import chatlog_command, subprocess_env
from eventlog import EventLog
from eventlog.codec import encode_into
from eventlog.events import Message, SessionCreated
from projections import Projections
from projections.stats import DEFAULT_PRICES, StatsQuery

MODELS = ("gpt-4o-mini-2024-07-18", "claude-sonnet-4-20250514", "llama3.1:8b", "gpt-4o")
SPAN_S = 365 * 86_400  # messages spread over the year before now

LABELS = {
    "startup": "chatlog list --limit 1 --json (floor)",
    "stats_default": "chatlog stats (last 30 days, piped)",
    "stats_by_model_json": "chatlog stats --by model --json",
    "stats_by_day_json": "chatlog stats --by day --json",
    "stats_by_tag_json": "chatlog stats --by tag --json",
    "stats_by_session_csv": "chatlog stats --by session --csv",
    "query_all_by_model": "Projections.stats, all time by model",
    "query_30_days": "Projections.stats, last 30 days by day",
}


@dataclass(frozen=True)
class StatsConfig:
    sessions: int
    messages_per_session: int
    samples: int
    query_samples: int


def write_home(home: Path, cfg: StatsConfig, now: dt.datetime) -> None:
    total = cfg.sessions * cfg.messages_per_session
    step = SPAN_S / max(total, 1)
    log = EventLog(home, fsync="never")
    try:
        for n in range(cfg.sessions):
            sid = f"2025-01-01_000000_{n:06x}"
            first = n * cfg.messages_per_session
            buffer = bytearray()
            at = now - dt.timedelta(seconds=SPAN_S - first * step)
            tags = ("work",) if n % 3 == 0 else ()
            encode_into(SessionCreated(seq=1, ts=at.isoformat(), session_id=sid, tags=tags), buffer)
            for i in range(cfg.messages_per_session):
                k = first + i
                ts = (now - dt.timedelta(seconds=SPAN_S - k * step)).isoformat()
                if i % 2 == 0:
                    meta: dict[str, object] = {"usage_estimated": True}
                    encode_into(
                        Message(
                            seq=i + 2,
                            ts=ts,
                            role="user",
                            content="q",
                            token_count=12,
                            metadata=meta,
                        ),
                        buffer,
                    )
                    continue
                meta = {
                    "backend": "openai",
                    "model": MODELS[k % len(MODELS)],
                    "usage": {"prompt_tokens": 400 + k % 300, "completion_tokens": 200 + k % 90},
                    "usage_estimated": False,
                }
                encode_into(
                    Message(
                        seq=i + 2,
                        ts=ts,
                        role="assistant",
                        content="a",
                        token_count=200 + k % 90,
                        metadata=meta,
                    ),
                    buffer,
                )
            path = log.layout.log_path(sid)
            with open(path, "wb") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(buffer)
    finally:
        log.close()


def run(cfg: StatsConfig, work: Path, progress: Progress) -> Json:
    home = work / "stats-home"
    total = cfg.sessions * cfg.messages_per_session
    progress.step(f"stats: writing {cfg.sessions} sessions, {total} messages")
    write_home(home, cfg, dt.datetime.now(dt.UTC))
    env = subprocess_env(work, CHATLOG_HOME=str(home), NO_COLOR="1")
    base = [*chatlog_command(), "--home", str(home)]

    def cli(*args: str) -> None:
        done = subprocess.run([*base, *args], env=env, capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"chatlog {' '.join(args)}: {done.stderr.decode(errors='replace')}")

    progress.step("stats: first build of the projections")
    first_build_ns = time_once(partial(cli, "list", "--limit", "1", "--json"))
    commands = {
        "startup": ("list", "--limit", "1", "--json"),
        "stats_default": ("stats",),
        "stats_by_model_json": ("stats", "--by", "model", "--json"),
        "stats_by_day_json": ("stats", "--by", "day", "--json"),
        "stats_by_tag_json": ("stats", "--by", "tag", "--json"),
        "stats_by_session_csv": ("stats", "--by", "session", "--csv"),
    }
    variants = [
        Variant(key, partial(cli, *args), cfg.samples, warmup=1) for key, args in commands.items()
    ]
    progress.step(f"stats: {len(variants)} commands, {cfg.samples} samples each")
    interleave(variants, progress, "stats (cli)", seed=5, collect_every=0, pause_gc=False)

    with EventLog(home, fsync="never") as log, Projections(log) as projections:
        month = StatsQuery(by="day", since_us=(time_now_us() - 30 * 86_400 * 1_000_000))
        queries = [
            Variant(
                "query_all_by_model",
                partial(projections.stats, StatsQuery(by="model"), DEFAULT_PRICES),
                cfg.query_samples,
            ),
            Variant(
                "query_30_days",
                partial(projections.stats, month, DEFAULT_PRICES),
                cfg.query_samples,
            ),
        ]
        interleave(queries, progress, "stats (query)", seed=6, collect_every=0, pause_gc=False)
        checked = projections.stats(StatsQuery(by="model"), DEFAULT_PRICES).total.messages

    series = {v.key: summarize_ns(v.results) for v in [*variants, *queries]}
    floor = series["startup"]
    for stats in series.values():
        for q in ("p50", "p99"):
            stats[f"{q}_vs_floor"] = stats[q] / floor[q] if floor[q] else None
    return {
        "unit": "ms",
        "sessions": cfg.sessions,
        "messages": total,
        "messages_counted": checked,
        "first_build_s": first_build_ns / 1e9,
        "labels": LABELS,
        "floor": "startup",
        "series": series,
    }


def time_now_us() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)


def main() -> int:
    """``python -m benchmarks.stats [SESSIONS [MESSAGES_PER_SESSION]]``: this benchmark
    alone, its table on stdout."""
    import tempfile

    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory(prefix="chatlog-bench-stats-") as tmp:
        result = run(StatsConfig(sessions, per, samples=5, query_samples=10), Path(tmp), Progress())
    print(
        f"{result['sessions']} sessions, {result['messages']} messages; "
        f"first build {result['first_build_s']:.1f} s"
    )
    for key, label in LABELS.items():
        s = result["series"][key]
        print(
            f"{label:<45} p50 {s['p50']:8.1f} ms  p99 {s['p99']:8.1f} ms  "
            f"{s['p50_vs_floor']:.2f}x start-up"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
