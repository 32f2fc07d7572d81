"""Every refusal comes back as the exception class AWS would raise, with a specific message."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertinent.config import load_settings
from tests.conftest import (
    INTERACTIONS_SCHEMA,
    ITEMS_SCHEMA,
    LiveServer,
    make_group,
    start_server,
    wait_for_status,
    write_interactions_csv,
)

ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("describe_dataset_group", {"datasetGroupArn": f"{ACCOUNT}:dataset-group/nope"}),
        ("describe_schema", {"schemaArn": f"{ACCOUNT}:schema/nope"}),
        ("describe_dataset", {"datasetArn": f"{ACCOUNT}:dataset/nope/INTERACTIONS"}),
        ("describe_dataset_import_job", {"datasetImportJobArn": f"{ACCOUNT}:dataset-import-job/nope"}),
        ("describe_event_tracker", {"eventTrackerArn": f"{ACCOUNT}:event-tracker/nope"}),
        ("describe_filter", {"filterArn": f"{ACCOUNT}:filter/nope"}),
        ("describe_solution", {"solutionArn": f"{ACCOUNT}:solution/nope"}),
        ("describe_solution_version", {"solutionVersionArn": f"{ACCOUNT}:solution/nope/abcd1234"}),
        ("get_solution_metrics", {"solutionVersionArn": f"{ACCOUNT}:solution/nope/abcd1234"}),
        ("describe_campaign", {"campaignArn": f"{ACCOUNT}:campaign/nope"}),
        ("describe_recipe", {"recipeArn": "arn:aws:personalize:::recipe/aws-nope"}),
        ("delete_dataset_group", {"datasetGroupArn": f"{ACCOUNT}:dataset-group/nope"}),
        ("delete_solution", {"solutionArn": f"{ACCOUNT}:solution/nope"}),
        ("list_tags_for_resource", {"resourceArn": f"{ACCOUNT}:campaign/nope"}),
    ],
)
def test_unknown_resources_are_not_found(personalize: Any, operation: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(personalize.exceptions.ResourceNotFoundException) as raised:
        getattr(personalize, operation)(**kwargs)
    assert "nope" in raised.value.response["Error"]["Message"]


def test_model_constraints_botocore_leaves_to_the_server(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException) as raised:
        personalize.create_dataset_group(name="bad name!")
    assert "name" in raised.value.response["Error"]["Message"]
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_group(name="x" * 64)
    with pytest.raises(personalize.exceptions.InvalidInputException) as raised:
        personalize.create_dataset_group(name="ok", domain="BOGUS")
    assert "domain" in raised.value.response["Error"]["Message"]
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.list_dataset_groups(maxResults=101)
    assert personalize.list_dataset_groups()["datasetGroups"] == []  # nothing was stored


def test_duplicates_are_refused(personalize: Any, tmp_path: Path) -> None:
    personalize.create_dataset_group(name="dup")
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset_group(name="dup")
    personalize.create_schema(name="dup-schema", schema=INTERACTIONS_SCHEMA)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_schema(name="dup-schema", schema=INTERACTIONS_SCHEMA)
    group = make_group(personalize, tmp_path, name="g")
    schema = personalize.create_schema(name="another", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset(
            name="second", schemaArn=schema, datasetGroupArn=group.arn, datasetType="INTERACTIONS"
        )


def test_invalid_schemas_and_dataset_combinations(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_schema(name="not-json", schema="{not json")
    no_timestamp = json.loads(INTERACTIONS_SCHEMA)
    no_timestamp["fields"] = [f for f in no_timestamp["fields"] if f["name"] != "TIMESTAMP"]
    schema = personalize.create_schema(name="no-ts", schema=json.dumps(no_timestamp))["schemaArn"]
    group = personalize.create_dataset_group(name="g")["datasetGroupArn"]
    wait_for_status(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    with pytest.raises(personalize.exceptions.InvalidInputException) as raised:
        personalize.create_dataset(
            name="d", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )
    assert "TIMESTAMP" in raised.value.response["Error"]["Message"]
    items = personalize.create_schema(name="items", schema=ITEMS_SCHEMA)["schemaArn"]
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset(
            name="d", schemaArn=items, datasetGroupArn=group, datasetType="Interactions"
        )
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset(name="d", schemaArn=items, datasetGroupArn=group, datasetType="Widgets")
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_group(name="kms", roleArn="arn:aws:iam::123456789012:role/R")


def test_import_job_requests_checked_up_front(personalize: Any, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_import_job(
            jobName="web",
            datasetArn=group.interactions_arn,
            dataSource={"dataLocation": "https://example.com/x.csv"},
        )
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_dataset_import_job(
            jobName="x",
            datasetArn=f"{ACCOUNT}:dataset/none/INTERACTIONS",
            dataSource={"dataLocation": "/tmp/x.csv"},
        )


def test_incremental_needs_a_full_import_first(personalize: Any, tmp_path: Path) -> None:
    group = personalize.create_dataset_group(name="fresh")["datasetGroupArn"]
    wait_for_status(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    schema = personalize.create_schema(name="s", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(
        name="d", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    wait_for_status(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"])
    csv_path = tmp_path / "i.csv"
    write_interactions_csv(csv_path)
    with pytest.raises(personalize.exceptions.InvalidInputException) as raised:
        personalize.create_dataset_import_job(
            jobName="inc",
            datasetArn=dataset,
            importMode="INCREMENTAL",
            dataSource={"dataLocation": str(csv_path)},
        )
    assert "FULL" in raised.value.response["Error"]["Message"]


def test_solution_and_filter_validation(personalize: Any, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_solution(
            name="s", datasetGroupArn=group.arn, recipeArn="arn:aws:personalize:::recipe/aws-nope"
        )
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_solution(name="s", datasetGroupArn=group.arn)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_solution(
            name="s",
            datasetGroupArn=group.arn,
            performAutoML=True,
            recipeArn="arn:aws:personalize:::recipe/aws-sims",
        )
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_solution(
            name="s", datasetGroupArn=group.arn, recipeArn="arn:aws:personalize:::recipe/aws-vod-top-picks"
        )
    with pytest.raises(personalize.exceptions.InvalidInputException) as raised:
        personalize.create_filter(
            name="f",
            datasetGroupArn=group.arn,
            filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("a"',
        )
    assert "position" in raised.value.response["Error"]["Message"]
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_filter(
            name="f",
            datasetGroupArn=group.arn,
            filterExpression='INCLUDE ItemID WHERE Items.GENRES IN ("Comedy")',
        )
    assert personalize.list_filters(datasetGroupArn=group.arn)["Filters"] == []
    sims = personalize.create_solution(
        name="sims", datasetGroupArn=group.arn, recipeArn="arn:aws:personalize:::recipe/aws-sims"
    )["solutionArn"]
    wait_for_status(lambda: personalize.describe_solution(solutionArn=sims)["solution"])
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_solution_version(solutionArn=sims, trainingMode="UPDATE")


def test_too_many_tags(personalize: Any) -> None:
    tags = [{"tagKey": f"k{n}", "tagValue": "v"} for n in range(51)]
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.create_dataset_group(name="tagged", tags=tags)


def _post(server: LiveServer, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{server.url}/",
        data=body,
        method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_wire_level_errors(server: LiveServer) -> None:
    status, body = _post(server, "AmazonPersonalize.FlyToTheMoon", b"{}")
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = _post(server, "AmazonPersonalize.CreateDatasetGroup", b"{nope")
    assert (status, body["__type"]) == (400, "InvalidInputException")
    status, body = _post(server, "AmazonPersonalize.CreateDatasetGroup", b"\xff\xfe")
    assert (status, body["__type"]) == (400, "InvalidInputException")
    status, body = _post(server, "AmazonPersonalize.CreateDatasetGroup", b'{"name": "ok", "extra": 1}')
    assert (status, body["__type"]) == (400, "InvalidInputException")


@pytest.fixture
def paused_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose worker threads never run, so jobs stay queued until the test drains them."""
    live, stop = start_server(load_settings(data_dir=tmp_path / "data", worker_threads=0))
    yield live
    stop()


