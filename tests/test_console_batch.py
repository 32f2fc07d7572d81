"""Batch jobs from the console, in chromium against a live server: batch inference, batch segment and data
deletion jobs are created with the API's fields (files uploaded from the browser), followed live to the
end on their own page, and boto3 sees exactly what the console made; failures show their reason, bad input
is refused in the console's JSON format, and every page fits a phone. Screenshots go to
artifacts/screenshots/."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pertinent.config import load_settings
from tests.conftest import LiveServer, make_group, start_server, wait_for_status
from tests.test_console import DESKTOP, PHONE, Shooter, _require_browser, _shooter
from tests.test_console import browser as browser  # the module-scoped chromium fixture, shared

LONG_MS = 180_000  # a job on a loaded machine


@dataclass
class Batch:
    server: LiveServer
    personalize: Any
    group_arn: str
    up_version: str
    affinity_version: str
    data_dir: Path
    tmp: Path

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    _require_browser()
    tmp = tmp_path_factory.mktemp("console-batch")
    data_dir = tmp / "data"
    live, stop = start_server(load_settings(data_dir=data_dir, worker_poll_seconds=0.05))
    client = live.client()
    group = make_group(client, tmp, name="movies")
    versions = {}
    for name, recipe in (("up", "aws-user-personalization"), ("affinity", "aws-item-affinity")):
        solution = client.create_solution(
            name=name, datasetGroupArn=group.arn, recipeArn=f"arn:aws:personalize:::recipe/{recipe}"
        )["solutionArn"]
        wait_for_status(lambda solution=solution: client.describe_solution(solutionArn=solution)["solution"])
        versions[name] = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    for version in versions.values():
        record = wait_for_status(
            lambda version=version: client.describe_solution_version(solutionVersionArn=version)[
                "solutionVersion"
            ],
            timeout=300,
        )
        assert record["status"] == "ACTIVE", record.get("failureReason")
    yield Batch(live, client, group.arn, versions["up"], versions["affinity"], data_dir, tmp)
    stop()


@pytest.fixture
def desk(browser: Any, request: pytest.FixtureRequest) -> Iterator[Shooter]:
    for shooter in _shooter(browser, request, DESKTOP):
        shooter.page.set_default_timeout(120_000)  # a loaded 2-core machine renders slowly
        yield shooter


@pytest.fixture
def phone(browser: Any, request: pytest.FixtureRequest) -> Iterator[Shooter]:
    yield from _shooter(browser, request, PHONE)


def _wait_done(page: Any) -> str:
    """Wait on a job's page until it reloads with a final status; returns that status."""
    page.wait_for_function(
        "() => !document.querySelector('#job-status[data-watch]') && "
        "['ACTIVE', 'CREATE FAILED', 'COMPLETED', 'FAILED'].includes("
        "document.querySelector('#job-status [data-role=status]').textContent)",
        timeout=LONG_MS,
    )
    page.wait_for_load_state("load")
    return str(page.inner_text("#job-status [data-role=status]"))


