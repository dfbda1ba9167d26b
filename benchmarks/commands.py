"""Every command on one long session: wall time and peak RSS, measured by the kernel.

For each length L (50k messages of 1 KB by default, also 1M = a 1.16 GB log with
``--large``) a home holding one session of L messages (logs only) gets, each as a new
process whose peak RSS comes from ``wait4`` (see :func:`benchmarks.processes.run_child`):

- ``first_list``: the first ``chatlog list``, which builds the projections;
- interleaved, ``samples[L]`` times each: ``list``, ``show`` (whole, ``--last 3``,
  ``--json``, ``--json --last 3``), ``tail -n 2``, ``export`` (markdown and JSON, to
  stdout and to a file), ``search``, ``fsck``, and ``list_after_append`` (one
  ``EventLog.append`` from this process, untimed, then ``chatlog list``);
- once each, in order: ``rebuild``, ``cleanup`` (a newer one-message session is created
  first, so ``--max-sessions 1`` archives the long one) and ``restore``;
- against ``chatlog serve`` (one server per call, its peak RSS read when it exits):
  ``session.load``, ``session.export`` (markdown and JSON) and a ``session.subscribe``
  replay of every event from seq 1. The time is from the request to the last byte.

Output goes to ``/dev/null`` (stdout) or a file in the work directory, deleted after each
run. The floor, ``chatlog list`` on an empty home, is interleaved with them. Storage: the
bytes of every file under the home against the log's bytes, after the first build, after
the rebuild and after every command.
A command that fails is recorded with its exit status and error line; the rest still run.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import msgspec

from benchmarks.fixtures import HomeSpec, fresh_home, tree_bytes
from benchmarks.harness import TOKENS, Corpus, Json, Progress, Variant, interleave, percentile
from benchmarks.processes import (
    ChildRun,
    chatlog_command,
    finish_child,
    run_child,
    start_child,
    subprocess_env,
)
from eventlog import EventLog

SEARCH_WORDS = 2  # the query: the corpus's most frequent words
SERVER_START_S = 120.0
READ_CHUNK = 1 << 20
FRAME_HEAD = 1 << 16

LABELS = {
    "empty_home": "floor: chatlog list on an empty home",
    "first_list": "chatlog list, first (builds the projections)",
    "list": "chatlog list",
    "list_after_append": "chatlog list right after one append",
    "show": "chatlog show ID",
    "show_last": "chatlog show ID --last 3",
    "show_json": "chatlog show ID --json",
    "show_json_last": "chatlog show ID --json --last 3",
    "tail": "chatlog tail ID -n 2",
    "export_md_stdout": "chatlog export ID (markdown, stdout)",
    "export_md_file": "chatlog export ID -o FILE (markdown)",
    "export_json_stdout": "chatlog export ID --format json (stdout)",
    "export_json_file": "chatlog export ID --format json -o FILE",
    "search": "chatlog search WORDS",
    "fsck": "chatlog fsck",
    "rebuild": "chatlog rebuild",
    "cleanup": "chatlog cleanup --max-sessions 1 (archives it)",
    "restore": "chatlog restore ID",
    "rpc_load": "serve: session.load",
    "rpc_export_md": "serve: session.export (markdown)",
    "rpc_export_json": "serve: session.export (json)",
    "rpc_subscribe": "serve: session.subscribe replay from seq 1",
}


@dataclass(frozen=True)
class CommandsConfig:
    lengths: tuple[int, ...]
    samples: dict[int, int]  # timed runs of each interleaved command, per length
    floor_samples: int = 9  # timed runs of the empty home's list
    message_bytes: int = 1024
    cache_dir: str | None = None  # where sessions of ``cache_from`` messages or more are kept
    cache_from: int = 300_000
    timeout_s: float = 3600.0


@dataclass
class _Outcome:
    """Every run of one command at one length."""

    seconds: list[float]
    peak_rss_bytes: int = 0
    failure: str | None = None

    def add(self, run: ChildRun) -> None:
        self.seconds.append(run.seconds)
        self.peak_rss_bytes = max(self.peak_rss_bytes, run.peak_rss_bytes)
        if run.returncode != 0 and self.failure is None:
            self.failure = f"exit {run.returncode}: {run.stderr_tail}"

    def summary(self) -> Json:
        ordered = sorted(self.seconds)
        return {
            "n": len(ordered),
            "seconds_p50": percentile(ordered, 50) if ordered else None,
            "seconds_max": ordered[-1] if ordered else None,
            "peak_rss_mb": self.peak_rss_bytes / 1e6,
            "failure": self.failure,
        }


class _Bench:
    """One home with one long session, and the ways of running commands on it."""

    def __init__(self, cfg: CommandsConfig, work: Path, length: int, progress: Progress) -> None:
        self.cfg = cfg
        self.work = work
        self.progress = progress
        cache = Path(cfg.cache_dir) if cfg.cache_dir and length >= cfg.cache_from else None
        spec = HomeSpec(1, length, cfg.message_bytes)
        self.home, ids = fresh_home(work / f"home-{length}", spec, progress, cache)
        self.session_id = ids[0]
        self.env = subprocess_env(work)
        self.corpus = Corpus(cfg.message_bytes, variety=16, seed=7)
        self.outcomes: dict[str, _Outcome] = {}
        self.output = work / "output"

    def chatlog(self, *args: str) -> list[str]:
        return [*chatlog_command(), "--home", str(self.home), *args]

    def run(self, name: str, argv: list[str]) -> ChildRun:
        run = run_child(argv, env=self.env, cwd=self.work, timeout=self.cfg.timeout_s)
        self.outcomes.setdefault(name, _Outcome([])).add(run)
        if run.returncode != 0:
            self.progress.step(f"commands: {name} failed: {run.stderr_tail}")
        return run

    def append(self) -> None:
        with EventLog(self.home, fsync="never") as log:
            log.append(self.session_id, "assistant", self.corpus.content(3), TOKENS)

    def remove_output(self) -> None:
        self.output.unlink(missing_ok=True)

    def read_only(self) -> dict[str, list[str]]:
        sid = self.session_id
        out = str(self.output)
        words = self.corpus.vocabulary[:SEARCH_WORDS]
        return {
            "list": self.chatlog("list"),
            "show": self.chatlog("show", sid, "--no-pager"),
            "show_last": self.chatlog("show", sid, "--last", "3", "--no-pager"),
            "show_json": self.chatlog("show", sid, "--json", "--no-pager"),
            "show_json_last": self.chatlog("show", sid, "--json", "--last", "3", "--no-pager"),
            "tail": self.chatlog("tail", sid, "-n", "2"),
            "export_md_stdout": self.chatlog("export", sid),
            "export_md_file": self.chatlog("export", sid, "-o", out, "--force"),
            "export_json_stdout": self.chatlog("export", sid, "--format", "json"),
            "export_json_file": self.chatlog(
                "export", sid, "--format", "json", "-o", out, "--force"
            ),
            "search": self.chatlog("search", *words),
            "fsck": self.chatlog("fsck"),
        }

    def home_bytes(self) -> int:
        return tree_bytes(self.home, keep=lambda path: path.name != "chatlog.sock")

    # ------------------------------------------------------------------ the server

    def serve(self, name: str, method: str, params: Json) -> None:
        """One ``chatlog serve`` for one call; its peak RSS is read when it exits. The
        server is given the home through a short symlink: a Unix socket's path must fit
        in 108 bytes, and a work directory may be deeper than that."""
        report = self.work / "serve-report"
        failure: str | None = None
        seconds = 0.0
        with (
            tempfile.TemporaryDirectory(prefix="clb-") as short,
            open(self.work / "serve-stderr", "w+b") as err,
        ):
            home = Path(short) / "h"
            home.symlink_to(self.home)
            socket_path = home / "chatlog.sock"
            argv = [*chatlog_command(), "--home", str(home), "--fsync", "never", "serve"]
            server = start_child(argv, report, env=self.env, stderr=err)
            try:
                with _connect(socket_path, server, SERVER_START_S) as client:
                    client.settimeout(self.cfg.timeout_s)
                    t0 = time.perf_counter_ns()
                    failure = _call(client, method, params)
                    seconds = (time.perf_counter_ns() - t0) / 1e9
            except (OSError, RuntimeError) as exc:
                err.seek(0)
                said = err.read()[-300:].decode(errors="replace").strip()
                failure = f"{type(exc).__name__}: {exc}: {said}"
            finally:
                if server.poll() is None:
                    server.send_signal(signal.SIGTERM)
                err.seek(0)
                run = finish_child(server, report, SERVER_START_S, err.read()[-300:].decode())
        if failure is None and run.returncode not in (0, -signal.SIGTERM):
            failure = f"serve exited {run.returncode}: {run.stderr_tail.strip()}"
        outcome = self.outcomes.setdefault(name, _Outcome([]))
        outcome.seconds.append(seconds)
        outcome.peak_rss_bytes = max(outcome.peak_rss_bytes, run.peak_rss_bytes)
        if failure is not None:
            outcome.failure = failure
            self.progress.step(f"commands: {name} failed: {failure}")


def _connect(path: Path, server: subprocess.Popen[bytes], limit_s: float) -> socket.socket:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("chatlog serve exited before listening")
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            client.connect(str(path))
        except OSError:
            client.close()
            time.sleep(0.05)
            continue
        return client
    raise RuntimeError("chatlog serve did not start listening")


class _Seq(msgspec.Struct):
    seq: int = 0


class _Frame(msgspec.Struct):
    """Just enough of a JSON-RPC message to follow a call: a response's ``result`` keys
    or ``error``, a notification's ``params.seq``."""

    id: int | None = None
    method: str | None = None
    params: _Seq | None = None
    result: dict[str, object] | None = None
    error: dict[str, object] | None = None


