"""What serving needs to know about a dataset group beyond the model: items, users, typed interactions.

Everything here is rebuilt when its inputs change (a bulk import rewrites a Parquet file; PutItems and
PutUsers append to the event log), detected by a cheap version key (a file's mtime, the newest event seq
of a kind as the process's cached reads know it), so new items become recommendable and filterable without
retraining and without restarting.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from pertinent.control.context import Context
from pertinent.datasets.avro_schema import DatasetSchema, normalize_dataset_type, parse_schema
from pertinent.filters.evaluate import ItemTable
from pertinent.serving.inline import about_to_block
from pertinent.store.cached_reads import CachedReads

T = TypeVar("T")


@dataclass(frozen=True)
class DatasetInfo:
    arn: str
    schema: DatasetSchema
    bulk_path: Path


class DatasetDirectory:
    """``group_datasets`` for the hot paths, reused until any resource changes (the datasets and their
    schemas change only through CreateDataset / UpdateDataset / DeleteDataset; data changes are seen at
    once through other keys)."""

    def __init__(self, ctx: Context, reads: CachedReads | None = None) -> None:
        self.ctx = ctx
        self.reads = reads or CachedReads(ctx.store)
        self._cache: dict[str, tuple[int, dict[str, DatasetInfo]]] = {}

    def get(self, dataset_group_arn: str, refresh: bool = True) -> dict[str, DatasetInfo]:
        """The group's datasets; ``refresh=False`` when the caller refreshed the reads in this request."""
        if refresh or self.reads.version < 0:
            self.reads.refresh()
        version = self.reads.version
        cached = self._cache.get(dataset_group_arn)
        if cached is not None and cached[0] == version:
            return cached[1]
        found = group_datasets(self.ctx, dataset_group_arn)
        self._cache[dataset_group_arn] = (version, found)
        return found


def group_datasets(ctx: Context, dataset_group_arn: str) -> dict[str, DatasetInfo]:
    """Dataset type (upper case) → its ARN, schema and bulk Parquet path."""
    found: dict[str, DatasetInfo] = {}
    for dataset in ctx.store.list("dataset", dataset_group_arn):
        schema_record = ctx.store.get(dataset["schema_arn"])
        if schema_record is None:
            continue
        info = DatasetInfo(
            dataset["dataset_arn"], parse_schema(schema_record["schema"]), ctx.bulk_file(dataset)
        )
        ctx.storage.hold(info.bulk_path, info)  # the cache keeps the current version while it is served
        found[normalize_dataset_type(dataset["dataset_type"])] = info
    return found


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime_ns if path is not None else 0.0
    except FileNotFoundError:
        return 0.0


@dataclass
class Catalog:
    """Every item of the group, model items first (so catalog index == model index for them)."""

    item_ids: npt.NDArray[np.str_]
    index: dict[str, int]
    rows: list[dict[str, Any]]  # schema column → value, per item
    table: ItemTable  # for filters
    creation_timestamps: npt.NDArray[np.float64]  # NaN where unknown
    n_model_items: int
    metadata_fields: tuple[str, ...]
    textual_fields: tuple[str, ...]
    _features: Any = field(default=None, repr=False, compare=False)  # built by serving.exploration
    _cold: dict[float, Any] = field(default_factory=dict, repr=False, compare=False)  # serving.exploration
    _everything: Any = field(default=None, repr=False, compare=False)  # everything_allowed's mask

    def everything_allowed(self) -> npt.NDArray[np.bool_]:
        """The mask of a request without a filter: every item allowed. Made once per catalog and read-only
        (a request that narrows it makes its own), so an unfiltered request makes no full-catalog pass."""
        if self._everything is None:
            mask = np.ones(len(self.item_ids), dtype=bool)
            mask.flags.writeable = False
            self._everything = mask
        everything: npt.NDArray[np.bool_] = self._everything
        return everything

    def excluded(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """The model items ``mask`` leaves out, sorted (none, without a pass, for :meth:`everything_allowed`)."""
        if mask is self._everything:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(~mask[: self.n_model_items]).astype(np.int64)

    def metadata(self, item: int, columns: Sequence[str]) -> dict[str, str]:
        row = self.rows[item]
        return {c: "" if row.get(c) is None else str(row[c]) for c in columns}


def _item_rows(ctx: Context, group_arn: str, info: DatasetInfo | None) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    if info is not None and info.bulk_path.exists():
        for row in pq.read_table(info.bulk_path, memory_map=True).to_pylist():
            rows[str(row["ITEM_ID"])] = row
    for event in ctx.store.events_of_kind(group_arn, "item"):
        body = json.loads(event["body"]) if event["body"] else {}
        rows[str(event["item_id"])] = body or {"ITEM_ID": event["item_id"]}
    return rows


def build_catalog(ctx: Context, group_arn: str, model_item_ids: npt.NDArray[np.str_]) -> Catalog:
    info = group_datasets(ctx, group_arn).get("ITEMS")
    rows_by_id = _item_rows(ctx, group_arn, info)
    ids = [str(i) for i in model_item_ids.tolist()]
    known = set(ids)
    ids += sorted(i for i in rows_by_id if i not in known)
    rows = [rows_by_id.get(i, {"ITEM_ID": i}) for i in ids]
    numeric: list[str] = []
    metadata: list[str] = []
    textual: list[str] = []
    if info is not None:
        for f in info.schema.fields:
            if f.name == "ITEM_ID":
                continue
            metadata.append(f.name)
            if f.textual:
                textual.append(f.name)
            elif f.type in ("int", "long", "float", "double"):
                numeric.append(f.name)
    filter_rows = [{k: v for k, v in row.items() if k not in textual} for row in rows]
    table = ItemTable.from_rows(ids, filter_rows, numeric_fields=numeric)
    created = np.array(
        [float(r["CREATION_TIMESTAMP"]) if r.get("CREATION_TIMESTAMP") is not None else np.nan for r in rows],
        dtype=np.float64,
    )
    return Catalog(
        np.asarray(ids, dtype=np.str_),
        {i: n for n, i in enumerate(ids)},
        rows,
        table,
        created,
        len(model_item_ids),
        tuple(metadata),
        tuple(textual),
    )


@dataclass
class UserInteractions:
    """Every user's interactions from bulk data, with event types, newest first (for filters)."""

    user_slices: dict[str, tuple[int, int]]
    item_ids: npt.NDArray[np.str_]
    event_types: npt.NDArray[np.str_]

    def of(self, user_id: str) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_]]:
        lo, hi = self.user_slices.get(user_id, (0, 0))
        return self.item_ids[lo:hi], self.event_types[lo:hi]


