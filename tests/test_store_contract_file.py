"""The store contract on the local file store (EventLog)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import EventLog
from eventlog.store import EventStore
from tests.store_contract import StoreContract


class TestFileStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        with EventLog(tmp_path / "home", fsync="never") as store:
            yield store  # type: ignore[misc]

    @pytest.fixture
    def second_store(self, tmp_path: Path, store: EventStore) -> Iterator[EventStore]:
        with EventLog(tmp_path / "home", fsync="never") as other:
            yield other  # type: ignore[misc]