def test_batch_inference_segment_and_deletion_jobs_from_the_console(
    batch: Batch, desk: Shooter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pertinent")
    page, url = desk.page, batch.url
    users = batch.tmp / "users.json"
    users.write_text("".join(json.dumps({"userId": f"u{n}"}) + "\n" for n in range(1, 6)))
    desk.open(f"{url}/console/groups/movies/batch", "batch-empty")
    assert page.locator("#batch-inference tr[data-job='console-recs']").count() == 0
    form = "#batch-inference form"
    page.fill(f"{form} input[name=job_name]", "console-recs")
    page.select_option(f"{form} select[name=solution_version_arn]", batch.up_version)
    page.set_input_files(f"{form} input[type=file]", str(users))
    page.fill(f"{form} input[name=num_results]", "5")
    output = page.input_value(f"{form} input[name=output_path]")
    assert output == f"{(batch.data_dir / 'batch-output').resolve()}/"
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(f"{url}/console/batch-jobs/inference/console-recs")
    desk.shot("inference-job-running")
    assert _wait_done(page) == "ACTIVE"
    desk.shot("inference-job-done")
    assert page.inner_text("#job-progress [data-role=progress-text]").startswith("100% · 5 lines")

    job = batch.personalize.describe_batch_inference_job(
        batchInferenceJobArn="arn:aws:personalize:us-east-1:000000000000:batch-inference-job/console-recs"
    )["batchInferenceJob"]
    assert job["status"] == "ACTIVE" and job["numResults"] == 5 and job["solutionVersionArn"] == batch.up_version
    source = Path(job["jobInput"]["s3DataSource"]["path"])
    assert source.read_text() == users.read_text()  # the uploaded copy
    out = Path(job["jobOutput"]["s3DataDestination"]["path"]) / f"{source.name}.out"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["input"]["userId"] for line in lines] == [f"u{n}" for n in range(1, 6)]
    assert all(len(line["output"]["recommendedItems"]) == 5 for line in lines)
    assert "console-recs" in page.inner_text("h1")
    logged = [r.getMessage() for r in caplog.records if r.name == "pertinent.jobs" and "console-recs" in r.getMessage()]
    for state in ("start", "progress", "end"):  # the server log follows the job too
        assert any(line.startswith(f"job=batch-inference state={state} ") for line in logged), logged

    items = batch.tmp / "items.json"
    items.write_text('{"itemId": "m1"}\n{"itemId": "m2"}\n')
    desk.open(f"{url}/console/groups/movies/batch", "batch-one-job")
    assert "ACTIVE" in page.inner_text("#batch-inference tr[data-job='console-recs']")
    form = "#batch-segment form"
    page.fill(f"{form} input[name=job_name]", "console-segments")
    page.set_input_files(f"{form} input[type=file]", str(items))
    page.fill(f"{form} input[name=num_results]", "7")
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(f"{url}/console/batch-jobs/segment/console-segments")
    assert _wait_done(page) == "ACTIVE"
    desk.shot("segment-job-done")
    segment = batch.personalize.describe_batch_segment_job(
        batchSegmentJobArn="arn:aws:personalize:us-east-1:000000000000:batch-segment-job/console-segments"
    )["batchSegmentJob"]
    assert segment["status"] == "ACTIVE" and segment["numResults"] == 7
    assert segment["solutionVersionArn"] == batch.affinity_version

    erase = batch.tmp / "erase.csv"
    erase.write_text("USER_ID\nu3\nnobody\n")
    desk.open(f"{url}/console/groups/movies/batch", "batch-two-jobs")
    form = "#data-deletion form"
    page.fill(f"{form} input[name=job_name]", "console-erase")
    page.set_input_files(f"{form} input[type=file]", str(erase))
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(f"{url}/console/batch-jobs/deletion/console-erase")
    assert _wait_done(page) == "COMPLETED"
    desk.shot("deletion-job-done")
    assert page.inner_text("#num-deleted") == "1"  # u3 was in the data, "nobody" was not
    deletion = batch.personalize.describe_data_deletion_job(
        dataDeletionJobArn="arn:aws:personalize:us-east-1:000000000000:data-deletion-job/console-erase"
    )["dataDeletionJob"]
    assert deletion["status"] == "COMPLETED" and deletion["numDeleted"] == 1

    desk.open(f"{url}/console/groups/movies/batch", "batch-all-jobs")
    for section, name in (("inference", "console-recs"), ("segment", "console-segments"),
                          ("deletion", "console-erase")):  # fmt: skip
        page.click(f"#{'data-deletion' if section == 'deletion' else 'batch-' + section} a:text('{name}')")
        page.wait_for_url(f"{url}/console/batch-jobs/{section}/{name}")
        page.go_back()


