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


def test_a_live_lease_keeps_a_job_and_an_expired_one_frees_it(store: MetadataStore) -> None:
    store.enqueue("train", "arn:a")
    store.enqueue("train", "arn:b")
    job = store.claim(lease_seconds=60)
    assert job is not None and job.arn == "arn:a" and job.attempt == 1
    assert [j["arn"] for j in store.running_jobs()] == ["arn:a"]
    assert store.pending_jobs("train") == 2
    other = MetadataStore(store.url)  # a second worker process on the same database
    try:
        taken = other.claim(lease_seconds=60)
        assert taken is not None and taken.arn == "arn:b"  # never the job whose lease is live
        assert other.claim() is None
        assert other.claim_arn("arn:a") is None
        assert store.renew([job.id, taken.id], 0.0) == {job.id}  # renews only its own; lease now expired
        retried = other.claim(lease_seconds=60)
        assert retried is not None and retried.arn == "arn:a"
        assert retried.attempt == 2 and retried.previous_worker == store.worker_name
        assert store.renew([job.id], 60) == set()  # the first worker learns it lost the lease
        assert not store.finish(job.id, "done")  # and cannot end a job another worker holds
        assert other.finish(retried.id, "done")
        assert store.pending_jobs("train") == 1
    finally:
        other.close()


def test_a_released_job_is_claimable_again_at_once(store: MetadataStore) -> None:
    store.enqueue("import", "arn:x")
    job = store.claim(lease_seconds=600)
    assert job is not None
    assert store.claim() is None
    store.release(job.id)
    again = store.claim()
    assert again is not None and again.id == job.id and again.attempt == 2


def test_a_store_opened_while_postgresql_is_down_waits_for_it() -> None:
    """A process that starts during a PostgreSQL restart (a worker joining a cluster) must not exit."""
    if not postgres_server.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    server = postgres_server.PostgresServer()  # initialised, not started
    try:
        starter = threading.Timer(1.0, server.start)
        starter.start()
        store = MetadataStore(server.url)  # the first connection is refused; the store retries
        starter.join()
        store.insert("dataset-group", "arn:waited", {"name": "waited"})
        assert store.get("arn:waited") == {"name": "waited"}
        store.close()
    finally:
        server.stop()
        server.remove()


def test_a_sqlite_store_at_a_bad_path_fails_at_once(tmp_path: Path) -> None:
    """SQLite errors at start are a wrong path or permissions, not an outage: no retrying for minutes."""
    from sqlalchemy.exc import OperationalError

    with pytest.raises(OperationalError):
        MetadataStore(f"sqlite:///{tmp_path / 'no-such-folder' / 'meta.db'}")


def test_a_claim_that_leaves_expired_leases_alone_takes_only_queued_jobs(store: MetadataStore) -> None:
    """A worker that has not seen the database for a whole lease (just started, or the database was away)
    cannot tell a dead holder from one whose renewals an outage stopped: it takes queued jobs only."""
    store.enqueue("train", "arn:held")
    held = store.claim(lease_seconds=60)
    assert held is not None
    assert store.renew([held.id], 0.0) == {held.id}  # its lease has just expired
    store.enqueue("import", "arn:queued")
    fresh = store.claim(take_expired=False)
    assert fresh is not None and fresh.arn == "arn:queued"
    assert store.claim(take_expired=False) is None  # the expired lease stays with its holder
    taken = store.claim()
    assert taken is not None and taken.arn == "arn:held" and taken.attempt == 2


def test_a_job_released_after_a_database_error_does_not_count_an_attempt(store: MetadataStore) -> None:
    store.enqueue("train", "arn:interrupted")
    job = store.claim(lease_seconds=600)
    assert job is not None and job.attempt == 1
    store.release(job.id, count_attempt=False)
    again = store.claim()
    assert again is not None and again.id == job.id and again.attempt == 1
    store.release(again.id)
    assert (third := store.claim()) is not None and third.attempt == 2
