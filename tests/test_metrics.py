"""GET /metrics after a known number of calls shows those counts; log lines name the operation and each job."""

from __future__ import annotations

import io
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from pertinent.config import load_settings
from pertinent.demo.run import ConsoleLog
from tests.conftest import LiveServer, make_group, start_server, wait_for_status

MISSING_GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/nope"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    with urllib.request.urlopen(f"{url}/metrics") as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_and_logs_follow_the_calls(
    server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pertinent")
    client = server.client()
    for _ in range(3):
        client.list_dataset_groups()
    for _ in range(2):
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            client.describe_dataset_group(datasetGroupArn=MISSING_GROUP)

    group = make_group(client, tmp_path)
    solution = client.create_solution(
        name="up",
        datasetGroupArn=group.arn,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert (
        wait_for_status(
            lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"],
            timeout=300,
        )["status"]
        == "ACTIVE"
    )
    campaign = client.create_campaign(name="up", solutionVersionArn=version)["campaignArn"]
    wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    runtime = server.client("personalize-runtime")
    for _ in range(3):
        runtime.get_recommendations(campaignArn=campaign, userId="u1")
    tracker = client.create_event_tracker(name="t", datasetGroupArn=group.arn)
    wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    server.client("personalize-events").put_events(
        trackingId=tracker["trackingId"], userId="u1", sessionId="s",
        eventList=[{"eventType": "rating", "itemId": f"m{i}", "sentAt": time.time()} for i in (1, 3)],
    )  # fmt: skip

    samples = scrape(server.url)
    requests = "pertinent_requests_total"
    assert value(samples, requests, operation="AmazonPersonalize.ListDatasetGroups", status="200") == 3
    assert value(samples, requests, operation="AmazonPersonalize.DescribeDatasetGroup", status="400") == 2
    assert value(samples, requests, operation="AmazonPersonalize.CreateSolution", status="200") == 1
    assert (
        value(samples, "pertinent_errors_total", operation="AmazonPersonalize.DescribeDatasetGroup",
              error="ResourceNotFoundException")
        == 2
    )  # fmt: skip
    latency = "pertinent_request_duration_seconds_count"
    assert value(samples, latency, operation="AmazonPersonalize.ListDatasetGroups") == 3
    assert value(samples, latency, operation="AmazonPersonalizeRuntime.GetRecommendations") == 3
    assert value(samples, requests, operation="AmazonPersonalizeEvents.PutEvents", status="200") == 1
    assert value(samples, "pertinent_events_ingested_total", kind="interaction") == 2
    # jobs: one import and one training ended ACTIVE, with their durations; nothing is left running
    assert value(samples, "pertinent_jobs_total", kind="import", state="ACTIVE") == 1
    assert value(samples, "pertinent_jobs_total", kind="train", state="ACTIVE") == 1
    assert value(samples, "pertinent_job_duration_seconds_count", kind="train") == 1
    assert value(samples, "pertinent_job_duration_seconds_sum", kind="train") > 0
    assert value(samples, "pertinent_jobs_running", kind="train") == 0
    # the model: loaded once, then served from memory; every answer counted under its version
    assert value(samples, "pertinent_model_cache_lookups_total", result="miss") == 1
    assert value(samples, "pertinent_model_cache_lookups_total", result="hit") == 2
    assert value(samples, "pertinent_models_loaded") == 1
    assert value(samples, "pertinent_model_version_requests_total", model_version=version) == 3

    lines = [record.getMessage() for record in caplog.records if record.name.startswith("pertinent.")]
    assert any(line.startswith("operation=AmazonPersonalize.CreateSolution status=200 ") for line in lines)
    assert any(
        line.startswith("operation=AmazonPersonalize.DescribeDatasetGroup status=400 ")
        and line.endswith("error=ResourceNotFoundException")
        for line in lines
    )
    assert any(
        line.startswith("operation=AmazonPersonalizeRuntime.GetRecommendations status=200") for line in lines
    )
    assert f"job=train state=start arn={version}" in lines
    assert any(line.startswith(f"job=train state=progress arn={version} fraction=") for line in lines)
    assert any(line.startswith(f"job=train state=end arn={version} result=ACTIVE seconds=") for line in lines)
    assert any(line.startswith("job=import state=end ") and "result=ACTIVE" in line for line in lines)


def test_each_app_counts_in_its_own_registry(server: LiveServer, tmp_path: Path) -> None:
    server.client().list_dataset_groups()
    other, stop = start_server(load_settings(data_dir=tmp_path / "other", worker_threads=0))
    try:
        samples = scrape(other.url)
    finally:
        stop()
    assert (
        value(
            samples, "pertinent_requests_total", operation="AmazonPersonalize.ListDatasetGroups", status="200"
        )
        == 0
    )
    assert value(scrape(server.url), "pertinent_requests_total",
                 operation="AmazonPersonalize.ListDatasetGroups", status="200") == 1  # fmt: skip


def test_unknown_targets_and_paths_keep_the_label_set_bounded(server: LiveServer) -> None:
    for target in ("AmazonPersonalize.NoSuchOperation", "Garbage"):
        request = urllib.request.Request(
            f"{server.url}/", data=b"{}", method="POST", headers={"X-Amz-Target": target}
        )
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request)
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{server.url}/no/such/path/12345")
    samples = scrape(server.url)
    operations = {
        dict(labels).get("operation") for (name, labels) in samples if name == "pertinent_requests_total"
    }
    assert "AmazonPersonalize.Unknown" in operations and "unmatched" in operations
    assert not any("NoSuchOperation" in str(o) or "12345" in str(o) for o in operations)
    assert value(samples, "pertinent_errors_total", operation="AmazonPersonalize.Unknown",
                 error="UnknownOperationException") == 2  # fmt: skip


