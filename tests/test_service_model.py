"""The model-generated request validator and camelCase ⇄ snake_case codec (pertinent.api.service_model).

Request bodies are captured from real boto3 clients (a ``before-send`` hook records the exact bytes and
answers with a canned response), so the tests see what unmodified clients send; encoded responses are fed
back through botocore's own parser to prove clients read them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.api.service_model import (
    SERVICE_NAMES,
    ServiceCodec,
    all_operations,
    java_regex_to_python,
    load_codec,
    load_service_model,
    snake_case,
)
from pertinent.errors import InvalidInputException, UnknownOperationException

DG_ARN = "arn:aws:personalize:us-east-1:123456789012:dataset-group/dg"
CAMPAIGN_ARN = "arn:aws:personalize:us-east-1:123456789012:campaign/c"
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeRole"


@pytest.fixture(scope="module")
def control() -> ServiceCodec:
    return load_codec("personalize")


@pytest.fixture(scope="module")
def runtime() -> ServiceCodec:
    return load_codec("personalize-runtime")


@pytest.fixture(scope="module")
def events() -> ServiceCodec:
    return load_codec("personalize-events")


def _message(codec: ServiceCodec, operation: str, body: Any) -> str:
    with pytest.raises(InvalidInputException) as caught:
        codec.decode_input(operation, body)
    return caught.value.message


def _violations(codec: ServiceCodec, operation: str, body: Any) -> list[str]:
    message = _message(codec, operation, body)
    head, _, rest = message.partition(" detected: ")
    found = rest.split("; ")
    assert head == f"{len(found)} validation error{'s' if len(found) != 1 else ''}", message
    return found


# --------------------------------------------------------------------------------------------------------
# Real boto3 traffic
# --------------------------------------------------------------------------------------------------------


class _Raw:
    """Just enough of urllib3's response for botocore's AWSResponse."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self.body


def _client(service: str, reply: bytes, seen: list[Any], validate: bool = True) -> Any:
    client = boto3.session.Session().client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(parameter_validation=validate, retries={"max_attempts": 1}),
    )

    def answer(request: Any, **kwargs: Any) -> AWSResponse:
        seen.append(request)
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Raw(reply))

    client.meta.events.register("before-send", answer)
    return client


def sent_body(service: str, operation: str, validate: bool = True, **params: Any) -> Any:
    """The JSON body boto3 sends for ``operation(**params)``."""
    seen: list[Any] = []
    getattr(_client(service, b"{}", seen, validate), xform_name(operation))(**params)
    return json.loads(seen[0].body)


def parsed_by_boto3(service: str, operation: str, wire: dict[str, Any], **params: Any) -> dict[str, Any]:
    """What a boto3 client returns when the server answers ``operation`` with ``wire``."""
    seen: list[Any] = []
    client = _client(service, json.dumps(wire).encode(), seen)
    response: dict[str, Any] = getattr(client, xform_name(operation))(**params)
    response.pop("ResponseMetadata")
    return response


def test_create_solution_from_boto3(control: ServiceCodec) -> None:
    body = sent_body(
        "personalize",
        "CreateSolution",
        name="sol",
        datasetGroupArn=DG_ARN,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
        performHPO=True,
        performAutoTraining=False,
        eventType="click",
        solutionConfig={
            "eventValueThreshold": "0.5",
            "algorithmHyperParameters": {"hidden_dimension": "64", "bptt": "32", "recency_mask": "true"},
            "featureTransformationParameters": {"max_hist_length_percentile": "0.99"},
            "hpoConfig": {
                "hpoObjective": {"type": "Maximize", "metricName": "precision_at_25"},
                "hpoResourceConfig": {"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "2"},
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 64}],
                    "continuousHyperParameterRanges": [{"name": "lr", "minValue": 0.001, "maxValue": 0.1}],
                },
            },
            "autoMLConfig": {"metricName": "precision_at_25", "recipeList": []},
            "trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["PRICE"], "USERS": []}},
            "optimizationObjective": {"itemAttribute": "PRICE", "objectiveSensitivity": "MEDIUM"},
            "autoTrainingConfig": {"schedulingExpression": "rate(7 days)"},
        },
        tags=[{"tagKey": "team", "tagValue": "recs"}],
    )
    decoded = control.decode_input("CreateSolution", body)
    assert decoded == {
        "name": "sol",
        "dataset_group_arn": DG_ARN,
        "recipe_arn": "arn:aws:personalize:::recipe/aws-user-personalization",
        "perform_hpo": True,
        "perform_auto_training": False,
        "event_type": "click",
        "solution_config": {
            "event_value_threshold": "0.5",
            "algorithm_hyper_parameters": {"hidden_dimension": "64", "bptt": "32", "recency_mask": "true"},
            "feature_transformation_parameters": {"max_hist_length_percentile": "0.99"},
            "hpo_config": {
                "hpo_objective": {"type": "Maximize", "metric_name": "precision_at_25"},
                "hpo_resource_config": {
                    "max_number_of_training_jobs": "4",
                    "max_parallel_training_jobs": "2",
                },
                "algorithm_hyper_parameter_ranges": {
                    "integer_hyper_parameter_ranges": [{"name": "bptt", "min_value": 2, "max_value": 64}],
                    "continuous_hyper_parameter_ranges": [
                        {"name": "lr", "min_value": 0.001, "max_value": 0.1}
                    ],
                },
            },
            "auto_ml_config": {"metric_name": "precision_at_25", "recipe_list": []},
            "training_data_config": {"excluded_dataset_columns": {"ITEMS": ["PRICE"], "USERS": []}},
            "optimization_objective": {"item_attribute": "PRICE", "objective_sensitivity": "MEDIUM"},
            "auto_training_config": {"scheduling_expression": "rate(7 days)"},
        },
        "tags": [{"tag_key": "team", "tag_value": "recs"}],
    }
    continuous = decoded["solution_config"]["hpo_config"]["algorithm_hyper_parameter_ranges"]
    assert type(continuous["continuous_hyper_parameter_ranges"][0]["min_value"]) is float