def test_import_job_limit_and_in_use_rules(paused_server: LiveServer, tmp_path: Path) -> None:
    client = paused_server.client()
    worker = paused_server.app.state.worker
    # no worker runs, yet the light resources are ACTIVE at once (nothing queues behind imports/training)
    group = client.create_dataset_group(name="g")["datasetGroupArn"]
    assert client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
    schema = client.create_schema(name="s", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = client.create_dataset(
        name="d", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    assert client.describe_dataset(datasetArn=dataset)["dataset"]["status"] == "ACTIVE"
    filter_arn = client.create_filter(
        name="f",
        datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("a")',
    )["filterArn"]
    assert client.describe_filter(filterArn=filter_arn)["filter"]["status"] == "ACTIVE"
    csv_path = tmp_path / "i.csv"
    write_interactions_csv(csv_path)
    for n in range(5):
        client.create_dataset_import_job(
            jobName=f"j{n}", datasetArn=dataset, dataSource={"dataLocation": str(csv_path)}
        )
    with pytest.raises(client.exceptions.LimitExceededException) as raised:
        client.create_dataset_import_job(
            jobName="j5", datasetArn=dataset, dataSource={"dataLocation": str(csv_path)}
        )
    assert (
        "More than 5 resources with PENDING or IN_PROGRESS status"
        in raised.value.response["Error"]["Message"]
    )
    with pytest.raises(client.exceptions.ResourceInUseException):
        client.delete_dataset(datasetArn=dataset)
    worker.run_pending()
    statuses = {j["status"] for j in client.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]}
    assert statuses == {"ACTIVE"}
    client.delete_dataset(datasetArn=dataset)
