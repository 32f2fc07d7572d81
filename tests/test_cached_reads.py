"""The serving path's reads: index seeks only, cached in the process, invalidated by any change (this
process's or another replica's), on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertinent.store import MetadataStore
from pertinent.store.cached_reads import GAP_SECONDS, CachedReads
from tests.test_store_contract import postgres_url  # noqa: F401  (fixture)

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


def interaction(user: str | None, item: str, session: str = "s", **extra: Any) -> dict[str, Any]:
    return {
        "dataset_group_arn": GROUP,
        "kind": "interaction",
        "user_id": user,
        "session_id": session,
        "item_id": item,
        "event_type": "click",
        "timestamp": time.time(),
        **extra,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine, text

    name = f"c_{abs(hash(request.node.name)) % 10**9}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    yield base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def replicas(url: str) -> Iterator[tuple[MetadataStore, MetadataStore]]:
    """Two stores on one database, as two replicas (or two worker processes) have."""
    a, b = MetadataStore(url), MetadataStore(url)
    yield a, b
    a.close()
    b.close()


def test_serving_reads_are_index_seeks_not_scans(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    store.append_events([interaction(f"u{n % 50}", f"i{n}") for n in range(2000)])
    store.close()
    conn = sqlite3.connect(tmp_path / "meta.db")
    statements = [
        (MetadataStore._USER_EVENTS, (GROUP, "u1", "interaction", 0) * 2),
        (
            "SELECT seq FROM events WHERE dataset_group_arn = ? AND kind = ? ORDER BY seq DESC LIMIT 1",
            (GROUP, "item"),
        ),
        (
            "SELECT (SELECT value FROM store_state WHERE name = 'resources'), (SELECT max(seq) FROM events)",
            (),
        ),
        ("SELECT seq, kind FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (1990, 10)),
    ]
    for sql, params in statements:
        plan = " | ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "SCAN events" not in plan, (sql, plan)
        assert "SEARCH events" in plan or "max(seq)" in sql, plan
    conn.close()


def test_a_users_history_is_cached_until_their_next_event_on_any_replica(
    replicas: tuple[MetadataStore, MetadataStore],
) -> None:
    a, b = replicas
    a.append_events([interaction("u1", "i1"), interaction("u2", "i2")])
    reads = CachedReads(b)
    reads.refresh()
    assert [e["item_id"] for e in reads.user_events(GROUP, "u1")] == ["i1"]
    assert (GROUP, "u1") in reads._events.users  # served from memory from now on
    a.append_events([interaction("u2", "i3")])  # another user's event leaves u1 cached
    reads.refresh()
    assert (GROUP, "u1") in reads._events.users and (GROUP, "u2") not in reads._events.users
    a.append_events([interaction("u1", "i4")])  # written by the other replica
    reads.refresh()
    assert [e["item_id"] for e in reads.user_events(GROUP, "u1")] == ["i1", "i4"]
    assert [e["item_id"] for e in reads.user_events(GROUP, "u2")] == ["i2", "i3"]


def test_an_anonymous_session_merged_into_a_user_is_seen_under_both_ids(
    replicas: tuple[MetadataStore, MetadataStore],
) -> None:
    a, b = replicas
    a.append_events([interaction(None, "i1", session="sess")])
    reads = CachedReads(b)
    reads.refresh()
    assert [e["item_id"] for e in reads.user_events(GROUP, "sess")] == ["i1"]
    assert reads.user_events(GROUP, "u9") == []
    a.append_events([interaction("u9", "i2", session="sess")], merge_sessions=[(GROUP, "sess", "u9")])
    reads.refresh()
    assert [e["item_id"] for e in reads.user_events(GROUP, "u9")] == ["i1", "i2"]
    assert reads.user_events(GROUP, "sess") == []  # the session's events now belong to u9


def test_records_are_cached_until_any_resource_changes(
    replicas: tuple[MetadataStore, MetadataStore],
) -> None:
    a, b = replicas
    arn = "arn:aws:personalize:us-east-1:000000000000:campaign/c"
    a.insert("campaign", arn, {"campaign_arn": arn, "status": "ACTIVE", "version": 1})
    reads = CachedReads(b)
    reads.refresh()
    assert reads.get(arn, "campaign") == {"campaign_arn": arn, "status": "ACTIVE", "version": 1}
    assert reads.list("campaign") == [{"campaign_arn": arn, "status": "ACTIVE", "version": 1}]
    a.update(arn, {"version": 2})
    reads.refresh()
    record = reads.get(arn, "campaign")
    assert record is not None and record["version"] == 2
    assert reads.list("campaign")[0]["version"] == 2
    a.delete(arn)
    reads.refresh()
    assert reads.get(arn, "campaign") is None and reads.list("campaign") == []


def test_the_newest_seq_of_a_kind_follows_new_events(replicas: tuple[MetadataStore, MetadataStore]) -> None:
    a, b = replicas
    reads = CachedReads(b)
    reads.refresh()
    assert reads.last_event_seq(GROUP, "item") == 0
    a.append_events([{**interaction(None, "i1"), "kind": "item"}])
    reads.refresh()
    first = reads.last_event_seq(GROUP, "item")
    assert first > 0
    a.append_events([interaction("u1", "i1")])
    reads.refresh()
    assert reads.last_event_seq(GROUP, "item") == first  # an interaction is not an item change
    a.append_events([{**interaction(None, "i2"), "kind": "item"}])
    reads.refresh()
    assert reads.last_event_seq(GROUP, "item") > first


def test_an_event_that_commits_after_a_newer_one_is_not_missed(
    replicas: tuple[MetadataStore, MetadataStore],
) -> None:
    """PostgreSQL hands out seqs before commit: seq 100 can become visible after seq 101."""
    a, b = replicas
    now = [0.0]
    reads = CachedReads(b, clock=lambda: now[0])
    a.append_events([interaction("u1", "i1", seq=10)])
    reads.refresh()
    a.append_events([interaction("u2", "i2", seq=12)])  # 11 is still "in flight"
    reads.refresh()
    assert [e["item_id"] for e in reads.user_events(GROUP, "u1")] == ["i1"]
    a.append_events([interaction("u1", "late", seq=11)])  # the slow transaction commits
    reads.refresh()
    assert [e["item_id"] for e in reads.user_events(GROUP, "u1")] == ["i1", "late"]
    assert not reads._events.gaps
    a.append_events([interaction("u3", "i3", seq=20)])
    reads.refresh()
    now[0] += GAP_SECONDS + 1  # a gap that never fills (a rolled-back transaction) is given up
    reads.refresh()
    assert not reads._events.gaps


def test_a_store_from_an_earlier_version_gets_the_new_indexes(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    MetadataStore(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX ix_events_group_user_kind_seq")
    conn.execute("DROP TABLE store_state")
    conn.execute("CREATE INDEX ix_events_group_user ON events (dataset_group_arn, user_id)")
    conn.commit()
    conn.close()
    store = MetadataStore(f"sqlite:///{path}")
    assert store.resources_version() == 0
    store.close()
    conn = sqlite3.connect(path)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert "ix_events_group_user_kind_seq" in names and "ix_events_group_user" not in names


def test_erased_events_leave_every_replicas_cache(replicas: tuple[MetadataStore, MetadataStore]) -> None:
    a, b = replicas
    a.append_events([interaction("u1", "i1"), interaction("u2", "i2"), interaction("u1", "i3")])
    reads = CachedReads(b)
    reads.refresh()
    assert len(reads.user_events(GROUP, "u1")) == 2 and len(reads.user_events(GROUP, "u2")) == 1
    a.delete_user_events(GROUP, ["u1"])  # a data deletion job on another replica
    reads.refresh()
    assert reads.user_events(GROUP, "u1") == []
    assert [e["item_id"] for e in reads.user_events(GROUP, "u2")] == ["i2"]
