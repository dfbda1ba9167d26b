"""Full-text search: ranked hits with snippets, words matched regardless of case and
accents, and user input never taken as FTS5 syntax."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import EventLog, InvalidArgumentError
from projections import Projections
from projections.db import ProjectionDB
from projections.search import match_expression
from tests.conftest import run_chatlog


@pytest.fixture
def projections(log: EventLog) -> Iterator[Projections]:
    with Projections(log, durable=False) as proj:
        yield proj


@pytest.fixture
def corpus(log: EventLog) -> dict[str, str]:
    auth = log.create_session(title="Auth")
    log.append(auth, "user", "My login fails with an authentication error")
    log.append(auth, "assistant", "Check the token expiry. The token expiry is too short.")
    cafe = log.create_session(title="Café")
    log.append(cafe, "user", "Where is the best Café in Lisbon?")
    log.append(cafe, "assistant", "Try the one near the river; the token is accepted there.")
    syntax = log.create_session()
    log.append(syntax, "user", 'Why does SELECT * FROM t WHERE a:b AND "x" NEAR(y) -- fail?')
    return {"auth": auth, "cafe": cafe, "syntax": syntax}


class TestMatching:
    def test_hits_are_ranked_by_bm25_best_first(
        self, projections: Projections, corpus: dict[str, str]
    ) -> None:
        hits = projections.search("token")
        assert [(h.session_id, h.seq) for h in hits] == [(corpus["auth"], 3), (corpus["cafe"], 3)]
        assert hits[0].rank < hits[1].rank

    def test_every_word_must_match(self, projections: Projections, corpus: dict[str, str]) -> None:
        assert [h.session_id for h in projections.search("token river")] == [corpus["cafe"]]
        assert projections.search("token lisbon") == []

    def test_case_and_accents_do_not_matter(
        self, projections: Projections, corpus: dict[str, str]
    ) -> None:
        assert [h.session_id for h in projections.search("CAFE")] == [corpus["cafe"]]

    def test_a_quoted_phrase_matches_adjacent_words_only(
        self, projections: Projections, corpus: dict[str, str]
    ) -> None:
        assert len(projections.search('"token expiry"')) == 1
        assert projections.search('"expiry token"') == []

    def test_a_trailing_star_searches_a_prefix(
        self, projections: Projections, corpus: dict[str, str]
    ) -> None:
        hits = projections.search("authent*")
        assert [(h.session_id, h.seq) for h in hits] == [(corpus["auth"], 2)]

    def test_a_hit_carries_session_title_role_time_and_a_highlighted_snippet(
        self, projections: Projections, corpus: dict[str, str], log: EventLog
    ) -> None:
        (hit,) = projections.search("lisbon")
        assert (hit.session_id, hit.title, hit.seq, hit.role) == (corpus["cafe"], "Café", 2, "user")
        assert hit.snippet == "Where is the best Café in «Lisbon»?"
        assert hit.timestamp == list(log.read(corpus["cafe"]))[1].ts
        log.set_title(corpus["cafe"], "Coffee")
        assert projections.search("lisbon")[0].title == "Coffee"

    def test_the_limit_caps_the_hits(
        self, projections: Projections, corpus: dict[str, str]
    ) -> None:
        assert len(projections.search("the", limit=1)) == 1

    def test_new_messages_are_found_without_an_explicit_catch_up(
        self, projections: Projections, corpus: dict[str, str], log: EventLog
    ) -> None:
        assert projections.search("zeppelin") == []
        log.append(corpus["auth"], "user", "what about a zeppelin")
        assert len(projections.search("zeppelin")) == 1


class TestSyntaxIsJustText:
    @pytest.mark.parametrize(
        "query",
        [
            '"',
            '""',
            "*",
            "(",
            ")",
            "NEAR",
            "NEAR(a b)",
            "-",
            "--",
            ":",
            "a:b",
            "content:token",
            "^token",
            "AND",
            "token OR",
            "NOT token",
            '"unterminated',
            "{a b}",
            "+",
            "'",
            "\\",
            "SELECT * FROM t",
            "😀",
            "token*  *",
        ],
    )
    def test_fts_syntax_characters_never_crash(
        self, projections: Projections, corpus: dict[str, str], query: str
    ) -> None:
        try:
            hits = projections.search(query)
        except InvalidArgumentError as exc:
            assert "empty" in str(exc)
        else:
            assert isinstance(hits, list)

    def test_operators_are_searched_as_words(
        self, projections: Projections, corpus: dict[str, str]
    ) -> None:
        for query in ("NEAR(y)", "a:b", "AND", '"x"', "SELECT * FROM"):
            assert [h.session_id for h in projections.search(query)] == [corpus["syntax"]], query

    @settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(query=st.text(max_size=30))
    def test_any_text_is_a_valid_query_or_a_clear_empty_query_error(
        self, projections: Projections, corpus: dict[str, str], query: str
    ) -> None:
        try:
            projections.search(query)
        except InvalidArgumentError:
            assert not match_expression_or_none(query)

    def test_an_empty_query_is_a_clear_error(self, projections: Projections) -> None:
        with pytest.raises(InvalidArgumentError, match="empty"):
            projections.search("   ")


def match_expression_or_none(query: str) -> str | None:
    try:
        return match_expression(query)
    except InvalidArgumentError:
        return None


class TestSearchCommand:
    def test_search_prints_hits_with_snippets(self, corpus: dict[str, str]) -> None:
        result = run_chatlog("search", "token", "expiry")
        assert result.returncode == 0, result.stderr
        head, snippet = result.stdout.splitlines()
        assert head.startswith(corpus["auth"].rsplit("_", 1)[1] + " #3 assistant")
        assert head.endswith("Auth")
        assert "«token» «expiry»" in snippet

    def test_search_json_lists_every_field(self, corpus: dict[str, str]) -> None:
        result = run_chatlog("search", "lisbon", "--json")
        (hit,) = json.loads(result.stdout)
        assert set(hit) == {"session_id", "title", "seq", "role", "timestamp", "snippet", "rank"}
        assert hit["session_id"] == corpus["cafe"]

    def test_search_with_fts_syntax_from_the_command_line(self, corpus: dict[str, str]) -> None:
        for args in (['"x" NEAR(y'], ["--", "-- fail?"], ["a:b", "*"], ['"']):
            result = run_chatlog("search", *args, "--json")
            assert result.returncode in (0, 2), result.stderr
            assert "Traceback" not in result.stderr
        found = run_chatlog("search", "--json", "--", "-- fail?")
        assert [h["session_id"] for h in json.loads(found.stdout)] == [corpus["syntax"]]

    def test_no_match_is_an_empty_result_not_an_error(self, corpus: dict[str, str]) -> None:
        result = run_chatlog("search", "xylophone")
        assert (result.returncode, result.stdout) == (0, "")
        assert "no messages match" in result.stderr
        assert json.loads(run_chatlog("search", "xylophone", "--json").stdout) == []


class TestAfterARebuild:
    """A rebuild fills the full-text index in bulk; afterwards it must behave exactly like
    one kept up row by row."""

    def test_a_rebuilt_index_finds_every_message_and_keeps_following_changes(
        self, log: EventLog, projections: Projections, corpus: dict[str, str]
    ) -> None:
        projections.catch_up()
        before = [(h.session_id, h.seq) for h in projections.search("token")]
        projections.rebuild()
        assert [(h.session_id, h.seq) for h in projections.search("token")] == before

        later = log.append(corpus["auth"], "user", "a quokka stole my token")
        assert [(h.session_id, h.seq) for h in projections.search("quokka")] == [
            (corpus["auth"], later.seq)
        ]
        projections.delete_session(corpus["cafe"])
        assert projections.search("Lisbon") == []
        assert {h.session_id for h in projections.search("token")} == {corpus["auth"]}

    def test_a_rebuild_that_fails_midway_keeps_the_old_index_and_the_next_one_recovers(
        self, log: EventLog, projections: Projections, corpus: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:  # fmt: skip
        projections.catch_up()

        def failing(db: object, rows: object) -> None:
            raise RuntimeError("disk went away mid-rebuild")

        with monkeypatch.context() as patch:
            patch.setattr(ProjectionDB, "write_rows", failing)
            with pytest.raises(RuntimeError):
                projections.rebuild()
        assert {h.session_id for h in projections.search("token")} == {
            corpus["auth"],
            corpus["cafe"],
        }
        log.append(corpus["auth"], "user", "an ocelot appears")
        assert len(projections.search("ocelot")) == 1
