"""`pertinent serve --workers 2`: two API processes on one port answer exactly as one process does, and
an event sent to either changes the next answer of both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from pertinent.api.background import free_port
from pertinent.config import load_settings
from pertinent.store import MetadataStore
from tests.conftest import make_group, start_server, wait_for_status
from tests.test_serving import _campaign

ROOT = Path(__file__).resolve().parents[1]
USERS = [f"u{n}" for n in range(1, 13)] + ["nobody"]


def post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # a new connection each time
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
    return answer


def answers(url: str, campaign: str) -> dict[str, list[tuple[str, float]]]:
    out = {}
    for user in USERS:
        items = post(url, "/recommendations", {"campaignArn": campaign, "userId": user, "numResults": 10})
        out[user] = [(e["itemId"], e["score"]) for e in items["itemList"]]
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited; only its parent's wait is missing
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_two_worker_processes_serve_the_same_answers_as_one(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05)
    live, stop = start_server(settings)
    try:
        client = live.client()
        group = make_group(client, tmp_path)
        campaign, _ = _campaign(client, group, "aws-user-personalization", "up")
        tracker = client.create_event_tracker(name="t", datasetGroupArn=group.arn)
        wait_for_status(
            lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
        )
        single = answers(live.url, campaign)
    finally:
        stop()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pertinent", "serve", "--workers", "2", "--port", str(port)]
        + ["--data-dir", str(tmp_path / "data"), "--log-level", "warning"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 120
        while len(pids) < 2:
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, f"only saw API processes {pids}"
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
                    health = json.loads(response.read())
                assert health["role"] == "api"  # the job worker runs in the supervisor, not here
                pids.add(int(health["pid"]))
            except OSError:
                time.sleep(0.1)
        assert server.pid not in pids
        for _ in range(3):  # each round lands on either process
            assert answers(url, campaign) == single
        before = single["u3"]
        post(
            url,
            "/events",
            {
                "trackingId": tracker["trackingId"],
                "userId": "u3",
                "sessionId": "s3",
                "eventList": [
                    {"eventType": "rating", "itemId": f"m{i}", "sentAt": time.time()} for i in (1, 3, 5, 7, 9)
                ],
            },
        )
        after = [answers(url, campaign)["u3"] for _ in range(4)]
        assert all(a == after[0] for a in after)  # both processes see the event at once
        assert after[0] != before

        def burst(n: int) -> None:  # concurrent PutEvents, one event each, landing on both processes
            for k in range(20):
                post(
                    url,
                    "/events",
                    {
                        "trackingId": tracker["trackingId"],
                        "userId": f"burst{n}",
                        "sessionId": f"burst{n}",
                        "eventList": [{"eventType": "rating", "itemId": f"m{k}", "sentAt": time.time()}],
                    },
                )

        senders = [threading.Thread(target=burst, args=(n,)) for n in range(6)]
        for t in senders:
            t.start()
        for t in senders:
            t.join(120)
        store = MetadataStore(f"sqlite:///{tmp_path / 'data' / 'pertinent.db'}")
        try:  # every acknowledged event is in the log, in each sender's order
            for n in range(6):
                logged = [e["item_id"] for e in store.user_events(group.arn, f"burst{n}")]
                assert logged == [f"m{k}" for k in range(20)]
        finally:
            store.close()
        server.kill()  # even a supervisor killed outright leaves no API process holding the port
        server.wait(30)
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "an API process outlived its supervisor"
            time.sleep(0.2)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
