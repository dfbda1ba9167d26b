"""Every command behaves the same on a JetStream store as on the file home.

One scripted scenario runs through the installed ``chatlog``, once on a file home and
once with ``--store nats://...`` (a real single-node server, its own home for the
projections), and the two transcripts (exit code, stdout, stderr of every step, and the
files ``views`` and ``export -o`` wrote) must be equal once what must differ is
normalised: session ids made at run time, times, the homes' paths and the one line
that says where a session is kept. The differences that are intended are listed in
docs/jetstream.md; none is hidden by the normalisation here.

A hypothesis test then runs random command sequences (new, append, title, tag, untag,
fork, redact, delete, compact, cleanup, restore, list) on both stores through the CLI's
own ``main`` in this process, then every view of every session, and compares them the
same way.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from tests.conftest import SHARED_TESTDATA, chatlog_executable, fresh_stream_url
from tests.nats_servers import NatsCluster

SECRET = "sk-proj-" + "Vq3mK8xR2tN5wL9yB4zH" + "T3BlbkFJ" + "pQ7sD1fG6hJ0kL3zX8cV"
SESSION_ID = re.compile(r"\b\d{4}-\d{2}-\d{2}_\d{6}_[0-9a-f]{6}\b")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
DURATION = re.compile(r"\b\d+(\.\d+)? ?(ms|s)\b")
CLOCK = re.compile(r"\b\d{2}:\d{2}:\d{2}\b")
# Where an archive is kept (intended difference: a file under the home, or a subject of
# the stream, whose gzip is written in chunks, so its size differs too).
FILE_ARCHIVE = re.compile(r"<ROOT>/home/archive(/(<\w+>)\.jsonl\.gz)?")
STREAM_ARCHIVE = re.compile(
    r"nats://[\d.:]+(/\w+\.a\.(<\w+>)| \(stream \w+\), subjects \w+\.a\.\*)"
)
ARCHIVE_SIZE = re.compile(r"\d+( bytes  <ARCHIVE)|(\"size\":)\d+")


# Lists in session id order: ids made in the same second are ordered by their random part,
# so the same scenario orders them differently from run to run; compared sorted by name.
# (Forks of one session at one seq are such siblings in `tree`: their rows keep their
# parent and depth.)
BY_ID: Final = ("restore --list --json", "stats --by session --json")


def _by_name(label: str, out: str) -> str:
    by_id = label in BY_ID or (label.startswith("tree ") and label.endswith(" --json"))
    if not by_id or not out.strip():
        return out
    found = json.loads(out)
    rows = found if isinstance(found, list) else found["rows"]
    rows.sort(key=lambda row: json.dumps(row, sort_keys=True))
    return json.dumps(found, sort_keys=True)


@dataclass
class Run:
    """One side of the comparison: a home, and the store URL (None: the home's files)."""

    root: Path
    url: str | None
    steps: list[tuple[str, int, str, str]] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # session id -> its name in the scenario

    @property
    def home(self) -> Path:
        return self.root / "home"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["CHATLOG_HOME"] = str(self.home)
        env["XDG_CONFIG_HOME"] = str(self.root / "config")
        env["XDG_DATA_HOME"] = str(self.root / "data")
        env["CHATLOG_STORE"] = self.url or ""
        env["NO_COLOR"] = "1"
        env["TZ"] = "UTC"
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        code: int = 0,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command; its exit code must be ``code``."""
        done = subprocess.run(
            [chatlog_executable(), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            env=env or self.env(),
            cwd=self.root,
            check=False,
        )
        self.steps.append((" ".join(args), done.returncode, done.stdout, done.stderr))
        assert done.returncode == code, (self.url, args, done.stdout, done.stderr)
        return done

    def name(self, session_id: str, label: str) -> str:
        self.ids[session_id] = label
        return session_id

    def note(self, label: str, text: str) -> None:
        """Something the scenario observed other than a command's output."""
        self.steps.append((label, 0, text, ""))

    def normalised(self) -> list[tuple[str, int, str, str]]:
        return [
            (self._clean(label), code, _by_name(label, self._clean(out)), self._clean(err))
            for label, code, out, err in self.steps
        ]

    def _clean(self, text: str) -> str:
        for sid, label in self.ids.items():
            text = text.replace(sid, f"<{label}>").replace(sid[-6:], f"<{label}-short>")
        text = text.replace(str(self.root), "<ROOT>")
        if self.url:
            text = text.replace(self.url, "<STORE>")
        archives = STREAM_ARCHIVE if self.url else FILE_ARCHIVE
        text = archives.sub(lambda m: f"<ARCHIVE{m.group(2) or 'S'}>", text)
        text = ARCHIVE_SIZE.sub(
            lambda m: f'{m.group(2)}"<SIZE>"' if m.group(2) else f"<SIZE>{m.group(1)}", text
        )
        text = SESSION_ID.sub("<ID>", text)
        text = ISO_TIME.sub("<TIME>", text)
        text = DATE.sub("<DATE>", text)
        text = CLOCK.sub("<CLOCK>", text)
        return DURATION.sub("<DURATION>", text)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.stderr)
    return done.stdout


