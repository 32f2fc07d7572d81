"""Batch inference jobs through boto3 on ml-latest-small: the output file is named and shaped as Personalize
writes it, every answer equals GetRecommendations for the same user and filter, a bad line gets its own
error while the job goes on, and bad requests are refused."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pertinent.config import load_settings
from pertinent.demo.catalog import from_movielens
from tests.conftest import (
    MOVIELENS,
    LiveServer,
    make_group,
    needs_movielens,
    start_server,
    train_campaign,
    wait_for_status,
)

pytestmark = [pytest.mark.slow, needs_movielens]

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
EXPLORATION = {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}


@dataclass
class Movielens:
    server: LiveServer
    personalize: Any
    runtime: Any
    group: str
    version: str
    campaign: str
    filter: str
    genre_filter: str
    users: list[str]
    tmp: Path


def _import(client: Any, group: str, kind: str, schema: str, path: Path) -> None:
    schema_arn = client.create_schema(name=f"ml-{kind}", schema=schema)["schemaArn"]
    dataset = client.create_dataset(name=kind, schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind)[
        "datasetArn"
    ]
    wait_for_status(lambda: client.describe_dataset(datasetArn=dataset)["dataset"])
    job = client.create_dataset_import_job(
        jobName=f"ml-{kind}", datasetArn=dataset, dataSource={"dataLocation": str(path)}
    )["datasetImportJobArn"]
    record = wait_for_status(
        lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"], timeout=300
    )
    assert record["status"] == "ACTIVE", record


@pytest.fixture(scope="module")
def ml(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Movielens]:
    tmp = tmp_path_factory.mktemp("batch")
    data = from_movielens(MOVIELENS, tmp / "ml")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = live.client()
    group = client.create_dataset_group(name="ml")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    _import(client, group, "Interactions", data.interactions_schema, data.interactions_csv)
    _import(client, group, "Items", data.items_schema, data.items_csv)
    version, campaign = train_campaign(
        client,
        group,
        "aws-user-personalization",
        "up",
        campaignConfig={"itemExplorationConfig": EXPLORATION},
    )
    seen = client.create_filter(
        name="unseen",
        datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
    )["filterArn"]
    genre = client.create_filter(
        name="genre", datasetGroupArn=group, filterExpression="INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)"
    )["filterArn"]
    for arn in (seen, genre):
        wait_for_status(lambda arn=arn: client.describe_filter(filterArn=arn)["filter"])
    users = sorted(
        {line.split(",")[0] for line in data.interactions_csv.read_text().splitlines()[1:]}, key=int
    )
    yield Movielens(
        live,
        client,
        live.client("personalize-runtime"),
        group,
        version,
        campaign,
        seen,
        genre,
        users,
        tmp,
    )
    stop()


def _run_job(ml: Movielens, name: str, lines: list[str], version: str | None = None, **extra: Any) -> Path:
    folder = ml.tmp / name
    folder.mkdir()
    (folder / "input").mkdir()
    (folder / "input" / "users.json").write_text("\n".join(lines) + "\n")
    arn = ml.personalize.create_batch_inference_job(
        jobName=name,
        solutionVersionArn=version or ml.version,
        jobInput={"s3DataSource": {"path": f"file://{folder / 'input'}/"}},
        jobOutput={"s3DataDestination": {"path": str(folder / "output") + "/"}},
        roleArn=ROLE,
        **extra,
    )["batchInferenceJobArn"]
    job = wait_for_status(
        lambda: ml.personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"],
        timeout=300,
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["jobName"] == name and job["solutionVersionArn"] == (version or ml.version)
    listed = ml.personalize.list_batch_inference_jobs(solutionVersionArn=version or ml.version)
    assert arn in [j["batchInferenceJobArn"] for j in listed["batchInferenceJobs"]]
    record = ml.server.app.state.ctx.store.get(arn)
    assert record["job_progress"]["fraction"] == 1.0 and record["job_progress"]["lines"] == len(lines)
    out = folder / "output" / "users.json.out"
    assert sorted(p.name for p in (folder / "output").iterdir()) == ["users.json.out"]
    return out


def test_500_users_equal_get_recommendations_with_a_filter_and_exploration(ml: Movielens) -> None:
    users = ml.users[:500]
    lines = [json.dumps({"userId": u}) for u in users]
    lines.insert(7, "{not json")
    lines.insert(11, json.dumps({"itemId": "1"}))
    lines.append(json.dumps({"userId": "no-such-user"}))
    out = _run_job(
        ml,
        "five-hundred",
        lines,
        filterArn=ml.filter,
        numResults=25,
        batchInferenceJobConfig={"itemExplorationConfig": EXPLORATION},
    )
    text = out.read_text()
    assert text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == len(lines)
    first = text.splitlines()[0]
    assert first.startswith('{"input":{"userId":"1"},"output":{"recommendedItems":["')
    assert first.endswith(']},"error":null}')
    assert (
        rows[7]
        == {
            "input": "{not json",
            "output": None,
            "error": rows[7]["error"],
        }
        and "not valid JSON" in rows[7]["error"]
    )
    assert rows[11]["output"] is None and "userId" in rows[11]["error"]
    answered = [r for r in rows if r["error"] is None]
    assert [r["input"]["userId"] for r in answered] == users + ["no-such-user"]
    for row in answered:
        user = row["input"]["userId"]
        expected = ml.runtime.get_recommendations(
            campaignArn=ml.campaign, userId=user, filterArn=ml.filter, numResults=25
        )["itemList"]
        assert row["output"]["recommendedItems"] == [i["itemId"] for i in expected], user
        assert row["output"]["scores"] == [i["score"] for i in expected], user
        assert len(row["output"]["recommendedItems"]) == 25
    cold = answered[-1]["output"]["recommendedItems"]
    plain = ml.runtime.get_recommendations(
        campaignArn=ml.campaign, userId="no-such-user", filterArn=ml.filter
    )
    assert cold == [i["itemId"] for i in plain["itemList"]]


def test_filter_values_per_line_and_num_results(ml: Movielens) -> None:
    lines = [
        json.dumps({"userId": "1", "filterValues": {"GENRE": '"Comedy"'}}),
        json.dumps({"userId": "2", "filterValues": {"GENRE": '"Horror","Drama"'}}),
        json.dumps({"userId": "3"}),  # an INCLUDE filter without its value: this line's error
        json.dumps({"userId": "4", "filterValues": "Comedy"}),
    ]
    rows = [
        json.loads(line)
        for line in _run_job(ml, "genres", lines, filterArn=ml.genre_filter, numResults=7)
        .read_text()
        .splitlines()
    ]
    for row, values in ((rows[0], {"GENRE": '"Comedy"'}), (rows[1], {"GENRE": '"Horror","Drama"'})):
        expected = ml.runtime.get_recommendations(
            campaignArn=ml.campaign,
            userId=row["input"]["userId"],
            filterArn=ml.genre_filter,
            filterValues=values,
            numResults=7,
        )["itemList"]
        assert row["output"]["recommendedItems"] == [i["itemId"] for i in expected]
        assert len(expected) == 7
    assert rows[2]["output"] is None and "GENRE" in rows[2]["error"]
    assert rows[3]["output"] is None and "filterValues" in rows[3]["error"]


def test_ranking_and_related_items_lines(ml: Movielens) -> None:
    """Other recipe types on a small generated group (their training on MovieLens would cost minutes)."""
    client = ml.personalize
    group = make_group(client, ml.tmp, name="small")
    ranking_version, ranking_campaign = train_campaign(client, group.arn, "aws-personalized-ranking", "rank")
    sims_version, sims_campaign = train_campaign(client, group.arn, "aws-sims", "sims")
    items = ["m2", "m4", "m3", "m10", "m11", "unknown-item"]
    ranking = [json.dumps({"userId": "u5", "itemList": items}), json.dumps({"userId": "u6"})]
    rows = [json.loads(x) for x in _run_job(ml, "ranking", ranking, ranking_version).read_text().splitlines()]
    expected = ml.runtime.get_personalized_ranking(
        campaignArn=ranking_campaign, userId="u5", inputList=items
    )["personalizedRanking"]
    assert rows[0]["output"]["recommendedItems"] == [i["itemId"] for i in expected]
    assert rows[0]["output"]["scores"] == [i.get("score") for i in expected]
    assert (
        rows[0]["output"]["recommendedItems"][-1] == "unknown-item"
        and rows[0]["output"]["scores"][-1] is None
    )
    assert rows[1]["output"] is None and "itemList" in rows[1]["error"]

    related = [json.dumps({"itemId": "m1"}), json.dumps({"itemId": "not-an-item"})]
    rows = [json.loads(x) for x in _run_job(ml, "related", related, sims_version).read_text().splitlines()]
    expected = ml.runtime.get_recommendations(campaignArn=sims_campaign, itemId="m1")["itemList"]
    assert rows[0] == {
        "input": {"itemId": "m1"},
        "output": {"recommendedItems": [i["itemId"] for i in expected]},
        "error": None,
    }
    assert len(rows[1]["output"]["recommendedItems"]) == 25  # unknown item: popular items, as Personalize


def test_bad_requests_are_refused(ml: Movielens) -> None:
    client = ml.personalize
    base = {
        "solutionVersionArn": ml.version,
        "jobInput": {"s3DataSource": {"path": str(ml.tmp / "in") + "/"}},
        "jobOutput": {"s3DataDestination": {"path": str(ml.tmp / "out") + "/"}},
        "roleArn": ROLE,
    }
    cases = [
        ({"batchInferenceJobMode": "THEME_GENERATION"}, "InvalidInputException", "THEME_GENERATION"),
        ({"numResults": 501}, "InvalidInputException", "numResults"),
        (
            {"batchInferenceJobConfig": {"itemExplorationConfig": {"explorationWeight": "2"}}},
            "InvalidInputException",
            "explorationWeight",
        ),
        (
            {"batchInferenceJobConfig": {"rankingInfluence": {"POPULARITY": 0.5}}},
            "InvalidInputException",
            "rankingInfluence",
        ),
        (
            {"filterArn": "arn:aws:personalize:us-east-1:000000000000:filter/none"},
            "ResourceNotFoundException",
            "filter",
        ),
        (
            {"solutionVersionArn": "arn:aws:personalize:us-east-1:000000000000:solution/x/1"},
            "ResourceNotFoundException",
            "solution version",
        ),
        (
            {"jobOutput": {"s3DataDestination": {"path": str(ml.tmp / "in") + "/"}}},
            "InvalidInputException",
            "differ",
        ),
        (
            {"jobInput": {"s3DataSource": {"path": "https://example.com/in.json"}}},
            "InvalidInputException",
            "http",
        ),
    ]
    for n, (change, code, words) in enumerate(cases):
        with pytest.raises(client.exceptions.ClientError) as info:
            client.create_batch_inference_job(jobName=f"bad-{n}", **{**base, **change})
        error = info.value.response["Error"]
        assert error["Code"] == code and words in error["Message"], (change, error)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_batch_inference_job(
            batchInferenceJobArn="arn:aws:personalize:us-east-1:000000000000:batch-inference-job/none"
        )


def test_missing_input_fails_the_job_with_a_reason(ml: Movielens) -> None:
    arn = ml.personalize.create_batch_inference_job(
        jobName="missing",
        solutionVersionArn=ml.version,
        jobInput={"s3DataSource": {"path": str(ml.tmp / "nothing-here.json")}},
        jobOutput={"s3DataDestination": {"path": str(ml.tmp / "missing-out")}},
        roleArn=ROLE,
    )["batchInferenceJobArn"]
    job = wait_for_status(
        lambda: ml.personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    )
    assert job["status"] == "CREATE FAILED" and "nothing-here.json" in job["failureReason"]


def test_progress_in_describe_lastupdated_and_the_job_log(
    ml: Movielens, caplog: pytest.LogCaptureFixture
) -> None:
    """Three input files: the raw Describe response's jobProgress, lastUpdatedDateTime moved by each
    block, and one progress line per file in the server's job log."""
    caplog.set_level(logging.INFO, logger="pertinent.jobs")
    folder = ml.tmp / "progress"
    (folder / "input").mkdir(parents=True)
    for n, users in enumerate((ml.users[:40], ml.users[40:80], ml.users[80:120])):
        (folder / "input" / f"part{n}.json").write_text(
            "".join(json.dumps({"userId": u}) + "\n" for u in users)
        )
    raw: list[dict[str, Any]] = []
    client = ml.server.client()
    client.meta.events.register(
        "after-call.personalize.DescribeBatchInferenceJob",
        lambda http_response, **_: raw.append(json.loads(http_response.content)),
    )
    arn = client.create_batch_inference_job(
        jobName="progress",
        solutionVersionArn=ml.version,
        jobInput={"s3DataSource": {"path": str(folder / "input") + "/"}},
        jobOutput={"s3DataDestination": {"path": str(folder / "output") + "/"}},
        roleArn=ROLE,
    )["batchInferenceJobArn"]
    job = wait_for_status(
        lambda: client.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"],
        timeout=300,
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert "jobProgress" not in job  # botocore's shape has no member for it: boto3 drops it
    assert raw[-1]["batchInferenceJob"]["jobProgress"] == {"fraction": 1.0, "linesDone": 120, "files": 3}
    assert job["lastUpdatedDateTime"] > job["creationDateTime"]
    lines = [
        r.getMessage() for r in caplog.records if arn in r.getMessage() and "state=progress" in r.getMessage()
    ]
    assert [line.split("fraction=")[1].split()[0] for line in lines] == ["0.333", "0.667", "1"], lines
    assert sorted(p.name for p in (folder / "output").iterdir()) == [f"part{n}.json.out" for n in range(3)]


def test_item_exploration_config_changes_the_answers(ml: Movielens) -> None:
    """batchInferenceJobConfig.itemExplorationConfig has its documented effect: weight 0 recommends from
    the model only, weight 1 fills the list with new (cold) items, as a campaign's config would."""
    lines = [json.dumps({"userId": u}) for u in ml.users[:20]]
    outputs = {}
    for weight in ("0", "1"):
        out = _run_job(
            ml,
            f"explore-{weight}",
            lines,
            numResults=10,
            batchInferenceJobConfig={
                "itemExplorationConfig": {"explorationWeight": weight, "explorationItemAgeCutOff": "36500"}
            },
        )
        outputs[weight] = [json.loads(line)["output"] for line in out.read_text().splitlines()]
    # the 18 MovieLens movies nobody rated: in the Items dataset, without interactions (new, cold items)
    rated = {line.split(",")[1] for line in (ml.tmp / "ml" / "interactions.csv").read_text().splitlines()[1:]}
    catalog = {line.split(",")[0] for line in (ml.tmp / "ml" / "items.csv").read_text().splitlines()[1:]}
    cold = catalog - rated
    assert 0 < len(cold) < 100
    assert all(len(o["recommendedItems"]) == 10 for o in outputs["0"] + outputs["1"])
    assert not any(i in cold for o in outputs["0"] for i in o["recommendedItems"])
    assert all(sum(i in cold for i in o["recommendedItems"]) >= 5 for o in outputs["1"]), outputs["1"][:2]
