"""Incremental projections equal a full rebuild, byte for byte, whatever happened between
catch-ups: appends, titles, tags, deletions, re-creations, torn tails, garbage lines, and
catch-ups that crashed midway."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlean  # type: ignore[import-untyped]
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from eventlog import EventLog, StorageError, reading
from projections import Projections, catchup
from projections.db import ProjectionDB, RowBatch
from tests.conftest import chatlog_executable, run_chatlog

SESSION_IDS = ["2025-01-01_000001", "2025-01-01_000002", "2025-01-01_000003"]


def projection_files(home: Path, projections: Projections) -> dict[str, Any]:
    """Everything a rebuild must reproduce: every row, the index and session views, and
    the full-text index (its size and what it finds)."""
    files: dict[str, Any] = {
        "rows": projections.db.contents(),
        "index.json": b"".join(projections.index_chunks()),
        "fts rows": projections.db.fts_rows(),
    }
    for meta in projections.list_sessions():
        files[f"sessions/{meta.session_id}.json"] = projections.snapshot_json(meta.session_id)
    for word in ("a", "e", "work", "x*"):
        files[f"search {word}"] = [
            (hit.session_id, hit.seq, hit.snippet) for hit in projections.search(word, 50)
        ]
    return files


class CrashAfter:
    """Make writing the n-th session row of a catch-up fail, as a crash would (the
    transaction is rolled back, as after a kill): rows are written in batches, and the
    batch that holds it fails."""

    def __init__(self, writes: int) -> None:
        self.remaining = writes
        self.real = ProjectionDB.write_rows

    def __call__(self, db: ProjectionDB, rows: RowBatch) -> None:
        if len(rows.sessions) > self.remaining:
            raise StorageError("simulated crash")
        self.remaining -= len(rows.sessions)
        self.real(db, rows)


@contextmanager
def crashing_writes(writes: int) -> Iterator[None]:
    crash = CrashAfter(writes)
    real = ProjectionDB.write_rows

    def write_rows(db: ProjectionDB, rows: RowBatch) -> None:
        crash(db, rows)

    ProjectionDB.write_rows = write_rows  # type: ignore[method-assign]
    try:
        yield
    finally:
        ProjectionDB.write_rows = real  # type: ignore[method-assign]


session = st.sampled_from(SESSION_IDS)
text = st.text(max_size=40)
titles = st.text(max_size=40).filter(lambda t: "\x00" not in t)
tag = st.sampled_from(["work", "home", "ünï"])
json_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


class IncrementalEqualsRebuild(RuleBasedStateMachine):
    """Random histories over three sessions with catch-ups (some crashing midway) at
    random points; the live projections must always equal a rebuild from the logs."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.home = Path(self.tmp.name) / "home"
        self.log = EventLog(self.home, fsync="never")
        self.projections = Projections(self.log, durable=False)

    def teardown(self) -> None:
        try:
            self.projections.catch_up()
            incremental = projection_files(self.home, self.projections)
            self.projections.rebuild()
            assert projection_files(self.home, self.projections) == incremental
        finally:
            self.projections.close()
            self.log.close()
            self.tmp.cleanup()

    def _existing(self, sid: str) -> str:
        if not self.log.exists(sid):
            self.log.create_session(session_id=sid)
        return sid

    @rule(sid=session, title=st.none() | titles, tags=st.lists(tag, max_size=2))
    def create(self, sid: str, title: str | None, tags: list[str]) -> None:
        if not self.log.exists(sid):
            self.log.create_session(title=title, tags=tags, session_id=sid)

    @rule(
        sid=session,
        role=st.sampled_from(["user", "assistant", "system", "tool"]),
        content=text,
        tokens=st.none() | st.integers(0, 5000),
        metadata=st.dictionaries(st.text(max_size=6), json_value, max_size=3),
    )
    def append(
        self, sid: str, role: str, content: str, tokens: int | None, metadata: dict[str, Any]
    ) -> None:
        self.log.append(self._existing(sid), role, content, token_count=tokens, metadata=metadata)

    @rule(sid=session, title=titles)
    def retitle(self, sid: str, title: str) -> None:
        self.log.set_title(self._existing(sid), title)

    @rule(sid=session, tag=tag, add=st.booleans())
    def retag(self, sid: str, tag: str, add: bool) -> None:
        if add:
            self.log.add_tag(self._existing(sid), tag)
        else:
            self.log.remove_tag(self._existing(sid), tag)

    @rule(sid=session)
    def delete(self, sid: str) -> None:
        if self.log.exists(sid):
            self.log.delete_session(sid)

    @rule(sid=session, data=st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b))
    def torn_tail(self, sid: str, data: bytes) -> None:
        """A writer that crashed mid-line; the next append cuts it away."""
        with open(self.log.layout.log_path(self._existing(sid)), "ab") as file:
            file.write(data)

    @rule(sid=session)
    def garbage_line(self, sid: str) -> None:
        with open(self.log.layout.log_path(self._existing(sid)), "ab") as file:
            file.write(b'{"type":"message","seq":99,"oops\n')

    @rule()
    def catch_up_and_compare(self) -> None:
        self.projections.catch_up()
        assert self.projections.verify() == []

    @rule(writes=st.integers(0, 4))
    def crashing_catch_up(self, writes: int) -> None:
        try:
            with crashing_writes(writes):
                self.projections.catch_up()
        except StorageError:
            pass