def test_put_events_from_boto3(events: ServiceCodec) -> None:
    body = sent_body(
        "personalize-events",
        "PutEvents",
        trackingId="tid",
        userId="u1",
        sessionId="s1",
        eventList=[
            {
                "eventId": "e1",
                "eventType": "click",
                "eventValue": 2.5,
                "itemId": "i1",
                "sentAt": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                "properties": json.dumps({"numberOfRatings": "12"}),
                "recommendationId": "rid",
                "impression": ["i1", "i2"],
                "metricAttribution": {"eventAttributionSource": "email campaign"},
            },
            {"eventType": "watch", "sentAt": dt.datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=dt.UTC)},
        ],
    )
    assert body["eventList"][0]["sentAt"] == 1704067200
    assert isinstance(body["eventList"][0]["properties"], str)
    decoded = events.decode_input("PutEvents", body)
    first, second = decoded["event_list"]
    assert first == {
        "event_id": "e1",
        "event_type": "click",
        "event_value": 2.5,
        "item_id": "i1",
        "sent_at": 1704067200.0,
        "properties": '{"numberOfRatings": "12"}',
        "recommendation_id": "rid",
        "impression": ["i1", "i2"],
        "metric_attribution": {"event_attribution_source": "email campaign"},
    }
    assert type(first["sent_at"]) is float
    assert second == {"event_type": "watch", "sent_at": 1704067201.5}
    assert decoded["tracking_id"] == "tid" and decoded["session_id"] == "s1"


def test_get_recommendations_from_boto3_keeps_map_keys(runtime: ServiceCodec) -> None:
    body = sent_body(
        "personalize-runtime",
        "GetRecommendations",
        campaignArn=CAMPAIGN_ARN,
        userId="u",
        numResults=5,
        context={"DEVICE": "mobile", "time_of_day": "AM"},
        filterArn="arn:aws:personalize:us-east-1:123456789012:filter/f",
        filterValues={"GENRE": '"Comedy"', "max_price": "10"},
        promotions=[{"name": "promo", "percentPromotedItems": 20, "filterValues": {"X": '"y"'}}],
        metadataColumns={"ITEMS": ["TITLE", "GENRES"]},
    )
    decoded = runtime.decode_input("GetRecommendations", body)
    assert decoded["context"] == {"DEVICE": "mobile", "time_of_day": "AM"}
    assert decoded["filter_values"] == {"GENRE": '"Comedy"', "max_price": "10"}
    assert decoded["promotions"] == [
        {"name": "promo", "percent_promoted_items": 20, "filter_values": {"X": '"y"'}}
    ]
    assert decoded["metadata_columns"] == {"ITEMS": ["TITLE", "GENRES"]}
    assert decoded["num_results"] == 5


def test_item_exploration_config_keys_are_kept(control: ServiceCodec) -> None:
    body = sent_body(
        "personalize",
        "CreateCampaign",
        name="c",
        solutionVersionArn="arn:aws:personalize:us-east-1:123456789012:solution/s/$LATEST",
        minProvisionedTPS=2,
        campaignConfig={
            "itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"},
            "enableMetadataWithRecommendations": True,
            "syncWithLatestSolutionVersion": True,
            "rankingInfluence": {"POPULARITY": 0.5},
        },
    )
    decoded = control.decode_input("CreateCampaign", body)
    assert decoded["min_provisioned_tps"] == 2
    assert decoded["campaign_config"] == {
        "item_exploration_config": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"},
        "enable_metadata_with_recommendations": True,
        "sync_with_latest_solution_version": True,
        "ranking_influence": {"POPULARITY": 0.5},
    }


def test_bodies_botocore_does_not_validate_are_rejected(control: ServiceCodec) -> None:
    # botocore checks only required/type/min client-side; max, pattern and enum are the server's job.
    body = sent_body("personalize", "CreateDatasetGroup", name="bad name!", domain="BOGUS")
    assert _violations(control, "CreateDatasetGroup", body) == [
        "Value 'bad name!' at 'name' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*",
        "Value 'BOGUS' at 'domain' failed to satisfy constraint: Member must satisfy enum value set: "
        "[ECOMMERCE, VIDEO_ON_DEMAND]",
    ]


def test_list_filters_output_parsed_by_boto3(control: ServiceCodec) -> None:
    created = dt.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)
    result = {
        "filters": [
            {
                "name": "f",
                "filter_arn": "arn:aws:personalize:us-east-1:123456789012:filter/f",
                "dataset_group_arn": DG_ARN,
                "creation_date_time": created,
                "last_updated_date_time": created.timestamp(),
                "status": "ACTIVE",
                "filter_expression": "EXCLUDE ItemID WHERE Interactions.event_type IN ($T)",  # not in summary
                "_row_id": 7,
            }
        ],
        "next_token": None,
    }
    wire = control.encode_output("ListFilters", result)
    assert wire == {
        "Filters": [
            {
                "name": "f",
                "filterArn": "arn:aws:personalize:us-east-1:123456789012:filter/f",
                "datasetGroupArn": DG_ARN,
                "creationDateTime": created.timestamp(),
                "lastUpdatedDateTime": created.timestamp(),
                "status": "ACTIVE",
            }
        ]
    }
    parsed = parsed_by_boto3("personalize", "ListFilters", wire)
    assert parsed["Filters"][0]["creationDateTime"] == created
    assert parsed["Filters"][0]["name"] == "f"


def test_describe_solution_output_parsed_by_boto3(control: ServiceCodec) -> None:
    naive = dt.datetime(2024, 1, 2, 3, 4, 5)  # naive datetimes are UTC
    result = {
        "solution": {
            "name": "s",
            "solution_arn": "arn:aws:personalize:us-east-1:123456789012:solution/s",
            "perform_hpo": True,
            "perform_auto_ml": False,
            "creation_date_time": naive,
            "solution_config": {
                "algorithm_hyper_parameters": {"hidden_dimension": "64"},
                "hpo_config": {"hpo_objective": {"type": "Maximize"}},
            },
            "latest_solution_version": {
                "solution_version_arn": "v1",
                "status": "ACTIVE",
                "training_hours": 1,
            },
            "auto_ml_result": None,
        }
    }
    wire = control.encode_output("DescribeSolution", result)
    solution = wire["solution"]
    assert solution["performHPO"] is True and solution["performAutoML"] is False
    assert solution["creationDateTime"] == naive.replace(tzinfo=dt.UTC).timestamp()
    assert solution["solutionConfig"] == {
        "algorithmHyperParameters": {"hidden_dimension": "64"},
        "hpoConfig": {"hpoObjective": {"type": "Maximize"}},
    }
    assert "autoMLResult" not in solution
    parsed = parsed_by_boto3(
        "personalize", "DescribeSolution", wire, solutionArn="arn:aws:personalize:x:1:s/s"
    )
    assert parsed["solution"]["performHPO"] is True
    assert parsed["solution"]["creationDateTime"] == naive.replace(tzinfo=dt.UTC)
    # SolutionVersionSummary has no trainingHours: dropped, like every key the shape does not define.
    assert parsed["solution"]["latestSolutionVersion"] == {"solutionVersionArn": "v1", "status": "ACTIVE"}