def build_user_interactions(info: DatasetInfo | None) -> UserInteractions:
    if info is None or not info.bulk_path.exists():
        empty = np.zeros(0, dtype=np.str_)
        return UserInteractions({}, empty, empty)
    columns = ["USER_ID", "ITEM_ID", "TIMESTAMP"] + (
        ["EVENT_TYPE"] if "EVENT_TYPE" in info.schema.names else []
    )
    table = pq.read_table(info.bulk_path, columns=columns, memory_map=True)
    users = np.asarray(table.column("USER_ID").to_numpy(zero_copy_only=False), dtype=np.str_)
    order = np.lexsort((-table.column("TIMESTAMP").to_numpy(), users))
    users = users[order]
    items = np.asarray(table.column("ITEM_ID").to_numpy(zero_copy_only=False), dtype=np.str_)[order]
    if "EVENT_TYPE" in columns:
        types = np.char.lower(
            np.asarray(table.column("EVENT_TYPE").to_numpy(zero_copy_only=False), dtype=np.str_)
        )[order]
    else:
        types = np.full(len(items), "", dtype=np.str_)
    slices: dict[str, tuple[int, int]] = {}
    if len(users):
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        ends = np.r_[starts[1:], len(users)]
        slices = {str(users[s]): (int(s), int(e)) for s, e in zip(starts, ends, strict=True)}
    return UserInteractions(slices, items, types)


def build_users(ctx: Context, group_arn: str, info: DatasetInfo | None) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = {}
    if info is not None and info.bulk_path.exists():
        for row in pq.read_table(info.bulk_path, memory_map=True).to_pylist():
            users[str(row["USER_ID"])] = row
    for event in ctx.store.events_of_kind(group_arn, "user"):
        users[str(event["user_id"])] = json.loads(event["body"]) if event["body"] else {}
    return users


@dataclass
class _Entry:
    key: tuple[Any, ...]
    value: Any


@dataclass
class GroupDataCache:
    """Builds each piece once per version key; concurrent requests share the result."""

    ctx: Context
    reads: CachedReads | None = None  # refreshed by the caller once per request
    _entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _building: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    directory: DatasetDirectory = field(init=False)

    def __post_init__(self) -> None:
        if self.reads is None:
            self.reads = CachedReads(self.ctx.store)
        self.directory = DatasetDirectory(self.ctx, self.reads)

    def _erasures(self, group_arn: str) -> int:
        """Data deletion jobs run on the group (counted in the database: every replica sees them)."""
        assert self.reads is not None
        return int((self.reads.get(group_arn, "dataset-group") or {}).get("erasures") or 0)

    def _last_seq(self, group_arn: str, kind: str) -> int:
        assert self.reads is not None
        return self.reads.last_event_seq(group_arn, kind)

    def _cached(self, name: str, group_arn: str, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        entry = self._entries.get((name, group_arn))
        if entry is not None and entry.key == key:
            return entry.value  # type: ignore[no-any-return]
        about_to_block()  # a build (or a wait for another thread's): not on the event loop
        with self._lock:
            building = self._building.setdefault((name, group_arn), threading.Lock())
        with building:  # one thread builds; concurrent first requests wait for its result
            entry = self._entries.get((name, group_arn))
            if entry is not None and entry.key == key:
                return entry.value  # type: ignore[no-any-return]
            value = build()
            self._entries[(name, group_arn)] = _Entry(key, value)
        return value

    def catalog(self, group_arn: str, model_key: str, model_item_ids: npt.NDArray[np.str_]) -> Catalog:
        info = self.directory.get(group_arn, refresh=False).get("ITEMS")
        key = (
            model_key,
            _mtime(info.bulk_path if info else None),
            self._last_seq(group_arn, "item"),
        )
        return self._cached(
            "catalog", group_arn, key, lambda: build_catalog(self.ctx, group_arn, model_item_ids)
        )

    def user_interactions(self, group_arn: str) -> UserInteractions:
        info = self.directory.get(group_arn, refresh=False).get("INTERACTIONS")
        key = (_mtime(info.bulk_path if info else None), self._erasures(group_arn))
        return self._cached("interactions", group_arn, key, lambda: build_user_interactions(info))

    def users(self, group_arn: str) -> Mapping[str, dict[str, Any]]:
        info = self.directory.get(group_arn, refresh=False).get("USERS")
        key = (
            _mtime(info.bulk_path if info else None),
            self._last_seq(group_arn, "user"),
            self._erasures(group_arn),
        )
        return self._cached("users", group_arn, key, lambda: build_users(self.ctx, group_arn, info))
