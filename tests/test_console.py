"""The web console in a real browser: Debian's chromium driven by playwright against a live server.

A module-scoped server holds a trained user-personalization campaign (as tests/test_serving.py builds one),
an event tracker and a filter; each test clicks through pages as a person would and writes a screenshot of
every page it visits to ``artifacts/screenshots/`` for review. Without chromium the tests skip locally and
fail under CI (``CI`` set), so a CI image that lost the browser cannot pass silently.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pertinent.config import load_settings
from tests.conftest import Group, LiveServer, make_group, start_server, wait_for_status

#: Debian's chromium (apt-get install -y chromium); PERTINENT_CHROMIUM names another build
CHROMIUM = Path(os.environ.get("PERTINENT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
TIMEOUT_MS = 15_000
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def _require_browser() -> Any:
    """playwright's sync API, or a skip (a failure under CI) naming what is missing."""
    problem = None
    try:
        from playwright import sync_api
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[test]')"
    if problem is None and not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the console's browser tests cannot run: {problem}")
        pytest.skip(problem)
    return sync_api


@dataclass
class Env:
    server: LiveServer
    group: Group
    personalize: Any
    runtime: Any
    events: Any
    campaign_arn: str
    solution_arn: str
    version_arn: str
    tracking_id: str
    ranking_campaign_arn: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    _require_browser()
    tmp = tmp_path_factory.mktemp("console")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = live.client()
    group = make_group(client, tmp, name="movies", with_items=True)
    solution = client.create_solution(
        name="up",
        datasetGroupArn=group.arn,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    assert record["status"] == "ACTIVE", record.get("failureReason")
    campaign = client.create_campaign(
        name="up-campaign",
        solutionVersionArn=version,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "0"}},
    )["campaignArn"]
    wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    tracker = client.create_event_tracker(name="tracker", datasetGroupArn=group.arn)
    wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    genre = client.create_filter(
        name="genre",
        datasetGroupArn=group.arn,
        filterExpression="INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)",
    )["filterArn"]
    wait_for_status(lambda: client.describe_filter(filterArn=genre)["filter"])
    ranking = client.create_solution(
        name="rank", datasetGroupArn=group.arn, recipeArn="arn:aws:personalize:::recipe/aws-personalized-ranking"
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=ranking)["solution"])
    ranking_version = client.create_solution_version(solutionArn=ranking)["solutionVersionArn"]
    ranked = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=ranking_version)["solutionVersion"],
        timeout=300,
    )
    assert ranked["status"] == "ACTIVE", ranked.get("failureReason")
    # created first: the tester must still default to the campaign that answers a user id alone
    ranking_campaign = client.create_campaign(name="a-rank-campaign", solutionVersionArn=ranking_version)[
        "campaignArn"
    ]
    wait_for_status(lambda: client.describe_campaign(campaignArn=ranking_campaign)["campaign"])
    yield Env(
        live,
        group,
        client,
        live.client("personalize-runtime"),
        live.client("personalize-events"),
        campaign,
        solution,
        version,
        tracker["trackingId"],
        ranking_campaign,
    )
    stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = _require_browser()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Shooter:
    """Opens pages and keeps a screenshot of each under artifacts/screenshots/<test>-<n>-<name>.png."""

    def __init__(self, page: Any, test_name: str) -> None:
        self.page = page
        self.prefix = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
        self.count = 0
        self.console_errors: list[str] = []
        #: tests that provoke errors on purpose set this: failed requests are then not script errors
        self.expect_http_errors = False
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def _on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        if self.expect_http_errors and message.text.startswith("Failed to load resource"):
            return
        self.console_errors.append(message.text)

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def open(self, url: str, name: str) -> float:
        """Navigate, wait for the load event, screenshot; returns the load time in seconds."""
        started = time.perf_counter()
        response = self.page.goto(url, wait_until="load")
        elapsed = time.perf_counter() - started
        assert response is not None
        self.shot(name)
        return elapsed


def _shooter(browser: Any, request: pytest.FixtureRequest, viewport: dict[str, int]) -> Iterator[Shooter]:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    shooter = Shooter(page, request.node.name)
    yield shooter
    context.close()
    assert not shooter.console_errors, shooter.console_errors  # no script error on any page


