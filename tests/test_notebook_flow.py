"""Issue 9: the "run every cell in a row" notebook pattern, with no pause between creations.

Amazon's sample notebooks create a resource and use it in the next cell. Resources with no real work (dataset
group, schema, dataset, solution, filter, event tracker) are ACTIVE at once, so nothing waits behind the import
and training jobs that occupy the worker; jobs created on a parent still in flight queue behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertinent.api.background import free_port, serve_in_background
from pertinent.config import load_settings
from tests.conftest import (
    INTERACTIONS_SCHEMA,
    LiveServer,
    make_group,
    start_server,
    wait_for_status,
    write_interactions_csv,
)

BUSY_RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"


@pytest.fixture
def busy_server(tmp_path: Path) -> Iterator[LiveServer]:
    """One worker thread, about to be occupied by a long training."""
    settings = load_settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05, worker_threads=1)
    live, stop = start_server(settings)
    yield live
    stop()


def _occupy_worker(client: Any, tmp_path: Path) -> list[str]:
    """A training on a 3,000-item catalog (EASE inverts a 3,000² matrix): the worker is busy for seconds."""
    ratings = tmp_path / "busy-ratings.csv"
    write_interactions_csv(ratings, users=300, items=3000, per_user=40)
    group = make_group(client, tmp_path, name="busy", interactions_csv=ratings)
    versions = []
    for n in range(1):
        solution = client.create_solution(name=f"busy-{n}", datasetGroupArn=group.arn, recipeArn=BUSY_RECIPE)[
            "solutionArn"
        ]
        versions.append(client.create_solution_version(solutionArn=solution)["solutionVersionArn"])
    for arn in versions:  # wait until the worker threads really run them
        wait_for_status(
            lambda arn=arn: client.describe_solution_version(solutionVersionArn=arn)["solutionVersion"],
            done=("CREATE IN_PROGRESS", "ACTIVE", "CREATE FAILED"),
        )
    return versions


def test_every_cell_in_a_row_while_training_occupies_the_worker(
    busy_server: LiveServer, tmp_path: Path
) -> None:
    personalize = busy_server.client("personalize")
    runtime = busy_server.client("personalize-runtime")
    events = busy_server.client("personalize-events")
    busy = _occupy_worker(personalize, tmp_path)
    csv_path = tmp_path / "interactions.csv"
    write_interactions_csv(csv_path)

    # -- the notebook: each cell uses what the previous one created, with no sleep and no polling ----------
    group = personalize.create_dataset_group(name="notebook")["datasetGroupArn"]
    schema = personalize.create_schema(name="notebook-interactions", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(
        name="notebook-interactions", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    import_job = personalize.create_dataset_import_job(
        jobName="notebook-import",
        datasetArn=dataset,
        dataSource={"dataLocation": str(csv_path)},
        roleArn="arn:aws:iam::123456789012:role/PersonalizeRole",
    )["datasetImportJobArn"]
    tracker = personalize.create_event_tracker(name="notebook-tracker", datasetGroupArn=group)
    exclude_seen = personalize.create_filter(
        name="notebook-unseen",
        datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    )["filterArn"]
    solution = personalize.create_solution(
        name="notebook-solution",
        datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    campaign = personalize.create_campaign(
        name="notebook-campaign", solutionVersionArn=version, minProvisionedTPS=1
    )["campaignArn"]
    events.put_events(
        trackingId=tracker["trackingId"],
        userId="u1",
        sessionId="s-1",
        eventList=[{"eventType": "click", "itemId": "m2", "sentAt": 1_700_000_000}],
    )

    # every light resource was ACTIVE at once, although both worker threads were still training
    assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
    assert personalize.describe_dataset(datasetArn=dataset)["dataset"]["status"] == "ACTIVE"
    assert personalize.describe_solution(solutionArn=solution)["solution"]["status"] == "ACTIVE"
    assert personalize.describe_filter(filterArn=exclude_seen)["filter"]["status"] == "ACTIVE"
    described_tracker = personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    assert described_tracker["eventTracker"]["status"] == "ACTIVE"
    still_busy = [
        personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["status"]
        for arn in busy
    ]
    assert "CREATE IN_PROGRESS" in still_busy, "the trainings finished too early to prove anything"
    # the jobs with real work queue behind the trainings and behind their parents
    assert personalize.describe_campaign(campaignArn=campaign)["campaign"]["status"] == "CREATE PENDING"

    # -- the last cell waits for the campaign (as the notebooks' waiters do) and recommends ----------------
    described = wait_for_status(
        lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"], timeout=600
    )
    assert described["status"] == "ACTIVE", described
    job = personalize.describe_dataset_import_job(datasetImportJobArn=import_job)["datasetImportJob"]
    assert job["status"] == "ACTIVE"
    trained = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert trained["status"] == "ACTIVE"
    assert trained["creationDateTime"] <= job["lastUpdatedDateTime"] <= trained["lastUpdatedDateTime"]
    items = runtime.get_recommendations(campaignArn=campaign, userId="u1", filterArn=exclude_seen)["itemList"]
    assert items and "m2" not in [i["itemId"] for i in items]  # the event of the notebook was filtered out


def test_campaign_on_a_failing_version_fails_with_its_reason(personalize: Any, tmp_path: Path) -> None:
    """A campaign queued behind a version fails when the version fails (here: no interactions imported)."""
    group = personalize.create_dataset_group(name="empty")["datasetGroupArn"]
    solution = personalize.create_solution(
        name="empty-solution", datasetGroupArn=group, recipeArn=BUSY_RECIPE
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    campaign = personalize.create_campaign(name="empty-campaign", solutionVersionArn=version)["campaignArn"]
    described = wait_for_status(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])
    assert described["status"] == "CREATE FAILED"
    assert "no interactions data" in described["failureReason"]


def test_api_role_without_any_worker_activates_light_resources(tmp_path: Path) -> None:
    """Scale-out: an API replica alone (no worker process running) makes light resources ACTIVE at once."""
    settings = load_settings(data_dir=tmp_path / "data", host="127.0.0.1", port=free_port())
    api = serve_in_background(settings, role="api")
    try:
        client = LiveServer(api.url, settings, api.app).client()
        group = client.create_dataset_group(name="api-only")["datasetGroupArn"]
        solution = client.create_solution(name="api-only", datasetGroupArn=group, recipeArn=BUSY_RECIPE)[
            "solutionArn"
        ]
        tracker = client.create_event_tracker(name="api-only", datasetGroupArn=group)["eventTrackerArn"]
        version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        statuses = [
            client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"],
            client.describe_solution(solutionArn=solution)["solution"]["status"],
            client.describe_event_tracker(eventTrackerArn=tracker)["eventTracker"]["status"],
            client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"],
        ]
        assert statuses == ["ACTIVE", "ACTIVE", "ACTIVE", "CREATE PENDING"]  # training waits for a worker
    finally:
        api.stop()
