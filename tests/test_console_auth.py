"""The console under --credentials: sign-in with an access key, session and CSRF cookies, CSP and framing
headers, account isolation; and the Host check against DNS rebinding (docs/security.md)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest
from botocore.config import Config

from pertinent.config import load_settings
from pertinent.credentials import AccessKey, create_key
from tests.conftest import LiveServer, start_server
from tests.test_console import CHROMIUM as CHROMIUM_PATH
from tests.test_console import CHROMIUM_ARGS, _require_browser


@dataclass
class Env:
    live: LiveServer
    a: AccessKey
    b: AccessKey
    group_b: str


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("console-auth")
    a, b = create_key(tmp / "keys.csv", "111111111111"), create_key(tmp / "keys.csv", "222222222222")
    live, stop = start_server(
        load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05, credentials=str(tmp / "keys.csv"))
    )
    groups = []
    for key, name in ((a, "alpha-group"), (b, "beta-group")):
        client = boto3.client(
            "personalize",
            endpoint_url=live.url,
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=Config(retries={"max_attempts": 1}),
        )
        groups.append(client.create_dataset_group(name=name)["datasetGroupArn"])
    yield Env(live, a, b, groups[1])
    stop()


def request(
    env: Env, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    parts = urlsplit(env.live.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def sign_in(env: Env, key: AccessKey, secret: str | None = None, origin: str | None = None) -> Any:
    form = urlencode(
        {"access_key_id": key.access_key_id, "secret_access_key": secret or key.secret_access_key}
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin:
        headers["Origin"] = origin
    return request(env, "POST", "/console/sign-in", form, headers)


def cookies_of(headers: http.client.HTTPMessage) -> tuple[SimpleCookie, list[str]]:
    raw = headers.get_all("set-cookie") or []
    jar: SimpleCookie = SimpleCookie()
    for line in raw:
        jar.load(line)
    return jar, raw


def test_sign_in_sets_strict_http_only_session_and_csrf_cookies(env: Env) -> None:
    status, headers, _ = request(env, "GET", "/console/")
    assert status == 303 and headers["location"] == "/console/sign-in"
    status, headers, page = request(env, "GET", "/console/sign-in")
    assert status == 200 and b'name="secret_access_key"' in page
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"

    status, _, page = sign_in(env, env.a, secret="wrong" * 8)
    assert status == 403 and b"Unknown key or wrong secret" in page
    status, headers, _ = sign_in(env, env.a, origin="https://evil.example")
    assert status == 403 and not headers.get_all("set-cookie")

    status, headers, _ = sign_in(env, env.a)
    assert status == 303 and headers["location"] == "/console"
    jar, raw = cookies_of(headers)
    session_line = next(line for line in raw if line.startswith("pertinent_session="))
    assert "HttpOnly" in session_line and "SameSite=strict" in session_line.replace("Strict", "strict")
    csrf_line = next(line for line in raw if line.startswith("pertinent_csrf="))
    assert "SameSite=strict" in csrf_line.replace("Strict", "strict") and "HttpOnly" not in csrf_line
    cookie = (
        f"pertinent_session={jar['pertinent_session'].value}; pertinent_csrf={jar['pertinent_csrf'].value}"
    )

    status, headers, page = request(env, "GET", "/console/", headers={"Cookie": cookie})
    assert status == 200 and b"alpha-group" in page and b"beta-group" not in page
    assert headers["x-frame-options"] == "DENY" and "content-security-policy" in headers
    status, _, answer = request(
        env, "GET", f"/console/api/status?arn={env.group_b}", headers={"Cookie": cookie}
    )
    assert status == 404 and json.loads(answer)["error"]["code"] == "ResourceNotFoundException"

    event = json.dumps({"user_id": "u", "item_id": "i", "event_type": "click"}).encode()
    path = "/console/api/campaigns/none/events"
    base = {"Cookie": cookie, "Content-Type": "application/json"}
    status, _, answer = request(env, "POST", path, event, base)
    assert status == 403 and "CSRF" in json.loads(answer)["error"]["message"]
    status, _, answer = request(env, "POST", path, event, {**base, "X-CSRF-Token": "0" * 64})
    assert status == 403
    token = jar["pertinent_csrf"].value
    status, _, answer = request(env, "POST", path, event, {**base, "X-CSRF-Token": token})
    assert status == 404  # past the guard: the campaign does not exist in this account

    forged = cookie.replace(jar["pertinent_session"].value, jar["pertinent_session"].value[:-4] + "0000")
    status, headers, _ = request(env, "GET", "/console/", headers={"Cookie": forged})
    assert status == 303 and headers["location"] == "/console/sign-in"
    status, _, answer = request(env, "GET", "/console/api/status?arn=x")
    assert status == 403


def test_removing_a_key_from_the_file_ends_its_console_sessions(env: Env) -> None:
    keys = Path(env.live.settings.credentials)
    third = create_key(keys, "333333333333")
    status, headers, _ = sign_in(env, third)
    assert status == 303
    jar, _ = cookies_of(headers)
    cookie = f"pertinent_session={jar['pertinent_session'].value}"
    assert request(env, "GET", "/console/api/status?arn=x", headers={"Cookie": cookie})[0] == 404  # signed in
    lines = keys.read_text().splitlines(keepends=True)
    keys.write_text("".join(line for line in lines if third.access_key_id not in line))
    status, _, answer = request(env, "GET", "/console/api/status?arn=x", headers={"Cookie": cookie})
    assert status == 403 and b"Sign in" in answer


def test_a_rebound_host_name_is_refused_on_every_surface(env: Env) -> None:
    for method, path in (
        ("GET", "/console/sign-in"),
        ("POST", "/"),
        ("POST", "/events"),
        ("GET", "/healthz"),
    ):
        status, headers, body = request(env, method, path, b"{}", {"Host": "attacker.example:8080"})
        assert status == 403, (path, body)
        assert headers["x-amzn-errortype"] == "AccessDeniedException"
    status, _, _ = request(env, "GET", "/healthz", headers={"Host": "localhost:1234"})
    assert status == 200
    status, _, _ = request(env, "GET", "/healthz", headers={"Host": "[::1]:8080"})
    assert status == 200


def test_a_web_page_cannot_change_a_server_without_credentials(tmp_path: Path) -> None:
    """Cross-site requests a page can send without a CORS preflight (text/plain, forms) to 127.0.0.1."""
    live, stop = start_server(load_settings(data_dir=tmp_path / "d"))
    try:
        env = Env(live, AccessKey("", "", ""), AccessKey("", "", ""), "")
        host = urlsplit(live.url).netloc
        body = json.dumps({"name": "planted"}).encode()
        for path in ("/experiments", "/experiments/ab/stop", "/console/api/dataset-groups", "/", "/events"):
            for origin in ("https://evil.example", "null", "http://localhost:1"):
                headers = {"Origin": origin, "Content-Type": "text/plain"}
                status, answer_headers, answer = request(env, "POST", path, body, headers)
                assert status == 403, (path, origin, answer)
                assert answer_headers["x-amzn-errortype"] == "AccessDeniedException"
        # the console's own pages (same origin) and API clients (no Origin) still work
        json_body = {"Content-Type": "application/json"}
        created = request(
            env, "POST", "/console/api/dataset-groups", body, {"Origin": f"http://{host}", **json_body}
        )
        assert created[0] == 200, created[2]
        stopped = request(env, "POST", "/experiments/ab/stop", b"", {})
        assert stopped[0] == 404 and b"ResourceNotFoundException" in stopped[2]
    finally:
        stop()


def test_a_proxy_name_can_be_allowed(tmp_path: Path) -> None:
    live, stop = start_server(load_settings(data_dir=tmp_path / "d", allowed_hosts="personalize.example.com"))
    try:
        env = Env(
            live, create_key(tmp_path / "k.csv", "1" * 12), create_key(tmp_path / "k.csv", "2" * 12), ""
        )
        assert request(env, "GET", "/healthz", headers={"Host": "personalize.example.com"})[0] == 200
        assert request(env, "GET", "/healthz", headers={"Host": "other.example.com"})[0] == 403
        # the console behind a proxy that rewrites Host: its public origin may post (other origins may not)
        origin = {"Origin": "https://personalize.example.com", "Content-Type": "application/json"}
        created = request(env, "POST", "/console/api/dataset-groups", b'{"name": "proxied"}', origin)
        assert created[0] == 200, created[2]
        origin["Origin"] = "https://other.example.com"
        assert request(env, "POST", "/console/api/dataset-groups", b'{"name": "x"}', origin)[0] == 403
    finally:
        stop()


def test_sign_in_in_a_real_browser_under_the_content_security_policy(env: Env, tmp_path: Path) -> None:
    sync_api = _require_browser()
    assert CHROMIUM_PATH.exists()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{env.live.url}/console/")
            assert page.url.endswith("/console/sign-in")
            page.fill("input[name=access_key_id]", env.a.access_key_id)
            page.fill("input[name=secret_access_key]", env.a.secret_access_key)
            page.click("button[type=submit]")
            page.wait_for_url("**/console/")
            assert "alpha-group" in page.content() and "beta-group" not in page.content()
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert (
                cookies["pertinent_session"]["httpOnly"]
                and cookies["pertinent_session"]["sameSite"] == "Strict"
            )
            assert page.evaluate("document.cookie").count("pertinent_session") == 0  # not readable by scripts
            assert not problems, problems
        finally:
            browser.close()


def test_console_uploads_belong_to_the_account_that_uploaded_them(env: Env) -> None:
    from tests.conftest import INTERACTIONS_SCHEMA, wait_for_status

    def personalize(key: AccessKey) -> Any:
        return boto3.client(
            "personalize",
            endpoint_url=env.live.url,
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=Config(retries={"max_attempts": 1}),
        )

    datasets, groups = {}, {}
    for key in (env.a, env.b):
        client = personalize(key)
        group = client.create_dataset_group(name="uploads-group")["datasetGroupArn"]
        wait_for_status(
            lambda client=client, group=group: client.describe_dataset_group(datasetGroupArn=group)[
                "datasetGroup"
            ]
        )
        schema = client.create_schema(name="uploads-schema", schema=INTERACTIONS_SCHEMA)["schemaArn"]
        arn = client.create_dataset(
            name="uploads", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        wait_for_status(lambda client=client, arn=arn: client.describe_dataset(datasetArn=arn)["dataset"])
        datasets[key.access_key_id] = (client, arn)
        groups[key.access_key_id] = group

    _, headers, _ = sign_in(env, env.a)
    jar, _ = cookies_of(headers)
    cookie = (
        f"pertinent_session={jar['pertinent_session'].value}; pertinent_csrf={jar['pertinent_csrf'].value}"
    )
    rows = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n" + "".join(
        f"u{n % 7},i{n % 11},{1_700_000_000 + n},click,1\n" for n in range(60)
    )
    status, _, answer = request(
        env,
        "POST",
        "/console/api/uploads",
        json.dumps({"text": rows}).encode(),
        {"Cookie": cookie, "Content-Type": "application/json", "X-CSRF-Token": jar["pertinent_csrf"].value},
    )
    assert status == 200, answer
    path = json.loads(answer)["path"]
    assert "/accounts/111111111111/us-east-1/uploads/" in path

    owner, owner_dataset = datasets[env.a.access_key_id]
    job = owner.create_dataset_import_job(
        jobName="from-upload", datasetArn=owner_dataset, dataSource={"dataLocation": path}
    )["datasetImportJobArn"]
    record = wait_for_status(
        lambda: owner.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    )
    assert record["status"] == "ACTIVE", record.get("failureReason")

    other, other_dataset = datasets[env.b.access_key_id]
    with pytest.raises(other.exceptions.InvalidInputException) as refused:
        other.create_dataset_import_job(
            jobName="steal-upload", datasetArn=other_dataset, dataSource={"dataLocation": path}
        )
    assert "outside the folders" in str(refused.value) or "disabled" in str(refused.value)

    # a data deletion job (like a batch job) reads its owner's console upload too, and only its owner's
    status, _, answer = request(
        env,
        "POST",
        "/console/api/uploads",
        json.dumps({"text": "USER_ID\nu1\n"}).encode(),
        {"Cookie": cookie, "Content-Type": "application/json", "X-CSRF-Token": jar["pertinent_csrf"].value},
    )
    assert status == 200, answer
    users_path = json.loads(answer)["path"]
    role = "arn:aws:iam::111111111111:role/pertinent"
    deletion = owner.create_data_deletion_job(
        jobName="erase-from-upload",
        datasetGroupArn=groups[env.a.access_key_id],
        dataSource={"dataLocation": users_path},
        roleArn=role,
    )["dataDeletionJobArn"]
    done = wait_for_status(
        lambda: owner.describe_data_deletion_job(dataDeletionJobArn=deletion)["dataDeletionJob"],
        ("COMPLETED", "FAILED"),
        timeout=600,
    )
    assert done["status"] == "COMPLETED", done.get("failureReason")
    with pytest.raises(other.exceptions.InvalidInputException):
        other.create_data_deletion_job(
            jobName="erase-from-stolen-upload",
            datasetGroupArn=groups[env.b.access_key_id],
            dataSource={"dataLocation": users_path},
            roleArn="arn:aws:iam::222222222222:role/pertinent",
        )