@pytest.fixture
def web(browser: Any, request: pytest.FixtureRequest) -> Iterator[Shooter]:
    yield from _shooter(browser, request, DESKTOP)


@pytest.fixture
def phone(browser: Any, request: pytest.FixtureRequest) -> Iterator[Shooter]:
    yield from _shooter(browser, request, PHONE)


def shown_items(page: Any, selector: str = "#recommendations li[data-item-id]") -> list[str]:
    return [str(i) for i in page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.itemId)")]


def ask_campaign(page: Any, user_id: str) -> list[str]:
    """Fill the try-it form for ``user_id``, submit it and return the item ids shown."""
    page.fill("#try-form input[name=user_id]", user_id)
    page.fill("#try-form input[name=num_results]", "10")
    page.click("#try-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('#try-status').classList.contains('ok') && "
        "document.querySelector('#history').dataset.userId === " + repr(user_id)
    )
    return shown_items(page)


def version_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


# -- the tests ------------------------------------------------------------------------------------------
def test_dataset_groups_lead_to_datasets_schemas_and_import_jobs(env: Env, web: Shooter) -> None:
    page = web.page
    web.open(f"{env.url}/", "home")
    assert page.url.endswith("/console/")  # GET / redirects to the console
    page.click("#groups a:text('movies')")
    page.wait_for_selector("#datasets")
    web.shot("group")
    assert page.inner_text("h1") == "Dataset group movies"
    assert page.locator("#solutions a:text('up')").count() == 1
    assert page.locator("#campaigns a:text('up-campaign')").count() == 1
    assert env.tracking_id in page.inner_text("#event-tracker")

    page.click("#datasets a:text('Interactions')")
    page.wait_for_selector("#schema")
    web.shot("interactions-dataset")
    assert page.inner_text("#rows-total") == "1,800"  # 60 users × 30 interactions
    fields = page.eval_on_selector_all("#schema tr[data-field]", "els => els.map(e => e.dataset.field)")
    assert fields == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
    job = page.locator("#import-jobs tr[data-job='movies-import']")
    assert "ACTIVE" in job.inner_text() and "1,800" in job.inner_text()


