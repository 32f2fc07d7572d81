"""Automatic training through boto3, on an injected clock: the first automatic version an hour after the
solution, then one per ``rate(N days)``; trainingType AUTOMATIC; a ``$LATEST`` campaign that syncs follows
each new version; a manual version in the first hour skips the first automatic one; bad schedules are
refused; performAutoTraining false never trains."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pertinent.config import load_settings
from tests.conftest import Group, LiveServer, make_group, start_server, wait_for_status

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
HOUR, DAY = 3600.0, 86_400.0


@dataclass
class Clocked:
    server: LiveServer
    client: Any
    group: Group
    offset: list[float]

    def advance(self, seconds: float) -> None:
        self.offset[0] += seconds


@pytest.fixture
def clocked(tmp_path: Any) -> Iterator[Clocked]:
    live, stop = start_server(load_settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05))
    offset = [0.0]
    live.app.state.ctx.clock = lambda: time.time() + offset[0]  # the injectable clock
    client = live.client()
    group = make_group(client, tmp_path)
    yield Clocked(live, client, group, offset)
    stop()


def _solution(c: Clocked, name: str, **extra: Any) -> str:
    arn: str = c.client.create_solution(name=name, datasetGroupArn=c.group.arn, recipeArn=RECIPE, **extra)[
        "solutionArn"
    ]
    wait_for_status(lambda: c.client.describe_solution(solutionArn=arn)["solution"])
    return arn


def _versions(c: Clocked, solution: str) -> list[dict[str, Any]]:
    return list(c.client.list_solution_versions(solutionArn=solution)["solutionVersions"])


def _wait_versions(c: Clocked, solution: str, count: int, timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        versions = _versions(c, solution)
        if len(versions) >= count and all(v["status"] in ("ACTIVE", "CREATE FAILED") for v in versions):
            return versions
        assert time.monotonic() < deadline, versions
        time.sleep(0.2)


def test_schedule_creates_automatic_versions_and_the_campaign_follows(clocked: Clocked) -> None:
    c = clocked
    solution = _solution(
        c, "auto", solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(2 days)"}}
    )
    off = _solution(c, "manual-only", performAutoTraining=False)
    time.sleep(1.5)
    assert _versions(c, solution) == []  # nothing before the first hour
    c.advance(HOUR + 1)
    (first,) = _wait_versions(c, solution, 1)
    assert first["status"] == "ACTIVE" and first["trainingType"] == "AUTOMATIC"
    assert first["trainingMode"] == "AUTOTRAIN"
    described = c.client.describe_solution(solutionArn=solution)["solution"]
    assert described["latestSolutionVersion"]["trainingType"] == "AUTOMATIC"

    campaign = c.client.create_campaign(
        name="latest",
        solutionVersionArn=f"{solution}/$LATEST",
        campaignConfig={"syncWithLatestSolutionVersion": True},
    )["campaignArn"]
    wait_for_status(lambda: c.client.describe_campaign(campaignArn=campaign)["campaign"])
    store = c.server.app.state.ctx.store
    assert store.get(campaign)["resolved_solution_version_arn"] == first["solutionVersionArn"]

    c.advance(DAY)  # one day of two: not yet
    time.sleep(1.5)
    assert len(_versions(c, solution)) == 1
    c.advance(DAY)
    versions = _wait_versions(c, solution, 2)
    newest = versions[0]
    assert (
        newest["trainingType"] == "AUTOMATIC" and newest["solutionVersionArn"] != first["solutionVersionArn"]
    )
    deadline = time.monotonic() + 30
    while store.get(campaign)["resolved_solution_version_arn"] != newest["solutionVersionArn"]:
        assert time.monotonic() < deadline, store.get(campaign)
        time.sleep(0.1)
    update = c.client.describe_campaign(campaignArn=campaign)["campaign"]["latestCampaignUpdate"]
    assert update["solutionVersionArn"] == newest["solutionVersionArn"]
    runtime = c.server.client("personalize-runtime")
    assert runtime.get_recommendations(campaignArn=campaign, userId="u1")["itemList"]
    assert _versions(c, off) == []  # performAutoTraining false: never


def test_manual_version_in_the_first_hour_skips_the_first_automatic_one(clocked: Clocked) -> None:
    c = clocked
    solution = _solution(
        c, "skip", solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(1 day)"}}
    )
    c.client.create_solution_version(solutionArn=solution)
    (manual,) = _wait_versions(c, solution, 1)
    assert manual["trainingType"] == "MANUAL"
    c.advance(HOUR + 1)
    time.sleep(2.0)
    assert len(_versions(c, solution)) == 1  # skipped
    c.advance(DAY)
    versions = _wait_versions(c, solution, 2)
    assert versions[0]["trainingType"] == "AUTOMATIC"


def test_bad_schedules_are_refused(clocked: Clocked) -> None:
    c = clocked
    for expression in ("rate(0 days)", "rate(31 days)"):
        with pytest.raises(c.client.exceptions.InvalidInputException) as info:
            c.client.create_solution(
                name="bad",
                datasetGroupArn=c.group.arn,
                recipeArn=RECIPE,
                solutionConfig={"autoTrainingConfig": {"schedulingExpression": expression}},
            )
        assert "1 to 30" in info.value.response["Error"]["Message"]
    with pytest.raises(c.client.exceptions.ClientError):  # not even the pattern botocore's model allows
        c.client.create_solution(
            name="bad",
            datasetGroupArn=c.group.arn,
            recipeArn=RECIPE,
            solutionConfig={"autoTrainingConfig": {"schedulingExpression": "every week"}},
        )
    solution = _solution(c, "update")
    with pytest.raises(c.client.exceptions.InvalidInputException):
        c.client.update_solution(
            solutionArn=solution,
            solutionUpdateConfig={"autoTrainingConfig": {"schedulingExpression": "rate(45 days)"}},
        )


def test_incremental_update_and_an_untrainable_recipe_are_refused_clearly(clocked: Clocked) -> None:
    """Personalize takes performIncrementalUpdate only for aws-semantic-similarity, which needs a text
    embedding model pertinent does not ship: both are refused with a reason, never accepted to no effect."""
    c = clocked
    with pytest.raises(c.client.exceptions.InvalidInputException) as info:
        c.client.create_solution(
            name="incremental", datasetGroupArn=c.group.arn, recipeArn=RECIPE, performIncrementalUpdate=True
        )
    assert "aws-semantic-similarity" in info.value.response["Error"]["Message"]
    with pytest.raises(c.client.exceptions.InvalidInputException) as info:
        c.client.create_solution(
            name="semantic",
            datasetGroupArn=c.group.arn,
            recipeArn="arn:aws:personalize:::recipe/aws-semantic-similarity",
        )
    assert "cannot train" in info.value.response["Error"]["Message"]
    solution = _solution(c, "plain")
    with pytest.raises(c.client.exceptions.InvalidInputException):
        c.client.update_solution(solutionArn=solution, performIncrementalUpdate=True)
    assert c.client.describe_solution(solutionArn=solution)["solution"]["performIncrementalUpdate"] is False
    names = [s["name"] for s in c.client.list_solutions(datasetGroupArn=c.group.arn)["solutions"]]
    assert "incremental" not in names and "semantic" not in names
