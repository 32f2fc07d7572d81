"""A domain recommender from the console, in chromium: created from the set-up page's use-case picker,
listed on the group page, and tried on its own page exactly as GetRecommendations(recommenderArn=…)
answers — an event sent there changes the next answer. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pertinent.config import load_settings
from tests.conftest import LiveServer, start_server, wait_for_status
from tests.test_console import DESKTOP, PHONE, Shooter, _require_browser, _shooter, ask_campaign, shown_items
from tests.test_console import browser as browser  # the module-scoped chromium fixture, shared
from tests.test_recommenders import VOD_ITEMS, make_domain_group, write_vod

LONG_MS = 300_000  # training on a loaded machine
PICKS = "arn:aws:personalize:us-east-1:000000000000:recommender/tv-picks"


@pytest.fixture(scope="module")
def tv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, set[str]]]]:
    _require_browser()
    tmp = tmp_path_factory.mktemp("console-recommender")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    watched = write_vod(tmp / "vod.csv", tmp / "vod-items.csv")
    client = live.client()
    group = make_domain_group(client, "tv", "VIDEO_ON_DEMAND", tmp / "vod.csv", tmp / "vod-items.csv", VOD_ITEMS)
    tracker = client.create_event_tracker(name="tv-tracker", datasetGroupArn=group)["eventTrackerArn"]
    wait_for_status(lambda: client.describe_event_tracker(eventTrackerArn=tracker)["eventTracker"])
    yield live, watched
    stop()


@pytest.fixture
def desk(browser: Any, request: pytest.FixtureRequest) -> Iterator[Shooter]:
    for shooter in _shooter(browser, request, DESKTOP):
        shooter.page.set_default_timeout(120_000)
        yield shooter


def test_a_recommender_is_created_and_tried_from_the_console(
    tv: tuple[LiveServer, dict[str, set[str]]], desk: Shooter, browser: Any, request: pytest.FixtureRequest
) -> None:
    live, watched = tv
    page, url = desk.page, live.url
    desk.open(f"{url}/console/groups/tv/setup", "tv-setup")
    page.select_option(".wf-recommender select[name=recipe_arn]", "arn:aws:personalize:::recipe/aws-vod-top-picks")
    page.fill(".wf-recommender input[name=name]", "tv-picks")
    page.click(".wf-recommender button[type=submit]")
    page.wait_for_selector("#existing-recommenders a:text('tv-picks')", timeout=LONG_MS)
    page.wait_for_load_state("load")
    assert "ACTIVE" in page.inner_text("#existing-recommenders")
    page.click("#existing-recommenders a:text('tv-picks')")
    page.wait_for_url(f"{url}/console/recommenders/tv-picks")
    desk.shot("recommender")
    assert page.inner_text("#recommender-status [data-role=status]") == "ACTIVE"
    assert page.input_value("#event-type") == "Watch"  # the data's event type

    runtime = live.client("personalize-runtime")
    before = ask_campaign(page, "u2")
    desk.shot("recommender-try-it")
    direct = runtime.get_recommendations(recommenderArn=PICKS, userId="u2", numResults=10)["itemList"]
    assert before == [i["itemId"] for i in direct] and len(before) == 10
    assert not set(before) & watched["u2"]  # top picks leave watched videos out
    clicked = before[0]
    page.click(f"#recommendations li[data-item-id='{clicked}'] button.send-event")
    page.wait_for_function("() => document.querySelector('#try-status').textContent.startsWith('Sent')")
    after = shown_items(page)
    desk.shot("recommender-after-event")
    assert clicked not in after  # watched now: the very next answer leaves it out
    assert after == [i["itemId"] for i in runtime.get_recommendations(
        recommenderArn=PICKS, userId="u2", numResults=10)["itemList"]]  # fmt: skip
    assert page.locator("button.explain").count() == 0  # GET /explain is for campaigns

    desk.open(f"{url}/console/groups/tv", "tv-group")
    row = page.locator("#recommenders tr[data-recommender='tv-picks']")
    assert "aws-vod-top-picks" in row.inner_text() and "ACTIVE" in row.inner_text()

    for phone in _shooter(browser, request, PHONE):
        phone.open(f"{url}/console/recommenders/tv-picks", "phone-recommender")
        ask_campaign(phone.page, "u3")
        widths = phone.page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == PHONE["width"], widths


def test_a_missing_recommender_is_a_404_page(tv: tuple[LiveServer, dict[str, set[str]]], desk: Shooter) -> None:
    desk.expect_http_errors = True
    response = desk.page.goto(f"{tv[0].url}/console/recommenders/nope")
    assert response is not None and response.status == 404
    assert desk.page.inner_text(".error-code") == "ResourceNotFoundException"