_frame = msgspec.json.Decoder(_Frame)


def _call(client: socket.socket, method: str, params: Json) -> str | None:
    """Send one request and read its answer to the last byte, holding at most
    ``FRAME_HEAD`` bytes of any frame; a subscription is read until the replay reaches
    the session's last seq. Returns a failure, or None."""
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    client.sendall(msgspec.json.encode(request) + b"\n")
    last_seq: int | None = None
    subscribing = method == "session.subscribe"
    for head, size in _frames(client):
        if size > len(head):  # a response too large to hold: its start tells the outcome
            if b'"error"' in head[:200]:
                return f"error response: {head[:200]!r}"
            if not subscribing:
                return None
            continue
        frame = _frame.decode(head)
        if frame.error is not None:
            return f"error response: {frame.error}"
        if frame.id == 1:
            if not subscribing:
                return None
            last_seq = int(str((frame.result or {}).get("last_seq", 0)))
        elif (
            subscribing
            and frame.params is not None
            and last_seq is not None
            and frame.params.seq >= last_seq
        ):
            return None  # the replay reached the last event there was when it started
    return "the server closed the connection before answering"


def _frames(client: socket.socket) -> Iterator[tuple[bytes, int]]:
    """(first ``FRAME_HEAD`` bytes, total size) of each newline-terminated frame."""
    head = bytearray()
    size = 0
    while True:
        chunk = client.recv(READ_CHUNK)
        if not chunk:
            return
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if len(head) < FRAME_HEAD:
                head += piece[: FRAME_HEAD - len(head)]
            size += len(piece)
            if end < 0:
                break
            yield bytes(head), size
            head.clear()
            size = 0
            start = end + 1


