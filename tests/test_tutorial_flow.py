"""The flow of a typical Personalize tutorial, with unmodified boto3 against a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    INTERACTIONS_SCHEMA,
    LiveServer,
    make_group,
    wait_for_status,
    write_interactions_csv,
)


def test_dataset_group_to_import_to_delete(personalize: Any, tmp_path: Path) -> None:
    created = personalize.create_dataset_group(name="movielens-demo")
    group_arn = created["datasetGroupArn"]
    assert group_arn == "arn:aws:personalize:us-east-1:000000000000:dataset-group/movielens-demo"
    first = personalize.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"]
    assert first["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    group = wait_for_status(
        lambda: personalize.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"]
    )
    assert group["status"] == "ACTIVE"
    assert group["name"] == "movielens-demo"
    assert group["creationDateTime"].year >= 2024  # botocore parsed our epoch seconds

    schema_arn = personalize.create_schema(name="interactions-schema", schema=INTERACTIONS_SCHEMA)[
        "schemaArn"
    ]
    described = personalize.describe_schema(schemaArn=schema_arn)["schema"]
    assert described["schema"] == INTERACTIONS_SCHEMA

    dataset_arn = personalize.create_dataset(
        name="interactions", schemaArn=schema_arn, datasetGroupArn=group_arn, datasetType="Interactions"
    )["datasetArn"]
    assert dataset_arn.endswith(":dataset/movielens-demo/INTERACTIONS")
    wait_for_status(lambda: personalize.describe_dataset(datasetArn=dataset_arn)["dataset"])

    csv_path = tmp_path / "interactions.csv"
    rows = write_interactions_csv(csv_path)
    job_arn = personalize.create_dataset_import_job(
        jobName="import-1",
        datasetArn=dataset_arn,
        dataSource={"dataLocation": f"file://{csv_path}"},
        roleArn="arn:aws:iam::123456789012:role/PersonalizeRole",
    )["datasetImportJobArn"]
    job = wait_for_status(
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job_arn)["datasetImportJob"]
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["importMode"] == "FULL"
    assert job["dataSource"]["dataLocation"] == f"file://{csv_path}"

    jobs = personalize.list_dataset_import_jobs(datasetArn=dataset_arn)["datasetImportJobs"]
    assert [j["datasetImportJobArn"] for j in jobs] == [job_arn]
    assert rows == 60 * 30

    # delete in the right order: the group refuses while it has datasets
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset_group(datasetGroupArn=group_arn)
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_schema(schemaArn=schema_arn)
    personalize.delete_dataset(datasetArn=dataset_arn)
    personalize.delete_schema(schemaArn=schema_arn)
    personalize.delete_dataset_group(datasetGroupArn=group_arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=group_arn)


def test_paginators_walk_every_page(personalize: Any) -> None:
    arns = {
        personalize.create_schema(name=f"schema-{n:02d}", schema=INTERACTIONS_SCHEMA)["schemaArn"]
        for n in range(23)
    }
    pages = list(personalize.get_paginator("list_schemas").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["schemas"]) for p in pages] == [5, 5, 5, 5, 3]
    seen = [s["schemaArn"] for p in pages for s in p["schemas"]]
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == arns
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_schemas(nextToken="not-a-token")


def test_list_filters_result_key_and_dataset_group_filter(personalize: Any, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path, name="g1")
    other = personalize.create_dataset_group(name="g2")["datasetGroupArn"]
    filter_arn = personalize.create_filter(
        name="no-clicked",
        datasetGroupArn=group.arn,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("rating")',
    )["filterArn"]
    listed = personalize.list_filters(datasetGroupArn=group.arn)
    assert [f["filterArn"] for f in listed["Filters"]] == [filter_arn]
    assert personalize.list_filters(datasetGroupArn=other)["Filters"] == []
    paged = list(personalize.get_paginator("list_filters").paginate(datasetGroupArn=group.arn))
    assert [f["name"] for p in paged for f in p["Filters"]] == ["no-clicked"]
    assert (
        personalize.list_datasets(datasetGroupArn=group.arn)["datasets"][0]["datasetType"] == "Interactions"
    )


def test_event_tracker_solution_and_campaign_resources(personalize: Any, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path)
    tracker = personalize.create_event_tracker(name="tracker", datasetGroupArn=group.arn)
    assert len(tracker["trackingId"]) == 36
    described = wait_for_status(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    assert described["trackingId"] == tracker["trackingId"]
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_event_tracker(name="tracker-2", datasetGroupArn=group.arn)

    solution_arn = personalize.create_solution(
        name="sol",
        datasetGroupArn=group.arn,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
        solutionConfig={"algorithmHyperParameters": {"hidden_dimension": "64"}},
    )["solutionArn"]
    solution = wait_for_status(lambda: personalize.describe_solution(solutionArn=solution_arn)["solution"])
    assert solution["solutionConfig"]["algorithmHyperParameters"] == {"hidden_dimension": "64"}
    assert solution["performAutoTraining"] is True

    recipes = personalize.list_recipes()["recipes"]
    assert "arn:aws:personalize:::recipe/aws-user-personalization" in {r["recipeArn"] for r in recipes}
    recipe = personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-sims")["recipe"]
    assert recipe["recipeType"] == "RELATED_ITEMS"

    personalize.tag_resource(resourceArn=solution_arn, tags=[{"tagKey": "team", "tagValue": "search"}])
    assert personalize.list_tags_for_resource(resourceArn=solution_arn)["tags"] == [
        {"tagKey": "team", "tagValue": "search"}
    ]
    personalize.untag_resource(resourceArn=solution_arn, tagKeys=["team"])
    assert personalize.list_tags_for_resource(resourceArn=solution_arn)["tags"] == []


def test_server_health(server: LiveServer) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/healthz") as response:
        assert response.status == 200
        assert b'"status":"ok"' in response.read()
