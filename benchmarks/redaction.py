"""Redaction on save: what the secret detectors add to ``EventLog.append``.

Per message kind (1 KB of prose, 1 KB holding two secrets, a 100 KB tool output), three
variants interleaved in one loop:

- ``append`` with redaction on and with it off (``fsync=never``: the detectors' CPU time
  is what is shown, not the disk's), each growing its own session by one message a
  sample; ``added`` is the difference of their p50s and p99s, the cost per append;
- the detectors alone (``redact_message`` on the same content and metadata), the floor of
  that cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Corpus, Json, Progress, Variant, interleave, summarize_ns
from eventlog import EventLog
from eventlog.redaction import redact_message

SECRETS = (
    "AKIA" + "Q3EGRK7ZXN4PLM2T",
    "ghp_" + "R8nK2vQ9xL4mT7wB1cZ6yH3jF5dS0aPeUuIo",
)


@dataclass(frozen=True)
class RedactionConfig:
    samples: int = 2000
    warmup: int = 20


def _contents(corpus: Corpus) -> dict[str, str]:
    prose = corpus.content(0)
    leaky = prose[: len(prose) // 2] + f" export AWS_KEY={SECRETS[0]} token {SECRETS[1]} "
    tool_output = "\n".join(corpus.content(i) for i in range(100))  # ~100 KB
    return {"prose_1kb": prose, "secrets_1kb": leaky[:1024], "tool_output_100kb": tool_output}


LABELS = {
    "prose_1kb": "1 KB of prose",
    "secrets_1kb": "1 KB holding two secrets",
    "tool_output_100kb": "100 KB tool output",
}
METADATA = {"backend": "echo", "usage_estimated": True}


def run(cfg: RedactionConfig, work: Path, progress: Progress) -> Json:
    contents = _contents(Corpus())
    series: Json = {}
    with (
        EventLog(work / "on", fsync="never") as on,
        EventLog(work / "off", fsync="never", redact_secrets=False) as off,
    ):
        for kind, content in contents.items():
            sid_on = on.create_session(kind)
            sid_off = off.create_session(kind)

            def append_on(sid: str = sid_on, text: str = content) -> object:
                return on.append(sid, "user", text, metadata=METADATA)

            def append_off(sid: str = sid_off, text: str = content) -> object:
                return off.append(sid, "user", text, metadata=METADATA)

            def detect(text: str = content) -> object:
                return redact_message(text, METADATA)

            samples = cfg.samples if len(content) < 10_000 else max(cfg.samples // 10, 1)
            variants = [
                Variant("append_redacted", append_on, samples, cfg.warmup),
                Variant("append_plain", append_off, samples, cfg.warmup),
                Variant("detectors", detect, samples, cfg.warmup),
            ]
            interleave(variants, progress, f"redaction {kind}")
            stats = {v.key: summarize_ns(v.results) for v in variants}
            on_stats, off_stats = stats["append_redacted"], stats["append_plain"]
            stats["added"] = {
                "p50": on_stats["p50"] - off_stats["p50"],
                "p99": on_stats["p99"] - off_stats["p99"],
            }
            series[kind] = stats
    return {
        "labels": LABELS,
        "variants": {
            "append_redacted": "append, redaction on (fsync=never)",
            "append_plain": "append, redaction off (fsync=never)",
            "detectors": "the detectors alone (redact_message)",
        },
        "series": series,
    }


def table(section: Json) -> tuple[str, list[str], list[list[str]], str]:
    """The text report's table: per message kind, each variant's p50 / p99 in ms."""
    header = ["redaction on save (ms)", "on p50/p99", "off p50/p99", "added p50/p99", "alone p50"]
    rows = []
    for kind, stats in (section.get("series") or {}).items():
        cells = [section.get("labels", {}).get(kind, kind)]
        for key in ("append_redacted", "append_plain", "added"):
            cells.append(f"{stats[key]['p50']:.3f} / {stats[key]['p99']:.3f}")
        cells.append(f"{stats['detectors']['p50']:.3f}")
        rows.append(cells)
    return ("Redaction", header, rows, "lrrrr")
