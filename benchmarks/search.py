"""Full-text search latency over many messages (100,000 by default, 1 KB each).

Queries of several kinds, each timed through ``Projections.search(q, limit=20)`` and,
interleaved, as the floor: the bare FTS5 ``MATCH ... ORDER BY rank LIMIT 20`` on the same
index (found in ``projections.sqlite3`` by introspection, opened with the same SQLite),
returning only rowids, without snippets or joins. Words come from the corpus' Zipf-like
vocabulary, so a "common" word matches most messages and a "rare" one a handful.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import sqlean  # type: ignore[import-untyped]

from benchmarks.harness import (
    Corpus,
    Json,
    Progress,
    Variant,
    build_log,
    interleave,
    session_id_for,
    summarize_ns,
    time_once,
)
from eventlog import EventLog
from projections import Projections


@dataclass(frozen=True)
class SearchConfig:
    sessions: int
    messages_per_session: int
    samples: int
    message_bytes: int = 1024


def _queries(corpus: Corpus) -> dict[str, str]:
    vocab = corpus.vocabulary
    return {
        "common": vocab[3],
        "medium": vocab[300],
        "rare": vocab[8000],
        "two_words": f"{vocab[40]} {vocab[900]}",
        "absent": "zzqxjv",
    }


def _fts_table(db: Path) -> str | None:
    conn = sqlean.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND sql LIKE '%USING fts5%'"
        ).fetchall()
    finally:
        conn.close()
    return str(rows[0][0]) if rows else None


def _fts_floor(db: Path, table: str) -> tuple[sqlite3.Connection, Callable[[str], object]]:
    conn = sqlean.connect(f"file:{db}?mode=ro", uri=True)
    sql = f'SELECT rowid FROM "{table}" WHERE "{table}" MATCH ? ORDER BY rank LIMIT 20'

    def query(q: str) -> object:
        terms = " ".join(f'"{w}"' for w in q.split())
        return conn.execute(sql, (terms,)).fetchall()

    return conn, query


def run(cfg: SearchConfig, work: Path, progress: Progress) -> Json:
    corpus = Corpus(cfg.message_bytes, variety=1024, seed=7)
    home = work / "search-home"
    log = EventLog(home, fsync="never")
    total = cfg.sessions * cfg.messages_per_session
    progress.step(f"search: building {cfg.sessions} sessions, {total} messages")
    for n in range(cfg.sessions):
        sid = session_id_for(90_000 + n)
        build_log(
            log.layout.log_path(sid),
            sid,
            cfg.messages_per_session,
            corpus,
            first=n * cfg.messages_per_session,
        )
    proj = Projections(log)
    extra: Json = {}
    conn: sqlite3.Connection | None = None
    try:
        progress.step("search: catch-up (builds the full-text index)")
        extra["index_build_s"] = time_once(proj.catch_up) / 1e9
        queries = _queries(corpus)
        hits = {name: len(list(proj.search(q, limit=20))) for name, q in queries.items()}
        variants: list[Variant] = []
        for name, q in queries.items():
            variants.append(
                Variant(f"search@{name}", partial(proj.search, q, limit=20), cfg.samples)
            )
        db = log.layout.projections_db
        table = _fts_table(db) if db.exists() else None
        if table is not None:
            conn, floor_query = _fts_floor(db, table)
            for name, q in queries.items():
                variants.append(Variant(f"fts5_floor@{name}", partial(floor_query, q), cfg.samples))
        else:
            extra["floor_skipped"] = "no FTS5 table found in projections.sqlite3"
        progress.step(f"search: {len(variants)} query variants, interleaved")
        interleave(variants, progress, "search", seed=7, collect_every=0, pause_gc=False)
    finally:
        proj.close()
        if conn is not None:
            conn.close()
    series: dict[str, dict[str, Json]] = {"search": {}, "fts5_floor": {}}
    for v in variants:
        name, query_kind = v.key.split("@", 1)
        series[name][query_kind] = summarize_ns(v.results)
    for query_kind, stats in series["search"].items():
        ref = series["fts5_floor"].get(query_kind, {})
        for q in ("p50", "p99"):
            base = ref.get(q)
            stats[f"{q}_vs_floor"] = stats[q] / base if base else None
    return {
        "unit": "ms",
        "messages": total,
        "sessions": cfg.sessions,
        "message_bytes": cfg.message_bytes,
        "queries": queries,
        "hits": hits,
        "labels": {
            "search": "Projections.search(q, limit=20)",
            "fts5_floor": "floor: bare FTS5 MATCH ORDER BY rank LIMIT 20",
        },
        "series": series,
        **extra,
    }