IncrementalEqualsRebuild.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_incremental_projections_equal_a_full_rebuild_byte_for_byte = IncrementalEqualsRebuild.TestCase


def test_a_crashed_catch_up_is_completed_by_the_next_one(log: EventLog, home: Path) -> None:
    with Projections(log) as projections:
        first = log.create_session(title="one")
        projections.catch_up()
        log.append(first, "user", "hello there")
        second = log.create_session(title="two")
        log.append(second, "user", "general kenobi")
        for writes in range(2):  # crash before each session's row is written
            try:
                with crashing_writes(writes):
                    projections.catch_up()
            except StorageError:
                pass
            # The crashed transaction left nothing half-done behind.
            assert projections.db.contents() == contents_before_crash(projections, first)
        assert projections.list_sessions()[0].message_count == 1
        assert projections.verify() == []
        assert [hit.session_id for hit in projections.search("kenobi")] == [second]


def contents_before_crash(projections: Projections, first: str) -> list[Any]:
    return [row for row in projections.db.contents() if row[1] == first and row[0] == "session"]


@pytest.mark.parametrize("longer", [False, True], ids=["shorter", "longer"])
def test_a_log_deleted_and_recreated_under_the_same_id_is_folded_afresh(
    log: EventLog, home: Path, longer: bool
) -> None:
    """Filesystems hand the freed inode number straight to the new file, so only the
    size (shorter) or the first line (longer) tells the two apart."""
    sid = "2025-02-02_020202"
    with Projections(log) as projections:
        log.create_session(session_id=sid, title="old")
        log.append(sid, "user", "first life message")
        projections.catch_up()
        log.delete_session(sid)
        log.create_session(session_id=sid, title="new")
        if longer:
            log.append(sid, "user", "second life, a much longer message " * 5)
        meta = projections.session_meta(sid)
        assert (meta.title, meta.message_count) == ("new", 1 if longer else 0)
        assert projections.search("first life") == []
        assert projections.verify() == []


