"""What SigV4 verification costs per request: CPU time, measured in-process, against baselines of the same run.

1. botocore signing one GetRecommendations request (what every boto3 client already pays) — the baseline;
2. ``pertinent.api.sigv4.verify`` of that request (the server's cost);
3. the whole request guard (body read, host check, auth, JSON safety) in front of a trivial ASGI endpoint,
   with credentials against without.

    python benchmarks/auth_overhead.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pertinent.api.guard import RequestGuard
from pertinent.api.sigv4 import IncomingRequest, verify
from pertinent.config import load_settings
from pertinent.credentials import KeyRing, create_key

BODY = json.dumps(
    {
        "campaignArn": "arn:aws:personalize:us-east-1:111111111111:campaign/up",
        "userId": "u42",
        "numResults": 25,
    }
).encode()
URL = "http://127.0.0.1:8080/recommendations"


def signed(key_id: str, secret: str) -> AWSRequest:
    request = AWSRequest(method="POST", url=URL, data=BODY, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key_id, secret), "personalize", "us-east-1").add_auth(request)
    return request


def cpu_per_call(function: Any, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        function()
    return (time.process_time() - start) / n


async def _trivial(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def guard_cpu(guard: RequestGuard, headers: list[tuple[bytes, bytes]], n: int) -> float:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/recommendations",
        "raw_path": b"/recommendations",
        "query_string": b"",
        "headers": headers,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    async def run() -> float:
        start = time.process_time()
        for _ in range(n):
            await guard(dict(scope), receive, send)
        return (time.process_time() - start) / n

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    n = parser.parse_args().requests
    folder = Path(tempfile.mkdtemp())
    key = create_key(folder / "keys.csv", "111111111111")
    keys = KeyRing(folder / "keys.csv")
    request = signed(key.access_key_id, key.secret_access_key)
    host = urlsplit(URL).netloc
    header_list = [(k.lower(), str(v)) for k, v in request.headers.items()] + [("host", host)]
    incoming = IncomingRequest("POST", "/recommendations", "", header_list, BODY)
    assert verify(incoming, keys).account_id == "111111111111"

    sign_s = cpu_per_call(lambda: signed(key.access_key_id, key.secret_access_key), n)
    verify_s = cpu_per_call(lambda: verify(incoming, keys), n)
    raw_headers = [(k.encode(), v.encode()) for k, v in header_list] + [
        (b"content-length", str(len(BODY)).encode())
    ]
    with_keys = RequestGuard(_trivial, load_settings(credentials=str(folder / "keys.csv")), keys)
    without = RequestGuard(_trivial, load_settings(), None)
    guard_keys_s = guard_cpu(with_keys, raw_headers, n)
    guard_open_s = guard_cpu(without, raw_headers, n)

    print(f"requests per figure: {n}")
    print(f"baseline: botocore signs one request      {sign_s * 1e6:8.1f} µs CPU")
    print(
        f"pertinent verifies it (sigv4.verify)      {verify_s * 1e6:8.1f} µs CPU   ratio {verify_s / sign_s:5.2f}"
    )
    print(f"request guard without credentials         {guard_open_s * 1e6:8.1f} µs CPU")
    print(
        f"request guard with credentials            {guard_keys_s * 1e6:8.1f} µs CPU   "
        f"ratio {guard_keys_s / guard_open_s:5.2f}, +{(guard_keys_s - guard_open_s) * 1e6:.1f} µs per request"
    )


if __name__ == "__main__":
    main()