def _measure_length(cfg: CommandsConfig, work: Path, length: int, progress: Progress) -> Json:
    bench = _Bench(cfg, work, length, progress)
    log_bytes = tree_bytes(bench.home / "events")
    progress.step(f"commands: first chatlog list on a {length}-message session")
    bench.run("first_list", bench.chatlog("list"))
    storage: Json = {"log_bytes": log_bytes, "after_first_build": bench.home_bytes()}

    variants = [
        Variant(
            name,
            partial(bench.run, name, argv),
            cfg.samples.get(length, 1),
            warmup=0,
            after=bench.remove_output,
        )
        for name, argv in bench.read_only().items()
    ]
    empty = [*chatlog_command(), "--home", str(work / "empty-home"), "list"]
    bench.run("empty_home", empty)  # creates the home: not a sample
    bench.outcomes["empty_home"].seconds.clear()
    variants.append(
        Variant("empty_home", partial(bench.run, "empty_home", empty), cfg.floor_samples, warmup=0)
    )
    variants.append(
        Variant(
            "list_after_append",
            partial(bench.run, "list_after_append", bench.chatlog("list")),
            cfg.samples.get(length, 1),
            warmup=0,
            before=bench.append,
        )
    )
    total = sum(v.samples for v in variants)
    progress.step(f"commands: {len(variants)} commands, {total} runs, interleaved")
    interleave(variants, progress, f"commands ({length})", seed=21, collect_every=0, pause_gc=False)

    progress.step("commands: rebuild, cleanup, restore")
    bench.run("rebuild", bench.chatlog("rebuild"))
    storage["after_rebuild"] = bench.home_bytes()
    with EventLog(bench.home, fsync="never") as log:
        newer = log.create_session(title="newer")
        log.append(newer, "user", "a newer session", TOKENS)
    bench.run("cleanup", bench.chatlog("cleanup", "--max-sessions", "1"))
    bench.run("restore", bench.chatlog("restore", bench.session_id))

    progress.step("commands: chatlog serve: session.load, session.export, subscribe replay")
    session = {"session_id": bench.session_id}
    bench.serve("rpc_load", "session.load", session)
    bench.serve("rpc_export_md", "session.export", {**session, "format": "markdown"})
    bench.serve("rpc_export_json", "session.export", {**session, "format": "json"})
    bench.serve("rpc_subscribe", "session.subscribe", {**session, "from_seq": 1})
    storage["after_commands"] = bench.home_bytes()
    storage["ratio"] = (
        max(storage[key] for key in ("after_first_build", "after_rebuild", "after_commands"))
        / log_bytes
    )
    return {
        "log_bytes": log_bytes,
        "commands": {name: outcome.summary() for name, outcome in bench.outcomes.items()},
        "storage": storage,
    }


def run(cfg: CommandsConfig, work: Path, progress: Progress) -> Json:
    per_length: dict[str, Json] = {}
    for length in cfg.lengths:
        place = work / f"len-{length}"
        place.mkdir()
        per_length[str(length)] = _measure_length(cfg, place, length, progress)
        shutil.rmtree(place, ignore_errors=True)
    failures = [
        f"{name} at {length}: {stats['failure']}"
        for length, section in per_length.items()
        for name, stats in section["commands"].items()
        if stats["failure"]
    ]
    return {
        "lengths": list(cfg.lengths),
        "message_bytes": cfg.message_bytes,
        "labels": LABELS,
        "by_length": per_length,
        "failures": failures,
    }
