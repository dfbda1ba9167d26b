"""Large benchmark homes, built once and reused: logs written directly with the codec,
kept under a cache directory, brought into each run's work directory (copied where the
benchmark writes, hard-linked elsewhere).

A cached home holds logs only (``events/``), never projection state: every run starts
from logs as a user's home would after an upgrade, so the first ``chatlog list`` is a real
first build. A home is built into ``<name>.partial`` and renamed into place when complete,
so an interrupted build is rebuilt, never reused. The cache is keyed by everything that
shapes the logs (sessions, messages, message size, corpus seed, codec format version).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Corpus, Progress, build_log, human_count, session_id_for
from eventlog import EventLog
from eventlog.events import SCHEMA_VERSION
from eventlog.home import LOG_SUFFIX

# The first synthetic session number of each kind of home: ids never collide across kinds.
LONG_SESSION_BASE = 700
MANY_SESSIONS_BASE = 1_000_000


@dataclass(frozen=True)
class HomeSpec:
    """``sessions`` sessions of ``messages`` messages of ``message_bytes`` bytes each."""

    sessions: int
    messages: int
    message_bytes: int
    seed: int = 11

    @property
    def key(self) -> str:
        return (
            f"v{SCHEMA_VERSION}-s{self.sessions}-m{self.messages}"
            f"-b{self.message_bytes}-c{self.seed}"
        )

    def session_ids(self) -> list[str]:
        base = LONG_SESSION_BASE if self.sessions == 1 else MANY_SESSIONS_BASE
        return [session_id_for(base + n) for n in range(self.sessions)]

    def describe(self) -> str:
        return (
            f"{human_count(self.sessions)} session(s) x "
            f"{human_count(self.messages)} message(s) of {self.message_bytes} B"
        )


def write_home(home: Path, spec: HomeSpec, progress: Progress) -> int:
    """Write the logs of ``spec`` under ``home``; returns the logs' total bytes."""
    corpus = Corpus(spec.message_bytes, variety=512, seed=spec.seed)
    log = EventLog(home, fsync="never")
    try:
        total = 0
        ids = spec.session_ids()
        for n, sid in enumerate(ids):
            total += build_log(
                log.layout.log_path(sid), sid, spec.messages, corpus, first=n * spec.messages
            )
            progress.tick(f"writing {spec.describe()}", n + 1, len(ids))
        return total
    finally:
        log.close()


def cached_home(cache: Path, spec: HomeSpec, progress: Progress) -> Path:
    """The cached home for ``spec``, built first if it is not there yet."""
    final = cache / spec.key
    if final.is_dir():
        progress.step(f"reusing the cached home {final}")
        return final
    partial = cache / f"{spec.key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    progress.step(f"building {spec.describe()} into the cache {final}")
    write_home(partial, spec, progress)
    os.sync()
    partial.rename(final)
    return final


def fresh_home(
    target: Path, spec: HomeSpec, progress: Progress, cache: Path | None, written: int = 1
) -> tuple[Path, list[str]]:
    """A home at ``target`` holding ``spec``'s logs and nothing else, and its session ids.

    With a cache, the logs of the first ``written`` sessions (the ones a benchmark may
    append to, archive or repair) are copied; every other log is a hard link to the
    cached file, which nothing writes (100k small files link in seconds and copy in a
    minute). Without a cache the logs are written in place."""
    ids = spec.session_ids()
    if cache is None:
        write_home(target, spec, progress)
        return target, ids
    source = cached_home(cache, spec, progress)
    copied = set(ids[:written])
    progress.step(f"linking {spec.describe()} into the work directory ({written} copied)")
    for directory, _dirs, files in os.walk(source):
        place = target / Path(directory).relative_to(source)
        place.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in files:
            if name.removesuffix(LOG_SUFFIX) in copied:
                shutil.copyfile(Path(directory) / name, place / name)
                os.chmod(place / name, 0o600)
            else:
                os.link(Path(directory) / name, place / name)
    return target, ids


def tree_bytes(root: Path, keep: Callable[[Path], bool] = lambda _p: True) -> int:
    """Apparent bytes of every regular file under ``root`` that ``keep`` accepts."""
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            if keep(path) and path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total
