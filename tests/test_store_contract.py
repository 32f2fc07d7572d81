"""One contract for the metadata store, run on SQLite and on a real PostgreSQL server.

PostgreSQL tests skip only outside CI when no server binaries exist; under CI (CI=true) they must run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pertinent.errors import ResourceAlreadyExistsException
from pertinent.store import MetadataStore
from tests import postgres_server


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not postgres_server.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    with postgres_server.postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        base = request.getfixturevalue("postgres_url")
        from sqlalchemy import create_engine, text

        name = f"t_{abs(hash(request.node.name)) % 10**9}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = base.rsplit("/", 1)[0] + f"/{name}"
    s = MetadataStore(url)
    yield s
    s.close()


def test_insert_get_update_delete(store: MetadataStore) -> None:
    store.insert("dataset-group", "arn:a", {"name": "a", "creation_date_time": 1.0}, None)
    assert store.get("arn:a") == {"name": "a", "creation_date_time": 1.0}
    assert store.get("arn:a", kind="schema") is None
    with pytest.raises(ResourceAlreadyExistsException):
        store.insert("dataset-group", "arn:a", {"name": "again"})
    assert store.update("arn:a", {"status": "ACTIVE"}) == {
        "name": "a",
        "creation_date_time": 1.0,
        "status": "ACTIVE",
    }
    assert store.update("arn:missing", {"status": "ACTIVE"}) is None
    store.delete("arn:a")
    assert store.get("arn:a") is None


def test_list_is_newest_first_and_filtered_by_parent(store: MetadataStore) -> None:
    for n in range(5):
        store.insert("dataset", f"arn:d{n}", {"n": n, "creation_date_time": float(n)}, f"arn:g{n % 2}")
    assert [r["n"] for r in store.list("dataset")] == [4, 3, 2, 1, 0]
    assert [r["n"] for r in store.list("dataset", "arn:g0")] == [4, 2, 0]
    assert [r["n"] for r in store.list("dataset", offset=1, limit=2)] == [3, 2]
    assert store.count("dataset", "arn:g1") == 2


def test_failed_transaction_changes_nothing(store: MetadataStore) -> None:
    with pytest.raises(RuntimeError), store.write() as conn:
        store.insert("x", "arn:x", {"a": 1}, conn=conn)
        raise RuntimeError("boom")
    assert store.get("arn:x") is None


def test_job_queue_hands_each_job_to_exactly_one_claimer(store: MetadataStore) -> None:
    for n in range(40):
        store.enqueue("import", f"arn:job{n}")
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer() -> None:
        while (job := store.claim()) is not None:
            with lock:
                claimed.append(job.arn)
            store.finish(job.id, "done")

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(f"arn:job{n}" for n in range(40))
    assert store.pending_jobs("import") == 0


def test_a_requeued_job_goes_behind_the_jobs_queued_after_it(store: MetadataStore) -> None:
    store.enqueue("train", "arn:waits")
    store.enqueue("import", "arn:parent")
    first = store.claim()
    assert first is not None and first.arn == "arn:waits"
    store.requeue(first.id)
    order = []
    while (job := store.claim()) is not None:
        order.append((job.kind, job.arn))
        store.finish(job.id, "done")
    assert order == [("import", "arn:parent"), ("train", "arn:waits")]
    assert store.orphaned_jobs() == []


def test_orphaned_jobs_are_the_running_ones(store: MetadataStore) -> None:
    store.enqueue("train", "arn:a")
    store.enqueue("train", "arn:b")
    job = store.claim()
    assert job is not None and job.arn == "arn:a"
    assert [j.arn for j in store.orphaned_jobs()] == ["arn:a"]
    assert store.pending_jobs("train") == 2
