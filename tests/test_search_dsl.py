"""The OpenSearch query DSL on a real tantivy index: orders, BM25 sanity, paging, errors, random bodies."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.search.errors import SearchRequestError
from pertinent.search.index import IndexField, ItemIndex
from pertinent.search.query_dsl import (
    MAX_RESULT_WINDOW,
    minimum_should_match,
    parse_search_body,
    raw_search,
    search,
)
from tests.test_search_index import MOVIE_FIELDS, build_index, movie_catalog


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> ItemIndex:
    """The five hand-written movies of tests.test_search_index.small_catalog."""
    return build_index(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> ItemIndex:
    """300 generated movies."""
    return build_index(tmp_path_factory.mktemp("catalog"), movie_catalog(300))


def ids(response: dict[str, Any]) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


def scores(response: dict[str, Any]) -> list[float]:
    return [hit["_score"] for hit in response["hits"]["hits"]]


def query(index: ItemIndex, clause: dict[str, Any], **body: Any) -> dict[str, Any]:
    return search(index, {"query": clause, **body})


# -- shape -------------------------------------------------------------------------------------------------


def test_response_shape(small: ItemIndex) -> None:
    response = search(small, {"query": {"match": {"TITLE": "jumanji"}}}, index_name="movies")
    assert set(response) == {"took", "timed_out", "_shards", "hits"}
    assert isinstance(response["took"], int) and response["timed_out"] is False
    assert response["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    assert response["hits"]["total"] == {"value": 1, "relation": "eq"}
    (hit,) = response["hits"]["hits"]
    assert hit["_index"] == "movies" and hit["_id"] == "2"
    assert hit["_score"] == response["hits"]["max_score"] > 0
    assert hit["_source"] == {
        "ITEM_ID": "2",
        "TITLE": "Jumanji",
        "GENRES": "Adventure|Fantasy",
        "YEAR": 1995,
        "RATING": 3.5,
    }


def test_empty_body_is_match_all_first_ten(catalog: ItemIndex) -> None:
    for body in (None, {}, {"query": {"match_all": {}}}):
        response = search(catalog, body)
        assert ids(response) == [f"m{n}" for n in range(10)]  # index order
        assert scores(response) == [1.0] * 10
        assert response["hits"]["total"] == {"value": 300, "relation": "eq"}


def test_no_hits(small: ItemIndex) -> None:
    response = query(small, {"match": {"TITLE": "zebra"}})
    assert response["hits"] == {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []}


# -- exact orders ----------------------------------------------------------------------------------------


def test_match_orders_by_bm25(small: ItemIndex) -> None:
    # "Toy Story" is shorter than "Toy Story 2", so the same two terms score higher in it.
    assert ids(query(small, {"match": {"TITLE": "toy story"}})) == ["1", "3"]
    assert ids(query(small, {"match": {"TITLE": {"query": "story 2", "operator": "and"}}})) == ["3"]
    assert ids(query(small, {"match": {"TITLE": {"query": "toy 2 robot", "minimum_should_match": 2}}})) == [
        "3"
    ]
    # One of three terms suffices; "robot" (one movie) is rarer than "toy" (two), so movie 5 beats movie 1.
    assert ids(
        query(small, {"match": {"TITLE": {"query": "toy 2 robot", "minimum_should_match": "-2"}}})
    ) == [
        "3",
        "5",
        "1",
    ]


def test_match_analyzes_the_query(small: ItemIndex) -> None:
    assert ids(query(small, {"match": {"TITLE": "RUN DOG"}})) == ["4"]
    assert ids(query(small, {"match": {"GENRES": "comedy"}})) == ["3", "1"]  # tokenized categorical
    assert ids(query(small, {"match": {"TITLE": "!!!"}})) == []  # no terms: zero_terms_query none
    assert len(ids(query(small, {"match": {"TITLE": {"query": "!!!", "zero_terms_query": "all"}}}))) == 5


def test_match_phrase(small: ItemIndex) -> None:
    assert ids(query(small, {"match_phrase": {"TITLE": "toy story"}})) == ["1", "3"]
    assert ids(query(small, {"match_phrase": {"TITLE": "story toy"}})) == []
    assert ids(query(small, {"match_phrase": {"TITLE": {"query": "story toy", "slop": 2}}})) == ["1", "3"]
    assert ids(query(small, {"match_phrase": {"TITLE": "space robot"}})) == ["5"]
    assert ids(query(small, {"match_phrase": {"TITLE": "robot"}})) == ["5"]


def test_multi_match_types(small: ItemIndex) -> None:
    body = {"query": "comedy toy", "fields": ["TITLE", "GENRES"]}
    title = {h["_id"]: h["_score"] for h in query(small, {"match": {"TITLE": "comedy toy"}})["hits"]["hits"]}
    genres = {
        h["_id"]: h["_score"] for h in query(small, {"match": {"GENRES": "comedy toy"}})["hits"]["hits"]
    }
    assert title["1"] > title["3"] and genres["3"] > genres["1"]
    # best_fields is the best field's score (tie_breaker 0): movie 1 wins on its title.
    best = query(small, {"multi_match": body})
    assert ids(best) == ["1", "3"]
    assert scores(best) == [max(title["1"], genres["1"]), max(title["3"], genres["3"])]
    # most_fields sums the fields: movie 3's two fields add up to more.
    most = query(small, {"multi_match": {**body, "type": "most_fields"}})
    assert ids(most) == ["3", "1"]
    assert scores(most) == pytest.approx([title["3"] + genres["3"], title["1"] + genres["1"]], rel=1e-6)
    tie = query(small, {"multi_match": {**body, "tie_breaker": 0.5}})
    assert scores(tie)[0] == pytest.approx(title["1"] + 0.5 * genres["1"], rel=1e-6)
    phrase = query(
        small, {"multi_match": {"query": "toy story", "type": "phrase", "fields": ["TITLE", "GENRES"]}}
    )
    assert ids(phrase) == ["1", "3"]


def test_multi_match_default_and_wildcard_fields(small: ItemIndex) -> None:
    assert ids(query(small, {"multi_match": {"query": "comedy"}})) == ["3", "1"]
    assert ids(query(small, {"multi_match": {"query": "comedy", "fields": "GEN*"}})) == ["3", "1"]
    assert ids(query(small, {"multi_match": {"query": "comedy", "fields": ["NOPE"]}})) == []


def test_term_terms_ids_range(small: ItemIndex) -> None:
    assert ids(query(small, {"term": {"GENRES": "Comedy"}})) == ["3", "1"]
    assert ids(query(small, {"term": {"GENRES": "comedy"}})) == []  # exact value
    assert ids(query(small, {"term": {"GENRES": {"value": "Sci-Fi", "boost": 2}}})) == ["5"]
    assert ids(query(small, {"term": {"ITEM_ID": "4"}})) == ["4"]
    assert ids(query(small, {"term": {"YEAR": 1995}})) == ["1", "2"]
    assert ids(query(small, {"term": {"YEAR": "1995"}})) == ["1", "2"]
    assert ids(query(small, {"term": {"YEAR": 1995.5}})) == []
    assert ids(query(small, {"term": {"RATING": 4}})) == ["3"]
    assert ids(query(small, {"term": {"TITLE": "toy"}})) == ["1", "3"]  # a text field's token
    response = query(small, {"terms": {"GENRES": ["Drama", "Sci-Fi"], "boost": 3}})
    assert ids(response) == ["4", "5"] and scores(response) == [3.0, 3.0]
    assert ids(query(small, {"terms": {"YEAR": [1999, 2004]}})) == ["3", "4"]
    assert ids(query(small, {"terms": {"GENRES": []}})) == []
    assert ids(query(small, {"ids": {"values": ["5", "1", "x"]}})) == ["1", "5"]
    assert ids(query(small, {"range": {"YEAR": {"gte": 1995, "lt": 1999}}})) == ["1", "2"]
    assert ids(query(small, {"range": {"YEAR": {"gt": 1995.5, "lte": "2004"}}})) == ["3", "4"]
    assert ids(query(small, {"range": {"YEAR": {"gt": 2004}}})) == []
    assert ids(query(small, {"range": {"YEAR": {}}})) == ["1", "2", "3", "4"]  # has a YEAR
    assert ids(query(small, {"range": {"RATING": {"gt": 3.5}}})) == ["1", "3"]
    assert ids(query(small, {"range": {"RATING": {"gte": 3.5, "lte": 3.5}}})) == ["2"]
    assert ids(query(small, {"range": {"RATING": {"gt": 3.5, "lt": 3.5}}})) == []
    assert ids(query(small, {"range": {"NOPE": {"gt": 1}}})) == []


def test_bool(small: ItemIndex) -> None:
    must = query(small, {"match": {"TITLE": "toy"}})
    filtered = query(
        small, {"bool": {"must": {"match": {"TITLE": "toy"}}, "filter": [{"range": {"YEAR": {"lte": 1995}}}]}}
    )
    assert ids(filtered) == ["1"]
    assert scores(filtered)[0] == scores(must)[0]  # a filter adds nothing to the score
    only_filter = query(small, {"bool": {"filter": {"term": {"GENRES": "Adventure"}}}})
    assert ids(only_filter) == ["1", "2"] and scores(only_filter) == [0.0, 0.0]
    only_not = query(small, {"bool": {"must_not": [{"match": {"TITLE": "toy"}}, {"term": {"YEAR": 2004}}]}})
    assert ids(only_not) == ["2", "5"] and scores(only_not) == [0.0, 0.0]
    should = {"should": [{"match": {"TITLE": "toy"}}, {"term": {"GENRES": "Comedy"}}]}
    assert ids(query(small, {"bool": should})) == ["3", "1"]  # the sum of both clauses decides
    assert ids(query(small, {"bool": {**should, "minimum_should_match": 2}})) == ["3", "1"]
    # Like Lucene, a minimum above the number of should clauses is clamped to it.
    assert ids(query(small, {"bool": {**should, "minimum_should_match": 3}})) == ["3", "1"]
    one_of = {"should": [{"term": {"ITEM_ID": "4"}}, {"term": {"GENRES": "Drama"}}, {"term": {"YEAR": 1995}}]}
    assert ids(query(small, {"bool": {**one_of, "minimum_should_match": "67%"}})) == ["4"]
    optional = query(
        small, {"bool": {"must": {"term": {"YEAR": 1995}}, "should": {"match": {"TITLE": "toy"}}}}
    )
    assert ids(optional) == ["1", "2"]  # should is optional beside must, but adds to the score
    assert scores(optional)[0] > scores(optional)[1]
    assert ids(query(small, {"bool": {}})) == ["1", "2", "3", "4", "5"]
    nested = {
        "bool": {"must": [{"bool": {"should": [{"term": {"ITEM_ID": "4"}}, {"term": {"ITEM_ID": "5"}}]}}]}
    }
    assert ids(query(small, nested)) == ["4", "5"]


def test_dis_max_constant_score_match_none(small: ItemIndex) -> None:
    response = query(small, {"constant_score": {"filter": {"match": {"TITLE": "toy"}}, "boost": 1.5}})
    assert ids(response) == ["1", "3"] and scores(response) == [1.5, 1.5]
    dis_max = {"dis_max": {"queries": [{"match": {"TITLE": "jumanji"}}, {"match": {"GENRES": "drama"}}]}}
    assert sorted(ids(query(small, dis_max))) == ["2", "4"]
    assert ids(query(small, {"match_none": {}})) == []
    assert scores(query(small, {"match_all": {"boost": 2}}, size=1)) == [2.0]


# -- BM25 sanity -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sanity(tmp_path_factory: pytest.TempPathFactory) -> ItemIndex:
    index = ItemIndex.create(
        tmp_path_factory.mktemp("sanity"), [IndexField("TITLE", "text"), IndexField("GENRES", "categorical")]
    )
    index.replace_all(
        pa.table(
            {
                "ITEM_ID": ["s1", "s2", "s3", "r1", "p", "q"],
                "TITLE": ["space", "space", "space", "robot", "adventure", "quiet"],
                "GENRES": ["Drama", "Drama", "Drama", "Drama", "Drama", "Adventure"],
            }
        )
    )
    return index


def test_rarer_term_scores_higher(sanity: ItemIndex) -> None:
    response = query(sanity, {"match": {"TITLE": "space robot"}})
    assert ids(response) == ["r1", "s1", "s2", "s3"]
    assert scores(response)[0] > scores(response)[1] == scores(response)[2] == scores(response)[3]


def test_boosts_change_the_order(sanity: ItemIndex) -> None:
    title_first = query(sanity, {"multi_match": {"query": "adventure", "fields": ["TITLE^10", "GENRES"]}})
    genres_first = query(sanity, {"multi_match": {"query": "adventure", "fields": ["TITLE", "GENRES^10"]}})
    assert ids(title_first) == ["p", "q"]
    assert ids(genres_first) == ["q", "p"]
    boosted = query(
        sanity,
        {
            "bool": {
                "should": [
                    {"match": {"TITLE": {"query": "adventure", "boost": 0.1}}},
                    {"match": {"GENRES": "adventure"}},
                ]
            }
        },
    )
    assert ids(boosted) == ["q", "p"]
    plain = scores(query(sanity, {"match": {"TITLE": "robot"}}))[0]
    assert scores(query(sanity, {"match": {"TITLE": {"query": "robot", "boost": 2}}}))[0] == pytest.approx(
        2 * plain
    )


# -- paging and totals -------------------------------------------------------------------------------------


def test_from_size_pages_through_the_same_order(catalog: ItemIndex) -> None:
    clause = {"multi_match": {"query": "space love night", "fields": ["TITLE^2", "GENRES"]}}
    everything = ids(query(catalog, clause, size=200))
    assert len(everything) > 40
    pages = [ids(query(catalog, clause, **{"from": start, "size": 15})) for start in range(0, 45, 15)]
    assert [item for page in pages for item in page] == everything[:45]
    second = query(catalog, clause, **{"from": 15, "size": 15})
    assert second["hits"]["max_score"] == scores(query(catalog, clause, size=1))[0]  # the best of all hits
    assert query(catalog, clause, size=0)["hits"]["hits"] == []
    assert query(catalog, clause, size=0)["hits"]["max_score"] is None
    assert query(catalog, clause, **{"from": 5000, "size": 10})["hits"]["hits"] == []
    assert query(catalog, clause, size="5")["hits"]["hits"] == query(catalog, clause, size=5)["hits"]["hits"]


def test_track_total_hits(catalog: ItemIndex) -> None:
    assert search(catalog, {"track_total_hits": 100})["hits"]["total"] == {"value": 100, "relation": "gte"}
    assert search(catalog, {"track_total_hits": True})["hits"]["total"] == {"value": 300, "relation": "eq"}
    assert "total" not in search(catalog, {"track_total_hits": False})["hits"]
    assert "total" not in search(catalog, {"track_total_hits": -1})["hits"]


def test_source_filtering(small: ItemIndex) -> None:
    body: dict[str, Any] = {"query": {"term": {"ITEM_ID": "1"}}}
    assert search(small, {**body, "_source": False})["hits"]["hits"][0].keys() == {"_index", "_id", "_score"}
    assert search(small, {**body, "_source": "TITLE"})["hits"]["hits"][0]["_source"] == {"TITLE": "Toy Story"}
    assert search(small, {**body, "_source": ["T*", "YEAR"]})["hits"]["hits"][0]["_source"] == {
        "TITLE": "Toy Story",
        "YEAR": 1995,
    }
    excluded = search(small, {**body, "_source": {"excludes": ["GENRES", "R*"]}})["hits"]["hits"][0][
        "_source"
    ]
    assert excluded == {"ITEM_ID": "1", "TITLE": "Toy Story", "YEAR": 1995}


def test_upsert_is_visible_to_search(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    assert ids(query(index, {"match": {"TITLE": "jungle"}})) == []
    index.upsert([{"ITEM_ID": "2", "TITLE": "Jumanji Welcome to the Jungle", "GENRES": "Action"}])
    assert ids(query(index, {"match": {"TITLE": "jungle"}})) == ["2"]
    assert ids(query(index, {"term": {"GENRES": "Fantasy"}})) == []
    assert search(index, None)["hits"]["total"]["value"] == 5


def test_raw_search_gives_the_same_hits(catalog: ItemIndex) -> None:
    body = {"query": {"multi_match": {"query": "golden river", "fields": ["TITLE^3", "GENRES"]}}, "size": 20}
    request = parse_search_body(catalog, body)
    raw = raw_search(catalog, request.query, 20)
    ours = search(catalog, body)
    assert [(score, document["ITEM_ID"][0]) for score, document in raw] == [
        (hit["_score"], hit["_id"]) for hit in ours["hits"]["hits"]
    ]


def test_minimum_should_match_rules() -> None:
    assert [minimum_should_match(spec, 4) for spec in (2, "2", -1, "75%", "-25%", "100%", 9, -9, "0")] == [
        2,
        2,
        3,
        3,
        3,
        4,
        4,
        0,
        0,
    ]


# -- unhappy paths -------------------------------------------------------------------------------------------

VALID_PROCESSOR = {
    "campaign_arn": "arn:aws:personalize:us-west-2:000000000000:campaign/movies",
    "recipe": "aws-personalized-ranking",
    "aws_region": "us-west-2",
    "weight": 0.5,
}


def deep_bool(depth: int) -> dict[str, Any]:
    clause: dict[str, Any] = {"match_all": {}}
    for _ in range(depth):
        clause = {"bool": {"must": clause}}
    return {"query": clause}


BAD_BODIES: list[tuple[Any, str, str]] = [
    ("x", "parsing_exception", "the search body must be a JSON object, not [VALUE_STRING]"),
    ({"query": "x"}, "parsing_exception", "Unknown key for a VALUE_STRING in [query]."),
    ({"query": {}}, "parsing_exception", "query malformed, empty clause found"),
    ({"query": {"foo": {}}}, "parsing_exception", "unknown query [foo]"),
    (
        {"query": {"query_string": {}}},
        "parsing_exception",
        "pertinent does not support the [query_string] query",
    ),
    (
        {"query": {"match": "x"}},
        "parsing_exception",
        "[match] query malformed, no start_object after query name",
    ),
    (
        {"query": {"match_all": {}, "match": {}}},
        "parsing_exception",
        "[match_all] malformed query, expected [END_OBJECT] but found [FIELD_NAME]",
    ),
    (
        {"query": {"match": {"TITLE": "x", "GENRES": "y"}}},
        "parsing_exception",
        "[match] query doesn't support multiple fields, found [TITLE] and [GENRES]",
    ),
    ({"query": {"match": {}}}, "parsing_exception", "[match] query requires a field"),
    (
        {"query": {"match": {"TITLE": {"query": "x", "fuzziness": 1}}}},
        "parsing_exception",
        "pertinent does not support [fuzziness] in the [match] query",
    ),
    (
        {"query": {"match": {"TITLE": {"query": "x", "foo": 1}}}},
        "parsing_exception",
        "[match] query does not support [foo]",
    ),
    (
        {"query": {"match": {"TITLE": {"operator": "and"}}}},
        "parsing_exception",
        "No text specified for text query",
    ),
    (
        {"query": {"match": {"TITLE": ["a"]}}},
        "parsing_exception",
        "[match] unknown token [START_ARRAY] after [TITLE]",
    ),
    (
        {"query": {"match": {"TITLE": {"query": "a", "operator": "xor"}}}},
        "illegal_argument_exception",
        "operator needs to be either [OR, AND], but not [xor]",
    ),
    (
        {"query": {"match": {"TITLE": {"query": "a", "minimum_should_match": "3<90%"}}}},
        "parsing_exception",
        "pertinent does not support minimum_should_match [3<90%]",
    ),
    (
        {"query": {"match": {"YEAR": "soon"}}},
        "query_shard_exception",
        'failed to create query: For input string: "soon"',
    ),
    (
        {"query": {"multi_match": {"fields": ["TITLE"]}}},
        "parsing_exception",
        "No text specified for multi_match query",
    ),
    (
        {"query": {"multi_match": {"query": "x", "type": "foo"}}},
        "parse_exception",
        "failed to parse [multi_match] query type [foo]. unknown type.",
    ),
    (
        {"query": {"multi_match": {"query": "x", "type": "cross_fields"}}},
        "parsing_exception",
        "pertinent does not support [multi_match] type [cross_fields]",
    ),
    (
        {"query": {"multi_match": {"query": "x", "fields": ["TITLE^x"]}}},
        "parsing_exception",
        "[multi_match] invalid boost [x] in field [TITLE^x]",
    ),
    (
        {"query": {"match_all": {"boost": -1}}},
        "illegal_argument_exception",
        "negative [boost] are not allowed.",
    ),
    (
        {"query": {"match_all": {"boost": "big"}}},
        "parsing_exception",
        "[match_all] [boost] must be a number, got [big]",
    ),
    ({"query": {"bool": {"must": "x"}}}, "parsing_exception", "[bool] query does not support [must]"),
    ({"query": {"bool": {"foo": []}}}, "parsing_exception", "[bool] query does not support [foo]"),
    (
        {"query": {"bool": {"must": ["x"]}}},
        "parsing_exception",
        "[_na] query malformed, must start with start_object",
    ),
    ({"query": {"term": {"GENRES": {"value": None}}}}, "illegal_argument_exception", "value cannot be null"),
    (
        {"query": {"terms": {"GENRES": "Comedy"}}},
        "parsing_exception",
        "[terms] query does not support [GENRES]",
    ),
    (
        {"query": {"terms": {"GENRES": {"index": "i", "id": "1", "path": "p"}}}},
        "parsing_exception",
        "pertinent does not support terms lookup in the [terms] query",
    ),
    (
        {"query": {"range": {"YEAR": {"gte": "abc"}}}},
        "query_shard_exception",
        'failed to create query: For input string: "abc"',
    ),
    (
        {"query": {"range": {"TITLE": {"gte": 1}}}},
        "query_shard_exception",
        "failed to create query: [range] queries run on numeric fields only; [TITLE] is a text field",
    ),
    (
        {"query": {"range": {"YEAR": {"from": 1}}}},
        "parsing_exception",
        "[range] query does not support [from]",
    ),
    (
        {"query": {"match_phrase": {"TITLE": {"query": "a b", "slop": -1}}}},
        "illegal_argument_exception",
        "No negative slop allowed.",
    ),
    (
        {"query": {"dis_max": {"queries": [{"match_all": {}}], "tie_breaker": 1.5}}},
        "illegal_argument_exception",
        "tieBreakerMultiplier must be in [0, 1]",
    ),
    (
        {"query": {"dis_max": {"queries": []}}},
        "parsing_exception",
        "[dis_max] requires 'queries' field with at least one clause",
    ),
    ({"from": -1}, "illegal_argument_exception", "[from] parameter cannot be negative, found [-1]"),
    ({"size": -1}, "illegal_argument_exception", "[size] parameter cannot be negative, found [-1]"),
    ({"size": "abc"}, "number_format_exception", 'For input string: "abc"'),
    ({"size": {}}, "parsing_exception", "Unknown key for a START_OBJECT in [size]."),
    ({"size": 2**40}, "x_content_parse_exception", f"Numeric value ({2**40}) out of range of int"),
    (
        {"from": MAX_RESULT_WINDOW - 10, "size": 11},
        "illegal_argument_exception",
        "Result window is too large, from + size must be less than or equal to: [10000] but was [10001]. See "
        "the scroll api for a more efficient way to request large data sets. This limit can be set by changing "
        "the [index.max_result_window] index level setting.",
    ),
    ({"sort": ["YEAR"]}, "parsing_exception", "pertinent does not support [sort] in a search body"),
    ({"foo": 1}, "parsing_exception", "Unknown key for a VALUE_NUMBER in [foo]."),
    ({"ext": {"foo": {}}}, "named_object_not_found_exception", "unknown field [foo]"),
    (
        {"ext": {"personalize_request_parameters": {"user_id": 1}}},
        "x_content_parse_exception",
        "[personalize_request_parameters] user_id doesn't support values of type: VALUE_NUMBER",
    ),
    (
        {"track_total_hits": -2},
        "illegal_argument_exception",
        "[track_total_hits] parameter must be positive or equals to -1, got -2",
    ),
    (
        {"search_pipeline": {"response_processors": [{"personalized_search_ranking": VALID_PROCESSOR}]}},
        "illegal_state_exception",
        "personalized_search_ranking processor may not be instantiated as part of a search request. Create a "
        "named search pipeline instead.",
    ),
    (
        {"query": {"bool": {"should": [{"match_all": {}}] * 1025}}},
        "too_many_clauses",
        "maxClauseCount is set to 1024",
    ),
    ({"query": {"match": {"TITLE": "word " * 1025}}}, "too_many_clauses", "maxClauseCount is set to 1024"),
    (deep_bool(40), "parsing_exception", "the query is nested deeper than [32] levels"),
]


@pytest.mark.parametrize(("body", "error_type", "reason"), BAD_BODIES)
def test_malformed_bodies(small: ItemIndex, body: Any, error_type: str, reason: str) -> None:
    with pytest.raises(SearchRequestError) as info:
        search(small, body)
    assert (info.value.type, info.value.reason) == (error_type, reason)
    rendered = info.value.to_dict()
    assert rendered["error"]["type"] == error_type and rendered["error"]["root_cause"][0]["reason"] == reason
    assert rendered["status"] == 400  # the request's fault: never a 5xx


def test_lenient_and_unknown_fields_match_nothing(small: ItemIndex) -> None:
    assert ids(query(small, {"match": {"YEAR": {"query": "soon", "lenient": True}}})) == []
    assert ids(query(small, {"match": {"NOPE": "toy"}})) == []
    assert ids(query(small, {"term": {"NOPE": "toy"}})) == []
    assert search(small, {"search_pipeline": {"response_processors": []}, "size": 1})["hits"]["hits"]


# -- random bodies ---------------------------------------------------------------------------------------

FIELDS = [field.name for field in MOVIE_FIELDS] + ["ITEM_ID", "NOPE", "TITLE^2", "GEN*", "*"]
QUERY_NAMES = [
    "match",
    "match_phrase",
    "multi_match",
    "match_all",
    "match_none",
    "term",
    "terms",
    "ids",
    "range",
    "bool",
    "dis_max",
    "constant_score",
    "exists",
    "foo",
]
PARAMS = [
    "query",
    "fields",
    "type",
    "operator",
    "minimum_should_match",
    "tie_breaker",
    "boost",
    "lenient",
    "slop",
    "zero_terms_query",
    "value",
    "values",
    "gt",
    "gte",
    "lt",
    "lte",
    "must",
    "should",
    "filter",
    "must_not",
    "queries",
    "_name",
    "fuzziness",
]
BODY_KEYS = [
    "query",
    "from",
    "size",
    "_source",
    "track_total_hits",
    "ext",
    "search_pipeline",
    "sort",
    "bogus",
]
WORDS = [
    "toy",
    "story",
    "Comedy",
    "and",
    "or",
    "best_fields",
    "most_fields",
    "phrase",
    "75%",
    "-1",
    "1995",
    "",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS + FIELDS),
    st.text(max_size=6),
)
keys = st.one_of(st.sampled_from(PARAMS + FIELDS + QUERY_NAMES), st.text(max_size=4))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3)),
    max_leaves=12,
)


def _query_strategy() -> st.SearchStrategy[Any]:
    def leaf(name: str) -> st.SearchStrategy[dict[str, Any]]:
        field_body = st.one_of(scalars, st.dictionaries(st.sampled_from(PARAMS), json_values, max_size=3))
        by_field = st.dictionaries(st.sampled_from(FIELDS), field_body, min_size=0, max_size=2)
        params = st.dictionaries(st.sampled_from(PARAMS + FIELDS), json_values, max_size=4)
        return st.builds(lambda body: {name: body}, st.one_of(by_field, params, json_values))

    leaves = st.one_of([leaf(name) for name in QUERY_NAMES])

    def compound(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        clause = st.one_of(children, st.lists(children, max_size=3))
        bool_body = st.dictionaries(
            st.sampled_from(["must", "should", "filter", "must_not", "minimum_should_match", "boost"]),
            st.one_of(clause, scalars),
            max_size=4,
        )
        return st.one_of(
            st.builds(lambda body: {"bool": body}, bool_body),
            st.builds(lambda q: {"dis_max": {"queries": q}}, st.lists(children, max_size=3)),
            st.builds(lambda q: {"constant_score": {"filter": q}}, children),
        )

    return st.recursive(leaves, compound, max_leaves=8)


numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 1995, 1999.5, -0.0, "1995", "4.5", "1e3", "x"]),
)
texts = st.one_of(st.sampled_from(WORDS), st.text(max_size=12), numbers, st.booleans())
boosts = st.one_of(st.floats(min_value=0, max_value=10), st.sampled_from([-1, "2", "x", math.inf]))
msms = st.sampled_from([1, 2, -1, "50%", "-25%", "100%", "3<90%", "x", 0])
fields = st.sampled_from(FIELDS)


def _options(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            key: st.just(value) if not isinstance(value, st.SearchStrategy) else value
            for key, value in required.items()
        },
        optional=optional,
    )


def _plausible_queries() -> st.SearchStrategy[Any]:
    """Well-formed queries with random, sometimes wrong, parameter values: they reach the engine."""
    text_options = {
        "operator": st.sampled_from(["or", "and", "AND", "xor"]),
        "minimum_should_match": msms,
        "boost": boosts,
        "lenient": st.booleans(),
        "zero_terms_query": st.sampled_from(["none", "all", "some"]),
    }
    match = st.builds(
        lambda f, v: {"match": {f: v}}, fields, st.one_of(texts, _options({"query": texts}, text_options))
    )
    phrase = st.builds(
        lambda f, v: {"match_phrase": {f: v}},
        fields,
        st.one_of(texts, _options({"query": texts}, {"slop": st.integers(-1, 3), "boost": boosts})),
    )
    multi = st.builds(
        lambda v: {"multi_match": v},
        _options(
            {"query": texts},
            {
                **text_options,
                "fields": st.one_of(fields, st.lists(fields, max_size=4)),
                "type": st.sampled_from(["best_fields", "most_fields", "phrase", "cross_fields", "x"]),
                "tie_breaker": st.one_of(st.floats(0, 1), st.just("x")),
                "slop": st.integers(-1, 3),
            },
        ),
    )
    term = st.builds(
        lambda f, v: {"term": {f: v}}, fields, st.one_of(texts, _options({"value": texts}, {"boost": boosts}))
    )
    terms = st.builds(lambda f, v: {"terms": {f: v}}, fields, st.lists(texts, max_size=4))
    ids_query = st.builds(
        lambda v: {"ids": {"values": v}}, st.lists(st.sampled_from(["1", "2", "9", 3]), max_size=3)
    )
    bounds = st.dictionaries(
        st.sampled_from(["gt", "gte", "lt", "lte", "boost"]), st.one_of(numbers, st.none())
    )
    range_query = st.builds(lambda f, v: {"range": {f: v}}, fields, bounds)
    match_all = st.builds(lambda v: {"match_all": v}, _options({}, {"boost": boosts}))
    leaves = st.one_of(match, phrase, multi, term, terms, ids_query, range_query, match_all)

    def compound(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        clause = st.one_of(children, st.lists(children, max_size=3))
        bool_query = st.builds(
            lambda v: {"bool": v},
            _options(
                {},
                {
                    "must": clause,
                    "should": clause,
                    "filter": clause,
                    "must_not": clause,
                    "minimum_should_match": msms,
                    "boost": boosts,
                },
            ),
        )
        dis_max = st.builds(
            lambda q, t: {"dis_max": {"queries": q, "tie_breaker": t}},
            st.lists(children, max_size=3),
            st.floats(0, 1),
        )
        constant = st.builds(lambda q, b: {"constant_score": {"filter": q, "boost": b}}, children, boosts)
        return st.one_of(bool_query, dis_max, constant)

    return st.recursive(leaves, compound, max_leaves=8)


bodies = st.one_of(
    st.builds(
        lambda q, page: {"query": q, **page},
        _plausible_queries(),
        _options(
            {}, {"from": st.integers(-1, 12), "size": st.integers(-1, 12), "track_total_hits": st.booleans()}
        ),
    ),
    json_values,
    st.dictionaries(
        st.sampled_from(BODY_KEYS),
        st.one_of(_query_strategy(), json_values, st.integers(min_value=-5, max_value=20_000)),
        max_size=4,
    ),
    st.builds(lambda q: {"query": q}, _query_strategy()),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_random_bodies_only_raise_search_request_errors(small: ItemIndex, body: Any) -> None:
    try:
        response = search(small, body)
    except SearchRequestError as error:
        assert error.reason and error.type and 400 <= error.status <= 500
        return
    hits = response["hits"]["hits"]
    assert len(hits) <= 5
    assert all(isinstance(hit["_score"], float) and not math.isnan(hit["_score"]) for hit in hits)
    assert [hit["_score"] for hit in hits] == sorted((hit["_score"] for hit in hits), reverse=True)
