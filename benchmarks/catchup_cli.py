"""What the next reader pays after one append, end to end: ``chatlog list`` as a new
process, against session length and against the number of sessions in the home.

Homes of two shapes, each holding logs only until its first ``chatlog list`` builds the
projections (that first build is timed once, with its peak RSS):

- by length: one session of L messages of 1 KB (1 / 10k / 100k, and 1M with ``--large``);
- by session count: N sessions of 3 messages (1 / 10k, and 100k with ``--large``), the
  append going to the least recently updated one, so it moves to the top of the list.

Interleaved, per home: ``after_append``, one ``EventLog.append`` (untimed, in this
process, as another writer would) then ``chatlog list --limit 20`` (timed); ``warm``, the
same command with nothing new. The floor is the same command on an empty home: CLI
start-up and nothing more. If catch-up costs O(new events), both stay at the floor at
every length and every session count. Each child's peak RSS is recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.fixtures import HomeSpec, fresh_home
from benchmarks.harness import TOKENS, Corpus, Json, Progress, Variant, interleave, summarize_ns
from benchmarks.processes import ChildRun, chatlog_command, run_child, subprocess_env
from eventlog import EventLog

LABELS = {
    "after_append": "chatlog list --limit 20 right after one append",
    "warm": "chatlog list --limit 20, nothing new",
    "empty_home": "floor: chatlog list --limit 20 on an empty home",
}
FLOOR = "empty_home"
WARMUP = 1  # runs of each variant that are not kept


@dataclass(frozen=True)
class CatchUpCliConfig:
    lengths: tuple[int, ...]  # messages in the one session of a home
    session_counts: tuple[int, ...]  # sessions of ``messages_per_session`` in a home
    samples: int
    samples_large: int  # for homes of at least ``large_from`` messages or sessions
    large_from: int = 1_000_000
    messages_per_session: int = 3
    message_bytes: int = 1024
    many_message_bytes: int = 256
    cache_dir: str | None = None  # where homes of ``cache_from`` messages or more are kept
    cache_from: int = 300_000


class _Home:
    """One home, the session that receives the appends, and the list command on it."""

    def __init__(
        self, key: str, path: Path, session_id: str | None, work: Path, corpus: Corpus
    ) -> None:
        self.key = key
        self.path = path
        self.session_id = session_id
        self.command = [*chatlog_command(), "--home", str(path), "list", "--limit", "20"]
        self.env = subprocess_env(work)
        self.content = corpus.content(7)
        self.log = EventLog(path, fsync="never")
        self.peak_rss_bytes: dict[str, int] = {}
        self.samples_ns: dict[str, list[int]] = {}

    def list(self, variant: str) -> ChildRun:
        """One ``chatlog list``; its own time (fork to exit, as the launcher measured it,
        so not the launcher's start-up) and peak RSS are kept under ``variant``."""
        run = run_child(self.command, env=self.env).check(f"chatlog list on {self.key}")
        peak = max(self.peak_rss_bytes.get(variant, 0), run.peak_rss_bytes)
        self.peak_rss_bytes[variant] = peak
        self.samples_ns.setdefault(variant, []).append(round(run.seconds * 1e9))
        return run

    def append(self) -> object:
        assert self.session_id is not None
        return self.log.append(self.session_id, "assistant", self.content, TOKENS)

    def close(self) -> None:
        self.log.close()


def _specs(cfg: CatchUpCliConfig) -> list[tuple[str, HomeSpec]]:
    specs = [(f"length:{n}", HomeSpec(1, n, cfg.message_bytes)) for n in cfg.lengths]
    specs += [
        (f"sessions:{n}", HomeSpec(n, cfg.messages_per_session, cfg.many_message_bytes))
        for n in cfg.session_counts
    ]
    return specs


def run(cfg: CatchUpCliConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes, variety=16, seed=7)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    empty = _Home(FLOOR, work / "empty-home", None, work, corpus)
    homes: list[_Home] = []
    first_build: dict[str, Json] = {}
    variants = [Variant(FLOOR, partial(empty.list, FLOOR), cfg.samples, warmup=WARMUP)]
    try:
        for key, spec in _specs(cfg):
            size = max(spec.sessions, spec.messages)
            use_cache = cache if spec.sessions * spec.messages >= cfg.cache_from else None
            path, ids = fresh_home(work / key.replace(":", "-"), spec, progress, use_cache)
            home = _Home(key, path, ids[0], work, corpus)
            homes.append(home)
            progress.step(f"catch-up (cli): first chatlog list on {spec.describe()}")
            built = home.list("first_build")
            first_build[key] = {"seconds": built.seconds, "peak_rss_mb": built.peak_rss_mb}
            n = cfg.samples_large if size >= cfg.large_from else cfg.samples
            variants += [
                Variant(
                    f"after_append@{key}",
                    partial(home.list, "after_append"),
                    n,
                    warmup=WARMUP,
                    before=home.append,
                ),
                Variant(f"warm@{key}", partial(home.list, "warm"), n, warmup=WARMUP),
            ]
        total = sum(v.samples for v in variants)
        progress.step(f"catch-up (cli): {len(variants)} variants, {total} samples, interleaved")
        interleave(variants, progress, "catch-up (cli)", seed=12, collect_every=0, pause_gc=False)
    finally:
        for home in [empty, *homes]:
            home.close()
    floor = summarize_ns(empty.samples_ns[FLOOR][WARMUP:])
    series: dict[str, dict[str, Json]] = {name: {} for name in LABELS}
    series[FLOOR]["-"] = floor
    for home in homes:
        for name in ("after_append", "warm"):
            stats = summarize_ns(home.samples_ns[name][WARMUP:])
            for q in ("p50", "p99"):
                stats[f"{q}_vs_floor"] = stats[q] / floor[q] if floor[q] else None
            series[name][home.key] = stats
    peak = {
        f"{variant}@{home.key}": rss / 1e6
        for home in [empty, *homes]
        for variant, rss in home.peak_rss_bytes.items()
    }
    return {
        "unit": "ms",
        "lengths": list(cfg.lengths),
        "session_counts": list(cfg.session_counts),
        "labels": LABELS,
        "floor": FLOOR,
        "series": series,
        "peak_rss_mb": peak,
        "first_build": first_build,
    }
