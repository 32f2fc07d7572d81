"""``training_engine = spark``: the factor recipes train with Spark MLlib ALS (pyspark ``local[2]``, a real
JVM) and write the same artifact format, so serving is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pertinent.config import load_settings
from tests.conftest import make_group, start_server, wait_for_status

#: a JVM start and two Spark fits: minutes, not seconds, on a loaded 2-core machine
pytestmark = pytest.mark.timeout(1200)


def test_a_version_trained_on_spark_serves_like_any_other(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", worker_poll_seconds=0.05, training_engine="spark", spark_master="local[2]"
    )
    live, stop = start_server(settings)
    try:
        client = live.client()
        group = make_group(client, tmp_path)
        solution = client.create_solution(
            name="spark",
            datasetGroupArn=group.arn,
            recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
            solutionConfig={"algorithmHyperParameters": {"hidden_dimension": "32", "als_iterations": "5"}},
        )["solutionArn"]
        wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
        version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        record = wait_for_status(
            lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"],
            timeout=900,
        )
        assert record["status"] == "ACTIVE", record.get("failureReason")
        manifest = json.loads((live.app.state.ctx.trained_artifact(version) / "manifest.json").read_text())
        assert manifest["algorithm"] == "ials"  # Spark trains iALS even for a catalog EASE could take
        metrics = client.get_solution_metrics(solutionVersionArn=version)["metrics"]
        assert 0.0 < metrics["normalized_discounted_cumulative_gain_at_10"] <= 1.0, metrics
        campaign = client.create_campaign(name="spark", solutionVersionArn=version)["campaignArn"]
        wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
        runtime = live.client("personalize-runtime")
        answer = runtime.get_recommendations(campaignArn=campaign, userId="u3", numResults=10)
        ids = [entry["itemId"] for entry in answer["itemList"]]
        assert len(ids) == 10
        assert sum(int(i[1:]) % 2 for i in ids) >= 8  # u3 likes odd items
    finally:
        stop()
