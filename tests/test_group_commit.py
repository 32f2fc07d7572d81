"""Group commit: concurrent PutEvents share a transaction (one fsync), each durable before it returns, and
a bad request fails alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from pertinent.store import MetadataStore
from pertinent.store.group_commit import GroupCommit

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


def test_work_queued_during_a_commit_shares_the_next_one() -> None:
    committed: list[list[int]] = []
    first_started = threading.Event()
    gc: GroupCommit[int] = GroupCommit(lambda works: commit(works))

    def commit(works: Sequence[int]) -> None:
        if not committed:
            first_started.set()
            deadline = time.monotonic() + 60
            while len(gc._queue) < 19 and time.monotonic() < deadline:  # the others queue meanwhile
                time.sleep(0.005)
        committed.append(list(works))

    first = threading.Thread(target=gc.submit, args=(0,))
    first.start()
    assert first_started.wait(60)
    others = [threading.Thread(target=gc.submit, args=(n,)) for n in range(1, 20)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(60)
    assert committed[0] == [0]
    assert sorted(committed[1]) == list(range(1, 20))  # nineteen requests, one transaction
    assert gc.commits == 2 and gc.works == 20


def test_a_failing_piece_of_work_fails_alone() -> None:
    committed: list[int] = []
    gate = threading.Event()
    gc: GroupCommit[int] = GroupCommit(lambda works: commit(works))

    def commit(works: Sequence[int]) -> None:
        if works == [0]:
            deadline = time.monotonic() + 60
            while len(gc._queue) < 3 and time.monotonic() < deadline:
                time.sleep(0.005)
        if 2 in works:
            raise ValueError("bad request")
        committed.extend(works)

    errors: dict[int, BaseException] = {}

    def submit(n: int) -> None:
        if n:
            gate.wait(60)
        try:
            gc.submit(n)
        except ValueError as exc:
            errors[n] = exc

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    threads[0].start()
    time.sleep(0.05)
    gate.set()
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(committed) == [0, 1, 3]
    assert list(errors) == [2]


def test_concurrent_appends_are_all_durable_and_share_commits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    store = MetadataStore(url)
    barrier = threading.Barrier(16)

    def put(n: int) -> None:
        barrier.wait()
        for k in range(10):
            store.append_events(
                [
                    {
                        "dataset_group_arn": GROUP,
                        "kind": "interaction",
                        "user_id": f"u{n}",
                        "session_id": f"s{n}",
                        "item_id": f"i{k}",
                        "timestamp": float(k),
                    }
                ]
            )

    threads = [threading.Thread(target=put, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert store._event_commits.works == 160
    assert store._event_commits.commits <= 160
    store.close()
    reopened = MetadataStore(url)  # what was acknowledged is on disk, in each user's order
    for n in range(16):
        assert [e["item_id"] for e in reopened.user_events(GROUP, f"u{n}")] == [f"i{k}" for k in range(10)]
    reopened.close()


def test_a_bad_row_in_a_shared_transaction_stores_nothing_of_its_request(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    good = {"dataset_group_arn": GROUP, "kind": "interaction", "user_id": "u", "item_id": "i", "timestamp": 1.0}
    with pytest.raises(IntegrityError):
        store.append_events([good, {**good, "timestamp": None}])  # NOT NULL violated
    assert store.user_events(GROUP, "u") == []
    store.append_events([good])
    assert len(store.user_events(GROUP, "u")) == 1
    store.close()
