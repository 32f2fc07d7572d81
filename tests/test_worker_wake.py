"""A worker in another process (here: another Context on the same database) picks up a queued job when an
API process nudges it over the wake socket (pertinent.wake), not at its next poll: with an hour between
polls, the jobs below could only run through the nudge."""

from __future__ import annotations

import time
from pathlib import Path

from pertinent.config import load_settings
from pertinent.control.common import insert_new, new_record
from pertinent.control.context import Context
from pertinent.store import MetadataStore
from pertinent.wake import WakeListener, wake_address, wake_sender
from pertinent.worker import Worker


def _status(store: MetadataStore, arn: str, timeout: float = 120.0) -> str | None:
    deadline = time.monotonic() + timeout
    while True:
        record = store.get(arn) or {}
        if record.get("status") == "ACTIVE" or time.monotonic() > deadline:
            return record.get("status")
        time.sleep(0.05)


def test_a_nudge_from_another_process_runs_the_job_before_the_next_poll(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", worker_poll_seconds=3600)
    settings.data_dir.mkdir(parents=True)
    worker_store, api_store = MetadataStore(settings.db_url), MetadataStore(settings.db_url)
    worker = Worker(Context(settings=settings, store=worker_store))
    api = Context(settings=settings, store=api_store)
    nudge = wake_sender(settings.db_url)
    worker.start()
    try:
        time.sleep(0.5)  # let the worker's first claim find the queue empty (only makes the test stricter)
        for name in ("first", "second"):
            arn = api.arn("dataset-group", name)
            record = new_record(api, status="CREATE PENDING", name=name, dataset_group_arn=arn)
            insert_new(api, "dataset-group", arn, record, job="activate")  # as CreateX queues a job
            nudge()
            assert _status(api_store, arn) == "ACTIVE", name
    finally:
        worker.stop()
        worker_store.close()
        api_store.close()


def test_one_listener_per_database_and_senders_never_fail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    woken: list[int] = []
    first, second = WakeListener(url, lambda: woken.append(1)), WakeListener(url, lambda: None)
    assert first.start()
    try:
        assert not second.start()  # the name is taken: that worker polls
        assert wake_address(url) != wake_address(url + "-other")
        wake_sender(url)()
        wake_sender(url + "-other")()  # nobody listens: nothing happens
        deadline = time.monotonic() + 60
        while not woken and time.monotonic() < deadline:
            time.sleep(0.01)
        assert woken
    finally:
        first.stop()
        second.stop()
    again = WakeListener(url, lambda: None)
    assert again.start()  # freed by stop()
    again.stop()
