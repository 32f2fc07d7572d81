"""Shared fixtures: a real pertinent server on a free loopback port, driven by unmodified boto3."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from pertinent.api.background import free_port, serve_in_background
from pertinent.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
#: MovieLens ml-latest-small (never copied into the repository): $PERTINENT_TEST_DATA, relative paths from
#: the repository root, default ../shared/datasets/ml-latest-small next to the repository
MOVIELENS = REPO / os.environ.get("PERTINENT_TEST_DATA", "../shared/datasets/ml-latest-small")

# A loaded 2-core machine may take seconds for one example: no per-example deadline, no too_slow health check
# (examples still stop at max_examples). Every @settings(...) in the suite inherits this profile.
hypothesis_settings.register_profile(
    "pertinent", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
hypothesis_settings.load_profile("pertinent")


def movielens_missing() -> str | None:
    """Why the MovieLens tests cannot run here, or None when the data is present."""
    if (MOVIELENS / "ratings.csv").exists() and (MOVIELENS / "movies.csv").exists():
        return None
    return f"MovieLens ml-latest-small not found at {MOVIELENS} (set PERTINENT_TEST_DATA to its folder)"


@pytest.fixture
def movielens() -> Path:
    """The MovieLens folder; a skip locally when it is missing, a failure under CI (CI=true)."""
    problem = movielens_missing()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the MovieLens tests cannot run under CI: {problem}")
        pytest.skip(problem)
    return MOVIELENS


#: mark a test (or a module's pytestmark) as needing the MovieLens data
needs_movielens = pytest.mark.usefixtures("movielens")

INTERACTIONS_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "EVENT_TYPE", "type": "string"},
            {"name": "EVENT_VALUE", "type": ["null", "float"]},
        ],
        "version": "1.0",
    }
)

ITEMS_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Items",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "GENRES", "type": ["null", "string"], "categorical": True},
            {"name": "TITLE", "type": ["null", "string"], "textual": True},
            {"name": "YEAR", "type": ["null", "int"]},
        ],
        "version": "1.0",
    }
)


@dataclass
class LiveServer:
    url: str
    settings: Settings
    app: Any

    def client(self, service: str = "personalize") -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
        )


def start_server(settings: Settings) -> tuple[LiveServer, Callable[[], None]]:
    """The real server on a free loopback port (``settings.port`` is replaced).

    It waits as long as the server takes to listen (a loaded machine may take many seconds) and retries on a
    fresh port when another process took the chosen one in between."""
    for attempt in range(3):
        actual = dataclasses.replace(settings, host="127.0.0.1", port=free_port())
        try:
            background = serve_in_background(actual)
        except RuntimeError:
            if attempt == 2:
                raise
            continue
        return LiveServer(background.url, actual, background.app), background.stop
    raise AssertionError("unreachable")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = load_settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05)
    live, stop = start_server(settings)
    yield live
    stop()


@pytest.fixture
def personalize(server: LiveServer) -> Any:
    return server.client("personalize")


def wait_for_status(
    describe: Callable[[], dict[str, Any]],
    done: tuple[str, ...] = ("ACTIVE", "CREATE FAILED"),
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Poll a describe call (as Personalize tutorials do) until its status is one of ``done``."""
    deadline = time.monotonic() + timeout
    while True:
        record = describe()
        if record["status"] in done:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"still {record['status']} after {timeout}s: {record}")
        time.sleep(0.05)