def test_the_demo_prints_what_the_server_does_while_it_serves(server: LiveServer) -> None:
    out = io.StringIO()
    with ConsoleLog(Console(file=out, width=200)):
        server.client().list_dataset_groups()
    server.client().list_solutions()  # after the demo stops printing
    assert "operation=AmazonPersonalize.ListDatasetGroups status=200" in out.getvalue()
    assert "ListSolutions" not in out.getvalue()


def _get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_prometheus_scrapes_a_signed_server_with_the_metrics_token(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pertinent.cli import main
    from pertinent.credentials import create_key

    keys, token_file = tmp_path / "keys.csv", tmp_path / "metrics-token"
    key = create_key(keys, "111111111111")
    made = CliRunner().invoke(main, ["keys", "metrics-token", str(token_file)])
    assert made.exit_code == 0, made.output
    assert token_file.stat().st_mode & 0o077 == 0  # the owner's only
    again = CliRunner().invoke(main, ["keys", "metrics-token", str(token_file)])
    assert again.exit_code != 0 and "never overwritten" in again.output
    token = token_file.read_text().strip()
    settings = load_settings(
        data_dir=tmp_path / "data", worker_threads=0, credentials=str(keys), metrics_token_file=str(token_file)
    )
    live, stop = start_server(settings)
    try:
        import boto3

        signed = boto3.client(
            "personalize", endpoint_url=live.url, region_name="us-east-1",
            aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
        )  # fmt: skip
        for _ in range(3):
            signed.list_dataset_groups()
        status, body = _get(f"{live.url}/metrics", {})
        assert status == 403 and "MissingAuthenticationToken" in body  # the default stays closed
        status, body = _get(f"{live.url}/metrics", {"Authorization": "Bearer " + "x" * len(token)})
        assert status == 403 and "not this server's metrics token" in body
        status, body = _get(f"{live.url}/metrics", {"Authorization": f"Bearer {token}"})
        assert status == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
        }
        assert value(samples, "pertinent_requests_total",
                     operation="AmazonPersonalize.ListDatasetGroups", status="200") == 3  # fmt: skip
        # the token opens /metrics only: anywhere else a bearer token is no signature
        status, body = _get(f"{live.url}/healthz/ready", {})  # (an open path, for contrast)
        assert status == 200
        status, body = _get(f"{live.url}/console/api/status?arn=x", {"Authorization": f"Bearer {token}"})
        assert status == 400 and "IncompleteSignatureException" in body
    finally:
        stop()


def test_a_bad_metrics_token_file_stops_the_server_with_a_reason(tmp_path: Path) -> None:
    from pertinent.api.app import create_app
    from pertinent.credentials import CredentialsError, create_key

    keys, short = tmp_path / "keys.csv", tmp_path / "short"
    create_key(keys, "111111111111")
    short.write_text("abc\n")
    for path in (short, tmp_path / "missing"):
        with pytest.raises(CredentialsError, match="metrics token file"):
            create_app(load_settings(data_dir=tmp_path / "d", credentials=str(keys), metrics_token_file=str(path)))
