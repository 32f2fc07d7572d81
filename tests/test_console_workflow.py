"""The whole workflow from the console alone, in chromium: create a dataset group, upload a CSV (schema
suggested from it), import, train, deploy, try the campaign, create an event tracker and a filter — then
boto3 sees exactly what the console made. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertinent.config import load_settings
from pertinent.datasets.schema_suggestion import suggest_schema
from tests.conftest import LiveServer, start_server, write_interactions_csv, write_items_csv
from tests.test_console import DESKTOP, Shooter, _require_browser, _shooter, ask_campaign
from tests.test_console import browser as browser  # the module-scoped chromium fixture, shared

LONG_MS = 300_000  # training on a loaded machine


@pytest.fixture
def desk(browser: Any, request: pytest.FixtureRequest) -> Iterator[Shooter]:
    for shooter in _shooter(browser, request, DESKTOP):
        shooter.page.set_default_timeout(120_000)  # a loaded 2-core machine renders slowly
        yield shooter


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[LiveServer]:
    _require_browser()
    live, stop = start_server(load_settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05))
    yield live
    stop()


def test_the_whole_workflow_from_the_console(empty_server: LiveServer, desk: Shooter, tmp_path: Path) -> None:
    page, url = desk.page, empty_server.url
    interactions, items = tmp_path / "interactions.csv", tmp_path / "items.csv"
    rows = write_interactions_csv(interactions)
    write_items_csv(items)
    # headers as many exports spell them: the suggestion maps them and the upload renames them
    lines = interactions.read_text().split("\n", 1)
    interactions.write_text("userId,itemId,timestamp,eventType,EVENT_VALUE\n" + lines[1])

    desk.open(f"{url}/console/create", "create-group")
    page.fill(".wf-form input[name=name]", "wizard")
    page.click(".wf-form button[type=submit]")
    page.wait_for_url(f"{url}/console/groups/wizard/setup")
    desk.shot("setup-empty")

    for kind, path in (("interactions", interactions), ("items", items)):
        step = f"#dataset-{kind}"
        page.set_input_files(f"{step} input[type=file]", str(path))
        page.wait_for_function(f"() => document.querySelector('{step} textarea').value.includes('ITEM_ID')")
        desk.shot(f"schema-suggested-{kind}")
        if kind == "interactions":
            notes = page.inner_text(f"{step} .wf-problems")
            assert "'userId') is taken as USER_ID" in notes and "'itemId') is taken as ITEM_ID" in notes
            assert "data-prep-formatting.html" in notes
        page.click(f"{step} button[type=submit]")
        page.wait_for_selector(f"{step} .wf-status.ok", timeout=LONG_MS)
        page.wait_for_selector(f"{step} a[href$='/datasets/{kind}']", timeout=LONG_MS)  # reloaded: it exists
        page.wait_for_load_state("load")
        desk.shot(f"imported-{kind}")  # (never during the reload: a screenshot then can hang)
    assert "ACTIVE" in page.inner_text("#dataset-interactions")

    page.check(".wf-solution input[value='arn:aws:personalize:::recipe/aws-user-personalization']")
    page.fill(".wf-solution input[name=name]", "wizard-up")
    page.click(".wf-solution button[type=submit]")
    page.wait_for_selector(".wf-solution [role=progressbar]:visible", timeout=LONG_MS)
    page.wait_for_selector(".wf-campaign", timeout=LONG_MS)  # reloaded once the version is ACTIVE
    page.wait_for_load_state("load")
    desk.shot("trained")
    page.fill(".wf-campaign input[name=name]", "wizard-campaign")
    page.click(".wf-campaign button[type=submit]")
    page.wait_for_url(f"{url}/console/campaigns/wizard-campaign", timeout=LONG_MS)
    shown = ask_campaign(page, "u1")
    desk.shot("try-it")

    runtime = empty_server.client("personalize-runtime")
    campaign = "arn:aws:personalize:us-east-1:000000000000:campaign/wizard-campaign"
    answer = runtime.get_recommendations(campaignArn=campaign, userId="u1", numResults=10)["itemList"]
    assert shown == [i["itemId"] for i in answer] and len(shown) == 10

    desk.open(f"{url}/console/groups/wizard/setup", "setup-done")
    page.click(".wf-tracker button[type=submit]")
    page.wait_for_selector(".wf-tracker .wf-status.ok")
    tracking = page.inner_text("#tracker-snippet .wf-tracking-id")
    assert '"eventType": "rating"' in page.inner_text("#tracker-snippet")  # the data's event type
    # the suggested filter: what the user already did, with the data's event type
    assert page.input_value(".wf-filter input[name=name]") == "unseen"
    assert page.input_value(".wf-filter input[name=filter_expression]") == (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("rating")'
    )
    page.click(".wf-filter button[type=submit]")
    page.wait_for_selector("#existing-filters code:text('unseen')", timeout=LONG_MS)
    page.wait_for_load_state("load")
    desk.shot("tracker-and-filter")
    assert page.input_value(".wf-filter input[name=name]") == ""  # suggested once
    desk.open(f"{url}/console/campaigns/wizard-campaign", "try-it-unseen-default")
    assert page.input_value("#try-form select[name=filter]") == "unseen"

    personalize = empty_server.client()
    group = personalize.describe_dataset_group(
        datasetGroupArn="arn:aws:personalize:us-east-1:000000000000:dataset-group/wizard"
    )["datasetGroup"]
    assert group["status"] == "ACTIVE"
    datasets = personalize.list_datasets(datasetGroupArn=group["datasetGroupArn"])["datasets"]
    assert sorted(d["datasetType"] for d in datasets) == ["Interactions", "Items"]
    jobs = personalize.list_dataset_import_jobs(
        datasetArn=[d for d in datasets if d["datasetType"] == "Interactions"][0]["datasetArn"]
    )
    described = personalize.describe_dataset_import_job(
        datasetImportJobArn=jobs["datasetImportJobs"][0]["datasetImportJobArn"]
    )
    assert described["datasetImportJob"]["status"] == "ACTIVE"
    trackers = personalize.list_event_trackers(datasetGroupArn=group["datasetGroupArn"])["eventTrackers"]
    tracker = personalize.describe_event_tracker(eventTrackerArn=trackers[0]["eventTrackerArn"])[
        "eventTracker"
    ]
    assert tracker["trackingId"] == tracking
    filters = personalize.list_filters(datasetGroupArn=group["datasetGroupArn"])["Filters"]
    assert [f["name"] for f in filters] == ["unseen"]
    assert rows == 1800


def test_a_failed_import_and_a_bad_name_show_the_reason(
    empty_server: LiveServer, desk: Shooter, tmp_path: Path
) -> None:
    page, url = desk.page, empty_server.url
    desk.expect_http_errors = True
    desk.open(f"{url}/console/create", "create-bad")
    page.fill(".wf-form input[name=name]", "bad name!")
    page.evaluate("document.querySelector('.wf-form input[name=name]').removeAttribute('pattern')")
    page.click(".wf-form button[type=submit]")
    page.wait_for_selector(".wf-status.error")
    assert page.inner_text(".wf-status").startswith("InvalidInputException: name must be")
    page.fill(".wf-form input[name=name]", "failing")
    page.click(".wf-form button[type=submit]")
    page.wait_for_url(f"{url}/console/groups/failing/setup")
    broken = tmp_path / "broken.csv"
    broken.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,m1,not-a-time\n")
    page.set_input_files("#dataset-interactions input[type=file]", str(broken))
    page.wait_for_function(
        "() => document.querySelector('#dataset-interactions textarea').value.includes('TIMESTAMP')"
    )
    page.click("#dataset-interactions button[type=submit]")
    page.wait_for_selector("#dataset-interactions .wf-status.error", timeout=LONG_MS)
    text = page.inner_text("#dataset-interactions .wf-status")
    desk.shot("import-failed")
    assert text.startswith("CREATE FAILED: ") and "line 2" in text, text


def post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_endpoints_refuse_bad_input_clearly(empty_server: LiveServer) -> None:
    url = empty_server.url
    assert (
        post(f"{url}/console/api/dataset-groups", {"name": ""})[1]["error"]["code"] == "InvalidInputException"
    )
    status, body = post(f"{url}/console/api/groups/nope/solutions", {"name": "s", "recipe_arn": "x"})
    assert status == 404 and body["error"]["code"] == "ResourceNotFoundException"
    status, body = post(f"{url}/console/api/schema-suggestion", {"dataset_type": "Bogus", "sample": "a\n1\n"})
    assert status == 400 and "datasetType" in body["error"]["message"]
    request = urllib.request.Request(
        f"{url}/console/api/uploads",
        data=b"USER_ID\nu1\n",
        method="POST",
        headers={"Content-Type": "text/csv"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 400


def test_header_aliases_map_as_personalize_reads_them() -> None:
    result = suggest_schema("Interactions", "user_id,ItemId,Event_Type,timestamp\nu1,m1,watch,1700000000\n")
    assert [f["name"] for f in result["fields"]] == ["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"]
    # user_id, Event_Type and timestamp already match (the import ignores case); ItemId needs a rename
    assert result["renames"] == {"ItemId": "ITEM_ID"}
    assert len(result["problems"]) == 1 and "data-prep-formatting.html" in result["problems"][0]
    movielens = suggest_schema("Interactions", "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n")
    assert [f["name"] for f in movielens["fields"]] == ["USER_ID", "movieId", "rating", "TIMESTAMP"]
    assert movielens["renames"] == {"userId": "USER_ID"}  # movieId is never mapped: no documented rule
    assert any("If movieId holds the item ids, rename that column to ITEM_ID" in p for p in movielens["problems"])
    both = suggest_schema("Users", "USER_ID,userId\nu1,u2\n")
    assert both["renames"] == {} and [f["name"] for f in both["fields"]] == ["USER_ID", "userId"]


def test_the_schema_is_suggested_from_header_and_values() -> None:
    sample = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n" + "".join(
        f"u{i},m{i},{1700000000 + i},watch,{i % 5}.5,{'phone' if i % 2 else ''}\n" for i in range(50)
    )
    fields = {f["name"]: f for f in suggest_schema("Interactions", sample)["fields"]}
    assert fields["TIMESTAMP"]["type"] == "long" and fields["EVENT_VALUE"]["type"] == "float"
    assert fields["DEVICE"] == {"name": "DEVICE", "type": ["null", "string"], "categorical": True}
    items = suggest_schema("Items", "ITEM_ID,YEAR,PRICE,GENRES,DESCRIPTION\n" + "".join(
        f"m{i},{1990 + i},{i}.99,Drama|Comedy,{'a long description of a film that has many words ' * 2}{i}\n"
        for i in range(20)))  # fmt: skip
    by_name = {f["name"]: f for f in items["fields"]}
    assert by_name["YEAR"]["type"] == "int" and by_name["PRICE"]["type"] == "float"
    assert by_name["GENRES"].get("categorical") and by_name["DESCRIPTION"].get("textual")
    assert suggest_schema("Users", "NAME\nx\n")["problems"] == [
        "A Users dataset needs a USER_ID column; the file has none."
    ]


def test_a_domain_group_offers_its_use_cases_as_recommenders(empty_server: LiveServer) -> None:
    url = empty_server.url
    status, made = post(f"{url}/console/api/dataset-groups", {"name": "vod", "domain": "VIDEO_ON_DEMAND"})
    assert status == 200, made
    personalize = empty_server.client()
    group = personalize.describe_dataset_group(datasetGroupArn=made["arn"])["datasetGroup"]
    assert group["domain"] == "VIDEO_ON_DEMAND"
    with urllib.request.urlopen(f"{url}/console/groups/vod/setup") as response:
        page = response.read().decode()
    assert 'id="step-recommender"' in page and "aws-vod-top-picks" in page and "aws-ecomm" not in page
    status, body = post(
        f"{url}/console/api/groups/vod/recommenders",
        {"name": "r", "recipe_arn": "arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-views"},
    )
    assert status == 400 and "not a use case" in body["error"]["message"]
