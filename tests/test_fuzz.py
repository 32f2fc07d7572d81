"""A bounded fuzz of every surface: inputs generated from botocore's service models for every operation of
personalize, personalize-runtime and personalize-events, plus malformed bodies (deep nesting, lone
surrogates, huge bodies, wrong content types, random bytes, NaN, huge integers) on every surface.

Bounded by example count (a fixed seed and a fixed number of inputs per operation), not by time. Every
answer must be a 4xx in the surface's format, never a 5xx; no request may hang (socket timeout); the server
must answer /healthz afterwards. Requests are SigV4-signed with a listed key (and some are not), against a
server with --credentials so that local paths stay inside a temporary --allow-path root.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.model import OperationModel, Shape

from pertinent.config import load_settings
from pertinent.credentials import AccessKey, create_key
from tests.conftest import INTERACTIONS_SCHEMA, LiveServer, start_server, wait_for_status

SEED = 11
INPUTS_PER_OPERATION = 4
BODY_LIMIT = 256 * 1024
SERVICES = ("personalize", "personalize-runtime", "personalize-events")

NASTY_STRINGS = [
    "",
    "a",
    "x" * 300,
    "ü名前",
    "../../etc/passwd",
    "/etc/passwd",
    "nul\u0000byte",
    "'; DROP TABLE resources; --",
    "\U0001f600",
    "arn:aws:personalize:us-east-1:999999999999:campaign/elsewhere",
    "arn:aws:personalize:us-east-1:111111111111:dataset-group/missing",
    "s3://bucket/key.csv",
    "{}",
    "NaN",
    "$LATEST",
    "<script>alert(1)</script>",
]
WRONG_TYPES: list[Any] = [None, [], {}, "text", 1, -1.5, True, [[[]]], {"a": {"b": None}}]


@dataclass
class Target:
    live: LiveServer
    key: AccessKey
    arns: list[str]
    allowed: Path
    tracking_id: str


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("fuzz")
    allowed = tmp / "allowed"
    allowed.mkdir()
    (allowed / "in.csv").write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,i1,1,click,1\n")
    key = create_key(tmp / "keys.csv", "111111111111")
    settings = load_settings(
        data_dir=tmp / "data",
        worker_poll_seconds=0.05,
        credentials=str(tmp / "keys.csv"),
        allowed_paths=str(allowed),
        max_body_bytes=BODY_LIMIT,
    )
    live, stop = start_server(settings)
    client = boto3.client(
        "personalize",
        endpoint_url=live.url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )
    group = client.create_dataset_group(name="fuzz")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    schema = client.create_schema(name="fuzz", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = client.create_dataset(
        name="fuzz", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    tracker = client.create_event_tracker(name="fuzz", datasetGroupArn=group)
    wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    yield Target(live, key, [group, schema, dataset], allowed, tracker["trackingId"])
    stop()


# -- inputs from the service models -------------------------------------------------------------------
class Generator:
    def __init__(self, rng: random.Random, arns: list[str], allowed: Path) -> None:
        self.rng = rng
        self.arns = arns
        self.allowed = allowed

    def value(self, shape: Shape, name: str, wild: bool, depth: int = 0) -> Any:
        rng = self.rng
        if wild and rng.random() < 0.15:
            return rng.choice(WRONG_TYPES)
        kind = shape.type_name
        if kind == "structure":
            members = shape.members  # type: ignore[attr-defined]
            required = set(shape.required_members)  # type: ignore[attr-defined]
            out = {}
            for member, member_shape in members.items():
                if member in required or (depth < 3 and rng.random() < 0.4):
                    out[member] = self.value(member_shape, member, wild, depth + 1)
            return out
        if kind == "list":
            count = rng.choice([0, 1, 2]) if depth < 4 else 0
            return [self.value(shape.member, name, wild, depth + 1) for _ in range(count)]  # type: ignore[attr-defined]
        if kind == "map":
            count = rng.choice([0, 1, 2]) if depth < 4 else 0
            return {
                str(self.value(shape.key, "key", False, depth + 1)) or "k": self.value(  # type: ignore[attr-defined]
                    shape.value,  # type: ignore[attr-defined]
                    name,
                    wild,
                    depth + 1,
                )
                for _ in range(count)
            }
        if kind == "string":
            return self.string(shape, name, wild)
        if kind in ("integer", "long"):
            low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 1000)
            if wild:
                return rng.choice([low - 1, high + 1, 0, -(2**63), 2**64, 10**30])
            return rng.randint(int(low), int(min(high, low + 1000)))
        if kind in ("float", "double"):
            return rng.choice([0.0, 0.5, 1.0, -1.0, 1e308, -1e308] if wild else [0.0, 0.5, 1.0])
        if kind == "boolean":
            return rng.choice([True, False])
        if kind == "timestamp":
            return rng.choice(
                [0, 1_700_000_000, -1, 1e15, 1e300, "2024-01-01T00:00:00Z", "soon"]
                if wild
                else [1_700_000_000]
            )
        if kind == "blob":
            return base64.b64encode(rng.randbytes(8)).decode()
        return None

    def string(self, shape: Shape, name: str, wild: bool) -> str:
        rng = self.rng
        enum = shape.enum  # type: ignore[attr-defined]
        if enum and not (wild and rng.random() < 0.3):
            return str(rng.choice(enum))
        if name.lower().endswith("arn") and rng.random() < 0.7:
            return rng.choice(self.arns)
        if "location" in name.lower() or name == "path":
            return rng.choice([str(self.allowed / "in.csv"), f"{self.allowed}/", "/etc/", "s3://b/k"])
        if name in ("properties",) and rng.random() < 0.5:
            return json.dumps({"numberOfRatings": rng.choice(["12", 1, None, {"deep": []}])})
        text = rng.choice(NASTY_STRINGS) if wild or rng.random() < 0.5 else f"fuzz{rng.randrange(1000)}"
        if not wild:
            low, high = int(shape.metadata.get("min", 0)), int(shape.metadata.get("max", 256))
            text = (text or "z")[: max(high, 1)]
            text = text.ljust(low, "z")
        return text


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _rest_call(operation: OperationModel, params: dict[str, Any]) -> Call:
    uri = operation.http["requestUri"]
    path, _, fixed_query = uri.partition("?")
    query: list[tuple[str, str]] = [
        tuple(p.split("=", 1)) if "=" in p else (p, "") for p in fixed_query.split("&") if p
    ]  # type: ignore[misc]
    body: dict[str, Any] = {}
    shape = operation.input_shape
    for member, member_shape in (shape.members if shape else {}).items():
        if member not in params:
            continue
        location, wire = (
            member_shape.serialization.get("location"),
            member_shape.serialization.get("name", member),
        )
        value = params[member]
        if location == "uri":
            path = path.replace(f"{{{wire}}}", quote(str(value), safe="")).replace(
                f"{{{wire}+}}", quote(str(value))
            )
        elif location == "querystring":
            query.append((wire, json.dumps(value) if isinstance(value, list | dict) else str(value)))
        elif location == "header":
            pass
        else:
            body[wire] = value
    for leftover in ("{", "}"):
        path = path.replace(leftover, "")
    full = path + ("?" + urlencode(query) if query else "")
    return Call(
        operation.http["method"], full, {"Content-Type": "application/json"}, json.dumps(body).encode()
    )


def model_calls(rng: random.Random, arns: list[str], allowed: Path) -> Iterator[tuple[str, Call]]:
    session = botocore.session.get_session()
    generator = Generator(rng, arns, allowed)
    for service in SERVICES:
        model = session.get_service_model(service)
        for name in model.operation_names:
            operation = model.operation_model(name)
            for n in range(INPUTS_PER_OPERATION):
                shape = operation.input_shape
                params = generator.value(shape, name, wild=n % 2 == 1) if shape is not None else {}
                if not isinstance(params, dict):
                    params = {}
                if model.protocol == "json":
                    headers = {
                        "Content-Type": "application/x-amz-json-1.1",
                        "X-Amz-Target": f"{model.metadata['targetPrefix']}.{name}",
                    }
                    yield f"{service}.{name}", Call("POST", "/", headers, json.dumps(params).encode())
                else:
                    yield f"{service}.{name}", _rest_call(operation, params)


# -- malformed bodies on every surface ---------------------------------------------------------------
SURFACES = [
    (
        "POST",
        "/",
        {
            "X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup",
            "Content-Type": "application/x-amz-json-1.1",
        },
    ),
    (
        "POST",
        "/",
        {"X-Amz-Target": "AmazonPersonalize.NoSuchThing", "Content-Type": "application/x-amz-json-1.1"},
    ),
    ("POST", "/recommendations", {"Content-Type": "application/json"}),
    ("POST", "/personalize-ranking", {"Content-Type": "application/json"}),
    ("POST", "/events", {"Content-Type": "application/json"}),
    ("POST", "/items", {"Content-Type": "application/json"}),
    ("POST", "/users", {"Content-Type": "application/json"}),
    ("POST", "/data", {"Content-Type": "application/json"}),
    ("GET", "/getRecommendations?campaignArn=%ff%fe&numResults=1e999", {}),
    ("POST", "/search/fuzz/_search", {"Content-Type": "application/json"}),
    ("PUT", "/search/_search/pipeline/p", {"Content-Type": "application/json"}),
    ("PUT", "/search/fuzz/_settings", {"Content-Type": "application/json"}),
    ("POST", "/experiments", {"Content-Type": "application/json"}),
    ("POST", "/console/api/campaigns/none/events", {"Content-Type": "application/json"}),
    ("GET", "/console/api/status?arn=%00", {}),
    ("POST", "/experiments/none/recommendations", {"Content-Type": "application/json"}),
    ("GET", "/insights/fuzz", {}),
    ("GET", "/metrics", {}),
    ("POST", "/console/sign-out", {}),
    ("DELETE", "/events", {}),
    ("GET", "/no/such/route", {}),
    ("GET", "/search/no/such/route/_x", {}),
    # the OpenSearch-style API at the root too, the action endpoints and the routes added after issue 11
    ("POST", "/fuzz/_search", {"Content-Type": "application/json"}),
    ("PUT", "/_search/pipeline/p", {"Content-Type": "application/json"}),
    ("PUT", "/fuzz/_settings", {"Content-Type": "application/json"}),
    ("POST", "/actions", {"Content-Type": "application/json"}),
    ("POST", "/action-interactions", {"Content-Type": "application/json"}),
    ("POST", "/action-recommendations", {"Content-Type": "application/json"}),
    (
        "GET",
        "/explain?campaignArn=arn%3Aaws%3Apersonalize%3Aus-east-1%3A111111111111%3Acampaign%2Fx&userId=u",
        {},
    ),
    ("GET", "/getRecommendations?userId=%ED%A0%80&numResults=2", {}),
    ("POST", "/experiments/none/stop", {"Content-Type": "application/json"}),
    ("POST", "/console/api/uploads", {"Content-Type": "text/csv"}),
    ("POST", "/console/api/schema-suggestion", {"Content-Type": "application/json"}),
    ("POST", "/console/api/import-jobs", {"Content-Type": "application/json"}),
    ("POST", "/console/api/groups/fuzz/batch-jobs", {"Content-Type": "application/json"}),
    ("POST", "/console/api/groups/fuzz/recommenders", {"Content-Type": "application/json"}),
    ("POST", "/console/api/groups/fuzz/metric-attributions", {"Content-Type": "application/json"}),
    ("GET", "/console/groups/%ED%A0%80", {}),
    ("GET", "/healthz/ready", {}),
    ("POST", "/console/sign-in", {"Content-Type": "application/x-www-form-urlencoded"}),
]
#: answer without a signature (the health checks, the console's sign-in form)
OPEN = ("/healthz", "/healthz/ready", "/console/sign-in")


def malformed_bodies(rng: random.Random) -> list[tuple[str, bytes, str | None]]:
    """(label, body, content type override)."""
    return [
        ("deep arrays", b"[" * 100_000 + b"]" * 100_000, None),
        ("deep objects", b'{"a":' * 3000 + b"1" + b"}" * 3000, None),
        ("just over the depth limit", b'{"a":' * 70 + b"1" + b"}" * 70, None),
        ("lone surrogate", b'{"trackingId": "\\ud800", "userId": "\\udfff", "sessionId": "s"}', None),
        ("surrogate key", b'{"\\udc00": 1}', None),
        ("paired surrogates are fine", b'{"name": "\\ud83d\\ude00"}', None),
        ("huge body", b'{"a": "' + b"x" * (BODY_LIMIT + 10) + b'"}', None),
        ("random bytes", rng.randbytes(2048), None),
        ("invalid utf-8", b'{"name": "\xff\xfe"}', None),
        ("NaN", b'{"eventValue": NaN, "numResults": Infinity}', None),
        ("huge integer", b'{"numResults": ' + b"9" * 5000 + b"}", None),
        ("top-level array", b"[1, 2, 3]", None),
        ("top-level string", b'"hello"', None),
        ("null", b"null", None),
        ("empty", b"", None),
        ("form post", b"trackingId=x&sessionId=y", "application/x-www-form-urlencoded"),
        ("text/plain json", b'{"trackingId": "x", "sessionId": "y", "eventList": []}', "text/plain"),
        ("multipart", b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b"),
        # JSON in another encoding (which json.loads reads too) must not slip past the checks above
        ("deep utf-16", ("[" * 100_000 + "]" * 100_000).encode("utf-16"), "text/plain"),
        ("deep utf-32-be", ("[" * 100_000 + "]" * 100_000).encode("utf-32-be"), "text/plain"),
        ("deep utf-8 with a BOM", ("[" * 100_000 + "]" * 100_000).encode("utf-8-sig"), "text/plain"),
        ("utf-16 lone surrogate", '{"userId": "\ud800"}'.encode("utf-16-le", "surrogatepass"), None),
    ]


# -- sending ------------------------------------------------------------------------------------------
def send(target: Target, call: Call, sign: bool = True) -> tuple[int, dict[str, str], bytes]:
    url = target.live.url + call.path
    headers = dict(call.headers)
    if sign:
        request = AWSRequest(method=call.method, url=url, data=call.body, headers=headers)
        SigV4Auth(
            Credentials(target.key.access_key_id, target.key.secret_access_key), "personalize", "us-east-1"
        ).add_auth(request)
        headers = dict(request.headers.items())
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(call.method, call.path, body=call.body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _check(label: str, status: int, headers: dict[str, str], body: bytes, failures: list[str]) -> None:
    if status >= 500:
        failures.append(f"{label}: HTTP {status} {body[:200]!r}")
    if "access-control-allow-origin" in headers:
        failures.append(f"{label}: sent a CORS header")


def _check_aws_error(
    label: str, status: int, headers: dict[str, str], body: bytes, failures: list[str]
) -> None:
    """A refusal on Personalize's surfaces names its AWS error code (``__type`` or ``x-amzn-ErrorType``)."""
    if status < 400:
        return
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not (answer.get("__type") or headers.get("x-amzn-errortype")):
        failures.append(f"{label}: HTTP {status} without an AWS error code: {body[:200]!r}")
    elif not isinstance(answer.get("message"), str):
        failures.append(f"{label}: HTTP {status} without a message: {body[:200]!r}")