def test_get_recommendations_output_parsed_by_boto3(runtime: ServiceCodec) -> None:
    numpy = pytest.importorskip("numpy")
    result = {
        "item_list": [
            {"item_id": "i1", "score": numpy.float32(0.75), "metadata": {"TITLE": "Heat"}, "reason": ["r"]},
            {"item_id": "i2", "score": numpy.float64(0.25), "promotion_name": None},
        ],
        "recommendation_id": "RID-1",
    }
    wire = runtime.encode_output("GetRecommendations", result)
    assert wire == {
        "itemList": [
            {"itemId": "i1", "score": 0.75, "metadata": {"TITLE": "Heat"}, "reason": ["r"]},
            {"itemId": "i2", "score": 0.25},
        ],
        "recommendationId": "RID-1",
    }
    assert type(wire["itemList"][0]["score"]) is float
    json.dumps(wire)  # numpy scalars are gone
    parsed = parsed_by_boto3("personalize-runtime", "GetRecommendations", wire, campaignArn=CAMPAIGN_ARN)
    assert parsed == {
        "itemList": [
            {"itemId": "i1", "score": 0.75, "metadata": {"TITLE": "Heat"}, "reason": ["r"]},
            {"itemId": "i2", "score": 0.25},
        ],
        "recommendationId": "RID-1",
    }


def test_events_operations_have_no_output(events: ServiceCodec) -> None:
    assert events.encode_output("PutEvents", {"anything": 1}) == {}
    assert events.encode_output("PutEvents", None) == {}


# --------------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "snake"),
    [
        ("datasetGroupArn", "dataset_group_arn"),
        ("performHPO", "perform_hpo"),
        ("hpoConfig", "hpo_config"),
        ("kmsKeyArn", "kms_key_arn"),
        ("Filters", "filters"),
        ("tunedHPOParams", "tuned_hpo_params"),
        ("minProvisionedTPS", "min_provisioned_tps"),
        ("s3DataSource", "s3_data_source"),
        ("publishAttributionMetricsToS3", "publish_attribution_metrics_to_s3"),
        ("autoMLResult", "auto_ml_result"),
        ("dockerURI", "docker_uri"),
        ("name", "name"),
    ],
)
def test_snake_case(wire: str, snake: str) -> None:
    assert snake_case(wire) == snake


def _structures() -> list[tuple[str, str]]:
    found = []
    for service in SERVICE_NAMES:
        model = load_service_model(service)
        found += [
            (service, name) for name in model.shape_names if model.shape_for(name).type_name == "structure"
        ]
    return found


STRUCTURES = _structures()


def test_every_member_name_round_trips() -> None:
    """snake → wire gives back the model's own name for every member of every structure of all models."""
    checked = 0
    for service, name in STRUCTURES:
        codec = load_codec(service)
        shape = codec.model.shape_for(name)
        names = codec.member_names(name)
        assert list(names) == list(shape.members)
        assert len(set(names.values())) == len(names), name
        for wire, snake in names.items():
            assert snake == snake_case(wire) == xform_name(wire), (name, wire)
            assert snake == snake.lower() and " " not in snake
            member = shape.members[wire]
            sample = _sample(member)
            assert list(codec.encode_shape(name, {snake: sample})) == [wire], (name, wire)
            checked += 1
    assert checked > 700


def _sample(shape: Shape) -> Any:
    """Some snake_case value of a shape, for the naming round-trip."""
    kind = shape.type_name
    if kind == "structure":
        return {}
    if kind == "list":
        return []
    if kind == "map":
        return {}
    if kind == "timestamp":
        return 1.0
    if kind == "boolean":
        return True
    if kind in ("integer", "long", "float", "double"):
        return 1
    return "x"


# --------------------------------------------------------------------------------------------------------
# Valid values generated from the models: decode ∘ encode is the identity on every shape
# --------------------------------------------------------------------------------------------------------


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _strategy(service: str, shape: Shape) -> st.SearchStrategy[Any]:
    """Wire values of ``shape`` that satisfy every model constraint."""
    return _strategy_for(service, shape.name)


def _member_strategy(service: str, member: Shape) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: _strategy(service, member))