def export_dataset(
    personalize: Any,
    dataset_arn: str,
    folder: Path,
    name: str,
    role_arn: str = "arn:aws:iam::123456789012:role/PersonalizeRole",
    ingestion_mode: str | None = None,
) -> Path:
    """Run a dataset export job into ``folder`` through the client, wait for it to be ACTIVE and return
    the CSV it wrote (``{name}.csv``). ``ingestion_mode`` None leaves the API's default (BULK)."""
    extra = {"ingestionMode": ingestion_mode} if ingestion_mode else {}
    arn = personalize.create_dataset_export_job(
        jobName=name,
        datasetArn=dataset_arn,
        roleArn=role_arn,
        jobOutput={"s3DataDestination": {"path": str(folder)}},
        **extra,
    )["datasetExportJobArn"]
    job = wait_for_status(
        lambda: personalize.describe_dataset_export_job(datasetExportJobArn=arn)["datasetExportJob"]
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    return folder / f"{name}.csv"


def train_campaign(
    personalize: Any, group: str, recipe: str, name: str, **campaign: Any
) -> tuple[str, str]:
    """Create a solution of ``recipe`` in ``group``, train one version (asserted ACTIVE) and deploy it as
    campaign ``name`` (``campaign`` holds CreateCampaign's other arguments); returns (version, campaign)."""
    solution = personalize.create_solution(
        name=name,
        datasetGroupArn=group,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
        performAutoTraining=False,
    )["solutionArn"]
    wait_for_status(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=600
    )
    assert record["status"] == "ACTIVE", record.get("failureReason")
    arn = personalize.create_campaign(name=name, solutionVersionArn=version, **campaign)["campaignArn"]
    wait_for_status(lambda: personalize.describe_campaign(campaignArn=arn)["campaign"])
    return str(version), str(arn)


def write_interactions_csv(
    path: Path, users: int = 60, items: int = 200, per_user: int = 30, seed: int = 7
) -> int:
    """An ml-latest-small-shaped interactions file: two taste groups so personalization is learnable."""
    rng = random.Random(seed)
    rows = 0
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])
        for user in range(1, users + 1):
            group = user % 2
            pool = [i for i in range(1, items + 1) if i % 2 == group]
            for item in rng.sample(pool, per_user):
                ts = 1_500_000_000 + rng.randrange(10_000_000)
                writer.writerow([f"u{user}", f"m{item}", ts, "rating", rng.choice([3.0, 3.5, 4.0, 4.5, 5.0])])
                rows += 1
    return rows


def write_items_csv(path: Path, items: int = 200) -> None:
    genres = ["Comedy", "Drama", "Action", "Horror", "Romance"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ITEM_ID", "GENRES", "TITLE", "YEAR"])
        for item in range(1, items + 1):
            writer.writerow(
                [
                    f"m{item}",
                    f"{genres[item % 5]}|{genres[(item * 3) % 5]}",
                    f"Movie {item}, the sequel",
                    1980 + item % 40,
                ]
            )


def convert_movielens_ratings(dest: Path) -> int:
    """ratings.csv (userId,movieId,rating,timestamp) → USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE."""
    rows = 0
    with (MOVIELENS / "ratings.csv").open(newline="") as src, dest.open("w", newline="") as out:
        reader = csv.DictReader(src)
        writer = csv.writer(out)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])
        for row in reader:
            writer.writerow([row["userId"], row["movieId"], row["timestamp"], "rating", row["rating"]])
            rows += 1
    return rows


@dataclass
class Group:
    """A dataset group with ACTIVE interactions (and optionally items) datasets."""

    arn: str
    interactions_arn: str
    items_arn: str | None


def make_group(
    client: Any,
    tmp_path: Path,
    name: str = "movies",
    with_items: bool = False,
    interactions_csv: Path | None = None,
) -> Group:
    group_arn = client.create_dataset_group(name=name)["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"])
    schema_arn = client.create_schema(name=f"{name}-interactions", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    ds_arn = client.create_dataset(
        name=f"{name}-interactions",
        schemaArn=schema_arn,
        datasetGroupArn=group_arn,
        datasetType="Interactions",
    )["datasetArn"]
    wait_for_status(lambda: client.describe_dataset(datasetArn=ds_arn)["dataset"])
    if interactions_csv is None:
        interactions_csv = tmp_path / f"{name}-interactions.csv"
        write_interactions_csv(interactions_csv)
    job = client.create_dataset_import_job(
        jobName=f"{name}-import", datasetArn=ds_arn, dataSource={"dataLocation": str(interactions_csv)}
    )
    record = wait_for_status(
        lambda: client.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"])[
            "datasetImportJob"
        ]
    )
    assert record["status"] == "ACTIVE", record
    items_arn = None
    if with_items:
        items_schema = client.create_schema(name=f"{name}-items", schema=ITEMS_SCHEMA)["schemaArn"]
        items_arn = client.create_dataset(
            name=f"{name}-items", schemaArn=items_schema, datasetGroupArn=group_arn, datasetType="Items"
        )["datasetArn"]
        wait_for_status(lambda: client.describe_dataset(datasetArn=items_arn)["dataset"])
        items_csv = tmp_path / f"{name}-items.csv"
        write_items_csv(items_csv)
        job = client.create_dataset_import_job(
            jobName=f"{name}-items-import", datasetArn=items_arn, dataSource={"dataLocation": str(items_csv)}
        )
        record = wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"])[
                "datasetImportJob"
            ]
        )
        assert record["status"] == "ACTIVE", record
    return Group(group_arn, ds_arn, items_arn)
