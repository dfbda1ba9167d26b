"""Small helpers every report module shares: reading a nested results dict, a ratio as
text, one target row. Pure functions; nothing here measures anything."""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Json


def get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def fmt_x(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    return f"{value:.2f}×"


def target_row(tid: str, target: str, measured: str, met: bool | None, note: str = "") -> Json:
    return {"id": tid, "target": target, "measured": measured, "met": met, "note": note}
