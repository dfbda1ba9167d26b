"""The store contract on JetStream: a single server, and a few cases on a 3-node R3 cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eventlog.jetstream import JetStreamStore
from eventlog.store import EventStore
from tests.conftest import fresh_stream_url
from tests.nats_servers import NatsCluster
from tests.store_contract import StoreContract

CLUSTER_CASES = {
    "test_appends_get_contiguous_seqs_and_come_back_as_written",
    "test_a_stale_expected_seq_raises_seq_conflict_and_stores_nothing",
    "test_appends_from_many_threads_keep_seqs_contiguous",
    "test_a_second_handle_sees_appends_and_conflicts_with_a_stale_seq",
    "test_a_position_of_a_deleted_and_recreated_session_restarts",
    "test_the_change_feed_reports_appends_creates_and_deletes",
    "test_a_follower_delivers_every_event_acknowledged_before_a_delete",
    "test_archive_retires_a_session_and_restore_brings_it_back_identical",
}


class TestJetStreamSingleNode(StoreContract):
    @pytest.fixture
    def url(self, nats_single: NatsCluster) -> str:
        return fresh_stream_url(nats_single)

    @pytest.fixture
    def store(self, url: str) -> Iterator[EventStore]:
        with JetStreamStore(url) as store:
            yield store

    @pytest.fixture
    def second_store(self, url: str, store: EventStore) -> Iterator[EventStore]:
        with JetStreamStore(url) as other:
            yield other


class TestJetStreamCluster(TestJetStreamSingleNode):
    @pytest.fixture
    def url(self, nats_cluster: NatsCluster) -> str:
        return fresh_stream_url(nats_cluster)

    def test_the_stream_has_three_replicas_on_a_three_node_cluster(
        self, store: JetStreamStore
    ) -> None:
        assert store.replicas == 3


for _name in dir(StoreContract):
    if _name.startswith("test_") and _name not in CLUSTER_CASES:
        setattr(TestJetStreamCluster, _name, None)