def test_a_failing_job_and_a_refused_one_show_the_reason(batch: Batch, desk: Shooter) -> None:
    page, url = desk.page, batch.url
    desk.expect_http_errors = True
    bad = batch.tmp / "bad.json"
    bad.write_bytes(b'{"userId": "\xff"}\n')  # not UTF-8: the job fails (a bad line only gets an error line)
    desk.open(f"{url}/console/groups/movies/batch", "batch-failing")
    form = "#batch-inference form"
    page.fill(f"{form} input[name=job_name]", "console-bad")
    page.fill(f"{form} input[name=input_path]", str(bad))
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(f"{url}/console/batch-jobs/inference/console-bad")
    assert _wait_done(page) == "CREATE FAILED"
    desk.shot("inference-job-failed")
    job = batch.personalize.describe_batch_inference_job(
        batchInferenceJobArn="arn:aws:personalize:us-east-1:000000000000:batch-inference-job/console-bad"
    )["batchInferenceJob"]
    assert job["failureReason"] in page.inner_text(".failure")

    desk.open(f"{url}/console/groups/movies/batch", "batch-refused")
    page.fill(f"{form} input[name=job_name]", "console-bad")  # taken
    page.fill(f"{form} input[name=input_path]", str(bad))
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .wf-status.error")
    assert page.inner_text(f"{form} .wf-status").startswith("ResourceAlreadyExistsException: ")
    page.fill(f"{form} input[name=job_name]", "console-nothing")
    page.fill(f"{form} input[name=input_path]", "")
    page.click(f"{form} button[type=submit]")
    page.wait_for_function(f"() => document.querySelector('{form} .wf-status').textContent.includes('Choose a file')")
    assert "CREATE FAILED" in page.inner_text("#batch-inference tr[data-job='console-bad']")
    assert page.locator("#batch-inference .failure").count() == 1


def _post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_batch_endpoint_refuses_bad_input_clearly(batch: Batch) -> None:
    api = f"{batch.url}/console/api/groups/movies/batch-jobs"
    good = {"kind": "inference", "job_name": "j", "role_arn": "arn:aws:iam::000000000000:role/R",
            "solution_version_arn": batch.up_version, "input_path": str(batch.tmp), "output_path": "/tmp/o/"}  # fmt: skip
    for change, expected in (
        ({"kind": "bogus"}, "kind must be"),
        ({"job_name": "bad name"}, "job_name must be"),
        ({"role_arn": "admin"}, "role_arn must be an IAM role ARN"),
        ({"solution_version_arn": batch.affinity_version}, "USER_SEGMENTATION"),
        ({"solution_version_arn": "arn:aws:personalize:us-east-1:000000000000:solution/x/1"}, "not an ACTIVE"),
        ({"num_results": "501"}, "between 1 and 500"),
        ({"filter": "no-such-filter"}, "filter/no-such-filter"),
    ):
        status, body = _post(api, {**good, **change})
        assert status in (400, 404) and expected in body["error"]["message"], (change, body)
    status, body = _post(f"{batch.url}/console/api/groups/nope/batch-jobs", good)
    assert status == 404 and body["error"]["code"] == "ResourceNotFoundException"
    status, body = _post(f"{batch.url}/console/api/uploads", {"text": "x", "suffix": ".sh"})
    assert status == 400 and "suffix must be one of" in body["error"]["message"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{batch.url}/console/batch-jobs/nothing/x")
    assert refused.value.code == 400 and b"inference, segment or deletion" in refused.value.read()


def test_batch_pages_fit_a_phone_screen(batch: Batch, phone: Shooter) -> None:
    page = phone.page
    wrong = batch.tmp / "wrong-header.csv"
    wrong.write_text("CUSTOMER\nu1\n")
    made = batch.personalize.create_data_deletion_job(
        jobName="phone-erase", datasetGroupArn=batch.group_arn,
        dataSource={"dataLocation": str(wrong)}, roleArn="arn:aws:iam::000000000000:role/R",
    )["dataDeletionJobArn"]  # fmt: skip
    wait_for_status(
        lambda: batch.personalize.describe_data_deletion_job(dataDeletionJobArn=made)["dataDeletionJob"],
        done=("COMPLETED", "FAILED"),
    )
    for name, path in (("batch", "/console/groups/movies/batch"), ("job", "/console/batch-jobs/deletion/phone-erase")):
        phone.open(batch.url + path, f"phone-{name}")
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == PHONE["width"], f"{name} scrolls sideways: {widths}"
    assert "FAILED" in page.inner_text("#job-status") and page.locator(".failure").count() == 1