@functools.cache
def _strategy_for(service: str, name: str) -> st.SearchStrategy[Any]:
    shape = load_service_model(service).shape_for(name)
    meta = shape.metadata
    kind = shape.type_name
    lo, hi = meta.get("min"), meta.get("max")
    if kind == "string":
        if "enum" in meta:
            return st.sampled_from(meta["enum"])
        low, high = int(lo or 0), int(hi if hi is not None else 40)
        if "pattern" in meta:
            generic = java_regex_to_python(meta["pattern"], linear=False)
            base: st.SearchStrategy[str] = st.from_regex(re.compile(generic, re.ASCII), fullmatch=True)
        else:
            base = st.text(min_size=low, max_size=min(high, max(low, 40)))
        return base.filter(lambda s: low <= _utf16(s) <= high)
    if kind in ("integer", "long"):
        return st.integers(int(lo) if lo is not None else -(2**31), int(hi) if hi is not None else 2**31 - 1)
    if kind in ("float", "double"):
        floats = st.floats(
            float(lo) if lo is not None else None,
            float(hi) if hi is not None else None,
            allow_nan=False,
            allow_infinity=False,
        )
        return floats | st.integers(
            int(lo) if lo is not None else -(10**6), int(hi) if hi is not None else 10**6
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.integers(0, 4_102_444_800) | st.floats(0, 4_102_444_800, allow_nan=False)
    low = int(lo or 0)
    high = min(int(hi) if hi is not None else 3, max(low, 3))
    if kind == "list":
        return st.lists(st.deferred(lambda: _strategy(service, shape.member)), min_size=low, max_size=high)
    if kind == "map":
        return st.dictionaries(
            _strategy(service, shape.key),
            st.deferred(lambda: _strategy(service, shape.value)),
            min_size=low,
            max_size=high,
        )
    if kind == "structure":
        required = set(shape.required_members)
        members = {k: _member_strategy(service, v) for k, v in shape.members.items()}
        return st.fixed_dictionaries(
            {k: v for k, v in members.items() if k in required},
            optional={k: v for k, v in members.items() if k not in required},
        )
    raise AssertionError(f"no strategy for {kind}")


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(data=st.data(), which=st.sampled_from(STRUCTURES))
def test_valid_values_decode_and_encode_back(data: st.DataObject, which: tuple[str, str]) -> None:
    service, name = which
    codec = load_codec(service)
    value = data.draw(_strategy(service, codec.model.shape_for(name)), label=name)
    decoded = codec.decode_shape(name, value)
    assert codec.encode_shape(name, decoded) == value


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(data=st.data())
def test_valid_requests_of_every_operation_are_accepted(data: st.DataObject) -> None:
    service = data.draw(st.sampled_from(SERVICE_NAMES))
    codec = load_codec(service)
    operation = data.draw(st.sampled_from(sorted(codec.operation_names)))
    shape = codec.model.operation_model(operation).input_shape
    body = data.draw(_strategy(service, shape), label=operation)
    decoded = codec.decode_input(operation, body)
    assert codec.encode_shape(shape.name, decoded) == body


# --------------------------------------------------------------------------------------------------------
# Robustness: arbitrary JSON only ever raises InvalidInputException
# --------------------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def _decode_or_invalid(codec: ServiceCodec, operation: str, body: Any) -> None:
    try:
        codec.decode_input(operation, body)
    except InvalidInputException as exc:
        assert exc.message
        assert "detected: " in exc.message or exc.message.startswith("Invalid request body")


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_json_bodies_only_raise_invalid_input(data: st.DataObject) -> None:
    service = data.draw(st.sampled_from(SERVICE_NAMES))
    codec = load_codec(service)
    operation = data.draw(st.sampled_from(sorted(codec.operation_names)))
    members = list(codec.model.operation_model(operation).input_shape.members)
    keys = st.sampled_from(members) | st.text(max_size=8) if members else st.text(max_size=8)
    body = data.draw(JSON | st.dictionaries(keys, JSON, max_size=6))
    _decode_or_invalid(codec, operation, body)


def _mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Replace some nested values of a valid body by arbitrary JSON."""
    if depth > 0 and data.draw(st.integers(0, 4)) == 0:
        return data.draw(JSON)
    if isinstance(value, dict):
        return {k: _mutate(v, data, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, data, depth + 1) for v in value]
    return value


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(data=st.data())
def test_mutated_valid_bodies_only_raise_invalid_input(data: st.DataObject) -> None:
    service = data.draw(st.sampled_from(SERVICE_NAMES))
    codec = load_codec(service)
    operation = data.draw(st.sampled_from(sorted(codec.operation_names)))
    body = data.draw(_strategy(service, codec.model.operation_model(operation).input_shape))
    _decode_or_invalid(codec, operation, _mutate(body, data))


def test_deeply_nested_garbage_is_rejected_not_crashed(control: ServiceCodec) -> None:
    deep: Any = "x"
    for _ in range(900):
        deep = [deep]
    message = _message(control, "CreateSolution", {"name": deep, "datasetGroupArn": DG_ARN})
    assert message.startswith("1 validation error detected: Value '[[[[[[[[...]]]]]]]]' at 'name'")


# --------------------------------------------------------------------------------------------------------
# Every constraint kind, with AWS's paths and messages
# --------------------------------------------------------------------------------------------------------


def test_the_brief_example(control: ServiceCodec) -> None:
    assert _message(control, "CreateSolution", {"name": "bad name!"}) == (
        "2 validation errors detected: Value 'bad name!' at 'name' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*; Value null at 'datasetGroupArn' "
        "failed to satisfy constraint: Member must not be null"
    )


def test_one_error_is_singular(control: ServiceCodec) -> None:
    assert _message(control, "DescribeSolution", {}) == (
        "1 validation error detected: Value null at 'solutionArn' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_null_means_absent(control: ServiceCodec) -> None:
    assert control.decode_input("ListSolutions", {"nextToken": None, "maxResults": None}) == {}
    assert _violations(control, "DescribeSolution", {"solutionArn": None}) == [
        "Value null at 'solutionArn' failed to satisfy constraint: Member must not be null"
    ]


def test_string_length(control: ServiceCodec) -> None:
    assert _violations(control, "CreateDatasetGroup", {"name": "a" * 64}) == [
        f"Value '{'a' * 64}' at 'name' failed to satisfy constraint: Member must have length less than or "
        "equal to 63"
    ]
    assert _violations(control, "CreateDatasetGroup", {"name": ""}) == [
        "Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "^[a-zA-Z0-9][a-zA-Z0-9\\-_]*",
    ]
    assert control.decode_input("CreateDatasetGroup", {"name": "a" * 63}) == {"name": "a" * 63}


def test_string_length_counts_utf16_code_units_like_java(control: ServiceCodec) -> None:
    bold_a = "\U0001d400"  # MATHEMATICAL BOLD CAPITAL A: a letter (Lu) outside the BMP, two Java chars
    ok = {"resourceArn": DG_ARN, "tags": [{"tagKey": "k", "tagValue": bold_a * 128}]}
    assert control.decode_input("TagResource", ok)["tags"][0]["tag_value"] == bold_a * 128
    too_long = {"resourceArn": DG_ARN, "tags": [{"tagKey": "k", "tagValue": bold_a * 129}]}
    assert _violations(control, "TagResource", too_long) == [
        "Value at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than "
        "or equal to 256"
    ]


def test_pattern_must_match_the_whole_value(control: ServiceCodec) -> None:
    assert _violations(control, "CreateDatasetGroup", {"name": "good-prefix then junk"}) == [
        "Value 'good-prefix then junk' at 'name' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*"
    ]
    assert control.decode_input(
        "DescribeSolution", {"solutionArn": "arn:aws:personalize:us-east-1:1:solution/s"}
    )
    for bad in ("xarn:aws:personalize:r:1:solution/s", "arn:aws:personalize:r:1:", "arn:aws:s3:r:1:x"):
        assert _violations(control, "DescribeSolution", {"solutionArn": bad}) == [
            f"Value '{bad}' at 'solutionArn' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: arn:([a-z\\d-]+):personalize:.*:.*:.+"
        ]


def _import_job(location: str) -> dict[str, Any]:
    return {
        "jobName": "j",
        "datasetArn": "arn:aws:personalize:us-east-1:1:dataset/dg/INTERACTIONS",
        "dataSource": {"dataLocation": location},
        "roleArn": ROLE_ARN,
    }


def test_java_dot_does_not_match_line_terminators() -> None:
    strict = ServiceCodec("personalize", pattern_overrides={})  # the model exactly as AWS has it
    decoded = strict.decode_input("CreateDatasetImportJob", _import_job("s3://bucket/file.csv"))
    assert decoded["data_source"] == {"data_location": "s3://bucket/file.csv"}
    for bad in ("s3://bucket/\nfile.csv", "s3://bucket/\u2028x", "/data/ratings.csv", "file:///data/r.csv"):
        assert _violations(strict, "CreateDatasetImportJob", _import_job(bad)) == [
            f"Value '{bad}' at 'dataSource.dataLocation' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern: (s3|http|https)://.+"
        ]


def test_data_locations_may_be_local_paths(control: ServiceCodec) -> None:
    """The one deliberate relaxation: a self-hosted server reads local paths and file:// URLs too."""
    for location in ("/data/ratings.csv", "file:///data/ratings.csv", "data/", "s3://bucket/key.csv"):
        decoded = control.decode_input("CreateDatasetImportJob", _import_job(location))
        assert decoded["data_source"] == {"data_location": location}
    assert _violations(control, "CreateDatasetImportJob", _import_job("/data/\nx.csv")) == [
        "Value '/data/\nx.csv' at 'dataSource.dataLocation' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: .+"
    ]
    assert _violations(control, "CreateDatasetImportJob", _import_job("/" + "d" * 256)) == [
        f"Value '/{'d' * 256}' at 'dataSource.dataLocation' failed to satisfy constraint: Member must have "
        "length less than or equal to 256"
    ]


def test_unicode_property_classes(control: ServiceCodec) -> None:
    tags = [
        {"tagKey": "café_日本:x", "tagValue": "Ünïcødé + ٣٤ @ a=b"},  # letters, numbers, allowed symbols
        {"tagKey": "with space", "tagValue": "\u2028\u3000"},  # \p{Z}: separators
        {"tagKey": "Ⅻ", "tagValue": ""},  # \p{N} includes letter-numbers (Nl)
    ]
    decoded = control.decode_input("TagResource", {"resourceArn": DG_ARN, "tags": tags})
    assert [t["tag_key"] for t in decoded["tags"]] == ["café_日本:x", "with space", "Ⅻ"]
    for bad in ("a!b", "tab\there", "emoji😀"):
        assert _violations(
            control, "TagResource", {"resourceArn": DG_ARN, "tags": [{"tagKey": bad, "tagValue": ""}]}
        ) == [
            "Value at 'tags.1.member.tagKey' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"
        ]


def test_enum(control: ServiceCodec) -> None:
    body: dict[str, Any] = {
        "name": "j",
        "datasetArn": "arn:aws:personalize:r:1:dataset/d",
        "roleArn": ROLE_ARN,
    }
    body |= {"dataSource": {"dataLocation": "s3://b/k"}, "importMode": "full"}
    assert _violations(control, "CreateDatasetImportJob", body) == [
        "Unknown parameter at 'name': must be one of: jobName, datasetArn, dataSource, roleArn, tags, "
        "importMode, publishAttributionMetricsToS3",
        "Value 'full' at 'importMode' failed to satisfy constraint: Member must satisfy enum value set: "
        "[FULL, INCREMENTAL]",
        "Value null at 'jobName' failed to satisfy constraint: Member must not be null",
    ]


def test_integer_range(control: ServiceCodec) -> None:
    assert _violations(control, "ListSolutions", {"maxResults": 101}) == [
        "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal "
        "to 100"
    ]
    assert _violations(control, "ListSolutions", {"maxResults": 0}) == [
        "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or "
        "equal to 1"
    ]
    assert control.decode_input("ListSolutions", {"maxResults": 100.0}) == {"max_results": 100}


def test_double_range_in_nested_list(control: ServiceCodec) -> None:
    ranges = {
        "continuousHyperParameterRanges": [{"name": "a"}, {"name": "lr", "minValue": -2e6, "maxValue": 1}]
    }
    body = {
        "name": "s",
        "datasetGroupArn": DG_ARN,
        "solutionConfig": {"hpoConfig": {"algorithmHyperParameterRanges": ranges}},
    }
    assert _violations(control, "CreateSolution", body) == [
        "Value '-2000000.0' at 'solutionConfig.hpoConfig.algorithmHyperParameterRanges."
        "continuousHyperParameterRanges.2.member.minValue' failed to satisfy constraint: Member must have "
        "value greater than or equal to -1000000.0"
    ]


def test_double_map_value_range_and_enum_keys(control: ServiceCodec) -> None:
    body = {
        "name": "c",
        "solutionVersionArn": "arn:aws:personalize:r:1:solution/s/1",
        "campaignConfig": {"rankingInfluence": {"POPULARITY": 1.5, "RECENCY": 0.1}},
    }
    assert _violations(control, "CreateCampaign", body) == [
        "Value '{POPULARITY=1.5, RECENCY=0.1}' at 'campaignConfig.rankingInfluence' failed to satisfy "
        "constraint: Map keys must satisfy constraint: [Member must satisfy enum value set: "
        "[POPULARITY, FRESHNESS]]",
        "Value '{POPULARITY=1.5, RECENCY=0.1}' at 'campaignConfig.rankingInfluence' failed to satisfy "
        "constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
        "Member must have value greater than or equal to 0.0]",
    ]


def test_list_size(events: ServiceCodec) -> None:
    event = {"eventType": "click", "sentAt": 1}
    body = {"trackingId": "t", "sessionId": "s", "eventList": [event] * 11}
    assert _violations(events, "PutEvents", body) == [
        # Event is sensitive: its value is never echoed.
        "Value at 'eventList' failed to satisfy constraint: Member must have length less than or equal to 10"
    ]
    body["eventList"] = []
    assert _violations(events, "PutEvents", body) == [
        "Value at 'eventList' failed to satisfy constraint: Member must have length greater than or "
        "equal to 1"
    ]
    assert len(events.decode_input("PutEvents", body | {"eventList": [event] * 10})["event_list"]) == 10


def test_list_items_in_structures_use_one_based_member_paths(events: ServiceCodec) -> None:
    body = {
        "trackingId": "t",
        "sessionId": "s",
        "eventList": [
            {"eventType": "click", "sentAt": 1},
            {"eventType": "click"},
            {"sentAt": "yesterday", "eventType": "x"},
            None,
        ],
    }
    assert _violations(events, "PutEvents", body) == [
        "Value null at 'eventList.2.member.sentAt' failed to satisfy constraint: Member must not be null",
        "Value at 'eventList.3.member.sentAt' failed to satisfy constraint: Member must be a timestamp "
        "(epoch seconds or ISO-8601)",
        "Value null at 'eventList.4.member' failed to satisfy constraint: Member must not be null",
    ]


def test_scalar_list_items_are_reported_once_at_the_list(control: ServiceCodec, events: ServiceCodec) -> None:
    body: dict[str, Any] = {
        "trackingId": "t",
        "sessionId": "s",
        "eventList": [{"eventType": "c", "sentAt": 1, "impression": ["", "x" * 257]}],
    }
    assert _violations(events, "PutEvents", body) == [
        "Value at 'eventList.1.member.impression' failed to satisfy constraint: Member must satisfy "
        "constraint: [Member must have length less than or equal to 256, Member must have length greater "
        "than or equal to 1]"
    ]
    body = {
        "metricAttributionArn": "arn:aws:personalize:r:1:metric-attribution/m",
        "removeMetrics": ["ok", "x" * 300],
    }
    assert _violations(control, "UpdateMetricAttribution", body) == [
        f"Value '[ok, {'x' * 300}]' at 'removeMetrics' failed to satisfy constraint: Member must satisfy "
        "constraint: [Member must have length less than or equal to 256]"
    ]
    body["removeMetrics"] = ["ok", 7, None]
    assert _violations(control, "UpdateMetricAttribution", body) == [
        "Value '7' at 'removeMetrics.2.member' failed to satisfy constraint: Member must be a string",
        "Value null at 'removeMetrics.3.member' failed to satisfy constraint: Member must not be null",
    ]


def test_map_of_lists_paths(control: ServiceCodec) -> None:
    config = {
        "trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["PRICE", "bad col"], "bad-type": []}}
    }
    body = {"name": "s", "datasetGroupArn": DG_ARN, "solutionConfig": config}
    assert _violations(control, "CreateSolution", body) == [
        "Value '[PRICE, bad col]' at 'solutionConfig.trainingDataConfig.excludedDatasetColumns.ITEMS' failed "
        "to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal "
        "to 150, Member must satisfy regular expression pattern: [A-Za-z_][A-Za-z\\d_]*]",
        "Value '{ITEMS=[PRICE, bad col], bad-type=[]}' at 'solutionConfig.trainingDataConfig."
        "excludedDatasetColumns' failed to satisfy constraint: Map keys must satisfy constraint: "
        "[Member must have length less than or equal to 256, Member must satisfy regular expression "
        "pattern: ^[A-Za-z_]+$]",
    ]


def test_map_size_keys_and_sensitive_values(runtime: ServiceCodec) -> None:
    body = {"campaignArn": CAMPAIGN_ARN, "filterValues": {f"K{i}": '"v"' for i in range(26)}}
    assert _violations(runtime, "GetRecommendations", body) == [
        "Value at 'filterValues' failed to satisfy constraint: Member must have length less than or "
        "equal to 25"
    ]
    secret = "s" * 1001
    body = {"campaignArn": CAMPAIGN_ARN, "context": {"bad key": "v", "DEVICE": secret}}
    found = _violations(runtime, "GetRecommendations", body)
    assert found == [
        "Value at 'context' failed to satisfy constraint: Map keys must satisfy constraint: "
        "[Member must have length less than or equal to 150, Member must satisfy regular expression "
        "pattern: [A-Za-z\\d_]+]",
        "Value at 'context' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 1000]",
    ]
    body = {"campaignArn": CAMPAIGN_ARN, "filterValues": {"GENRE": 3, "X": None}}
    assert _violations(runtime, "GetRecommendations", body) == [
        "Value at 'filterValues.GENRE' failed to satisfy constraint: Member must be a string",
        "Value null at 'filterValues.X' failed to satisfy constraint: Member must not be null",
    ]


def test_sensitive_values_are_never_echoed(control: ServiceCodec, events: ServiceCodec) -> None:
    secret = 'EXCLUDE ItemID WHERE Items.SECRET IN ("' + "z" * 2500 + '")'
    message = _message(
        control, "CreateFilter", {"name": "f", "datasetGroupArn": DG_ARN, "filterExpression": secret}
    )
    assert message == (
        "1 validation error detected: Value at 'filterExpression' failed to satisfy constraint: Member must "
        "have length less than or equal to 2500"
    )
    body = {
        "trackingId": "t",
        "sessionId": "s",
        "eventList": [{"eventType": "c", "sentAt": 1, "properties": 42}],
    }
    message = _message(events, "PutEvents", body)
    assert "42" not in message and "Value at 'eventList.1.member.properties'" in message
    # Inside a sensitive structure (Event) even non-sensitive members are hidden.
    body["eventList"] = [{"eventType": "c", "sentAt": "secret-time"}]
    assert "secret-time" not in _message(events, "PutEvents", body)


@pytest.mark.parametrize(
    ("operation", "body", "path", "expected"),
    [
        ("ListSolutions", {"maxResults": True}, "maxResults", "Member must be an integer between"),
        ("ListSolutions", {"maxResults": "5"}, "maxResults", "Member must be an integer between"),
        ("ListSolutions", {"maxResults": 5.5}, "maxResults", "Member must be an integer between"),
        ("ListSolutions", {"maxResults": 2**31}, "maxResults", "Member must be an integer between"),
        ("ListSolutions", {"nextToken": 5}, "nextToken", "Member must be a string"),
        (
            "CreateSolution",
            {"name": "s", "datasetGroupArn": DG_ARN, "performHPO": "true"},
            "performHPO",
            "Member must be a boolean",
        ),
        (
            "CreateSolution",
            {"name": "s", "datasetGroupArn": DG_ARN, "performHPO": 1},
            "performHPO",
            "Member must be a boolean",
        ),
        (
            "CreateSolution",
            {"name": "s", "datasetGroupArn": DG_ARN, "solutionConfig": "x"},
            "solutionConfig",
            "Member must be a structure",
        ),
        (
            "CreateSolution",
            {"name": "s", "datasetGroupArn": DG_ARN, "tags": {}},
            "tags",
            "Member must be a list",
        ),
        (
            "CreateSolution",
            {"name": "s", "datasetGroupArn": DG_ARN, "solutionConfig": {"algorithmHyperParameters": []}},
            "solutionConfig.algorithmHyperParameters",
            "Member must be a map",
        ),
        (
            "CreateCampaign",
            {
                "name": "c",
                "solutionVersionArn": CAMPAIGN_ARN,
                "campaignConfig": {"rankingInfluence": {"POPULARITY": "0.5"}},
            },
            "campaignConfig.rankingInfluence.POPULARITY",
            "Member must be a number",
        ),
        (
            "CreateCampaign",
            {
                "name": "c",
                "solutionVersionArn": CAMPAIGN_ARN,
                "campaignConfig": {"rankingInfluence": {"POPULARITY": float("nan")}},
            },
            "campaignConfig.rankingInfluence.POPULARITY",
            "Member must be a number",
        ),
    ],
)
def test_types(control: ServiceCodec, operation: str, body: dict[str, Any], path: str, expected: str) -> None:
    (message,) = _violations(control, operation, body)
    assert f" at '{path}' failed to satisfy constraint: {expected}" in message


def test_timestamps(events: ServiceCodec) -> None:
    def sent_at(value: Any) -> Any:
        body = {"trackingId": "t", "sessionId": "s", "eventList": [{"eventType": "c", "sentAt": value}]}
        return events.decode_input("PutEvents", body)["event_list"][0]["sent_at"]

    assert sent_at(1704067200) == 1704067200.0 and type(sent_at(1704067200)) is float
    assert sent_at(1704067200.25) == 1704067200.25
    assert sent_at("2024-01-01T00:00:00Z") == 1704067200.0
    assert sent_at("2024-01-01T01:00:00+01:00") == 1704067200.0
    assert sent_at("2024-01-01T00:00:00") == 1704067200.0  # naive: UTC
    assert sent_at("1704067200") == 1704067200.0
    bad: Any
    for bad in (True, "soon", [], float("inf"), 10**400):
        with pytest.raises(InvalidInputException, match="Member must be a timestamp"):
            sent_at(bad)


def test_jsonvalue_stays_a_string(events: ServiceCodec) -> None:
    body = {
        "datasetArn": "arn:aws:personalize:r:1:dataset/d",
        "items": [{"itemId": "i", "properties": '{"a": 1}'}],
    }
    assert events.decode_input("PutItems", body)["items"] == [{"item_id": "i", "properties": '{"a": 1}'}]
    body["items"] = [{"itemId": "i", "properties": {"a": 1}}]  # an object is not what boto3 sends
    (message,) = _violations(events, "PutItems", body)
    assert (
        message
        == "Value at 'items.1.member.properties' failed to satisfy constraint: Member must be a string"
    )


def test_unknown_members(control: ServiceCodec) -> None:
    body = {"name": "s", "datasetGroupArn": DG_ARN, "Name": "x", "solutionConfig": {"hpoconfig": {}}}
    assert _violations(control, "CreateSolution", body) == [
        "Unknown parameter at 'Name': must be one of: name, performHPO, performAutoML, performAutoTraining, "
        "performIncrementalUpdate, recipeArn, datasetGroupArn, eventType, solutionConfig, tags",
        "Unknown parameter at 'solutionConfig.hpoconfig': must be one of: eventValueThreshold, hpoConfig, "
        "algorithmHyperParameters, featureTransformationParameters, autoMLConfig, eventsConfig, "
        "optimizationObjective, trainingDataConfig, autoTrainingConfig",
    ]
    # snake_case spellings are not wire names
    assert _violations(control, "DescribeSolution", {"solution_arn": "x", "solutionArn": DG_ARN}) == [
        "Unknown parameter at 'solution_arn': must be one of: solutionArn"
    ]


def test_body_must_be_an_object(control: ServiceCodec) -> None:
    for body, kind in (([], "an array"), ("x", "a string"), (3, "a number"), (True, "a boolean")):
        assert (
            _message(control, "ListSolutions", body)
            == f"Invalid request body: expected a JSON object, got {kind}"
        )
    assert control.decode_input("ListSolutions", None) == {}
    assert control.decode_input("ListSolutions", {}) == {}


def test_unknown_operation(control: ServiceCodec) -> None:
    with pytest.raises(UnknownOperationException):
        control.decode_input("GetRecommendations", {})
    with pytest.raises(UnknownOperationException):
        control.encode_output("Nope", {})
    with pytest.raises(UnknownOperationException):
        control.operation_http("Nope")


def test_decode_does_not_mutate_the_body(control: ServiceCodec) -> None:
    body = {
        "name": "s",
        "datasetGroupArn": DG_ARN,
        "solutionConfig": {"algorithmHyperParameters": {"a": "1"}},
    }
    snapshot = json.dumps(body)
    control.decode_input("CreateSolution", body)
    assert json.dumps(body) == snapshot


# --------------------------------------------------------------------------------------------------------
# encode_output details
# --------------------------------------------------------------------------------------------------------


def test_encode_drops_unknown_and_none_and_keeps_map_keys(control: ServiceCodec) -> None:
    result = {
        "solution_version": {
            "solution_version_arn": "arn:v",
            "tuned_hpo_params": {"algorithm_hyper_parameters": {"hidden_dimension": "64", "bptt": "32"}},
            "status": None,
            "internal_path": "/data/models/v.npz",
            "training_hours": 2,
            "solution_config": {"training_data_config": {"excluded_dataset_columns": {"ITEMS": ("A", "B")}}},
        },
        "not_a_member": 1,
    }
    assert control.encode_output("DescribeSolutionVersion", result) == {
        "solutionVersion": {
            "solutionVersionArn": "arn:v",
            "tunedHPOParams": {"algorithmHyperParameters": {"hidden_dimension": "64", "bptt": "32"}},
            "trainingHours": 2.0,
            "solutionConfig": {"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["A", "B"]}}},
        }
    }


def test_encode_metrics_map(control: ServiceCodec) -> None:
    result = {"solution_version_arn": "arn:v", "metrics": {"precision_at_25": 0.1, "coverage": 1, "x": None}}
    assert control.encode_output("GetSolutionMetrics", result) == {
        "solutionVersionArn": "arn:v",
        "metrics": {"precision_at_25": 0.1, "coverage": 1.0},
    }


# --------------------------------------------------------------------------------------------------------
# Operations metadata
# --------------------------------------------------------------------------------------------------------


def test_operations_and_routes(control: ServiceCodec, runtime: ServiceCodec, events: ServiceCodec) -> None:
    operations = all_operations()
    assert list(operations) == list(SERVICE_NAMES)
    assert [len(operations[s]) for s in SERVICE_NAMES] == [71, 3, 5]
    assert all(ops == sorted(ops) for ops in operations.values())
    assert control.operation_names == frozenset(operations["personalize"])
    assert control.operation_http("CreateSolution") == ("POST", "/")
    assert runtime.operation_http("GetRecommendations") == ("POST", "/recommendations")
    assert events.routes() == {
        ("POST", "/events"): "PutEvents",
        ("POST", "/items"): "PutItems",
        ("POST", "/users"): "PutUsers",
        ("POST", "/actions"): "PutActions",
        ("POST", "/action-interactions"): "PutActionInteractions",
    }
    assert runtime.routes()[("POST", "/personalize-ranking")] == "GetPersonalizedRanking"
    assert events.error_codes("PutEvents") == ["InvalidInputException"]
    assert events.error_codes("PutItems") == [
        "InvalidInputException",
        "ResourceInUseException",
        "ResourceNotFoundException",
    ]
    assert "ResourceAlreadyExistsException" in control.error_codes("CreateSolution")
    assert control.protocol == "json" and control.target_prefix == "AmazonPersonalize"
    assert load_codec("personalize") is load_codec("personalize")


# --------------------------------------------------------------------------------------------------------
# Java regular expressions
# --------------------------------------------------------------------------------------------------------


def _model_patterns() -> dict[str, int]:
    found: dict[str, int] = {}
    for service in SERVICE_NAMES:
        model = load_service_model(service)
        for name in model.shape_names:
            meta = model.shape_for(name).metadata
            if "pattern" in meta:
                found[meta["pattern"]] = int(meta.get("max", 2048))
    return found


MODEL_PATTERNS = _model_patterns()


def test_every_model_pattern_translates() -> None:
    assert len(MODEL_PATTERNS) >= 13
    for pattern in MODEL_PATTERNS:
        re.compile(java_regex_to_python(pattern), re.ASCII)
        re.compile(java_regex_to_python(pattern, linear=False), re.ASCII)


def _adversarial(pattern: str, size: int) -> list[str]:
    prefix = "arn:a:personalize:" if "personalize" in pattern else "arn:aws" if "kms" in pattern else ""
    units = ["a", ":", "1", " ", ":kms:", ":123456789012:key/", "s3://", "arn:", "é", "-"]
    return [
        (prefix + unit * size)[: size - len(tail)] + tail
        for unit in units
        for tail in ("\n", "\x01", "!", "", " \n")
    ]


@pytest.mark.parametrize("pattern", sorted(MODEL_PATTERNS))
def test_model_patterns_run_in_linear_time(pattern: str) -> None:
    compiled = re.compile(java_regex_to_python(pattern), re.ASCII)
    size = MODEL_PATTERNS[pattern]
    slowest = 0.0
    for candidate in _adversarial(pattern, size):
        fastest = float("inf")  # best of three, in CPU time: a busy CI machine may preempt any single run
        for _ in range(3):
            start = time.thread_time()
            compiled.fullmatch(candidate)
            fastest = min(fastest, time.thread_time() - start)
        slowest = max(slowest, fastest)
    assert slowest < 0.005, f"{pattern}: {slowest * 1e3:.1f} ms at {size} chars"


LINEAR_REWRITES = [
    p for p in MODEL_PATTERNS if java_regex_to_python(p) != java_regex_to_python(p, linear=False)
]


def test_slow_patterns_have_linear_rewrites() -> None:
    assert sorted(LINEAR_REWRITES) == sorted(
        [
            "arn:([a-z\\d-]+):personalize:.*:.*:.+",
            "arn:aws.*:kms:.*:[0-9]{12}:key/.*",
            "^[\\x20-\\x7E]*[\\x21-\\x7E]+[\\x20-\\x7E]*$",
        ]
    )


def _pieces(pattern: str) -> st.SearchStrategy[str]:
    """Strings built from fragments of the pattern, so both matches and near-misses are common."""
    fragments = [
        "arn:",
        "aws",
        "a",
        "-",
        "personalize",
        ":",
        ":kms:",
        "kms",
        "123456789012",
        "12345",
        "key/",
        "x",
        " ",
        "\n",
        "\r",
        "\x85",
        "\u2028",
        "~",
        "\x7f",
        "\x1f",
        "é",
        "1",
    ]
    return st.lists(st.sampled_from(fragments), max_size=14).map("".join)


@pytest.mark.parametrize("pattern", LINEAR_REWRITES)
@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_linear_rewrites_accept_exactly_the_same_strings(pattern: str, data: st.DataObject) -> None:
    generic = re.compile(java_regex_to_python(pattern, linear=False), re.ASCII)
    linear = re.compile(java_regex_to_python(pattern), re.ASCII)
    matching = st.from_regex(generic, fullmatch=True)
    text = data.draw(_pieces(pattern) | matching | st.text(max_size=12))
    if data.draw(st.booleans(), label="edit"):  # near-misses: one fragment inserted or one char dropped
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()) and text:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + data.draw(_pieces(pattern)) + text[at:]
    assert (generic.fullmatch(text) is None) == (linear.fullmatch(text) is None), repr(text)


@pytest.mark.parametrize(
    ("java", "matches", "rejects"),
    [
        ("\\p{ASCII}{0,3}", ["", "a~\x00"], ["é", "abcd"]),
        ("[\\p{L}]+", ["aЖ日\U0001d400"], ["1", "_", " "]),
        ("\\p{Lu}\\p{Ll}", ["Ab"], ["aB"]),
        ("\\P{N}+", ["abc"], ["a1"]),
        ("\\p{IsN}", ["٣"], ["a"]),
        ("\\d+", ["0123"], ["٣"]),  # Java's \d is ASCII
        ("a.c", ["abc", "a\tc"], ["a\nc", "a\u2028c", "a\x85c"]),
        ("\\Qa.b\\E+", ["a.bbb"], ["axb"]),
        ("(?<year>[0-9]{4})-\\k", [], []),
    ],
)
def test_java_regex_translation(java: str, matches: list[str], rejects: list[str]) -> None:
    if "\\k" in java:
        with pytest.raises(ValueError):
            java_regex_to_python(java)
        return
    compiled = re.compile(java_regex_to_python(java), re.ASCII)
    assert all(compiled.fullmatch(s) for s in matches)
    assert not any(compiled.fullmatch(s) for s in rejects)


@pytest.mark.parametrize(
    "java", ["[a-z&&[^q]]", "[a[b]]", "\\p{IsLatin}", "\\p{InGreek}", "\\p{Cn}", "[\\P{L}]", "[abc", "\\"]
)
def test_unsupported_java_regex(java: str) -> None:
    with pytest.raises(ValueError):
        java_regex_to_python(java)


@pytest.mark.parametrize("category", ["L", "Z", "N"])
def test_unicode_categories_are_exact(category: str) -> None:
    compiled = re.compile(java_regex_to_python(f"\\p{{{category}}}"))
    for code_point in [*range(0, 0x30000, 7), *range(0xE0000, 0xE0200)]:
        char = chr(code_point)
        assert (compiled.fullmatch(char) is not None) == unicodedata.category(char).startswith(category), hex(
            code_point
        )


def test_unscanned_planes_hold_no_categories_patterns_can_use() -> None:
    for plane in (range(0x40000, 0xE0000, 97), range(0xF0000, 0x110000, 89)):
        assert {unicodedata.category(chr(c)) for c in plane} <= {"Cn", "Co"}


def test_performance_smoke(events: ServiceCodec) -> None:
    """Decoding a full PutEvents body stays far below a millisecond (it runs on every event)."""
    body = {
        "trackingId": "t",
        "userId": "u",
        "sessionId": "s",
        "eventList": [
            {
                "eventId": f"e{i}",
                "eventType": "click",
                "itemId": f"i{i}",
                "sentAt": 1704067200 + i,
                "properties": '{"a": "1"}',
                "impression": ["i1", "i2", "i3"],
            }
            for i in range(10)
        ],
    }
    decode: Callable[[], Any] = lambda: events.decode_input("PutEvents", body)  # noqa: E731
    decode()
    start = time.thread_time()  # CPU time: a loaded machine's preemption does not count
    for _ in range(200):
        decode()
    assert (time.thread_time() - start) / 200 < 0.001
