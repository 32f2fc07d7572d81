"""SigV4 with real boto3 and accounts isolated from each other (docs/security.md)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from click.testing import CliRunner

from pertinent.api.guard import bind_refusal
from pertinent.cli import main
from pertinent.config import load_settings
from pertinent.credentials import (
    AccessKey,
    CredentialsError,
    KeyRing,
    create_bearer_token,
    create_key,
    parse_credentials,
)
from tests.conftest import LiveServer, make_group, start_server, wait_for_status

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60)


def client(
    live: LiveServer, key: AccessKey | None, service: str = "personalize", region: str = "us-east-1"
) -> Any:
    if key is None:
        return boto3.client(
            service,
            endpoint_url=live.url,
            region_name=region,
            config=CONFIG.merge(Config(signature_version=UNSIGNED)),
        )
    return boto3.client(
        service,
        endpoint_url=live.url,
        region_name=region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=CONFIG,
    )


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@dataclass
class Accounts:
    live: LiveServer
    a: AccessKey
    b: AccessKey
    group_a: str
    campaign_a: str
    tracking_a: str
    credentials: Path
    tmp: Path


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Accounts]:
    tmp = tmp_path_factory.mktemp("auth")
    credentials = tmp / "keys.csv"
    a, b = create_key(credentials, ACCOUNT_A), create_key(credentials, ACCOUNT_B)
    create_bearer_token(tmp / "metrics-token")
    settings = load_settings(
        data_dir=tmp / "data",
        worker_poll_seconds=0.05,
        credentials=str(credentials),
        allowed_paths=str(tmp),
        metrics_token_file=str(tmp / "metrics-token"),
    )
    live, stop = start_server(settings)
    pa = client(live, a)
    group = make_group(pa, tmp, name="movies")
    solution = pa.create_solution(
        name="pop", datasetGroupArn=group.arn, recipeArn="arn:aws:personalize:::recipe/aws-popularity-count"
    )["solutionArn"]
    wait_for_status(lambda: pa.describe_solution(solutionArn=solution)["solution"])
    version = pa.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: pa.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    assert record["status"] == "ACTIVE", record.get("failureReason")
    campaign = pa.create_campaign(name="pop", solutionVersionArn=version)["campaignArn"]
    wait_for_status(lambda: pa.describe_campaign(campaignArn=campaign)["campaign"])
    tracker = pa.create_event_tracker(name="tracker", datasetGroupArn=group.arn)
    wait_for_status(
        lambda: pa.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    yield Accounts(live, a, b, group.arn, campaign, tracker["trackingId"], credentials, tmp)
    stop()


def test_a_listed_key_works_and_its_arns_carry_its_account_and_the_signed_region(accounts: Accounts) -> None:
    assert f":{ACCOUNT_A}:dataset-group/movies" in accounts.group_a
    answer = client(accounts.live, accounts.a, "personalize-runtime").get_recommendations(
        campaignArn=accounts.campaign_a, userId="u1", numResults=5
    )
    assert len(answer["itemList"]) == 5
    eu = client(accounts.live, accounts.a, region="eu-west-1")
    arn = eu.create_schema(name="eu-schema", schema=json.dumps(_schema()))["schemaArn"]
    assert arn.startswith(f"arn:aws:personalize:eu-west-1:{ACCOUNT_A}:schema/")
    # resources live in their region, as in AWS: us-east-1 does not list the eu-west-1 schema
    names = [s["name"] for s in client(accounts.live, accounts.a).list_schemas()["schemas"]]
    assert "eu-schema" not in names
    assert [s["name"] for s in eu.list_schemas()["schemas"]] == ["eu-schema"]


def _schema() -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Users",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [{"name": "USER_ID", "type": "string"}],
        "version": "1.0",
    }


@pytest.mark.parametrize("service", ["personalize", "personalize-runtime", "personalize-events"])
def test_unknown_key_wrong_secret_and_unsigned_requests_get_aws_error_codes(
    accounts: Accounts, service: str
) -> None:
    def call(c: Any) -> Any:
        if service == "personalize":
            return c.list_dataset_groups()
        if service == "personalize-runtime":
            return c.get_recommendations(campaignArn=accounts.campaign_a, userId="u1")
        return c.put_events(
            trackingId=accounts.tracking_a,
            sessionId="s",
            userId="u1",
            eventList=[{"eventType": "click", "itemId": "m2", "sentAt": 1_700_000_000}],
        )

    unknown = AccessKey("AKIAUNKNOWNUNKNOWN00", "x" * 40, ACCOUNT_A)
    wrong_secret = AccessKey(accounts.a.access_key_id, "y" * 40, ACCOUNT_A)
    for key, expected in (
        (unknown, "UnrecognizedClientException"),
        (wrong_secret, "InvalidSignatureException"),
        (None, "MissingAuthenticationTokenException"),
    ):
        with pytest.raises(ClientError) as exc:
            call(client(accounts.live, key, service))
        assert code(exc) == expected
        assert "x" * 40 not in str(exc.value) and "y" * 40 not in str(exc.value)


@pytest.mark.parametrize(
    ("skew", "message"),
    [(-20, "Signature expired"), (20, "Signature not yet current")],
)
def test_a_signature_more_than_15_minutes_off_is_refused(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch, skew: int, message: str
) -> None:
    c = client(accounts.live, accounts.a)
    real = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # a client whose clock is off: botocore signs with this time
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: real + dt.timedelta(minutes=skew))
    with pytest.raises(ClientError) as exc:
        c.list_dataset_groups()
    assert code(exc) == "InvalidSignatureException"
    assert message in exc.value.response["Error"]["Message"]
    # 10 minutes off is within AWS's 15-minute window
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: real + dt.timedelta(minutes=skew // 2))
    assert "datasetGroups" in c.list_dataset_groups()


def _presigned(url: str, key: AccessKey, expires: int, when: dt.datetime | None = None) -> str:
    request = AWSRequest(method="GET", url=url)
    signer = SigV4QueryAuth(
        Credentials(key.access_key_id, key.secret_access_key), "personalize", "us-east-1", expires
    )
    if when is None:
        signer.add_auth(request)
    else:
        import unittest.mock

        with unittest.mock.patch("botocore.auth.get_current_datetime", lambda: when):
            signer.add_auth(request)
    return str(request.url)


def _get(url: str) -> tuple[int, Any, Any]:
    """Status, headers (case-insensitive) and JSON body of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def test_presigned_urls_work_until_they_expire(accounts: Accounts) -> None:
    base = f"{accounts.live.url}/getRecommendations?campaignArn={accounts.campaign_a}&userId=u1&numResults=3"
    status, _, body = _get(_presigned(base, accounts.a, 300))
    assert status == 200 and len(body["itemList"]) == 3
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5)
    status, headers, body = _get(_presigned(base, accounts.a, 60, when=old))
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "Signature expired" in body["message"]
    tampered = _presigned(base, accounts.a, 300).replace("numResults=3", "numResults=4")
    status, headers, _ = _get(tampered)
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def _signed_get(
    url: str, key: AccessKey, sent: str | None = None, service: str = "personalize"
) -> tuple[int, Any, Any]:
    """GET ``url`` exactly as written (its query's escapes untouched), signed in the Authorization header;
    ``sent``: another query sent under that signature (tampering)."""
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), service, "us-east-1").add_auth(request)
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        query = parts.query if sent is None else sent
        connection.request("GET", f"{parts.path}?{query}", headers=dict(request.headers.items()))
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


