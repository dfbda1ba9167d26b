"""``rebuild --verify``: rebuild aside from exactly the log bytes the live projections have
folded, and name every difference between the two sets of files."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from eventlog import HomeLayout
from projections.catchup import Engine, Progress

ASIDE_PREFIX = ".verify-"


def verify(live: Engine, progress: Progress | None = None) -> list[str]:
    """Differences between the live projections and a rebuild (empty when identical)."""
    with live.lock.hold():
        remove_stale_asides(live.target)
        live.catch_up()
        bounds = {sid: cp.offset for sid, cp in live.checkpoints().items()}
        aside_root = Path(tempfile.mkdtemp(prefix=ASIDE_PREFIX, dir=live.target.root))
        aside = Engine(live.source, HomeLayout(aside_root), durable=False, bounds=bounds)
        try:
            aside.rebuild(progress)
            return compare(live, aside)
        finally:
            aside.close()
            shutil.rmtree(aside_root, ignore_errors=True)


def remove_stale_asides(layout: HomeLayout) -> None:
    """Remove rebuilds left aside by a killed ``verify`` (call under the projection lock:
    then no verify is running, and none of these is in use)."""
    for path in layout.root.glob(f"{ASIDE_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)


def compare(live: Engine, rebuilt: Engine) -> list[str]:
    differences: list[str] = []
    if _bytes(live.target.index_file) != _bytes(rebuilt.target.index_file):
        differences.append(f"{live.target.index_file}: differs from a rebuild")
    live_names = _snapshot_names(live.target)
    rebuilt_names = _snapshot_names(rebuilt.target)
    for name in sorted(live_names - rebuilt_names):
        differences.append(f"{live.target.sessions_dir / name}: not produced by a rebuild")
    for name in sorted(rebuilt_names - live_names):
        differences.append(f"{live.target.sessions_dir / name}: missing")
    for name in sorted(live_names & rebuilt_names):
        if _bytes(live.target.sessions_dir / name) != _bytes(rebuilt.target.sessions_dir / name):
            differences.append(f"{live.target.sessions_dir / name}: differs from a rebuild")
    live_rows = set(live.search.contents())
    rebuilt_rows = set(rebuilt.search.contents())
    if live_rows != rebuilt_rows:
        differences.append(
            f"{live.target.search_db}: {len(live_rows - rebuilt_rows)} rows not produced by a "
            f"rebuild, {len(rebuilt_rows - live_rows)} rows missing"
        )
    return differences


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _snapshot_names(layout: HomeLayout) -> set[str]:
    try:
        return {name for name in os.listdir(layout.sessions_dir) if name.endswith(".json")}
    except FileNotFoundError:
        return set()