def test_a_failed_import_shows_its_failure_reason(env: Env, web: Shooter, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ITEM_ID,GENRES,TITLE,YEAR\nm1,Comedy,Movie 1,not-a-year\n")
    job = env.personalize.create_dataset_import_job(
        jobName="bad-items", datasetArn=env.group.items_arn, dataSource={"dataLocation": str(bad)}
    )["datasetImportJobArn"]
    record = wait_for_status(
        lambda: env.personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    )
    assert record["status"] == "CREATE FAILED"
    web.open(f"{env.url}/console/groups/movies/datasets/items", "items-dataset")
    row = web.page.locator("#import-jobs tr[data-job='bad-items']")
    assert "CREATE FAILED" in row.inner_text()
    failure = web.page.locator("#import-jobs .failure").first.inner_text()
    assert record["failureReason"] in failure and "YEAR" in failure


def test_try_it_shows_titles_history_and_an_event_changes_the_list(env: Env, web: Shooter) -> None:
    page = web.page
    web.open(f"{env.url}/console/campaigns/up-campaign", "campaign")
    user = "console-newcomer"
    before = ask_campaign(page, user)
    web.shot("recommendations-before")
    assert len(before) == 10
    direct = env.runtime.get_recommendations(campaignArn=env.campaign_arn, userId=user, numResults=10)
    assert before == [i["itemId"] for i in direct["itemList"]]  # the panel shows the campaign's answer
    first = page.locator("#recommendations li").first
    number = before[0][1:]
    assert first.locator(".item-title").inner_text() == f"Movie {number}, the sequel"
    tags = first.locator(".tag").all_inner_texts()
    assert tags and set(tags) <= {"Comedy", "Drama", "Action", "Horror", "Romance"}
    assert "No interactions yet" in page.inner_text("#history")
    assert ask_campaign(page, user) == before  # asking again without an event changes nothing

    clicked = before[3]
    page.click(f"#recommendations li[data-item-id='{clicked}'] button.send-event")
    page.wait_for_function("() => document.querySelector('#try-status').textContent.startsWith('Sent')")
    web.shot("recommendations-after-event")
    after = shown_items(page)
    assert len(after) == 10
    assert after != before, "the event did not change the recommendations"
    direct = env.runtime.get_recommendations(campaignArn=env.campaign_arn, userId=user, numResults=10)
    assert after == [i["itemId"] for i in direct["itemList"]]
    new = [i for i in after if i not in before]
    badged = shown_items(page, "#recommendations li.added[data-item-id]")
    assert badged == new
    history = page.locator("#history li[data-item-id]").first
    assert history.get_attribute("data-item-id") == clicked
    assert history.get_attribute("data-source") == "event"
    assert "live rating" in history.inner_text()


def test_a_known_user_sees_training_history_beside_the_recommendations(env: Env, web: Shooter) -> None:
    page = web.page
    web.open(f"{env.url}/console/campaigns/up-campaign?user_id=u1", "campaign-shared-link")
    page.wait_for_function("() => document.querySelector('#history').dataset.userId === 'u1'")
    web.shot("u1")
    history = shown_items(page, "#history li[data-item-id]")
    assert len(history) == 20 and all(int(i[1:]) % 2 == 1 for i in history)  # u1 rated odd items only
    assert page.inner_text("#history-total") == "(30 in all)"
    assert set(page.eval_on_selector_all("#history li", "els => els.map(e => e.dataset.source)")) == {
        "training"
    }


def test_solution_version_page_draws_the_metrics_as_bars(env: Env, web: Shooter) -> None:
    page = web.page
    web.open(f"{env.url}/console/solutions/up", "solution")
    page.click(f"#versions a:text('{version_id(env.version_arn)}')")
    page.wait_for_selector("#metrics")
    web.shot("version")
    metrics = env.personalize.get_solution_metrics(solutionVersionArn=env.version_arn)["metrics"]
    bars = page.eval_on_selector_all(
        "#metrics svg.bar-chart rect.bar",
        "els => els.map(e => [e.dataset.metric, Number(e.dataset.value), e.getBBox().width])",
    )
    assert {m for m, _, _ in bars} == set(metrics)
    for metric, value, width in bars:
        assert value == pytest.approx(metrics[metric])
        assert width >= 0 and (width > 0) == (value > 0)
    coverage = next(w for m, _, w in bars if m == "coverage")
    precision = next(w for m, _, w in bars if m == "precision_at_25")
    assert coverage / precision == pytest.approx(metrics["coverage"] / metrics["precision_at_25"], rel=0.02)


def test_a_training_version_refreshes_itself_until_its_metrics_show(env: Env, web: Shooter) -> None:
    """A version still training shows its progress, follows it in place and renders the metrics when it
    finishes — driven through the store so every state is seen, however fast real training is."""
    store = env.server.app.state.ctx.store
    arn = f"{env.solution_arn}/fake0001"
    now = time.time()
    record = {
        "solution_version_arn": arn,
        "solution_arn": env.solution_arn,
        "dataset_group_arn": env.group.arn,
        "recipe_arn": "arn:aws:personalize:::recipe/aws-user-personalization",
        "training_mode": "FULL",
        "status": "CREATE IN_PROGRESS",
        "training_progress": {"fraction": 0.25, "message": "fitting"},
        "creation_date_time": now,
        "last_updated_date_time": now,
    }
    store.insert("solution-version", arn, record, parent_arn=env.solution_arn)
    page = web.page
    try:
        web.open(f"{env.url}/console/solutions/up/versions/fake0001", "training-25")
        assert page.inner_text("#training [data-role=progress-text]").startswith("25%")
        store.update(arn, {"training_progress": {"fraction": 0.6, "message": "evaluating"}})
        page.wait_for_function(
            "() => document.querySelector('#training [data-role=progress-text]').textContent.startsWith('60%')"
        )
        web.shot("training-60")
        store.update(
            arn,
            {
                "status": "ACTIVE",
                "training_progress": {"fraction": 1.0, "message": "done"},
                "metrics": {"coverage": 0.5, "precision_at_10": 0.25},
                "training_hours": 0.001,
            },
        )
        page.wait_for_selector("#metrics svg.bar-chart rect.bar[data-metric=coverage]")  # reloaded by itself
        web.shot("trained")
        assert page.locator("#version-status [data-role=status]").inner_text() == "ACTIVE"
    finally:
        store.delete(arn)


def test_live_view_shows_new_events_as_they_arrive(env: Env, web: Shooter) -> None:
    page = web.page
    web.open(f"{env.url}/console/groups/movies/events", "events")
    count = page.locator("#events-body tr").count()
    env.events.put_events(
        trackingId=env.tracking_id,
        userId="live-viewer",
        sessionId="s-live",
        eventList=[{"eventType": "watch", "itemId": "m42", "sentAt": time.time()}],
    )
    page.wait_for_selector("#events-body tr[data-user-id='live-viewer'][data-item-id='m42']")
    web.shot("events-arrived")
    newest = page.locator("#events-body tr").first
    assert newest.get_attribute("data-user-id") == "live-viewer"
    assert "watch" in newest.inner_text()
    assert page.locator("#events-body tr").count() == count + 1
    page.click("#live-toggle")
    assert page.inner_text("#live-toggle") == "Resume"


def test_filter_tester_compares_recommendations_with_and_without_the_filter(env: Env, web: Shooter) -> None:
    page = web.page
    web.open(f"{env.url}/console/groups/movies/filters", "filters")
    assert "Items.GENRES IN ($GENRE)" in page.inner_text("#filter-list")
    page.select_option("#filter-form select[name=campaign]", "up-campaign")
    page.select_option("#filter-form select[name=filter]", "genre")
    page.fill("#filter-form input[name=user_id]", "u1")
    page.fill("#filter-form input[name='v.genre.GENRE']", "Comedy")
    page.click("#filter-form button[type=submit]")
    page.wait_for_selector("#filter-summary")
    web.shot("filter-result")
    without = shown_items(page, "#without-filter li[data-item-id]")
    filtered = shown_items(page, "#with-filter li[data-item-id]")
    assert len(without) == len(filtered) == 10
    expected = env.runtime.get_recommendations(
        campaignArn=env.campaign_arn,
        userId="u1",
        numResults=10,
        filterArn=env.personalize.list_filters(datasetGroupArn=env.group.arn)["Filters"][0]["filterArn"],
        filterValues={"GENRE": '"Comedy"'},
    )
    assert filtered == [i["itemId"] for i in expected["itemList"]]
    for tags in page.locator("#with-filter li[data-item-id]").evaluate_all(
        "els => els.map(e => Array.from(e.querySelectorAll('.tag')).map(t => t.textContent))"
    ):
        assert "Comedy" in tags
    removed = shown_items(page, "#without-filter li.removed[data-item-id]")
    assert removed == [i for i in without if i not in filtered]
    assert "filter=genre" in page.url and "v.genre.GENRE=Comedy" in page.url  # the test is a shareable URL


def test_errors_show_code_and_message_never_a_trace(env: Env, web: Shooter) -> None:
    page = web.page
    web.expect_http_errors = True
    response = page.goto(f"{env.url}/console/campaigns/no-such-campaign")
    assert response is not None and response.status == 404
    web.shot("missing-campaign")
    assert page.inner_text(".error-code") == "ResourceNotFoundException"
    assert "campaign/no-such-campaign" in page.inner_text(".error-message")
    assert "Traceback" not in page.content()

    web.open(
        f"{env.url}/console/groups/movies/filters?campaign=up-campaign&filter=genre&user_id=u1", "no-values"
    )
    assert page.inner_text("#filter-tester .error-code") == "InvalidInputException"
    assert "$GENRE" in page.inner_text("#filter-tester .error-message")

    web.open(f"{env.url}/console/campaigns/up-campaign", "campaign")
    page.fill("#try-form input[name=user_id]", "u1")
    page.fill("#try-form input[name=num_results]", "10")
    page.evaluate("document.querySelector('#try-form input[name=num_results]').removeAttribute('max')")
    page.fill("#try-form input[name=num_results]", "99")
    page.click("#try-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#try-status').classList.contains('error')")
    web.shot("try-error")
    assert (
        page.inner_text("#try-status")
        == "InvalidInputException: num_results must be between 1 and 50, not 99."
    )


def test_every_page_fits_a_phone_screen(env: Env, phone: Shooter) -> None:
    import json
    import urllib.request

    page = phone.page
    other = env.personalize.create_campaign(name="ab-second", solutionVersionArn=env.version_arn)["campaignArn"]
    wait_for_status(lambda: env.personalize.describe_campaign(campaignArn=other)["campaign"])
    body = {"name": "phone-ab", "arms": [{"name": "a", "campaignArn": env.campaign_arn},
            {"name": "b", "campaignArn": other}],
            "metrics": [{"metricName": "CLICKS", "eventType": "rating", "expression": "SAMPLECOUNT()"}]}  # fmt: skip
    request = urllib.request.Request(
        f"{env.url}/experiments", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    pages = {
        "groups": "/console/",
        "group": "/console/groups/movies",
        "dataset": "/console/groups/movies/datasets/interactions",
        "solution": "/console/solutions/up",
        "version": f"/console/solutions/up/versions/{version_id(env.version_arn)}",
        "campaign": "/console/campaigns/up-campaign",
        "filters": "/console/groups/movies/filters?campaign=up-campaign&filter=genre&user_id=u1&v.genre.GENRE=Drama",
        "events": "/console/groups/movies/events",
        "search": "/console/groups/movies/search",
        "insights": "/console/groups/movies/insights",
        "impact": "/console/groups/movies/impact",
        "experiment": "/console/experiments/phone-ab",
        "batch": "/console/groups/movies/batch",
        "setup": "/console/groups/movies/setup",
        "create": "/console/create",
        "error": "/console/campaigns/no-such-campaign",
    }
    phone.expect_http_errors = True  # the error page is a 404
    for name, path in pages.items():
        phone.open(env.url + path, f"phone-{name}")  # no timing asserted: a loaded machine is slow
        if name == "campaign":
            ask_campaign(page, "u2")
            phone.shot("phone-campaign-recommendations")
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == PHONE["width"], f"{name} scrolls sideways: {widths}"


def test_an_empty_server_explains_how_to_start(
    browser: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    live, stop = start_server(load_settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05))
    try:
        for shooter in _shooter(browser, request, DESKTOP):
            shooter.open(f"{live.url}/console/", "empty")
            text = shooter.page.inner_text("#no-groups")
            assert (
                "No dataset groups yet" in text
                and "pertinent demo" in text
                and "create_dataset_group" in text
            )
    finally:
        stop()


def test_search_comparison_and_the_weight_slider_reorder_the_hits(env: Env, web: Shooter) -> None:
    page = web.page
    web.open(
        f"{env.url}/console/groups/movies/search?q=sequel&user_id=u1&campaign=up-campaign&weight=0",
        "search-weight-0",
    )
    plain = shown_items(page, "#plain-hits li[data-item-id]")
    at_zero = shown_items(page, "#personalized-hits li[data-item-id]")
    assert len(plain) == 20
    assert at_zero == plain  # weight 0 is plain BM25
    page.eval_on_selector(
        "#weight",
        "el => { el.value = '1'; el.dispatchEvent(new Event('input'));"
        " el.dispatchEvent(new Event('change')); }",
    )
    page.wait_for_function("document.querySelector('#search-status').textContent.includes('weight 1')")
    web.shot("search-weight-1")
    at_one = shown_items(page, "#personalized-hits li[data-item-id]")
    assert sorted(at_one) == sorted(plain) and at_one != plain
    assert {int(i[1:]) % 2 for i in at_one[:5]} == {1}  # u1 likes odd items
    moved_up = page.locator("#personalized-hits [data-delta]").evaluate_all(
        "els => els.map(e => Number(e.dataset.delta))"
    )
    assert max(moved_up) > 0 and min(moved_up) < 0
    assert "weight=1" in page.url
    assert not web.console_errors


def test_try_it_defaults_to_the_data_event_type_and_takes_a_filter_and_context(env: Env, web: Shooter) -> None:
    web.open(f"{env.url}/console/campaigns/up-campaign", "try-it-filter")
    assert web.page.input_value("#event-type") == "rating"  # the data's event type, not "click"
    web.page.select_option("#try-form select[name=filter]", "genre")
    web.page.fill("#try-form input[name=filter_values]", "GENRE=Drama")
    web.page.fill("#try-form input[name=context]", "DEVICE=phone")
    shown = ask_campaign(web.page, "u1")
    web.shot("try-it-filtered")
    genre = "arn:aws:personalize:us-east-1:000000000000:filter/genre"
    expected = env.runtime.get_recommendations(
        campaignArn=env.campaign_arn, userId="u1", numResults=10, filterArn=genre,
        filterValues={"GENRE": '"Drama"'}, context={"DEVICE": "phone"},
    )["itemList"]  # fmt: skip
    assert shown == [i["itemId"] for i in expected] and shown
    unfiltered = env.runtime.get_recommendations(campaignArn=env.campaign_arn, userId="u1", numResults=10)
    assert shown != [i["itemId"] for i in unfiltered["itemList"]]


def test_filter_tester_with_a_ranking_campaign_answers_the_first_compare(env: Env, web: Shooter) -> None:
    page = web.page
    web.open(f"{env.url}/console/groups/movies/filters", "filters-ranking")
    campaign = "#filter-form select[name=campaign]"
    # the default answers a user id alone (whichever user-personalization campaign the group lists first)
    assert page.eval_on_selector(campaign, "s => s.selectedOptions[0].dataset.ranking") == ""
    assert page.input_value("#input-list") == ""
    page.select_option(campaign, "a-rank-campaign")
    sample = [i.strip() for i in page.input_value("#input-list").split(",")]
    assert len(sample) == 20 and page.is_visible("#ranking-hint")
    page.select_option("#filter-form select[name=filter]", "genre")
    page.fill("#filter-form input[name=user_id]", "u1")
    page.fill("#filter-form input[name='v.genre.GENRE']", "Comedy")
    page.click("#filter-form button[type=submit]")
    page.wait_for_selector("#filter-summary")
    web.shot("filters-ranking-result")
    assert page.locator("#filter-tester .error-box").count() == 0
    genre = "arn:aws:personalize:us-east-1:000000000000:filter/genre"
    plain = env.runtime.get_personalized_ranking(
        campaignArn=env.ranking_campaign_arn, userId="u1", inputList=sample
    )["personalizedRanking"]
    filtered = env.runtime.get_personalized_ranking(
        campaignArn=env.ranking_campaign_arn, userId="u1", inputList=sample, filterArn=genre,
        filterValues={"GENRE": '"Comedy"'},
    )["personalizedRanking"]  # fmt: skip
    assert shown_items(page, "#without-filter li[data-item-id]") == [i["itemId"] for i in plain]
    assert shown_items(page, "#with-filter li[data-item-id]") == [i["itemId"] for i in filtered]
    assert 0 < len(filtered) < len(plain)
    page.select_option(campaign, "up-campaign")  # back: the sample is not sent to a campaign that needs none
    assert page.input_value("#input-list") == "" and not page.is_visible("#ranking-hint")

    # a shared URL naming the ranking campaign without items gets the sample server-side, not an error
    web.open(
        f"{env.url}/console/groups/movies/filters?campaign=a-rank-campaign&filter=genre&user_id=u1"
        "&v.genre.GENRE=Drama",
        "filters-ranking-url",
    )
    assert page.locator("#filter-tester .error-box").count() == 0
    assert len(shown_items(page, "#without-filter li[data-item-id]")) == 20


def test_try_it_leaves_seen_items_out_by_default_and_explains_each_item(env: Env, web: Shooter) -> None:
    import json
    import urllib.parse
    import urllib.request

    unseen = env.personalize.create_filter(
        name="unseen",
        datasetGroupArn=env.group.arn,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("rating")',
    )["filterArn"]
    wait_for_status(lambda: env.personalize.describe_filter(filterArn=unseen)["filter"])
    page = web.page
    try:
        web.open(f"{env.url}/console/campaigns/up-campaign", "try-it-unseen")
        assert page.input_value("#try-form select[name=filter]") == "unseen"
        assert "filter.html" in page.inner_html("#default-filter-hint")
        user = "seen-tester"
        before = ask_campaign(page, user)
        direct = env.runtime.get_recommendations(
            campaignArn=env.campaign_arn, userId=user, numResults=10, filterArn=unseen
        )["itemList"]
        assert before == [i["itemId"] for i in direct] and len(before) == 10
        clicked = before[0]
        page.click(f"#recommendations li[data-item-id='{clicked}'] button.send-event")
        page.wait_for_function("() => document.querySelector('#try-status').textContent.startsWith('Sent')")
        after = shown_items(page)
        web.shot("try-it-unseen-after")
        assert clicked not in after and len(after) == 10  # one click: the watched item leaves the next answer

        target = after[0]
        page.click(f"#recommendations li[data-item-id='{target}'] button.explain")
        page.wait_for_selector(f"#recommendations li[data-item-id='{target}'] .why")
        web.shot("try-it-why")
        shown_related = page.eval_on_selector_all(
            f"#recommendations li[data-item-id='{target}'] .why-item", "els => els.map(e => e.dataset.itemId)"
        )
        query = urllib.parse.urlencode({"campaignArn": env.campaign_arn, "userId": user, "itemId": target})
        with urllib.request.urlopen(f"{env.url}/explain?{query}") as response:
            native = json.loads(response.read())
        assert shown_related == [r["itemId"] for r in native["relatedHistory"]][:5]
        assert shown_related == [clicked]  # the user's only interaction is the one just sent
        titles = page.inner_text(f"#recommendations li[data-item-id='{target}'] .why")
        assert titles.startswith("Because the user interacted with: Movie")

        page.select_option("#try-form select[name=filter]", "")  # "(none)": the raw answer
        raw = ask_campaign(page, user)
        assert "filter=&" in page.url or page.url.endswith("filter=")
        unfiltered = env.runtime.get_recommendations(campaignArn=env.campaign_arn, userId=user, numResults=10)
        assert raw == [i["itemId"] for i in unfiltered["itemList"]]
    finally:
        env.personalize.delete_filter(filterArn=unseen)


def test_a_metric_attribution_is_created_from_the_impact_page(env: Env, web: Shooter) -> None:
    page = web.page
    web.expect_http_errors = True
    web.open(f"{env.url}/console/groups/movies/impact", "impact-empty")
    form = ".wf-attribution"
    assert page.input_value(f"{form} input[name=event_type]") == "rating"  # the data's event type
    page.fill(f"{form} input[name=expression]", "SUM(Items.NOPE)")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .wf-status.error")
    assert page.inner_text(f"{form} .wf-status").startswith("InvalidInputException: ")
    page.fill(f"{form} input[name=expression]", "SUM(Interactions.EVENT_VALUE)")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#attribution dl.facts")  # reloaded: it exists
    page.wait_for_load_state("load")
    web.shot("impact-created")
    assert "movies-impact" in page.inner_text("#attribution")
    made = env.personalize.list_metric_attributions(datasetGroupArn=env.group.arn)["metricAttributions"]
    assert [m["name"] for m in made] == ["movies-impact"]
    metrics = env.personalize.list_metric_attribution_metrics(
        metricAttributionArn=made[0]["metricAttributionArn"]
    )["metrics"]
    assert metrics == [
        {"eventType": "rating", "metricName": "RATINGS", "expression": "SUM(Interactions.EVENT_VALUE)"}
    ]


def test_an_experiment_is_started_from_the_impact_page(env: Env, web: Shooter) -> None:
    page = web.page
    web.expect_http_errors = True
    web.open(f"{env.url}/console/groups/movies/impact", "impact-experiment")
    form = ".wf-experiment"
    page.fill(f"{form} input[name=name]", "console-ab")
    page.select_option(f"{form} select[name=arm_a]", env.campaign_arn)
    page.select_option(f"{form} select[name=arm_b]", env.campaign_arn)
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .wf-status.error")
    assert "different campaigns" in page.inner_text(f"{form} .wf-status")
    page.select_option(f"{form} select[name=arm_b]", env.ranking_campaign_arn)
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(f"{env.url}/console/experiments/console-ab")
    web.shot("experiment-started")
    import json
    import urllib.request

    with urllib.request.urlopen(f"{env.url}/experiments/console-ab") as response:
        made = json.loads(response.read())["experiment"]
    assert [a["name"] for a in made["arms"]] == ["a", "b"] and made["status"] == "ACTIVE"
    assert made["metrics"] == [{"metricName": "RATINGS", "eventType": "rating", "expression": "SAMPLECOUNT()"}]
