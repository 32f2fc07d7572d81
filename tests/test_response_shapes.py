"""Issue 9: every Describe*/List* answer has the members and types of botocore's output shapes.

The raw wire JSON (not boto3's parsed dicts, which would hide a wrong type) of each operation is checked
against its output shape: no member the shape lacks, every value of its member's type, and every member
present except the few listed in ABSENT with the reason AWS leaves them out too. The resources are read
twice: right after creation (a version and a recommender still CREATE PENDING, as a notebook sees it) and
once trained, with a batch inference, a batch segment and a data deletion job added: every Describe*/List*
operation is read.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape

from pertinent.config import load_settings
from tests.conftest import (
    INTERACTIONS_SCHEMA,
    ITEMS_SCHEMA,
    LiveServer,
    start_server,
    wait_for_status,
    write_interactions_csv,
    write_items_csv,
)

MODEL = ServiceModel(Loader().load_service_model("personalize", "service-2"))

#: shape → members AWS also omits for the resources these tests create (why, in the comment)
ABSENT: dict[str, set[str]] = {
    # only for encrypted groups (roleArn, kmsKeyArn), domain dataset groups, or after a failure
    "DatasetGroup": {"roleArn", "kmsKeyArn", "domain", "failureReason"},
    "DatasetGroupSummary": {"domain", "failureReason"},
    # no UpdateDataset was made; trackingId belongs to Action interactions datasets only
    "Dataset": {"latestDatasetUpdate", "trackingId"},
    "DatasetSchema": {"domain"},
    "DatasetSchemaSummary": {"domain"},
    "RecipeSummary": {"domain"},
    # roleArn and publishAttributionMetricsToS3 are optional in the request; no failure
    "DatasetImportJob": {"roleArn", "failureReason", "publishAttributionMetricsToS3"},
    "DatasetImportJobSummary": {"failureReason"},
    "DatasetExportJob": {"failureReason"},
    "DatasetExportJobSummary": {"failureReason"},
    "S3DataConfig": {"kmsKeyArn"},
    "Filter": {"failureReason"},
    "FilterSummary": {"failureReason"},
    # no AutoML run, no UpdateSolution, no eventType given
    "Solution": {"autoMLResult", "eventType", "latestSolutionUpdate"},
    # the configuration holds what CreateSolution / CreateCampaign were given, nothing was given here
    "SolutionConfig": {
        "algorithmHyperParameters",
        "autoMLConfig",
        "autoTrainingConfig",
        "eventValueThreshold",
        "eventsConfig",
        "featureTransformationParameters",
        "hpoConfig",
        "optimizationObjective",
        "trainingDataConfig",
    },
    "CampaignConfig": {
        "enableMetadataWithRecommendations",
        "itemExplorationConfig",
        "rankingInfluence",
        "syncWithLatestSolutionVersion",
    },
    # no HPO (tunedHPOParams), no failure, no eventType or name given
    "SolutionVersion": {"tunedHPOParams", "failureReason", "eventType", "name"},
    "SolutionVersionSummary": {"failureReason"},
    # no UpdateCampaign was made, no failure
    "Campaign": {"latestCampaignUpdate", "failureReason"},
    # a built-in algorithm runs under no customer role
    "Algorithm": {"roleArn"},
    # no failure; reports go to the metrics only (no s3DataDestination given)
    "MetricAttribution": {"failureReason"},
    "MetricAttributionSummary": {"failureReason"},
    "MetricAttributionOutput": {"s3DataDestination"},
    "CampaignSummary": {"failureReason"},
    # the recommender is read while creating too (modelMetrics: only once trained); no update, no failure,
    # nothing but the defaults in its configuration
    "Recommender": {"failureReason", "latestRecommenderUpdate", "modelMetrics"},
    "RecommenderConfig": {"enableMetadataWithRecommendations", "itemExplorationConfig", "trainingDataConfig"},
    # the batch jobs were given no filter, configuration or theme generation, and did not fail
    "BatchInferenceJob": {"batchInferenceJobConfig", "failureReason", "filterArn", "themeGenerationConfig"},
    "BatchInferenceJobSummary": {"failureReason"},
    "BatchSegmentJob": {"failureReason", "filterArn"},
    "BatchSegmentJobSummary": {"failureReason"},
    "DataDeletionJob": {"failureReason"},
    "DataDeletionJobSummary": {"failureReason"},
}
#: shape → members pertinent adds on purpose (botocore's parser skips members its shape lacks)
EXTRA: dict[str, set[str]] = {
    # the batch jobs' progress while they run (docs/batch.md)
    "BatchInferenceJob": {"jobProgress"},
    "BatchSegmentJob": {"jobProgress"},
}
#: every List*Response: nextToken only when another page follows
LIST_RESPONSE_ABSENT = {"nextToken"}


def _check(value: Any, shape: Shape, path: str, missing: dict[str, set[str]]) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: {value!r} is not an object"
        unknown = set(value) - set(shape.members) - EXTRA.get(shape.name, set())
        assert not unknown, f"{path}: members {sorted(unknown)} are not in {shape.name}"
        for name, member in shape.members.items():
            if name in value:
                _check(value[name], member, f"{path}.{name}", missing)
        missing.setdefault(shape.name, set()).update(set(shape.members) - set(value))
    elif kind == "list":
        assert isinstance(value, list), f"{path}: {value!r} is not a list"
        for n, element in enumerate(value):
            _check(element, shape.member, f"{path}[{n}]", missing)  # type: ignore[attr-defined]
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: {value!r} is not a map"
        for key, element in value.items():
            assert isinstance(key, str)
            _check(element, shape.value, f"{path}.{key}", missing)  # type: ignore[attr-defined]
    elif kind in ("string", "blob"):
        assert isinstance(value, str), f"{path}: {value!r} is not a string"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} is not one of {shape.enum}"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r} is not an integer"
    elif kind in ("float", "double"):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: {value!r}"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: {value!r} is not a boolean"
    elif kind == "timestamp":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: {value!r}"
    else:  # pragma: no cover - the model has no other types
        raise AssertionError(f"{path}: unknown shape type {kind}")


def _call(server: LiveServer, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server.url}/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "X-Amz-Target": f"AmazonPersonalize.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{operation}({body}): HTTP {error.code} {error.read()!r}") from None
    return answer


def _read_everything(server: LiveServer, arns: dict[str, str], missing: dict[str, set[str]]) -> list[str]:
    """Call every Describe*/List* operation the server implements and check each answer."""
    from pertinent.control import OPERATIONS

    called = []
    for operation in sorted(OPERATIONS):
        if not operation.startswith(("Describe", "List")):
            continue
        op_model = MODEL.operation_model(operation)
        required = op_model.input_shape.required_members if op_model.input_shape else []
        if any(name not in arns for name in required):
            continue  # a resource kind these tests do not create (listed in test_every_read_was_checked)
        # List* also get the parent ARNs they take (every page under its parent), Describe* what they need
        takes = op_model.input_shape.members if op_model.input_shape else {}
        wanted = required if operation.startswith("Describe") else takes
        body = {name: arns[name] for name in wanted if name in arns}
        answer = _call(server, operation, body)
        _check(answer, op_model.output_shape, operation, missing)
        called.append(operation)
    return called


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("shapes")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = live.client()
    group = client.create_dataset_group(name="shapes")["datasetGroupArn"]
    schema = client.create_schema(name="shapes-i", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    items_schema = client.create_schema(name="shapes-items", schema=ITEMS_SCHEMA)["schemaArn"]
    dataset = client.create_dataset(
        name="i", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    items = client.create_dataset(
        name="items", schemaArn=items_schema, datasetGroupArn=group, datasetType="Items"
    )["datasetArn"]
    write_interactions_csv(tmp / "i.csv")
    write_items_csv(tmp / "items.csv")
    import_job = client.create_dataset_import_job(
        jobName="i", datasetArn=dataset, dataSource={"dataLocation": str(tmp / "i.csv")}
    )["datasetImportJobArn"]
    client.create_dataset_import_job(
        jobName="items", datasetArn=items, dataSource={"dataLocation": str(tmp / "items.csv")}
    )
    tracker = client.create_event_tracker(name="t", datasetGroupArn=group)["eventTrackerArn"]
    filter_arn = client.create_filter(
        name="f",
        datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x")',
    )["filterArn"]
    solution = client.create_solution(
        name="s", datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-user-personalization"
    )["solutionArn"]
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    campaign = client.create_campaign(name="c", solutionVersionArn=version)["campaignArn"]
    export = client.create_dataset_export_job(
        jobName="e",
        datasetArn=dataset,
        ingestionMode="BULK",
        roleArn="arn:aws:iam::123456789012:role/R",
        jobOutput={"s3DataDestination": {"path": str(tmp / "out")}},
    )["datasetExportJobArn"]
    attribution = client.create_metric_attribution(
        name="m",
        datasetGroupArn=group,
        metrics=[{"eventType": "click", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"}],
        metricsOutputConfig={"roleArn": "arn:aws:iam::123456789012:role/R"},
    )["metricAttributionArn"]
    # a domain dataset group with a recommender (trending-now trains on every event type: the ratings)
    vod = client.create_dataset_group(name="shapes-vod", domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    vod_schema = client.create_schema(
        name="shapes-vod-i", schema=INTERACTIONS_SCHEMA, domain="VIDEO_ON_DEMAND"
    )["schemaArn"]
    vod_dataset = client.create_dataset(
        name="vod-i", schemaArn=vod_schema, datasetGroupArn=vod, datasetType="Interactions"
    )["datasetArn"]
    client.create_dataset_import_job(
        jobName="vod-i", datasetArn=vod_dataset, dataSource={"dataLocation": str(tmp / "i.csv")}
    )
    recommender = client.create_recommender(
        name="r", datasetGroupArn=vod, recipeArn="arn:aws:personalize:::recipe/aws-vod-trending-now"
    )["recommenderArn"]
    affinity = client.create_solution(
        name="affinity", datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-item-affinity"
    )["solutionArn"]
    affinity_version = client.create_solution_version(solutionArn=affinity)["solutionVersionArn"]
    arns = {
        "recommenderArn": recommender,
        "metricAttributionArn": attribution,
        "datasetGroupArn": group,
        "resourceArn": group,
        "schemaArn": schema,
        "datasetArn": dataset,
        "datasetImportJobArn": import_job,
        "datasetExportJobArn": export,
        "eventTrackerArn": tracker,
        "filterArn": filter_arn,
        "solutionArn": solution,
        "solutionVersionArn": version,
        "campaignArn": campaign,
        "affinityVersionArn": affinity_version,
        "vodGroupArn": vod,
        "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization",
        "algorithmArn": "arn:aws:personalize:::algorithm/aws-user-personalization",
        "featureTransformationArn": "arn:aws:personalize:::feature-transformation/JSON-percentile-filtering",
    }
    yield live, arns
    stop()


def _batch_jobs(server: LiveServer, arns: dict[str, str], tmp: Path) -> dict[str, str]:
    """A batch inference, a batch segment and a data deletion job, run to their end."""
    client = server.client()
    role = "arn:aws:iam::123456789012:role/R"
    (tmp / "batch-in").mkdir()
    (tmp / "batch-in" / "users.json").write_text('{"userId": "u1"}\n')
    (tmp / "segment-in").mkdir()
    (tmp / "segment-in" / "items.json").write_text('{"itemId": "m2"}\n')
    (tmp / "delete.csv").write_text("USER_ID\nu59\n")
    inference = client.create_batch_inference_job(
        jobName="b",
        solutionVersionArn=arns["solutionVersionArn"],
        jobInput={"s3DataSource": {"path": str(tmp / "batch-in") + "/"}},
        jobOutput={"s3DataDestination": {"path": str(tmp / "batch-out") + "/"}},
        roleArn=role,
    )["batchInferenceJobArn"]
    segment = client.create_batch_segment_job(
        jobName="g",
        solutionVersionArn=arns["affinityVersionArn"],
        jobInput={"s3DataSource": {"path": str(tmp / "segment-in") + "/"}},
        jobOutput={"s3DataDestination": {"path": str(tmp / "segment-out") + "/"}},
        roleArn=role,
    )["batchSegmentJobArn"]
    deletion = client.create_data_deletion_job(
        jobName="d",
        datasetGroupArn=arns["datasetGroupArn"],
        dataSource={"dataLocation": str(tmp / "delete.csv")},
        roleArn=role,
    )["dataDeletionJobArn"]
    for describe in (
        lambda: client.describe_batch_inference_job(batchInferenceJobArn=inference)["batchInferenceJob"],
        lambda: client.describe_batch_segment_job(batchSegmentJobArn=segment)["batchSegmentJob"],
    ):
        record = wait_for_status(describe, timeout=600)
        assert record["status"] == "ACTIVE", record.get("failureReason")
    done = wait_for_status(
        lambda: client.describe_data_deletion_job(dataDeletionJobArn=deletion)["dataDeletionJob"],
        done=("COMPLETED", "FAILED"),
        timeout=600,
    )
    assert done["status"] == "COMPLETED", done
    return {"batchInferenceJobArn": inference, "batchSegmentJobArn": segment, "dataDeletionJobArn": deletion}


def test_reads_right_after_creation_and_once_trained_match_botocore(
    resources: tuple[LiveServer, dict[str, str]], tmp_path: Path
) -> None:
    server, arns = resources
    missing: dict[str, set[str]] = {}
    early = _read_everything(server, arns, missing)  # the versions are still pending or training
    assert "DescribeRecommender" in early  # read while CREATE PENDING / IN_PROGRESS
    client = server.client()
    for describe in (
        lambda: client.describe_campaign(campaignArn=arns["campaignArn"])["campaign"],
        lambda: client.describe_recommender(recommenderArn=arns["recommenderArn"])["recommender"],
        lambda: client.describe_solution_version(solutionVersionArn=arns["affinityVersionArn"])[
            "solutionVersion"
        ],
        lambda: client.describe_dataset_export_job(datasetExportJobArn=arns["datasetExportJobArn"])[
            "datasetExportJob"
        ],
    ):
        record = wait_for_status(describe, timeout=600)
        assert record["status"] == "ACTIVE", record.get("failureReason")
    late = _read_everything(server, {**arns, **_batch_jobs(server, arns, tmp_path)}, missing)
    assert set(early) < set(late)
    for operation, body in (  # lists under the parents the generic walk does not pass
        ("ListRecommenders", {"datasetGroupArn": arns["vodGroupArn"]}),
        ("ListBatchSegmentJobs", {"solutionVersionArn": arns["affinityVersionArn"]}),
    ):
        _check(
            _call(server, operation, body), MODEL.operation_model(operation).output_shape, operation, missing
        )
    seen = {"Recommender", "RecommenderSummary", "BatchInferenceJob", "BatchInferenceJobSummary"}
    seen |= {"BatchSegmentJob", "BatchSegmentJobSummary", "DataDeletionJob", "DataDeletionJobSummary"}
    assert seen <= set(missing), sorted(seen - set(missing))  # each was read with at least one element
    from pertinent.control import OPERATIONS

    assert set(late) == {op for op in OPERATIONS if op.startswith(("Describe", "List"))}, "every read"
    problems = {
        shape: sorted(
            members - ABSENT.get(shape, LIST_RESPONSE_ABSENT if shape.endswith("Response") else set())
        )
        for shape, members in missing.items()
    }
    remaining = {k: v for k, v in problems.items() if v}
    assert not remaining, f"members missing from our answers: {remaining}"
