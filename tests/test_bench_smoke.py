"""The benchmark suite runs end to end in its tiny mode and writes well-formed results.

Nothing here is timed: the figures a smoke run produces are meaningless; only their shape
is checked (every benchmark present, numbers where numbers belong, a chart).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def run_smoke(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--smoke",
            *options,
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, out


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_the_smoke_run_writes_well_formed_results_and_a_chart(tmp_path: Path) -> None:
    done, out = run_smoke(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "smoke.json").read_text(encoding="utf-8"))

    assert results["mode"] == "smoke"
    machine = results["machine"]
    assert machine["nproc"] >= 1 and machine["cpu_model"] and machine["filesystem"]["type"]
    benchmarks = results["benchmarks"]
    assert set(benchmarks) == {
        "append",
        "load",
        "catchup",
        "catchup_cli",
        "commands",
        "list",
        "rebuild",
        "search",
        "stats",
        "watcher",
        "jetstream",
        "redaction",
    }
    assert not [name for name, section in benchmarks.items() if "error" in section]

    append = benchmarks["append"]
    for variant in ("chatlog_always", "chatlog_never", "floor_write", "sqlite_full", "seed_save"):
        for length in append["lengths"]:
            stats = append["series"][variant][str(length)]
            assert stats["n"] > 0
            assert _is_number(stats["p50"]) and _is_number(stats["p99"])
            assert stats["p50"] <= stats["p99"]
    load = benchmarks["load"]
    for length in load["lengths"]:
        assert _is_number(load["series"]["chatlog_read"][str(length)]["p50_vs_floor"])

    catchup_cli = benchmarks["catchup_cli"]
    homes = [f"length:{n}" for n in catchup_cli["lengths"]]
    homes += [f"sessions:{n}" for n in catchup_cli["session_counts"]]
    for variant in ("after_append", "warm"):
        assert set(catchup_cli["series"][variant]) == set(homes)
        for stats in catchup_cli["series"][variant].values():
            assert _is_number(stats["p50"]) and _is_number(stats["p50_vs_floor"])
    assert set(catchup_cli["first_build"]) == set(homes)

    commands = benchmarks["commands"]
    assert commands["failures"] == []
    for length in commands["lengths"]:
        measured = commands["by_length"][str(length)]
        # every command ran, and the kernel's peak RSS of each is its own: a Python
        # process with chatlog imported, far below this benchmark process's own size
        assert set(measured["commands"]) == set(commands["labels"])
        for stats in measured["commands"].values():
            assert stats["n"] >= 1 and _is_number(stats["seconds_p50"])
            assert 5 < stats["peak_rss_mb"] < 500
        assert measured["storage"]["ratio"] > 1

    stats = benchmarks["stats"]
    assert stats["messages_counted"] == stats["messages"]
    for series in stats["series"].values():
        assert _is_number(series["p50"]) and _is_number(series["p50_vs_floor"])

    rebuild = benchmarks["rebuild"]["series"]
    assert _is_number(rebuild["rebuild"]["vs_fts5_insert"])

    targets = {target["id"] for target in results["targets"]}
    assert {"rss_1gb", "storage_1gb", "rebuild_vs_fts5", "list_100k_warm"} <= targets
    jetstream = benchmarks["jetstream"]
    for variant in ("file_always", "jetstream_r1", "jetstream_r3"):
        stats = jetstream["series"][variant]
        assert stats["n"] > 0 and _is_number(stats["p50"]) and stats["p50"] <= stats["p99"]
    assert jetstream["replicas"] == {"jetstream_r1": 1, "jetstream_r3": 3}
    assert jetstream["lag"]["n"] > 0 and _is_number(jetstream["lag"]["p99"])

    for target in results["targets"]:
        assert set(target) >= {"id", "target", "measured", "met"}
        assert target["met"] in (True, False, None)

    svg = (out / "smoke.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "<polyline" in svg
    # the table on stdout names every target
    assert "met" in done.stdout and "save (append) latency" in done.stdout
    # progress went to stderr, not stdout
    assert "append:" in done.stderr


def test_the_runner_refuses_an_unknown_benchmark_name(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--smoke",
            "--only",
            "nonsense",
            "--out",
            str(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown benchmark" in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_merged_run_replaces_only_its_sections_and_says_when_they_ran(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    earlier = {
        "schema": 1,
        "mode": "smoke",
        "started_at": "2026-01-01T00:00:00+00:00",
        "machine": {"loadavg_at_start": [1.0, 1.0, 1.0]},
        "config": {"watcher": {"samples": 1}},
        "benchmarks": {"watcher": {"lag": {"p50": 1.0, "p99": 2.0, "max": 3.0, "n": 1}}},
    }
    (out / "smoke.json").write_text(json.dumps(earlier), encoding="utf-8")
    done, _ = run_smoke(tmp_path, "--only", "redaction", "--merge")
    assert done.returncode == 0, done.stderr
    merged = json.loads((out / "smoke.json").read_text(encoding="utf-8"))
    assert merged["benchmarks"]["watcher"] == earlier["benchmarks"]["watcher"]
    assert "series" in merged["benchmarks"]["redaction"]
    assert merged["started_at"] == earlier["started_at"]
    (note,) = merged["combined_from"]
    assert note["sections"] == ["redaction"] and note["started_at"] != earlier["started_at"]
    assert {t["id"] for t in merged["targets"]} >= {"watcher_lag"}
    again, _ = run_smoke(tmp_path, "--only", "redaction", "--merge")
    assert again.returncode == 0, again.stderr
    remerged = json.loads((out / "smoke.json").read_text(encoding="utf-8"))
    (latest,) = remerged["combined_from"]  # the first merge's section was measured again
    assert latest["started_at"] >= note["started_at"]
