"""The data folder as a cache of the object store (moto's S3 server): each version is downloaded once, the
cache stays under its size cap by evicting what was used least recently, and never what is held (served)."""

from __future__ import annotations

import gc
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

from pertinent.store.objects import COMPLETE_MARKER, S3Storage
from tests.s3_replicas import BUCKET, s3_endpoint

__all__ = ["s3_endpoint"]  # the fixture
SIZE = 100_000  # bytes per stored file


class Served:
    """Stands for what serves from a cached entry (a loaded model, a dataset's current file)."""


def _publish(writer: S3Storage, key: str, version: str, fill: bytes = b"x") -> None:
    local = writer.path(key, version)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(fill * SIZE)
    writer.publish(key, version)


def test_a_version_is_downloaded_once_and_read_from_the_cache(s3_endpoint: str, tmp_path: Path) -> None:
    writer = S3Storage(f"s3://{BUCKET}/p", tmp_path / "writer", s3_endpoint)
    local = writer.path("datasets/g/ITEMS/bulk.parquet", "0123456789ab")
    local.parent.mkdir(parents=True)
    pq.write_table(pa.table({"ITEM_ID": ["a", "b"]}), local)
    writer.publish("datasets/g/ITEMS/bulk.parquet", "0123456789ab")

    reader = S3Storage(f"s3://{BUCKET}/p", tmp_path / "reader", s3_endpoint)
    fetched = reader.fetch("datasets/g/ITEMS/bulk.parquet", "0123456789ab")
    assert fetched == tmp_path / "reader" / "datasets/g/ITEMS/bulk-0123456789ab.parquet"
    assert pq.read_table(fetched, memory_map=True).column("ITEM_ID").to_pylist() == ["a", "b"]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.delete_object(Bucket=BUCKET, Key="p/datasets/g/ITEMS/bulk-0123456789ab.parquet")
    assert reader.fetch("datasets/g/ITEMS/bulk.parquet", "0123456789ab") == fetched  # no second download
    assert reader.fetch("datasets/g/ITEMS/bulk.parquet", "ba9876543210") is None  # not stored


def test_the_cache_evicts_the_least_recently_used_entries_but_never_a_held_one(
    s3_endpoint: str, tmp_path: Path
) -> None:
    writer = S3Storage(f"s3://{BUCKET}/p", tmp_path / "writer", s3_endpoint)
    for n in range(6):
        _publish(writer, f"datasets/g{n}/ITEMS/bulk.parquet", f"{n:012x}")
    tree = writer.path("artifacts/sol/v1")
    (tree / "model").mkdir(parents=True)
    (tree / "model" / "factors.npy").write_bytes(b"f" * SIZE)
    (tree / "data.npz").write_bytes(b"d" * SIZE)
    writer.publish_tree("artifacts/sol/v1")

    cache = S3Storage(f"s3://{BUCKET}/p", tmp_path / "cache", s3_endpoint, max_bytes=int(3.5 * SIZE))

    def fetch(n: int) -> Path:
        found = cache.fetch(f"datasets/g{n}/ITEMS/bulk.parquet", f"{n:012x}")
        assert found is not None and found.exists()
        return found

    first, second, third = fetch(0), fetch(1), fetch(2)
    assert cache.cache_bytes() == 3 * SIZE and cache.evicted == 0
    fetch(0)  # used again: now the second is the least recently used
    fourth = fetch(3)
    assert not second.exists() and first.exists() and third.exists() and fourth.exists()
    assert cache.cache_bytes() <= 3.5 * SIZE

    # a held entry stays, however old; once what serves from it is gone it is evictable again
    dataset = Served()
    cache.hold(first, dataset)
    model = Served()
    artifact = cache.fetch_tree("artifacts/sol/v1")
    assert artifact is not None and (artifact / COMPLETE_MARKER).exists()
    cache.hold(artifact, model)
    assert first.exists()
    fetch(4)
    fetch(5)
    assert artifact.exists() and (artifact / "data.npz").exists() and first.exists()
    assert not third.exists() and not fourth.exists()  # the unheld ones went, oldest first
    assert cache.cache_bytes() > 3.5 * SIZE  # over the cap: everything left is held or just fetched
    del model, dataset
    gc.collect()
    again = fetch(2)  # downloaded again (it was evicted), and now the released entries can go
    assert again.exists() and not artifact.exists() and not first.exists()
    assert cache.cache_bytes() <= 3.5 * SIZE


def test_a_restarted_process_counts_what_its_cache_already_holds(s3_endpoint: str, tmp_path: Path) -> None:
    writer = S3Storage(f"s3://{BUCKET}/p", tmp_path / "writer", s3_endpoint)
    for n in range(4):
        _publish(writer, f"datasets/g{n}/ITEMS/bulk.parquet", f"{n:012x}")
    before = S3Storage(f"s3://{BUCKET}/p", tmp_path / "cache", s3_endpoint)
    left = [before.fetch(f"datasets/g{n}/ITEMS/bulk.parquet", f"{n:012x}") for n in range(3)]
    assert all(p is not None and p.exists() for p in left)

    restarted = S3Storage(f"s3://{BUCKET}/p", tmp_path / "cache", s3_endpoint, max_bytes=2 * SIZE)
    assert restarted.cache_bytes() == 3 * SIZE
    newest = restarted.fetch("datasets/g3/ITEMS/bulk.parquet", f"{3:012x}")
    assert newest is not None and newest.exists()
    assert restarted.cache_bytes() <= 2 * SIZE
    assert sum(p.exists() for p in left if p is not None) == 1
