"""The README's (and docs/'s) shell examples run as shown, so they cannot drift.

Every ```console block is a transcript: lines starting with ``$ `` are commands, the lines
after one are what it prints (stdout and stderr together). All console blocks of a file run
in order in one bash process, through the installed ``chatlog``, with ``HOME`` (and the
current directory) a fresh temp dir standing in for ``/home/me``. Before comparing, both
sides have session ids, short ids, dates and times replaced by placeholders (they differ on
every run), and ``...`` in an expected line matches any text. Shell blocks that cannot run
here (``make`` itself, a model server) are listed in ``NOT_RUN`` with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}

# README shell blocks that are not transcripts, by their first line, and why they do not run.
NOT_RUN = {
    "make run    # creates .venv, installs chatlog into it, starts the chat REPL (offline "
    "echo backend)": "make itself: the test suite is what `make test` runs",
    "OPENAI_BASE_URL=http://localhost:11434/v1 chatlog chat --model llama3.2": "needs a "
    "model server (the REPL's openai backend is tested against a fake one)",
    "make test                    # ruff check + ruff format --check + mypy --strict + "
    "pytest": "make itself",
}

PLACEHOLDERS = (
    (re.compile(r"\d{4}-\d\d-\d\d_\d{6}_[0-9a-f]{6}"), "<ID>"),
    (re.compile(r"\b[0-9a-f]{6}\b"), "<SHORT>"),
    (re.compile(r"\d{4}-\d\d-\d\d"), "<DATE>"),
    (re.compile(r"\b\d\d:\d\d(:\d\d)?\b"), "<TIME>"),
)
MARK = "\x1e--chatlog-doc-test--"


@dataclass(frozen=True)
class Step:
    where: str
    command: str
    expected: list[str]


def fenced_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(language, line number, lines) of every fenced block."""
    blocks: list[tuple[str, int, list[str]]] = []
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        if lines[n].startswith("```"):
            language, start, body = lines[n][3:].strip(), n + 1, []
            n += 1
            while n < len(lines) and not lines[n].startswith("```"):
                body.append(lines[n])
                n += 1
            blocks.append((language, start, body))
        n += 1
    return blocks


def transcript_steps(path: Path) -> list[Step]:
    steps: list[Step] = []
    for language, start, body in fenced_blocks(path.read_text(encoding="utf-8")):
        if language != "console":
            continue
        for offset, line in enumerate(body):
            if line.startswith("$ "):
                where = f"{path.relative_to(ROOT)}:{start + offset + 1}"
                steps.append(Step(where, line[2:], []))
            elif steps:
                steps[-1].expected.append(line)
    return steps


def normalise(line: str) -> str:
    for pattern, placeholder in PLACEHOLDERS:
        line = pattern.sub(placeholder, line)
    return line.rstrip()


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in normalise(expected).split("..."))
    return re.fullmatch(pattern, normalise(actual)) is not None


def run_transcript(steps: list[Step], home: Path) -> list[tuple[list[str], int]]:
    """Run every step in one bash, in order; each step's output lines and exit status."""
    script = ["set -u"]
    for step in steps:
        script += [step.command, f"printf '\\n{MARK} %s\\n' $?"]
    bin_dir = Path(sys.executable).parent
    env = {
        "HOME": str(home),
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as on a terminal
        "TZ": os.environ.get("TZ", "UTC"),
    }
    (home / "tmp").mkdir()
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    outputs: list[tuple[list[str], int]] = []
    current: list[str] = []
    for line in done.stdout.split("\n"):
        if line.startswith(MARK):
            if current and current[-1] == "":
                current.pop()  # the newline printed before the mark
            outputs.append((current, int(line.split()[-1])))
            current = []
        else:
            current.append(line.replace(str(home), "/home/me"))
    assert len(outputs) == len(steps), f"the transcript stopped early:\n{done.stdout}"
    return outputs


FILES_WITH_TRANSCRIPTS = [path for path in DOC_FILES if transcript_steps(path)]


@pytest.mark.parametrize("path", FILES_WITH_TRANSCRIPTS, ids=lambda p: p.name)
def test_every_console_example_prints_what_the_page_shows(path: Path, tmp_path: Path) -> None:
    steps = transcript_steps(path)
    home = tmp_path / "me"
    home.mkdir()
    for step, (actual, status) in zip(steps, run_transcript(steps, home), strict=True):
        shown = "\n".join(actual)
        assert status == 0, f"{step.where}: `{step.command}` exited {status}:\n{shown}"
        assert len(actual) == len(step.expected) and all(
            matches(e, a) for e, a in zip(step.expected, actual, strict=True)
        ), f"{step.where}: `{step.command}` printed\n{shown}\nbut the page shows\n" + "\n".join(
            step.expected
        )


def test_the_readme_has_a_tour_that_runs() -> None:
    assert len(transcript_steps(ROOT / "README.md")) >= 8


def test_every_other_readme_shell_block_says_why_it_does_not_run() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for language, start, body in fenced_blocks(text):
        if language in SHELL_LANGUAGES - {"console"}:
            assert body and body[0] in NOT_RUN, (
                f"README.md:{start}: make this shell block a ```console transcript the tests "
                "run, or add it to NOT_RUN with the reason it cannot run"
            )


def test_a_changed_output_line_is_caught(tmp_path: Path) -> None:
    """The checker itself: a transcript whose shown output is wrong fails to match."""
    home = tmp_path / "me"
    home.mkdir()
    steps = [Step("x", "chatlog new --title T", ["2026-01-01_000000_abcdef"])]
    [(actual, status)] = run_transcript(steps, home)
    assert status == 0 and matches(steps[0].expected[0], actual[0])
    assert not matches("created 2026-01-01_000000_abcdef", actual[0])
    assert shutil.which("bash")
