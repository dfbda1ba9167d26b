"""docs/performance.md shows the figures of the last full benchmark run, and only the
generated section between its markers is ever rewritten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import DOCS_CHART, DOCS_PAGE, render_markdown, replace_generated_section
from tests.conftest import PROJECT_ROOT

LATEST = PROJECT_ROOT / "benchmarks" / "results" / "latest.json"


def test_the_performance_page_shows_the_last_full_run() -> None:
    results = json.loads(LATEST.read_text(encoding="utf-8"))
    page = DOCS_PAGE.read_text(encoding="utf-8")
    assert replace_generated_section(page, render_markdown(results, DOCS_CHART)) == page, (
        "docs/performance.md differs from benchmarks/results/latest.json: "
        "run `python -m benchmarks.report --write-docs`"
    )


def test_writing_the_docs_replaces_only_the_generated_section(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    before = "# Performance\n\nProse a person wrote.\n\n"
    after = "\n\nMore prose.\n"
    marker_begin = DOCS_PAGE.read_text(encoding="utf-8").split("\n")
    begin = next(line for line in marker_begin if line.startswith("<!-- begin:"))
    end = next(line for line in marker_begin if line.startswith("<!-- end:"))
    page.write_text(f"{before}{begin}\nstale figures\n{end}{after}", encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks.report", str(LATEST), "--write-docs", str(page)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"{before}{begin}\nMeasured on ") and text.endswith(f"{end}{after}")
    assert "stale figures" not in text and "| target | measured | met |" in text
    subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, check=True)
    assert page.read_text(encoding="utf-8") == text


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="no generated section"):
        replace_generated_section("# Performance\n\nno markers here\n", "figures")
