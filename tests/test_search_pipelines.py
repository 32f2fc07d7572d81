"""Search pipeline config, ext parameters and the personalized_search_ranking processor (reference §1.5–§2)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pertinent.errors import InvalidInputException, ResourceNotFoundException
from pertinent.search.errors import SearchPipelineProcessingError, SearchRequestError
from pertinent.search.pipelines import (
    PROCESSOR_TYPE,
    PersonalizedRankingProcessor,
    PersonalizeRequestParameters,
    ProcessorStats,
    apply_pipeline,
    apply_search_pipeline,
    parse_pipeline,
    parse_processor,
    parse_request_parameters,
    request_parameters_from_body,
)
from pertinent.search.query_dsl import search
from tests.test_search_index import build_index, movie_catalog

CAMPAIGN = "arn:aws:personalize:us-west-2:000000000000:campaign/movies"
ROLE = "arn:aws:iam::000000000000:role/search"


def config(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "campaign_arn": CAMPAIGN,
        "recipe": "aws-personalized-ranking",
        "aws_region": "us-west-2",
        "weight": "0.6",
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def config_error(cfg: Any, **kwargs: Any) -> SearchRequestError:
    with pytest.raises(SearchRequestError) as info:
        parse_processor(cfg, **kwargs)
    return info.value


def pipeline_error(body: Any, **kwargs: Any) -> SearchRequestError:
    with pytest.raises(SearchRequestError) as info:
        parse_pipeline("my-pipeline", body, **kwargs)
    return info.value


# -- configuration ---------------------------------------------------------------------------------------


def test_documented_example_parses() -> None:
    pipeline = parse_pipeline(
        "my-pipeline",
        {
            "description": "Personalized search",
            "response_processors": [
                {
                    PROCESSOR_TYPE: {
                        "campaign_arn": CAMPAIGN,
                        "item_id_field": "ITEM_ID",
                        "recipe": "aws-personalized-ranking",
                        "weight": "0.3",
                        "tag": "personalize-processor",
                        "iam_role_arn": ROLE,
                        "aws_region": "us-west-2",
                        "ignore_failure": True,
                    }
                }
            ],
        },
    )
    assert pipeline.description == "Personalized search"
    assert pipeline.version is None
    assert pipeline.response_processors == (
        PersonalizedRankingProcessor(
            campaign_arn=CAMPAIGN,
            recipe="aws-personalized-ranking",
            aws_region="us-west-2",
            weight=0.3,
            item_id_field="ITEM_ID",
            iam_role_arn=ROLE,
            tag="personalize-processor",
            ignore_failure=True,
        ),
    )
    assert pipeline.response_processors[0].name == "personalized_search_ranking:personalize-processor"


@pytest.mark.parametrize(
    ("weight", "expected"), [("0.6", 0.6), (1, 1.0), (0, 0.0), (0.25, 0.25), (" 0.5 ", 0.5), ("0x1p-1", 0.5)]
)
def test_weight_is_a_number_or_numeric_string(weight: Any, expected: float) -> None:
    assert parse_processor(config(weight=weight)).weight == expected


def test_v2_recipe_and_blank_optional_fields() -> None:
    processor = parse_processor(
        config(recipe="aws-personalized-ranking-v2", item_id_field="  ", iam_role_arn="")
    )
    assert processor.recipe == "aws-personalized-ranking-v2"
    assert processor.item_id_field is None and processor.iam_role_arn is None
    assert processor.ignore_failure is False and processor.tag is None


@pytest.mark.parametrize(
    ("overrides", "reason", "property_name"),
    [
        ({"campaign_arn": ...}, "[campaign_arn] required property is missing", "campaign_arn"),
        ({"campaign_arn": None}, "[campaign_arn] required property is missing", "campaign_arn"),
        (
            {"campaign_arn": 5},
            "[campaign_arn] property isn't a string, but of type [java.lang.Integer]",
            "campaign_arn",
        ),
        (
            {"campaign_arn": 2**40},
            "[campaign_arn] property isn't a string, but of type [java.lang.Long]",
            "campaign_arn",
        ),
        (
            {"campaign_arn": "movies"},
            "[campaign_arn] invalid format for Personalize campaign arn",
            "campaign_arn",
        ),
        (
            {"campaign_arn": "arn:aws:s3:::bucket"},
            "[campaign_arn] invalid format for Personalize campaign arn",
            "campaign_arn",
        ),
        (
            {"campaign_arn": "arn:aws:personalize:us-west-2:1:"},
            "[campaign_arn] invalid format for Personalize campaign arn",
            "campaign_arn",
        ),
        (
            {"iam_role_arn": CAMPAIGN},
            "[iam_role_arn] invalid format for Personalize iam role arn",
            "iam_role_arn",
        ),
        (
            {"iam_role_arn": ["x"]},
            "[iam_role_arn] property isn't a string, but of type [java.util.ArrayList]",
            "iam_role_arn",
        ),
        ({"recipe": ...}, "[recipe] required property is missing", "recipe"),
        ({"recipe": "aws-user-personalization"}, "[recipe] not supported recipe provided", "recipe"),
        ({"aws_region": ...}, "[aws_region] required property is missing", "aws_region"),
        (
            {"aws_region": True},
            "[aws_region] property isn't a string, but of type [java.lang.Boolean]",
            "aws_region",
        ),
        (
            {"item_id_field": 1.5},
            "[item_id_field] property isn't a string, but of type [java.lang.Double]",
            "item_id_field",
        ),
        ({"weight": ...}, "[weight] required property is missing", "weight"),
        ({"weight": "abc"}, "[weight] property cannot be converted to a double [abc]", "weight"),
        ({"weight": True}, "[weight] property cannot be converted to a double [true]", "weight"),
        ({"weight": [0.5]}, "[weight] property cannot be converted to a double [[0.5]]", "weight"),
        ({"weight": 1.5}, "[weight] invalid value for weight", "weight"),
        ({"weight": "-0.1"}, "[weight] invalid value for weight", "weight"),
        ({"weight": "NaN"}, "[weight] invalid value for weight", "weight"),  # Java would accept NaN
        ({"weight": "Infinity"}, "[weight] invalid value for weight", "weight"),
    ],
)
def test_processor_field_errors(overrides: dict[str, Any], reason: str, property_name: str) -> None:
    error = config_error(config(**overrides))
    assert (error.type, error.reason, error.status) == ("parse_exception", reason, 400)
    assert error.metadata == {"processor_type": PROCESSOR_TYPE, "property_name": property_name}


def test_error_metadata_carries_the_tag_and_renders_like_opensearch() -> None:
    error = config_error(config(tag="t1", weight=2))
    assert error.to_dict() == {
        "error": {
            "root_cause": [
                {
                    "type": "parse_exception",
                    "reason": "[weight] invalid value for weight",
                    "processor_type": PROCESSOR_TYPE,
                    "processor_tag": "t1",
                    "property_name": "weight",
                }
            ],
            "type": "parse_exception",
            "reason": "[weight] invalid value for weight",
            "processor_type": PROCESSOR_TYPE,
            "processor_tag": "t1",
            "property_name": "weight",
        },
        "status": 400,
    }


def test_first_problem_in_opensearch_order_is_reported() -> None:
    # Reading order: campaign_arn, iam_role_arn, recipe, item_id_field, aws_region, weight.
    assert config_error(config(recipe=..., weight="x")).reason == "[recipe] required property is missing"
    assert (
        config_error(config(aws_region=..., weight="x")).reason == "[aws_region] required property is missing"
    )
    # Validation order after reading: weight range, campaign ARN, IAM role ARN, recipe.
    both = config(weight=3, campaign_arn="bad", iam_role_arn="bad", recipe="bad")
    assert config_error(both).reason == "[weight] invalid value for weight"
    both["weight"] = 0.5
    assert config_error(both).reason == "[campaign_arn] invalid format for Personalize campaign arn"
    both["campaign_arn"] = CAMPAIGN
    assert config_error(both).reason == "[iam_role_arn] invalid format for Personalize iam role arn"
    # A read error comes before every validation error.
    assert config_error(config(weight=3, aws_region=1)).reason.startswith(
        "[aws_region] property isn't a string"
    )


def test_core_properties() -> None:
    error = config_error(config(ignore_failure="true"))
    assert error.reason == "[ignore_failure] property isn't a boolean, but of type [java.lang.String]"
    assert error.metadata == {"property_name": "ignore_failure"}
    error = config_error(config(tag=7))
    assert error.reason == "[tag] property isn't a string, but of type [java.lang.Integer]"
    assert error.metadata == {"property_name": "tag"}
    error = config_error(config(tag="t", description=["d"]))
    assert error.metadata == {"processor_tag": "t", "property_name": "description"}


def test_unsupported_processor_parameters() -> None:
    error = config_error(config(foo=1))
    assert error.type == "parse_exception"
    assert (
        error.reason
        == "processor [personalized_search_ranking] doesn't support one or more provided configuration parameters: [foo]"
    )
    assert error.metadata == {}
    # Several leftovers are listed in java.util.HashMap order (checked on a JVM), and the tag is part of the name.
    error = config_error(config(tag="t1", foo=1, bar=2, external_account_iam_role_arn="x"))
    assert error.reason == (
        "processor [personalized_search_ranking:t1] doesn't support one or more provided configuration "
        "parameters: [bar, foo, external_account_iam_role_arn]"
    )


def test_processor_config_must_be_an_object() -> None:
    assert config_error("x").reason == "property isn't a map, but of type [java.lang.String]"
    assert config_error(None).reason == "the config of processor [personalized_search_ranking] cannot be null"


def test_pipeline_level_errors() -> None:
    error = pipeline_error({"response_processors": [], "foo": 1})
    assert error.type == "parse_exception"
    assert (
        error.reason
        == "pipeline [my-pipeline] doesn't support one or more provided configuration parameters [foo]"
    )
    error = pipeline_error({"response_processors": [{"rename_field": {"field": "a", "target_field": "b"}}]})
    assert (error.type, error.reason) == ("illegal_argument_exception", "Invalid processor type rename_field")
    error = pipeline_error({"request_processors": [{"filter_query": {}}]})
    assert error.reason == "Invalid processor type filter_query"
    error = pipeline_error({"response_processors": {PROCESSOR_TYPE: config()}})
    assert error.reason == "[response_processors] property isn't a list, but of type [java.util.HashMap]"
    assert pipeline_error({"version": "v1"}).reason == "[version] property cannot be converted to an int [v1]"
    assert pipeline_error({"version": 1.0}).reason == "[version] property cannot be converted to an int [1.0]"
    error = pipeline_error({"description": 5})
    assert error.reason == "[description] property isn't a string, but of type [java.lang.Integer]"
    assert pipeline_error([]).type == "parse_exception"
    # A processor error inside a pipeline is the processor's error.
    error = pipeline_error({"response_processors": [{PROCESSOR_TYPE: config(weight=-1)}]})
    assert error.reason == "[weight] invalid value for weight"


def test_pipeline_with_two_processors_and_version() -> None:
    pipeline = parse_pipeline(
        "p",
        {
            "version": "3",
            "request_processors": [],
            "response_processors": [
                {PROCESSOR_TYPE: config(tag="a", weight=0.2)},
                {PROCESSOR_TYPE: config(tag="b", weight=0.8)},
            ],
        },
    )
    assert pipeline.version == 3
    assert [p.tag for p in pipeline.response_processors] == ["a", "b"]


def test_ad_hoc_pipeline_is_refused() -> None:
    error = pipeline_error({"response_processors": [{PROCESSOR_TYPE: config()}]}, ad_hoc=True)
    assert (error.type, error.status) == ("illegal_state_exception", 400)  # a bad request, never a 5xx
    assert error.reason == (
        "personalized_search_ranking processor may not be instantiated as part of a search request. "
        "Create a named search pipeline instead."
    )
    assert parse_pipeline("ad-hoc", {"response_processors": []}, ad_hoc=True).response_processors == ()


# -- ext.personalize_request_parameters ------------------------------------------------------------------


def test_request_parameters() -> None:
    body = {
        "query": {"multi_match": {"query": "Comedy", "fields": ["GENRES"]}},
        "ext": {"personalize_request_parameters": {"user_id": "28", "context": {"DEVICE": "mobile phone"}}},
    }
    assert request_parameters_from_body(body) == PersonalizeRequestParameters(
        "28", {"DEVICE": "mobile phone"}
    )
    assert request_parameters_from_body({"query": {"match_all": {}}}) is None
    assert request_parameters_from_body(None) is None
    assert parse_request_parameters({}) == PersonalizeRequestParameters(None, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            {"user_id": 5},
            "[personalize_request_parameters] user_id doesn't support values of type: VALUE_NUMBER",
        ),
        (
            {"user_id": None},
            "[personalize_request_parameters] user_id doesn't support values of type: VALUE_NULL",
        ),
        (
            {"user_id": "u", "context": "x"},
            "[personalize_request_parameters] context doesn't support values of type: VALUE_STRING",
        ),
        ({"user": "u"}, "[personalize_request_parameters] unknown field [user]"),
        ("u1", "[personalize_request_parameters] Expected START_OBJECT but was: VALUE_STRING"),
    ],
)
def test_request_parameter_errors(value: Any, reason: str) -> None:
    with pytest.raises(SearchRequestError) as info:
        parse_request_parameters(value)
    assert (info.value.type, info.value.reason, info.value.status) == (
        "x_content_parse_exception",
        reason,
        400,
    )


# -- running the processor --------------------------------------------------------------------------------


class RecordingRanker:
    """A ranker that reverses its input (or follows a fixed order) and records every call."""

    def __init__(self, order: Sequence[str] | None = None, error: Exception | None = None) -> None:
        self.order = order
        self.error = error
        self.calls: list[tuple[str, list[str], dict[str, str]]] = []

    def __call__(self, user_id: str, item_ids: list[str], context: dict[str, str]) -> Sequence[str]:
        self.calls.append((user_id, list(item_ids), context))
        if self.error is not None:
            raise self.error
        if self.order is not None:
            return [item for item in self.order if item in item_ids]
        return list(reversed(item_ids))


def response(ids: Sequence[str], *, took: int = 3) -> dict[str, Any]:
    hits = [
        {
            "_index": "items",
            "_id": item,
            "_score": 10.0 - n,
            "_source": {"ITEM_ID": item, "TITLE": f"t{item}"},
        }
        for n, item in enumerate(ids)
    ]
    return {
        "took": took,
        "timed_out": False,
        "hits": {"total": {"value": 42, "relation": "eq"}, "max_score": 10.0 if ids else None, "hits": hits},
    }


def processor(**overrides: Any) -> PersonalizedRankingProcessor:
    return parse_processor(config(**overrides))


def test_weight_one_gives_the_personalized_order() -> None:
    ranker = RecordingRanker()
    original = response(["A", "B", "C"])
    result = apply_pipeline(original, processor(weight=1), ranker, "u1", {"DEVICE": "phone"})
    assert [hit["_id"] for hit in result["hits"]["hits"]] == ["C", "B", "A"]
    assert [hit["_score"] for hit in result["hits"]["hits"]] == [1.0, 0.6309297680854797, 0.5]
    assert result["hits"]["max_score"] == 1.0
    assert result["hits"]["total"] == {"value": 42, "relation": "eq"}
    assert result["took"] >= 3 and result["timed_out"] is False
    assert ranker.calls == [("u1", ["A", "B", "C"], {"DEVICE": "phone"})]
    assert [hit["_id"] for hit in original["hits"]["hits"]] == ["A", "B", "C"]  # input untouched


def test_weight_zero_returns_the_response_but_still_needs_a_user() -> None:
    ranker = RecordingRanker()
    original = response(["A", "B"])
    assert apply_pipeline(original, processor(weight=0), ranker, "u1", None) == original
    assert ranker.calls == []
    with pytest.raises(SearchPipelineProcessingError):
        apply_pipeline(original, processor(weight=0), ranker, None, None)


def test_empty_page_is_returned_without_any_check() -> None:
    ranker = RecordingRanker()
    empty = response([])
    assert apply_pipeline(empty, processor(), ranker, None, {"n": 5}) == empty
    assert ranker.calls == []


@pytest.mark.parametrize("user_id", [None, "", "  \t"])
def test_missing_user_id(user_id: str | None) -> None:
    with pytest.raises(SearchPipelineProcessingError) as info:
        apply_pipeline(response(["A"]), processor(tag="mine"), RecordingRanker(), user_id, None)
    body = info.value.to_dict()
    assert body["status"] == 400
    assert body["error"]["type"] == "parse_exception"
    assert body["error"]["reason"] == "[user_id] required Personalize request parameter is missing"
    assert body["error"]["root_cause"][0]["processor_tag"] == ""  # the plugin throws with tag ""
    assert body["error"]["property_name"] == "user_id"
    assert info.value.processor == "personalized_search_ranking:mine"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(5, "5"), (1.5, "1.5"), (True, "true"), (None, "null"), ({"b": 1, "a": 2}, "{a=2, b=1}")],
)
def test_context_values_must_be_strings(value: Any, shown: str) -> None:
    with pytest.raises(SearchPipelineProcessingError) as info:
        apply_pipeline(response(["A"]), processor(), RecordingRanker(), "u1", {"DEVICE": "x", "n": value})
    assert info.value.cause.reason == (
        "[context] Personalize context value is not of type String. Invalid context value: " + shown
    )


def test_ignore_failure_returns_the_unranked_response(caplog: pytest.LogCaptureFixture) -> None:
    stats = ProcessorStats()
    original = response(["A", "B"])
    with caplog.at_level(logging.WARNING, logger="pertinent.search.pipelines"):
        result = apply_pipeline(
            original,
            processor(ignore_failure=True),
            RecordingRanker(),
            None,
            None,
            pipeline_id="my-pipeline",
            stats=stats,
        )
    assert result == original
    assert (stats.count, stats.failed) == (1, 1)
    assert (
        "The exception from response processor [personalized_search_ranking] in the search pipeline "
        "[my-pipeline] was ignored" in caplog.text
    )


def test_ranker_failures_map_to_opensearch_errors() -> None:
    page = response(["A", "B"])
    not_found = RecordingRanker(error=ResourceNotFoundException("No campaign found"))
    with pytest.raises(SearchPipelineProcessingError) as info:
        apply_pipeline(page, processor(), not_found, "u1", None)
    assert (info.value.cause.type, info.value.status) == ("illegal_argument_exception", 400)
    assert info.value.cause.reason == "ResourceNotFoundException: No campaign found"
    with pytest.raises(SearchPipelineProcessingError) as info:
        apply_pipeline(page, processor(), RecordingRanker(error=RuntimeError("boom")), "u1", None)
    assert info.value.to_dict() == {
        "error": {
            "root_cause": [{"type": "runtime_error", "reason": "boom"}],
            "type": "runtime_error",
            "reason": "boom",
        },
        "status": 500,
    }
    bad_input = RecordingRanker(error=InvalidInputException("bad user"))
    result = apply_pipeline(page, processor(ignore_failure=True), bad_input, "u1", None)
    assert result == page


def test_ranker_must_return_strings() -> None:
    def broken(user_id: str, item_ids: list[str], context: dict[str, str]) -> Sequence[str]:
        return [1, 2]  # type: ignore[list-item]

    with pytest.raises(SearchPipelineProcessingError) as info:
        apply_pipeline(response(["A"]), processor(), broken, "u1", None)
    assert info.value.status == 500


def test_item_id_field_and_hits_without_it() -> None:
    page = response(["A", "B", "C"])
    del page["hits"]["hits"][0]["_source"]["ITEM_ID"]  # the plugin's NullPointerException case
    ranker = RecordingRanker()
    result = apply_pipeline(page, processor(item_id_field="ITEM_ID", weight=1), ranker, "u1", None)
    assert ranker.calls[0][1] == ["B", "C"]
    assert [hit["_id"] for hit in result["hits"]["hits"]] == ["C", "B", "A"]


def test_no_item_ids_at_all() -> None:
    with pytest.raises(SearchPipelineProcessingError) as info:
        apply_pipeline(response(["A"]), processor(item_id_field="SKU"), RecordingRanker(), "u1", None)
    assert info.value.cause.reason == (
        "[item_id_field] no item ids found to apply Personalized reranking. "
        "Please check configured value for item_id_field"
    )


def test_more_than_500_ids_are_ranked_in_chunks() -> None:
    ids = [f"i{n:04d}" for n in range(1200)]
    ranker = RecordingRanker()
    result = apply_pipeline(response(ids), processor(weight=1), ranker, "u1", None)
    assert [len(call[1]) for call in ranker.calls] == [500, 500, 200]
    expected = list(reversed(ids[:500])) + list(reversed(ids[500:1000])) + list(reversed(ids[1000:]))
    assert [hit["_id"] for hit in result["hits"]["hits"]] == expected


def test_repeated_ids_are_sent_once() -> None:
    page = response(["A", "B", "C"])
    page["hits"]["hits"][2]["_source"]["ITEM_ID"] = "A"
    ranker = RecordingRanker()
    apply_pipeline(page, processor(item_id_field="ITEM_ID", weight=0.5), ranker, "u1", None)
    assert ranker.calls[0][1] == ["A", "B"]


def test_response_without_hits_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="hits.hits"):
        apply_pipeline({"took": 1}, processor(ignore_failure=True), RecordingRanker(), "u1", None)


def test_apply_search_pipeline_runs_processors_in_order() -> None:
    pipeline = parse_pipeline(
        "p",
        {
            "response_processors": [
                {PROCESSOR_TYPE: config(tag="first", weight=1)},
                {PROCESSOR_TYPE: config(tag="second", weight=1, ignore_failure=True)},
            ]
        },
    )
    first = RecordingRanker(order=["B", "C", "A"])
    stats = {"personalized_search_ranking:first": ProcessorStats()}
    result = apply_search_pipeline(
        pipeline, response(["A", "B", "C"]), first, PersonalizeRequestParameters("u1"), stats=stats
    )
    # Both processors used the same ranker; the second one re-ranked the first one's output.
    assert [call[1] for call in first.calls] == [["A", "B", "C"], ["B", "C", "A"]]
    assert [hit["_id"] for hit in result["hits"]["hits"]] == ["B", "C", "A"]
    assert stats["personalized_search_ranking:first"].count == 1


# -- on a real index ----------------------------------------------------------------------------------------


def test_search_then_rerank_on_a_real_index(tmp_path: Path) -> None:
    index = build_index(tmp_path, movie_catalog(300))
    body = {
        "query": {"multi_match": {"query": "space love night", "fields": ["TITLE^2", "GENRES"]}},
        "size": 25,
        "ext": {"personalize_request_parameters": {"user_id": "u7", "context": {"DEVICE": "tv"}}},
    }
    response = search(index, body)
    bm25 = [hit["_id"] for hit in response["hits"]["hits"]]
    assert len(bm25) == 25
    parameters = request_parameters_from_body(body)
    assert parameters is not None

    def taste(user_id: str, item_ids: list[str], context: dict[str, str]) -> Sequence[str]:
        # This user likes high item numbers, and the model knows only even-numbered items.
        assert (user_id, context) == ("u7", {"DEVICE": "tv"})
        known = [item for item in item_ids if int(item[1:]) % 2 == 0]
        return sorted(known, key=lambda item: -int(item[1:]))

    # Weight 0: exactly the BM25 order with the BM25 scores.
    zero = apply_pipeline(response, processor(weight=0), taste, parameters.user_id, parameters.context)
    assert zero["hits"] == response["hits"]
    # Weight 1: the personalized order for the ids it ranked, then the others in BM25 order.
    full = apply_pipeline(
        response, processor(weight=1, item_id_field="ITEM_ID"), taste, parameters.user_id, parameters.context
    )
    ranked = sorted((item for item in bm25 if int(item[1:]) % 2 == 0), key=lambda item: -int(item[1:]))
    unranked = [item for item in bm25 if int(item[1:]) % 2 == 1]
    assert [hit["_id"] for hit in full["hits"]["hits"]] == ranked + unranked
    assert full["hits"]["total"] == response["hits"]["total"]
    # In between, every hit keeps its _source and gets the blended float32 score.
    half = apply_pipeline(response, processor(weight=0.5), taste, parameters.user_id, parameters.context)
    assert sorted(hit["_id"] for hit in half["hits"]["hits"]) == sorted(bm25)
    assert all(hit["_source"]["ITEM_ID"] == hit["_id"] for hit in half["hits"]["hits"])
    assert half["hits"]["max_score"] == half["hits"]["hits"][0]["_score"]