def remove_database(home: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (home / f"projections.sqlite3{suffix}").unlink(missing_ok=True)


def test_projection_files_removed_by_hand_are_rebuilt_by_the_next_reader(
    log: EventLog, home: Path
) -> None:
    sid = log.create_session(title="kept")
    log.append(sid, "user", "content survives")
    with Projections(log) as projections:
        projections.catch_up()
        remove_database(home)
        assert [m.session_id for m in projections.list_sessions()] == [sid]
        assert projections.list_sessions()[0].title == "kept"
        assert [hit.session_id for hit in projections.search("survives")] == [sid]
        assert projections.verify() == []


def test_rebuild_verify_reports_a_tampered_row_and_rebuild_repairs_it(home: Path) -> None:
    sid = run_chatlog("new", "--title", "original").stdout.strip()
    run_chatlog("append", sid, "--role", "user", input="hello")
    assert run_chatlog("list").returncode == 0
    db = sqlean.connect(home / "projections.sqlite3")
    db.execute("UPDATE sessions SET title_set = 'tampered'")
    db.commit()
    db.close()

    verified = run_chatlog("rebuild", "--verify")
    assert verified.returncode == 1
    assert "row not produced by a rebuild" in verified.stdout
    assert "tampered" in run_chatlog("list").stdout

    rebuilt = run_chatlog("rebuild")
    assert rebuilt.returncode == 0
    assert "rebuilt 1 session (2 events)" in rebuilt.stderr
    assert "original" in run_chatlog("list").stdout
    assert run_chatlog("rebuild", "--verify").returncode == 0


def test_concurrent_readers_in_several_processes_converge_on_the_rebuild(home: Path) -> None:
    sids = [run_chatlog("new", "--title", f"s{i}").stdout.strip() for i in range(3)]
    script = (
        "import sys\n"
        "from eventlog import EventLog\n"
        "log = EventLog(sys.argv[1], fsync='never')\n"
        "for i in range(150):\n"
        "    log.append(sys.argv[2 + i % 3], 'user', f'message number {i}')\n"
    )
    python = str(Path(chatlog_executable()).with_name("python"))
    writer = subprocess.Popen([python, "-c", script, str(home), *sids])
    readers = [
        subprocess.Popen(
            [chatlog_executable(), "list", "--json"],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "CHATLOG_HOME": str(home)},
        )
        for _ in range(6)
    ]
    assert writer.wait(timeout=60) == 0
    assert all(reader.wait(timeout=60) == 0 for reader in readers)
    with EventLog(home) as log, Projections(log) as projections:
        assert sum(meta.message_count for meta in projections.list_sessions()) == 150
        assert projections.verify() == []


def test_a_catch_up_over_many_sessions_in_small_batches_equals_a_rebuild(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written in many batches, committed many times, a lookup query per few
    sessions, and redactions and re-created sessions among them: the same rows as a
    rebuild folded in one go."""
    monkeypatch.setattr(catchup, "FLUSH_ROWS", 7)
    monkeypatch.setattr(catchup, "COMMIT_EVENTS", 5)
    monkeypatch.setattr(catchup, "LOOKUP_SESSIONS", 3)
    with EventLog(home, fsync="never") as log, Projections(log, durable=False) as projections:
        sids = [log.create_session(title=None if n % 2 else f"s{n}") for n in range(12)]
        for n, sid in enumerate(sids):
            for i in range(n % 4):
                log.append(sid, "user" if i == 0 else "assistant", f"words {n} {i} kenobi")
        projections.catch_up()
        log.redact(sids[5], 2)  # its first user message: the automatic title goes too
        log.delete_session(sids[3])
        log.create_session(session_id=sids[3], title="again")
        for sid in sids[::3]:
            log.append(sid, "user", "more kenobi")
        projections.catch_up()
        incremental = projection_files(home, projections)
        projections.rebuild()
        assert projection_files(home, projections) == incremental
        assert projections.verify() == []
        assert projections.session_meta(sids[5]).title == "[REDACTED]"


def test_a_catch_up_killed_between_its_commits_is_completed_by_the_next_one(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catchup, "FLUSH_ROWS", 4)
    monkeypatch.setattr(catchup, "COMMIT_EVENTS", 4)
    with EventLog(home, fsync="never") as log, Projections(log, durable=False) as projections:
        sids = [log.create_session() for _ in range(10)]
        for sid in sids:
            log.append(sid, "user", f"hello from {sid}")
        with crashing_writes(5), pytest.raises(StorageError):
            projections.catch_up()
        committed = projections.db.count_sessions()
        assert 0 < committed < len(sids)  # some commits happened before the crash
        assert projections.count_sessions() == len(sids)
        incremental = projection_files(home, projections)
        projections.rebuild()
        assert projection_files(home, projections) == incremental


def test_rebuild_progress_counts_the_bytes_read_so_one_long_session_moves_it(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "CHUNK", 4096)
    sid = log.create_session()
    for i in range(200):
        log.append(sid, "user", f"message {i} " + "x" * 100)
    calls: list[tuple[int, int, str]] = []
    with Projections(log) as projections:
        projections.rebuild(lambda done, total, unit: calls.append((done, total, unit)))
    size = log.layout.log_path(sid).stat().st_size
    assert {unit for _d, _t, unit in calls} == {"bytes"}
    assert len(calls) > 5  # one call per chunk read, within the one session
    done = [d for d, _t, _u in calls]
    assert done == sorted(done) and done[-1] == size
    assert {total for _d, total, _u in calls} == {size}