def test_escapes_that_are_not_utf8_are_verified_as_sent_then_refused(accounts: Accounts) -> None:
    arn = urllib.parse.quote(accounts.campaign_a, safe="")
    base = f"{accounts.live.url}/getRecommendations?campaignArn={arn}&numResults=2&userId="
    status, _, body = _signed_get(base + "%C3%A9", accounts.a)  # "é" in UTF-8: a user id like any other
    assert status == 200 and len(body["itemList"]) == 2
    # a lone surrogate (CESU-8 bytes) and a Latin-1 byte: the signature holds, the id is refused
    for escaped in ("%ED%A0%80", "%E9"):
        status, headers, body = _signed_get(base + escaped, accounts.a)
        assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidInputException", body
        assert "not valid UTF-8" in body["message"]
    status, headers, _ = _signed_get(
        base + "%ED%A0%80", AccessKey(accounts.a.access_key_id, "y" * 40, ACCOUNT_A)
    )
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    # a space sent as "+" and signed as sent (opensearch-py, requests' params) verifies; it cannot be
    # swapped for a literal plus (%2B) under the same signature
    status, _, body = _signed_get(base + "two+words", accounts.a)
    assert status == 200 and len(body["itemList"]) == 2
    signed_query = urllib.parse.urlsplit(base + "two+words").query
    status, headers, _ = _signed_get(base + "two+words", accounts.a, sent=signed_query.replace("+", "%2B"))
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_accounts_cannot_see_or_touch_each_others_resources(accounts: Accounts) -> None:
    pa, pb = client(accounts.live, accounts.a), client(accounts.live, accounts.b)
    group_b = pb.create_dataset_group(name="movies")["datasetGroupArn"]  # same name, other account
    assert group_b == f"arn:aws:personalize:us-east-1:{ACCOUNT_B}:dataset-group/movies"
    assert [g["datasetGroupArn"] for g in pb.list_dataset_groups()["datasetGroups"]] == [group_b]
    assert group_b not in [g["datasetGroupArn"] for g in pa.list_dataset_groups()["datasetGroups"]]
    assert pb.list_campaigns()["campaigns"] == [] and pb.list_event_trackers()["eventTrackers"] == []

    for call in (
        lambda: pb.list_solutions(datasetGroupArn=accounts.group_a),
        lambda: pb.describe_dataset_group(datasetGroupArn=accounts.group_a),
        lambda: pb.describe_campaign(campaignArn=accounts.campaign_a),
        lambda: pb.delete_campaign(campaignArn=accounts.campaign_a),
        lambda: pb.delete_dataset_group(datasetGroupArn=accounts.group_a),
        lambda: pb.create_solution(
            name="steal",
            datasetGroupArn=accounts.group_a,
            recipeArn="arn:aws:personalize:::recipe/aws-popularity-count",
        ),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "ResourceNotFoundException"
    assert pa.describe_campaign(campaignArn=accounts.campaign_a)["campaign"]["status"] == "ACTIVE"

    with pytest.raises(ClientError) as exc:
        client(accounts.live, accounts.b, "personalize-runtime").get_recommendations(
            campaignArn=accounts.campaign_a, userId="u1"
        )
    assert code(exc) == "ResourceNotFoundException"

    events_b = client(accounts.live, accounts.b, "personalize-events")
    with pytest.raises(ClientError) as exc:
        events_b.put_events(
            trackingId=accounts.tracking_a,
            sessionId="s",
            userId="intruder",
            eventList=[{"eventType": "click", "itemId": "m2", "sentAt": 1_700_000_000}],
        )
    assert code(exc) == "InvalidInputException"
    # the owner's tracker still works
    client(accounts.live, accounts.a, "personalize-events").put_events(
        trackingId=accounts.tracking_a,
        sessionId="s",
        userId="u1",
        eventList=[{"eventType": "click", "itemId": "m2", "sentAt": 1_700_000_000}],
    )


def _metrics(accounts: Accounts, key: AccessKey | None) -> str:
    """/metrics signed by ``key``, or with the operator's bearer token (None)."""
    url = f"{accounts.live.url}/metrics"
    if key is not None:
        url = _presigned(url, key, 60)
        headers = {}
    else:
        headers = {"Authorization": "Bearer " + (accounts.tmp / "metrics-token").read_text().strip()}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        return str(response.read().decode())


def _attribution_a(accounts: Accounts) -> str:
    """Account A's metric attribution "impact-a" (a dataset group has at most one: made once, by either test)."""
    pa = client(accounts.live, accounts.a)
    existing = pa.list_metric_attributions(datasetGroupArn=accounts.group_a)["metricAttributions"]
    if existing:
        return str(existing[0]["metricAttributionArn"])
    return str(
        pa.create_metric_attribution(
            name="impact-a",
            datasetGroupArn=accounts.group_a,
            metrics=[{"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "clicks"}],
            metricsOutputConfig={
                "roleArn": f"arn:aws:iam::{ACCOUNT_A}:role/r",
                "s3DataDestination": {"path": f"{accounts.tmp}/attribution/"},
            },
        )["metricAttributionArn"]
    )


def test_metrics_show_a_signed_caller_only_its_own_resources(accounts: Accounts) -> None:
    pa = client(accounts.live, accounts.a)
    version = pa.describe_campaign(campaignArn=accounts.campaign_a)["campaign"]["solutionVersionArn"]
    _attribution_a(accounts)
    client(accounts.live, accounts.a, "personalize-runtime").get_recommendations(
        campaignArn=accounts.campaign_a, userId="u1", numResults=2
    )
    served = f'pertinent_model_version_requests_total{{model_version="{version}"}}'
    attribution = 'pertinent_metric_attribution_reports{metric_attribution="impact-a"}'
    own, other, operator = (_metrics(accounts, k) for k in (accounts.a, accounts.b, None))
    assert served in own and attribution in own
    # another account's key sees the server's request counts but not one ARN or name of account A
    assert "pertinent_requests_total" in other
    assert ACCOUNT_A not in other and "impact-a" not in other
    # the operator's scraper (the bearer token) sees every account
    assert served in operator and attribution in operator


def _signed(accounts: Accounts, key: AccessKey, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A signed JSON request to one of the extra routes (experiments, search pipelines): status, JSON body."""
    data = b"" if body is None else json.dumps(body).encode()
    request = AWSRequest(
        method=method, url=accounts.live.url + path, data=data, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "personalize", "us-east-1").add_auth(
        request
    )
    parts = urllib.parse.urlsplit(accounts.live.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=data, headers=dict(request.headers.items()))
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_resources_added_after_accounts_are_isolated_too(accounts: Accounts) -> None:
    """Filters, batch jobs, metric attributions, experiments and search pipelines of account A, seen by B."""
    pa, pb = client(accounts.live, accounts.a), client(accounts.live, accounts.b)
    version = pa.describe_campaign(campaignArn=accounts.campaign_a)["campaign"]["solutionVersionArn"]
    filter_a = pa.create_filter(
        name="no-clicks",
        datasetGroupArn=accounts.group_a,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    )["filterArn"]
    (accounts.tmp / "batch-in.json").write_text('{"userId": "u1"}\n')
    job_a = pa.create_batch_inference_job(
        jobName="batch-a",
        solutionVersionArn=version,
        roleArn=f"arn:aws:iam::{ACCOUNT_A}:role/r",
        jobInput={"s3DataSource": {"path": str(accounts.tmp / "batch-in.json")}},
        jobOutput={"s3DataDestination": {"path": f"{accounts.tmp}/batch-out/"}},
    )["batchInferenceJobArn"]
    attribution_a = _attribution_a(accounts)
    second = pa.create_campaign(name="pop-b-arm", solutionVersionArn=version)["campaignArn"]
    wait_for_status(lambda: pa.describe_campaign(campaignArn=second)["campaign"])
    arms = [{"name": "x", "campaignArn": accounts.campaign_a}, {"name": "y", "campaignArn": second}]
    assert _signed(accounts, accounts.a, "POST", "/experiments", {"name": "ab-a", "arms": arms})[0] == 200
    pipeline = {"response_processors": []}
    assert _signed(accounts, accounts.a, "PUT", "/search/_search/pipeline/shared-name", pipeline)[0] == 200

    # B lists none of them, and describing, deleting or using one is ResourceNotFound
    assert pb.list_filters()["Filters"] == [] and pb.list_batch_inference_jobs()["batchInferenceJobs"] == []
    assert pb.list_metric_attributions()["metricAttributions"] == []
    for call in (
        lambda: pb.describe_filter(filterArn=filter_a),
        lambda: pb.delete_filter(filterArn=filter_a),
        lambda: pb.describe_batch_inference_job(batchInferenceJobArn=job_a),
        lambda: pb.describe_metric_attribution(metricAttributionArn=attribution_a),
        lambda: pb.delete_metric_attribution(metricAttributionArn=attribution_a),
        lambda: client(accounts.live, accounts.b, "personalize-runtime").get_recommendations(
            campaignArn=second, userId="u1", filterArn=filter_a
        ),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "ResourceNotFoundException"
    assert _signed(accounts, accounts.b, "GET", "/experiments") == (200, {"experiments": []})
    for method, path in (
        ("GET", "/experiments/ab-a"),
        ("GET", "/experiments/ab-a/results"),
        ("POST", "/experiments/ab-a/stop"),
    ):
        status, answer = _signed(accounts, accounts.b, method, path)
        assert status == 404 and answer["__type"] == "ResourceNotFoundException", (path, answer)
    steal = {"name": "ab-b", "arms": arms}
    assert (
        _signed(accounts, accounts.b, "POST", "/experiments", steal)[1]["__type"]
        == "ResourceNotFoundException"
    )
    assert _signed(accounts, accounts.b, "GET", "/search/_search/pipeline") == (200, {})
    assert _signed(accounts, accounts.b, "DELETE", "/search/_search/pipeline/shared-name")[0] == 404
    # the same pipeline name in B is B's own; A's is untouched, and A's experiment still runs
    other = {"description": "b's", "response_processors": []}
    assert _signed(accounts, accounts.b, "PUT", "/search/_search/pipeline/shared-name", other)[0] == 200
    assert _signed(accounts, accounts.a, "GET", "/search/_search/pipeline/shared-name")[1] == {
        "shared-name": pipeline
    }
    status, answer = _signed(accounts, accounts.a, "GET", "/experiments/ab-a")
    assert status == 200 and answer["experiment"]["status"] == "ACTIVE"
    assert pa.describe_filter(filterArn=filter_a)["filter"]["name"] == "no-clicks"


def test_open_paths_and_the_search_surface(accounts: Accounts) -> None:
    status, _, body = _get(f"{accounts.live.url}/healthz")
    assert status == 200 and body["status"] == "ok"
    status, headers, body = _get(f"{accounts.live.url}/search/movies/_search?q=x")
    assert status == 403 and body["error"]["type"] == "security_exception"
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    signed = _presigned(f"{accounts.live.url}/search/_search/pipeline/none", accounts.b, 60)
    status, _, body = _get(signed)
    assert status == 404 and body["error"]["type"] == "resource_not_found_exception"


def test_a_key_created_with_the_cli_works_and_a_removed_one_stops_without_a_restart(
    accounts: Accounts,
) -> None:
    result = CliRunner().invoke(
        main, ["keys", "create", "--account", "333333333333", "--credentials", str(accounts.credentials)]
    )
    assert result.exit_code == 0, result.output
    fields = dict(line.split(" = ", 1) for line in result.output.splitlines() if " = " in line)
    key = AccessKey(fields["aws_access_key_id"], fields["aws_secret_access_key"], "333333333333")
    arn = client(accounts.live, key).create_dataset_group(name="third")["datasetGroupArn"]
    assert ":333333333333:" in arn
    assert len(KeyRing(accounts.credentials)) == 3
    # and a key removed from the file stops working at once, without a restart
    lines = accounts.credentials.read_text().splitlines(keepends=True)
    accounts.credentials.write_text("".join(line for line in lines if key.access_key_id not in line))
    with pytest.raises(ClientError) as exc:
        client(accounts.live, key).list_dataset_groups()
    assert code(exc) == "UnrecognizedClientException"
    assert "datasetGroups" in client(accounts.live, accounts.a).list_dataset_groups()


def test_credentials_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="header"):
        parse_credentials("key,secret,account\n")
    with pytest.raises(CredentialsError, match="line 2: account_id must be 12 digits"):
        parse_credentials(
            "access_key_id,secret_access_key,account_id\nAKIAAAAAAAAAAAAAAAAA,sssssssssssssssssss,12\n"
        )
    with pytest.raises(CredentialsError, match="listed twice"):
        line = "AKIAAAAAAAAAAAAAAAAA,ssssssssssssssssssss,111111111111\n"
        parse_credentials("access_key_id,secret_access_key,account_id\n" + line + line)
    result = CliRunner().invoke(
        main, ["keys", "create", "--account", "12", "--credentials", str(tmp_path / "k")]
    )
    assert result.exit_code == 1 and "12 digits" in result.output
    path = tmp_path / "k.csv"
    create_key(path, ACCOUNT_A)
    assert path.stat().st_mode & 0o777 == 0o600


def test_bind_safety() -> None:
    assert bind_refusal(load_settings(host="127.0.0.1")) is None
    assert bind_refusal(load_settings(host="::1")) is None
    refusal = bind_refusal(load_settings(host="0.0.0.0"))
    assert refusal is not None and "--credentials" in refusal and "--insecure-no-auth" in refusal
    assert bind_refusal(load_settings(host="0.0.0.0"), insecure_no_auth=True) is None
    assert bind_refusal(load_settings(host="0.0.0.0", credentials="keys.csv")) is None
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2 and "refusing to listen on 0.0.0.0" in result.output


def test_serve_names_a_broken_credentials_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    result = CliRunner().invoke(
        main, ["serve", "--credentials", str(missing), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 1 and "cannot read the credentials file" in result.output
    broken = tmp_path / "broken.csv"
    broken.write_text("access_key_id,secret_access_key,account_id\nAKIAAAAAAAAAAAAAAAAA,short,111111111111\n")
    result = CliRunner().invoke(
        main, ["serve", "--credentials", str(broken), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 1 and "line 2: secret_access_key is shorter" in result.output
    assert "short" not in result.output.replace("shorter", "")


def test_opensearch_py_signs_the_search_api_with_a_listed_key(accounts: Accounts) -> None:
    from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection
    from opensearchpy.exceptions import AuthorizationException, NotFoundError

    def cluster(key: AccessKey) -> OpenSearch:
        port = int(accounts.live.url.rsplit(":", 1)[1])
        auth = AWSV4SignerAuth(Credentials(key.access_key_id, key.secret_access_key), "us-east-1", "es")
        return OpenSearch(
            hosts=[{"host": "127.0.0.1", "port": port, "url_prefix": "search"}],
            http_auth=auth,
            connection_class=RequestsHttpConnection,
            use_ssl=False,
        )

    # signed by the owner: past authentication, the group has no Items dataset to search
    with pytest.raises(NotFoundError) as found:
        cluster(accounts.a).search(index="movies", body={"query": {"match_all": {}}})
    assert "no Items dataset" in str(found.value.info)
    with pytest.raises(NotFoundError) as spaced:  # q= with a space: opensearch-py sends and signs it as "+"
        cluster(accounts.a).search(index="movies", q="two words")
    assert "no Items dataset" in str(spaced.value.info)
    # another account does not see the index at all; an unknown key is refused
    with pytest.raises(NotFoundError) as missing:
        cluster(accounts.b).search(index="movies", body={"query": {"match_all": {}}})
    assert "no such index" in str(missing.value.info)
    with pytest.raises(AuthorizationException) as refused:
        cluster(AccessKey("AKIAUNKNOWNUNKNOWN00", "x" * 40, ACCOUNT_A)).search(index="movies", body={})
    assert refused.value.info["error"]["type"] == "security_exception"
    # an OpenSearch signing name opens the search API only, as a Personalize endpoint would refuse it
    status, headers, body = _signed_get(
        f"{accounts.live.url}/getRecommendations?campaignArn=x&userId=u", accounts.a, service="es"
    )
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "scoped to correct service: 'personalize'" in body["message"]