def test_every_operation_of_the_service_models(target: Target) -> None:
    rng = random.Random(SEED)
    failures: list[str] = []
    sent = 0
    for label, call in model_calls(rng, target.arns, target.allowed):
        status, headers, body = send(target, call)
        _check(label, status, headers, body, failures)
        _check_aws_error(label, status, headers, body, failures)
        sent += 1
    assert sent > 300
    assert not failures, failures[:20]
    status, _, body = send(target, Call("GET", "/healthz", {}, b""), sign=False)
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_malformed_bodies_on_every_surface(target: Target) -> None:
    rng = random.Random(SEED)
    failures: list[str] = []
    for method, path, base_headers in SURFACES:
        for label, body, content_type in malformed_bodies(rng):
            headers = dict(base_headers)
            if content_type is not None:
                headers["Content-Type"] = content_type
            status, response_headers, answer = send(target, Call(method, path, headers, body))
            _check(f"{method} {path} {label}", status, response_headers, answer, failures)
            if status == 413:
                assert "x-amzn-errortype" in response_headers or b'"status":413' in answer, (
                    path,
                    answer[:200],
                )
            if path.startswith("/search") and status >= 400:
                assert "error" in json.loads(answer), (path, label, answer[:200])
        # and without a signature, or with a garbage one
        for headers in (
            {},
            {"Authorization": "AWS4-HMAC-SHA256 " + "x" * 5000},
            {"Authorization": "Basic Zm9vOmJhcg=="},
        ):
            status, response_headers, answer = send(
                target, Call(method, path, {**base_headers, **headers}, b"{}"), sign=False
            )
            _check(f"{method} {path} unsigned {headers}", status, response_headers, answer, failures)
            to_sign_in = method == "GET" and path.startswith("/console/groups")  # a page: 303 to sign-in
            if path not in OPEN:
                assert status in (400, 403) or (to_sign_in and status == 303), (method, path, status)
    assert not failures, failures[:20]
    status, _, body = send(target, Call("GET", "/healthz", {}, b""), sign=False)
    assert status == 200


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The default server: no --credentials, local paths unconfined, the same body limit."""
    tmp = tmp_path_factory.mktemp("fuzz-keyless")
    settings = load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05, max_body_bytes=BODY_LIMIT)
    live, stop = start_server(settings)
    yield live
    stop()


def test_malformed_bodies_on_every_surface_without_credentials(keyless: LiveServer) -> None:
    target = Target(keyless, AccessKey("", "", ""), [], Path("/nonexistent"), "")
    failures: list[str] = []
    for method, path, base_headers in SURFACES:
        for label, body, content_type in malformed_bodies(random.Random(SEED)):
            headers = {**base_headers, **({"Content-Type": content_type} if content_type else {})}
            status, response_headers, answer = send(target, Call(method, path, headers, body), sign=False)
            _check(f"{method} {path} {label}", status, response_headers, answer, failures)
    assert not failures, failures[:20]
    assert send(target, Call("GET", "/healthz", {}, b""), sign=False)[0] == 200


def test_hardened_inputs_answer_in_the_surface_format(target: Target) -> None:
    control = {
        "X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup",
        "Content-Type": "application/x-amz-json-1.1",
    }
    status, headers, body = send(target, Call("POST", "/", control, b'{"name": "\\ud800"}'))
    assert status == 400 and json.loads(body)["__type"] == "InvalidInputException"
    assert "surrogate" in json.loads(body)["message"]
    status, headers, body = send(target, Call("POST", "/", control, b"[" * 70 + b"]" * 70))
    assert status == 400 and "deeper than 64" in json.loads(body)["message"]
    utf16 = '{"name": "g16"}'.encode("utf-16")
    status, headers, body = send(target, Call("POST", "/", control, utf16))
    assert status == 400 and "not UTF-8" in json.loads(body)["message"]
    status, headers, body = send(target, Call("POST", "/events", {"Content-Type": "text/plain"}, b"{}"))
    assert status == 400 and headers["x-amzn-errortype"] == "InvalidInputException"
    status, headers, body = send(
        target, Call("POST", "/events", {"Content-Type": "application/json"}, b"x" * (BODY_LIMIT + 1))
    )
    assert status == 413 and headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    status, headers, body = send(target, Call("POST", "/search/fuzz/_search", {}, b"x" * (BODY_LIMIT + 1)))
    assert status == 413 and json.loads(body)["error"]["type"] == "content_too_long_exception"
    status, headers, body = send(target, Call("GET", "/search/fuzz/_nothing_here", {}, b""))
    assert status == 404 and "root_cause" in json.loads(body)["error"]
    for sent_at, expected in ((1e15, 400), (-5, 400), (1_700_000_000, 200)):
        event = {"eventType": "click", "itemId": "i1", "sentAt": sent_at}
        events = {"trackingId": target.tracking_id, "sessionId": "s", "userId": "u", "eventList": [event]}
        call = Call("POST", "/events", {"Content-Type": "application/json"}, json.dumps(events).encode())
        status, headers, body = send(target, call)
        assert status == expected, (sent_at, body)
        if expected == 400:
            assert "between 0 and 253402300799" in json.loads(body)["message"]
    status, headers, _ = send(
        target,
        Call(
            "OPTIONS",
            "/events",
            {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            b"",
        ),
    )
    assert "access-control-allow-origin" not in headers
