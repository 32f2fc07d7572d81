"""Solutions train real models through the API: each recipe reaches ACTIVE with Personalize's metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    LiveServer,
    convert_movielens_ratings,
    make_group,
    needs_movielens,
    wait_for_status,
)

METRICS = {
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
}

RECIPES = [
    "aws-user-personalization",
    "aws-personalized-ranking",
    "aws-popularity-count",
    "aws-trending-now",
    "aws-similar-items",
    "aws-sims",
]


def train(
    client: Any, group_arn: str, recipe: str, name: str | None = None, **solution: Any
) -> dict[str, Any]:
    solution_arn = client.create_solution(
        name=name or recipe.replace("aws-", ""),
        datasetGroupArn=group_arn,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
        **solution,
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution_arn)["solution"])
    version_arn = client.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    return wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"],
        timeout=300,
    )


def test_every_recipe_trains_and_reports_metrics(personalize: Any, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path, with_items=True)
    for recipe in RECIPES:
        version = train(personalize, group.arn, recipe)
        assert version["status"] == "ACTIVE", (recipe, version.get("failureReason"))
        assert version["trainingHours"] >= 0
        metrics = personalize.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])[
            "metrics"
        ]
        assert set(metrics) >= METRICS, recipe
        assert all(0.0 <= metrics[m] <= 1.0 for m in METRICS), (recipe, metrics)
        solution = personalize.describe_solution(solutionArn=version["solutionArn"])["solution"]
        assert solution["latestSolutionVersion"]["solutionVersionArn"] == version["solutionVersionArn"]


def test_too_little_data_fails_with_personalizes_reason(personalize: Any, tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text(
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
        + "".join(f"u{n % 10},m{n},{1_500_000_000 + n},rating,4\n" for n in range(200))
    )
    group = make_group(personalize, tmp_path, interactions_csv=small)
    version = train(personalize, group.arn, "aws-user-personalization")
    assert version["status"] == "CREATE FAILED"
    assert "1000" in version["failureReason"] or "25 users" in version["failureReason"]
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])


def test_invalid_hyperparameter_fails_the_version(personalize: Any, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path)
    version = train(
        personalize,
        group.arn,
        "aws-user-personalization",
        solutionConfig={"algorithmHyperParameters": {"ease_regularization": "-3"}},
    )
    assert version["status"] == "CREATE FAILED"
    assert "ease_regularization" in version["failureReason"]


def test_stop_a_pending_version(server: LiveServer, tmp_path: Path) -> None:
    client = server.client()
    group = make_group(client, tmp_path)
    solution_arn = client.create_solution(
        name="s", datasetGroupArn=group.arn, recipeArn="arn:aws:personalize:::recipe/aws-popularity-count"
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution_arn)["solution"])
    version_arn = client.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    client.stop_solution_version_creation(solutionVersionArn=version_arn)
    record = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"],
        done=("CREATE STOPPED", "ACTIVE"),
    )
    assert record["status"] in ("CREATE STOPPED", "ACTIVE")  # it may have finished before the stop arrived
    with pytest.raises(client.exceptions.ResourceInUseException):
        client.stop_solution_version_creation(solutionVersionArn=version_arn)


@pytest.mark.slow
@needs_movielens
def test_movielens_user_personalization_beats_popularity(personalize: Any, tmp_path: Path) -> None:
    ratings = tmp_path / "ratings.csv"
    convert_movielens_ratings(ratings)
    group = make_group(personalize, tmp_path, name="ml", interactions_csv=ratings)
    scores = {}
    for recipe in ("aws-user-personalization", "aws-popularity-count"):
        version = train(personalize, group.arn, recipe)
        assert version["status"] == "ACTIVE", version.get("failureReason")
        metrics = personalize.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])[
            "metrics"
        ]
        assert set(metrics) >= METRICS
        scores[recipe] = metrics["normalized_discounted_cumulative_gain_at_10"]
    assert scores["aws-user-personalization"] > 1.5 * scores["aws-popularity-count"], scores


def test_out_of_memory_ends_in_create_failed_with_a_reason(tmp_path: Path) -> None:
    from pertinent.config import load_settings
    from tests.conftest import start_server

    live, stop = start_server(
        load_settings(data_dir=tmp_path / "data", training_memory_mb=1, worker_poll_seconds=0.05)
    )
    try:
        client = live.client()
        group = make_group(client, tmp_path)
        version = train(client, group.arn, "aws-user-personalization")
        assert version["status"] == "CREATE FAILED"
        assert "out of memory" in version["failureReason"]
        again = client.describe_solution(solutionArn=version["solutionArn"])["solution"]
        assert again["status"] == "ACTIVE"  # the solution itself is fine; a new version can be tried
    finally:
        stop()


def test_a_crashed_training_process_ends_in_create_failed(server: LiveServer, tmp_path: Path) -> None:
    import os
    import signal
    import threading

    client = server.client()
    group = make_group(client, tmp_path)
    killed: list[int] = []

    def kill_the_training_child() -> None:  # find the spawned child of this process and SIGKILL it
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text().split()
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if int(stat[3]) == os.getpid() and b"spawn_main" in cmdline:
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(int(pid))
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_training_child)
    killer.start()
    version = train(client, group.arn, "aws-user-personalization", performHPO=True)
    killer.join()
    assert killed
    assert version["status"] == "CREATE FAILED"
    assert "SIGKILL" in version["failureReason"]
