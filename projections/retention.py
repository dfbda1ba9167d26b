"""Retention without silent loss (the seed kept at most 1000 sessions and deleted the
rest): cleanup archives the least recently updated sessions beyond a limit, restore brings
one back, and only ``--purge`` deletes. The archiving itself is the store's (see
:meth:`eventlog.EventStore.archive`); this module holds the reports and the look-ups."""

from __future__ import annotations

from typing import Final

import msgspec

from eventlog import AmbiguousSessionIdError, EventStore, LogIssue, SessionNotFoundError
from eventlog.home_audit import UnsafeEntry
from eventlog.store import DamageReport, Repair

DEFAULT_MAX_SESSIONS: Final = 1000


class CleanupReport(msgspec.Struct, frozen=True):
    archived: list[str]  # session ids archived (or that would be, on a dry run)
    purged: list[str]  # archive files deleted (or that would be)
    kept: int  # sessions left in the index
    dry_run: bool


class FsckReport(msgspec.Struct, frozen=True):
    sessions_checked: int
    findings: list[DamageReport]  # sessions with damaged or foreign lines
    repairs: list[Repair]
    stale_temps: list[str] = []  # half-written files of killed processes, removed
    unsafe: list[UnsafeEntry] = []  # entries under the home chatlog does not use

    @property
    def damaged(self) -> list[LogIssue]:
        return [issue for check in self.findings for issue in check.damaged]

    @property
    def foreign(self) -> list[LogIssue]:
        return [issue for check in self.findings for issue in check.foreign]

    @property
    def damaged_sessions(self) -> list[str]:
        return [check.session_id for check in self.findings if check.damaged]

    @property
    def clean(self) -> bool:
        """No damage is left in the logs (none found, or all of it repaired)."""
        repaired = {repair.session_id for repair in self.repairs}
        return all(sid in repaired for sid in self.damaged_sessions)


def resolve_archived(store: EventStore, id_or_prefix: str) -> str:
    """An archived session's id from its id, a unique prefix, or its 6-hex suffix."""
    text = id_or_prefix.strip()
    ids = [entry.session_id for entry in store.archived()]
    if text in ids:
        return text
    matches = [sid for sid in ids if text and (sid.startswith(text) or sid.endswith("_" + text))]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SessionNotFoundError(f"no archived session matches {text!r}")
    raise AmbiguousSessionIdError(
        f"{text!r} matches {len(matches)} archived sessions: {', '.join(matches[:5])}"
    )