def first_line(done: subprocess.CompletedProcess[str]) -> str:
    return ok(done).strip().splitlines()[0]


def read_until(stream: Iterator[str], wanted: str) -> list[str]:
    lines = []
    for line in stream:
        lines.append(line)
        if wanted in line:
            return lines
    raise AssertionError(f"the stream ended before {wanted!r}: {lines}")


@contextlib.contextmanager
def background(run: Run, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``chatlog ARGS`` running beside the scenario; killed if still running at the end."""
    with subprocess.Popen(
        [chatlog_executable(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=run.env(),
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def follow_sees_another_process(run: Run, sid: str) -> None:
    """``tail -f`` prints what another process appends, and ends when it is deleted."""
    with background(run, "tail", "-f", sid) as follower:
        assert follower.stdout is not None and follower.stderr is not None
        seen = read_until(follower.stdout, "last words")
        ok(run.run("append", sid, "--role", "user", input="from another process\n"))
        seen += read_until(follower.stdout, "from another process")
        ok(run.run("delete", sid))
        code = follower.wait(timeout=60)
        run.note("tail -f", "".join(seen) + f"exit {code}\n" + follower.stderr.read())


def watch_takes_in_an_append(run: Run, sid: str) -> None:
    with background(run, "watch") as watcher:
        assert watcher.stdout is not None
        ok(run.run("append", sid, "--role", "user", input="seen by watch\n"))
        line = read_until(watcher.stdout, f"updated {sid}")[-1]
        watcher.terminate()
        code = watcher.wait(timeout=30)
        run.note("watch", f"{line}exit {code}\n")


def scenario(run: Run) -> None:
    """Every command, its common options and its refusals; exit codes are checked here
    (so a command failing the same way on both stores is caught too)."""
    (run.root / "config" / "chatlog").mkdir(parents=True)
    plain = run.env(XDG_CONFIG_HOME=str(run.root / "no-redact"))
    (run.root / "no-redact" / "chatlog").mkdir(parents=True)
    (run.root / "no-redact" / "chatlog" / "config.toml").write_text("redact_secrets = false\n")

    a = run.name(first_line(run.run("new", "--title", "first", "--tag", "alpha")), "A")
    run.run("append", a, "--role", "user", input="hello zebra world\n")
    run.run(
        "append", a, "--role", "assistant", "--tokens", "12", "--meta", "model=gpt-x",
        input="an answer\n",
    )  # fmt: skip
    run.run("append", a, "--role", "user", "--expected-seq", "1", input="stale\n", code=4)
    run.run("append", a, "--role", "user", "--expected-seq", "3", "--json", input="in time\n")
    run.run("append", a, "--role", "user", f"--meta=key={SECRET}", input=f"my key {SECRET}\n")
    run.run("tail", a)
    run.run("tail", a, "--json", "-n", "2")
    run.run("list")
    run.run("list", "--json")
    run.run("show", a)
    run.run("show", a, "--last", "2")
    run.run("show", a, "--at", "2")
    run.run("show", a, "--json")
    run.run("show", a, "--at", "99", code=2)
    run.run("export", a)
    run.run("export", a, "--at", "3")
    run.run("export", a, "-o", "out.md")
    run.run("export", a, "-o", "out.md", code=2)
    run.run("export", a, "--format", "json", "-o", "out.md", "--force")
    run.note("out.md", (run.root / "out.md").read_text(encoding="utf-8"))
    run.run("search", "zebra")
    run.run("search", "--json", "answer")
    run.run("title", a, "renamed")
    run.run("tag", a, "beta")
    run.run("untag", a, "beta")
    run.run("untag", a, "missing", code=2)
    b = run.name(first_line(run.run("fork", a, "--at", "3", "--title", "forked")), "B")
    run.run("append", b, "--role", "user", input="on the fork\n")
    run.run("tree", a)
    run.run("tree", b, "--json")
    run.run("append", a, "--role", "user", env=plain, input=f"raw secret {SECRET}\n")
    run.run("secrets", code=1)
    run.run("secrets", a, "--json", code=1)
    run.run("redact", a, "3", "--reason", "oops")
    run.run("redact", a, "1", code=2)
    run.run("show", a)
    run.run("search", "answer")
    run.run("compact", a)
    run.run("compact")
    run.run("tail", a, "--json")
    run.run("secrets", "--redact")
    run.run("secrets")
    run.run("stats")
    run.run("stats", "--by", "model")
    run.run("stats", "--by", "day", "--json")
    run.run("stats", "--json")
    run.run("delete", b)
    run.run("show", b, code=3)
    run.run("delete", b, code=3)
    run.run("tree", a, "--json")
    run.run("rebuild")
    run.run("rebuild", "--verify")
    run.run("views", a)
    run.note("index.json", (run.home / "index.json").read_text(encoding="utf-8"))
    run.note("view A", (run.home / "sessions" / f"{a}.json").read_text(encoding="utf-8"))
    run.run("fsck")
    run.run("fsck", "--json")
    c = run.name(first_line(run.run("new", "--title", "newest")), "C")
    run.run("cleanup", "--max-sessions", "1", "--dry-run")
    run.run("cleanup", "--max-sessions", "0", "--dry-run", "--purge")
    run.run("cleanup", "--max-sessions", "1", "--json")
    run.run("show", a, code=3)
    run.run("restore", "--list")
    run.run("restore", "--list", "--json")
    run.run("restore", a)
    run.run("restore", a, code=3)
    run.run("show", a, "--last", "1")
    run.run("cleanup", "--max-sessions", "1")
    run.run("cleanup", "--purge", "--max-sessions", "1")
    run.run("restore", "--list")
    watch_takes_in_an_append(run, c)
    run.run("append", c, "--role", "user", input="last words\n")
    follow_sees_another_process(run, c)
    run.run("show", c, code=3)
    chatgpt = SHARED_TESTDATA / "chatgpt" / "example-conversation.json"
    run.run("import", str(chatgpt), "--dry-run")
    for source in (
        chatgpt,
        *(SHARED_TESTDATA / name for name in ("claude-code", "codex", "aider")),
    ):
        run.run("import", str(source))
        run.run("import", str(source), "--json")
    for entry in json.loads(ok(run.run("list", "--json"))):
        if "chatgpt" in entry["tags"]:
            run.run("tree", entry["session_id"])
    run.run("list")
    run.run("stats", "--by", "model")
    run.run("search", "test")
    run.run("rebuild", "--verify")
    run.run("fsck")


def test_every_command_gives_the_same_results_on_jetstream_as_on_files(
    tmp_path: Path, nats_single: NatsCluster
) -> None:
    on_files = Run(tmp_path / "files", None)
    on_stream = Run(tmp_path / "stream", fresh_stream_url(nats_single))
    on_files.root.mkdir()
    on_stream.root.mkdir()
    failed: list[BaseException] = []

    def play(run: Run) -> None:
        try:
            scenario(run)
        except BaseException as exc:  # reported below, in the test's thread
            failed.append(exc)

    players = [threading.Thread(target=play, args=(run,)) for run in (on_files, on_stream)]
    for player in players:
        player.start()
    for player in players:
        player.join()
    if failed:
        raise failed[0]
    files, stream = on_files.normalised(), on_stream.normalised()
    assert len(files) == len(stream)
    differences = [
        f"step {i}: {f[0]}\n  files:  {f[1:]!r}\n  stream: {s[1:]!r}"
        for i, (f, s) in enumerate(zip(files, stream, strict=True))
        if f != s
    ]
    assert not differences, "\n".join(differences)


# ---------------------------------------------------------------- random command sequences


class InProcessRun(Run):
    """The same commands through ``cli.main.main`` in this process (the CLI's own code,
    without a process start per command, so a random sequence stays fast)."""

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        code: int | None = None,
    ) -> subprocess.CompletedProcess[str]:
        store = ["--store", self.url] if self.url else []
        argv = ["--home", str(self.home), *store, *args]
        out, err = io.StringIO(), io.StringIO()
        stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()))
        saved = sys.stdin
        sys.stdin = stdin
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                returncode = main(argv)
        finally:
            sys.stdin = saved
        self.steps.append((" ".join(args), returncode, out.getvalue(), err.getvalue()))
        return subprocess.CompletedProcess(argv, returncode, out.getvalue(), err.getvalue())


WORDS = st.sampled_from(["alpha", "beta", "zebra", "café", "naïve words", "x y z"])
SESSION = st.integers(0, 3)
STEP = st.one_of(
    st.tuples(st.just("new"), WORDS),
    st.tuples(st.just("append"), SESSION, st.sampled_from(["user", "assistant"]), WORDS),
    st.tuples(st.just("title"), SESSION, WORDS),
    st.tuples(st.just("tag"), SESSION, st.sampled_from(["t1", "t2"])),
    st.tuples(st.just("untag"), SESSION, st.sampled_from(["t1", "t2"])),
    st.tuples(st.just("fork"), SESSION, st.integers(1, 4)),
    st.tuples(st.just("redact"), SESSION, st.integers(1, 5)),
    st.tuples(st.just("delete"), SESSION),
    st.tuples(st.just("compact")),
    st.tuples(st.just("cleanup"), st.integers(0, 2)),
    st.tuples(st.just("restore"), SESSION),
    st.tuples(st.just("list")),
)


def play(run: Run, steps: list[tuple[object, ...]]) -> None:
    """``steps`` (session numbers name the sessions made so far, in order), then every
    view of every session."""
    made: list[str] = []

    def session(number: object) -> str:
        return made[int(str(number)) % len(made)]

    for kind, *rest in [("new", "first"), *steps]:
        if kind == "new":
            done = run.run("new", "--title", str(rest[0]))
        elif not made:
            continue
        elif kind == "append":
            done = run.run("append", session(rest[0]), "--role", str(rest[1]), input=str(rest[2]))
        elif kind in ("title", "tag", "untag", "fork", "redact"):
            option = ["--at"] if kind == "fork" else []
            done = run.run(str(kind), session(rest[0]), *option, str(rest[1]))
        elif kind in ("delete", "restore"):
            done = run.run(str(kind), session(rest[0]))
        elif kind == "cleanup":
            done = run.run("cleanup", "--max-sessions", str(rest[0]))
        else:
            done = run.run(str(kind), *(["--json"] if kind == "list" else []))
        if kind in ("new", "fork") and done.returncode == 0:
            made.append(run.name(done.stdout.strip(), f"S{len(made)}"))
    for sid in made:
        run.run("show", sid, "--json")
        run.run("show", sid, "--last", "1", "--json")
        run.run("show", sid, "--at", "2")
        run.run("tail", sid, "--json")
        run.run("tail", sid, "-n", "2")
        run.run("tree", sid, "--json")
        run.run("export", sid)
        run.run("export", sid, "--format", "json", "--at", "3")
    for command in (
        ["list", "--json"],
        ["search", "--json", "zebra"],
        ["search", "--json", "cafe"],
        ["stats", "--by", "session", "--json"],
        ["stats", "--by", "tag", "--csv"],
        ["stats", "--by", "month", "--utc"],
        ["stats"],
        ["list"],
        ["rebuild", "--views"],
        ["restore", "--list", "--json"],
        ["fsck", "--json"],
        ["secrets", "--json"],
        ["rebuild", "--verify"],
    ):
        run.run(*command)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, max_size=12))
def test_random_command_sequences_give_the_same_results_on_both_stores(
    tmp_path_factory: pytest.TempPathFactory,
    nats_single: NatsCluster,
    steps: list[tuple[object, ...]],
) -> None:
    root = tmp_path_factory.mktemp("random")
    on_files = InProcessRun(root / "files", None)
    on_stream = InProcessRun(root / "stream", fresh_stream_url(nats_single))
    for run in (on_files, on_stream):
        run.root.mkdir()
        play(run, steps)
    files, stream = on_files.normalised(), on_stream.normalised()
    differences = [
        f"step {i}: {f[0]}\n  files:  {f[1:]!r}\n  stream: {s[1:]!r}"
        for i, (f, s) in enumerate(zip(files, stream, strict=True))
        if f != s
    ]
    assert not differences, "\n".join(differences)
