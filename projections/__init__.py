"""Projections: folds over the event log (index, snapshots, markdown, search) and their upkeep.

Everything here can be deleted and rebuilt from ``events/``; see :mod:`projections.catchup`
for how the files are kept current and :class:`Projections` for the API.
"""

from projections import views
from projections.api import Projections
from projections.catchup import Progress
from projections.records import (
    CatchUpReport,
    RebuildReport,
    SearchHit,
    SessionMeta,
    SessionSnapshot,
    SnapshotMessage,
)

__all__ = [
    "CatchUpReport",
    "Progress",
    "Projections",
    "RebuildReport",
    "SearchHit",
    "SessionMeta",
    "SessionSnapshot",
    "SnapshotMessage",
    "views",
]
