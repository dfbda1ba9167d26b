"""An import finds what was imported before through the projections' index of import keys:
it reads only the sessions of the conversations it imports, however many sessions the home
holds, and stays idempotent (branches and their forks included)."""

from __future__ import annotations

from pathlib import Path

from cli.importers.run import Import
from eventlog import AnyEvent, EventLog
from projections import Projections
from tests.test_import_fixtures import CHATGPT_EXPORT, CODEX_ROLLOUT
from tests.test_import_idempotency import make_source


class CountingLog(EventLog):
    """The file store, noting every session whose first or last event is read."""

    def __init__(self, home: Path) -> None:
        super().__init__(home, fsync="never")
        self.looked_at: set[str] = set()

    def first_event(self, session_id: str) -> AnyEvent | None:
        self.looked_at.add(session_id)
        return super().first_event(session_id)


def build_projections(home: Path) -> None:
    with EventLog(home) as log, Projections(log) as projections:
        projections.catch_up()


def run_import(source: Path, home: Path) -> tuple[list[str], set[str]]:
    """Statuses of an import of ``source`` and the sessions whose first event it read."""
    with CountingLog(home) as log:
        summary = Import(source, home, log=log).run()
        return sorted(o.status for o in summary.outcomes), log.looked_at


def test_with_projections_an_import_reads_none_of_the_other_sessions(home: Path) -> None:
    with EventLog(home) as log:
        others = {log.create_session(f"mine {n}") for n in range(40)}
    Import(make_source("chatgpt", home.parent / "old", conversations=2), home).run()
    build_projections(home)

    bigger = make_source("chatgpt", home.parent / "new", conversations=3)
    statuses, looked_at = run_import(bigger, home)
    assert statuses == ["imported", "present", "present"]
    assert not looked_at & others
    # the projections caught up with what that import wrote: a rerun finds it all
    statuses, looked_at = run_import(bigger, home)
    assert statuses == ["present"] * 3
    assert not looked_at & others


def test_without_projections_an_import_scans_the_sessions_once(home: Path) -> None:
    with EventLog(home) as log:
        others = {log.create_session(f"mine {n}") for n in range(5)}
    statuses, looked_at = run_import(CODEX_ROLLOUT, home)
    assert statuses == ["imported"]
    assert others <= looked_at  # no projections were ever built: their first events are read
    assert not (home / "projections.sqlite3").exists()


def test_branches_and_their_forks_are_found_through_the_index(home: Path) -> None:
    first, _ = run_import(CHATGPT_EXPORT, home)
    assert first == ["imported", "imported"]  # the conversation and its second branch (a fork)
    build_projections(home)
    with EventLog(home) as log:
        before = {sid: list(log.read(sid)) for sid in log.session_ids()}
    again, _ = run_import(CHATGPT_EXPORT, home)
    assert again == ["present", "present"]
    with EventLog(home) as log:
        assert {sid: list(log.read(sid)) for sid in log.session_ids()} == before


def test_a_session_deleted_since_the_projections_were_built_is_imported_again(
    home: Path,
) -> None:
    run_import(CODEX_ROLLOUT, home)
    build_projections(home)
    with EventLog(home) as log:
        (sid,) = log.session_ids()
        log.delete_session(sid)
    statuses, _ = run_import(CODEX_ROLLOUT, home)
    assert statuses == ["imported"]
    with EventLog(home) as log:
        assert log.session_ids() == [sid]
