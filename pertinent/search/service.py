"""Search as the server runs it: one tantivy index per dataset group, kept current, and pipelines.

The index of a dataset group (named like the group) holds its Items dataset. Before each search a cheap
version check compares the Items Parquet file and the newest PutItems event with what the index was built
from: a new bulk import builds a fresh index (beside the old one, which requests in flight keep), PutItems
rows since the last check are upserted. Search pipelines are stored in the metadata store, so every
replica sees the same ones.

With object storage (``--storage s3://…``) each index is also kept there as a *snapshot*: the process
that first builds the index of an Items version uploads it (``search/{index}/{snapshot}/``, with the
event-log seq it holds PutItems rows up to) and removes older snapshots; every other replica downloads
that snapshot into its own data folder instead of rebuilding, then upserts the PutItems rows logged after
the snapshot's seq, so it answers like the replica that built it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import shutil
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from pertinent.control.context import Context
from pertinent.errors import PersonalizeError
from pertinent.search.errors import SearchPipelineProcessingError, SearchRequestError
from pertinent.search.index import IndexField, ItemIndex, ItemIndexError
from pertinent.search.pipelines import (
    SearchPipeline,
    apply_pipeline,
    parse_pipeline,
    request_parameters_from_body,
)
from pertinent.search.query_dsl import search
from pertinent.serving.group_data import DatasetInfo
from pertinent.serving.recommend import Recommender

log = logging.getLogger(__name__)

PIPELINE_KIND = "search-pipeline"
#: in a snapshot folder: the index's files under ``index/``, and this file with the seq it holds events to
SNAPSHOT_FILE = "snapshot.json"
SETTINGS_KIND = "search-index-settings"
DEFAULT_PIPELINE_SETTING = "index.search.default_pipeline"


def _flat_settings(body: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Settings in any of OpenSearch's spellings, as dotted keys: ``{"index.search.default_pipeline": x}``,
    ``{"index": {"search.default_pipeline": x}}`` and ``{"index": {"search": {"default_pipeline": x}}}``."""
    flat: dict[str, Any] = {}
    for key, value in body.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flat_settings(value, f"{name}.")
        else:
            flat[name] = value
    return {k if k.startswith("index.") else f"index.{k}": v for k, v in flat.items()}


def _not_found(index_name: str, why: str = "") -> SearchRequestError:
    return SearchRequestError(
        "index_not_found_exception",
        f"no such index [{index_name}]{why}",
        status=404,
        metadata={"index": index_name},
    )


def index_fields(info: DatasetInfo) -> list[IndexField]:
    fields = []
    for f in info.schema.fields:
        if f.name == "ITEM_ID":
            continue
        if f.type == "boolean":
            fields.append(IndexField(f.name, "boolean"))
        elif f.type in ("int", "long", "float", "double"):
            fields.append(IndexField(f.name, "numeric", integer=f.type in ("int", "long")))
        elif f.categorical:
            fields.append(IndexField(f.name, "categorical"))
        else:
            fields.append(IndexField(f.name, "text"))
    return fields


class SearchService:
    def __init__(self, ctx: Context, recommender: Recommender) -> None:
        self.ctx = ctx
        self.recommender = recommender
        self._indexes: dict[str, ItemIndex] = {}  # by dataset group ARN (names repeat across accounts)
        self._states: dict[str, dict[str, Any]] = {}  # what each open index was built from
        self._lock = threading.Lock()
        #: indexes this process built from the data, and those it restored from a stored snapshot
        self.indexes_built = 0
        self.snapshots_restored = 0

    # -- indexes ------------------------------------------------------------------------------------
    def _folder(self, group_arn: str, index_name: str) -> Path:
        return self.ctx.account_dir(group_arn) / "search" / index_name

    def index(self, index_name: str) -> ItemIndex:
        group_arn = self.ctx.arn("dataset-group", index_name)
        if self.ctx.store.get(group_arn, "dataset-group") is None:
            raise _not_found(index_name)
        info = self.recommender.data.directory.get(group_arn).get("ITEMS")
        if info is None:
            raise _not_found(index_name, ": its dataset group has no Items dataset")
        with self._lock:
            return self._current(index_name, group_arn, info)

    def _current(self, index_name: str, group_arn: str, info: DatasetInfo) -> ItemIndex:
        """The index, fresh after a bulk import or a schema change, with PutItems rows upserted."""
        folder = self._folder(group_arn, index_name)
        state_file = folder / "pertinent-state.json"
        wanted = {
            "bulk": self._bulk_identity(info),
            "schema": info.arn + str([f.name for f in info.schema.fields]),
        }
        last_item = self.ctx.store.last_event_seq(group_arn, "item")
        state = self._states.get(group_arn)
        if state is None and state_file.exists():
            state = json.loads(state_file.read_text())
        index = self._indexes.get(group_arn)
        if (
            state is None
            or any(state.get(k) != v for k, v in wanted.items())
            or not (folder / str(state.get("dir", "index"))).exists()
        ):
            previous = None if state is None else folder / str(state.get("dir", "index"))
            index, items = self._fresh_index(folder, group_arn, index_name, info, wanted)
            state = {**wanted, "items": items, "dir": index.path.name}
            if previous is not None and previous != index.path:
                shutil.rmtree(previous, ignore_errors=True)  # open readers keep their (mapped) files
        elif index is None:
            index = ItemIndex.open(folder / str(state.get("dir", "index")))
        if int(state.get("items", 0)) < last_item:
            index.upsert(self._logged_rows(group_arn, int(state.get("items", 0))))
        new_state = {**state, "items": max(last_item, int(state.get("items", 0)))}
        if new_state != self._states.get(group_arn):
            state_file.write_text(json.dumps(new_state))
        self._states[group_arn] = new_state
        self._indexes[group_arn] = index
        return index

    def _bulk_identity(self, info: DatasetInfo) -> Any:
        """What names the Items data an index was built from: with object storage the version in the
        bulk file's name (the same in every replica), else the local file's time."""
        if self.ctx.settings.storage:
            return info.bulk_path.name
        return info.bulk_path.stat().st_mtime_ns if info.bulk_path.exists() else 0

    def _snapshot_key(self, group_arn: str, index_name: str, wanted: Mapping[str, Any]) -> str | None:
        """The storage key of the snapshot of this index at ``wanted`` (None with the local data folder:
        every process reads the one index there)."""
        if not self.ctx.settings.storage:
            return None
        digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:20]
        return f"{self._snapshots_prefix(group_arn, index_name)}/{digest}"

    def _snapshots_prefix(self, group_arn: str, index_name: str) -> str:
        return self.ctx.search_key(group_arn, index_name)

    def _fresh_index(
        self, folder: Path, group_arn: str, index_name: str, info: DatasetInfo, wanted: Mapping[str, Any]
    ) -> tuple[ItemIndex, int]:
        """A new index of the group's items in a new folder under ``folder``, and the event seq up to which
        it holds PutItems rows: the stored snapshot when there is one, else built (and then stored)."""
        target = folder / f"index-{uuid.uuid4().hex[:12]}"
        key = self._snapshot_key(group_arn, index_name, wanted)
        if key is not None:
            restored = self._restore_snapshot(key, target)
            if restored is not None:
                self.snapshots_restored += 1
                return restored
        last_item = self.ctx.store.last_event_seq(group_arn, "item")  # before the rows: nothing is missed
        index = ItemIndex.create(target, index_fields(info))
        rows = self._bulk_rows(info) + self._logged_rows(group_arn, 0)
        table = pa.Table.from_pylist(rows, schema=info.schema.arrow_schema()) if rows else None
        index.replace_all(table if table is not None else info.schema.arrow_schema().empty_table())
        self.indexes_built += 1
        if key is not None:
            self._store_snapshot(key, target, last_item, group_arn, index_name)
        return index, last_item

    def _restore_snapshot(self, key: str, target: Path) -> tuple[ItemIndex, int] | None:
        try:
            snapshot = self.ctx.storage.fetch_tree(key)
            if snapshot is None:
                return None
            items = int(json.loads((snapshot / SNAPSHOT_FILE).read_text())["items"])
            shutil.copytree(snapshot / "index", target)  # upserts change this copy, not the cached snapshot
            return ItemIndex.open(target), items
        except (OSError, ValueError, KeyError, TypeError, ItemIndexError) as exc:
            log.warning("search snapshot %s unusable (%s); building the index instead", key, exc)
            shutil.rmtree(target, ignore_errors=True)
            return None

    def _store_snapshot(self, key: str, built: Path, items: int, group_arn: str, index_name: str) -> None:
        """Upload the index just built (no writer holds it) as the snapshot at ``key``; older ones go."""
        staging = self.ctx.storage.path(key)
        try:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(built, staging / "index", ignore=shutil.ignore_patterns(".tantivy-*.lock"))
            (staging / SNAPSHOT_FILE).write_text(json.dumps({"items": items}))
            self.ctx.storage.publish_tree(key)
            self.ctx.storage.prune_trees(
                self._snapshots_prefix(group_arn, index_name), keep={key.rsplit("/", 1)[1]}
            )
        except Exception as exc:  # a replica that cannot store a snapshot still serves its own index
            log.warning("could not store search snapshot %s: %s", key, exc)

    @staticmethod
    def _bulk_rows(info: DatasetInfo) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        return pq.read_table(info.bulk_path, memory_map=True).to_pylist() if info.bulk_path.exists() else []

    def _logged_rows(self, group_arn: str, after_seq: int) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for event in self.ctx.store.events_of_kind(group_arn, "item", after_seq):
            latest[str(event["item_id"])] = (
                json.loads(event["body"]) if event["body"] else {"ITEM_ID": event["item_id"]}
            )
        return list(latest.values())

    # -- pipelines ----------------------------------------------------------------------------------
    def _pipeline_arn(self, pipeline_id: str) -> str:
        return self.ctx.arn(PIPELINE_KIND, pipeline_id)

    def put_pipeline(self, pipeline_id: str, body: Any) -> dict[str, Any]:
        parse_pipeline(pipeline_id, body)  # validates; raises SearchRequestError
        arn = self._pipeline_arn(pipeline_id)
        record = {"pipeline_id": pipeline_id, "body": body, "creation_date_time": self.ctx.now()}
        with self.ctx.store.write() as conn:
            self.ctx.store.delete(arn, conn=conn)
            self.ctx.store.insert(PIPELINE_KIND, arn, record, conn=conn)
        return {"acknowledged": True}

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        record = self.ctx.store.get(self._pipeline_arn(pipeline_id), PIPELINE_KIND)
        if record is None:
            raise SearchRequestError(
                "resource_not_found_exception", f"Search pipeline [{pipeline_id}] not found", status=404
            )
        return {pipeline_id: record["body"]}

    def get_pipelines(self, pattern: str | None = None) -> dict[str, Any]:
        """``GET /_search/pipeline[/{ids}]``: every pipeline, or those named by a comma-separated list of
        IDs and ``*`` wildcards (as OpenSearch answers: 404 only when a plain ID matches nothing)."""
        stored = {r["pipeline_id"]: r["body"] for r in self.ctx.store.list(PIPELINE_KIND)}
        if pattern in (None, "", "*", "_all"):
            return dict(sorted(stored.items()))
        found: dict[str, Any] = {}
        for part in str(pattern).split(","):
            if "*" in part:
                found |= {k: v for k, v in stored.items() if fnmatch.fnmatchcase(k, part)}
            elif part in stored:
                found[part] = stored[part]
        if not found:
            raise SearchRequestError(
                "resource_not_found_exception", f"Search pipeline [{pattern}] not found", status=404
            )
        return dict(sorted(found.items()))

    def delete_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        self.get_pipeline(pipeline_id)
        self.ctx.store.delete(self._pipeline_arn(pipeline_id))
        return {"acknowledged": True}

    def _stored_pipeline(self, pipeline_id: str) -> SearchPipeline:
        return parse_pipeline(pipeline_id, self.get_pipeline(pipeline_id)[pipeline_id])

    def put_settings(self, index_name: str, body: Any) -> dict[str, Any]:
        self.index(index_name)
        if not isinstance(body, Mapping):
            raise SearchRequestError("illegal_argument_exception", "the settings body must be an object")
        flat = _flat_settings(body)  # {"index": {"search": {"default_pipeline": …}}} and dotted forms
        unknown = sorted(set(flat) - {DEFAULT_PIPELINE_SETTING})
        if unknown:
            raise SearchRequestError("illegal_argument_exception", f"unknown setting [{unknown[0]}]")
        pipeline = flat.get(DEFAULT_PIPELINE_SETTING)
        if pipeline not in (None, "_none"):
            self._stored_pipeline(str(pipeline))
        arn = self.ctx.arn(SETTINGS_KIND, index_name)
        with self.ctx.store.write() as conn:
            self.ctx.store.delete(arn, conn=conn)
            self.ctx.store.insert(SETTINGS_KIND, arn, {"default_pipeline": pipeline}, conn=conn)
        return {"acknowledged": True}

    def get_settings(self, index_name: str, flat: bool = False) -> dict[str, Any]:
        """``GET /{index}/_settings`` in OpenSearch's shape (nested unless ``flat_settings``)."""
        self.index(index_name)
        values = {
            "index.provided_name": index_name,
            "index.number_of_shards": "1",
            "index.number_of_replicas": "0",
        }
        pipeline = self._default_pipeline(index_name)
        if pipeline is not None:
            values[DEFAULT_PIPELINE_SETTING] = pipeline
        if flat:
            return {index_name: {"settings": dict(sorted(values.items()))}}
        nested: dict[str, Any] = {}
        for key, value in sorted(values.items()):
            *parents, leaf = key.split(".")
            node = nested
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return {index_name: {"settings": nested}}

    def _default_pipeline(self, index_name: str) -> str | None:
        record = self.ctx.store.get(self.ctx.arn(SETTINGS_KIND, index_name), SETTINGS_KIND)
        value = (record or {}).get("default_pipeline")
        return None if value in (None, "_none") else str(value)

    # -- search -------------------------------------------------------------------------------------
    def ranker_for(self, campaign_arn: str) -> Any:
        def rank(user_id: str, item_ids: list[str], context: dict[str, str]) -> list[str]:
            answer = self.recommender.get_personalized_ranking(
                campaign_arn=campaign_arn, input_list=item_ids, user_id=user_id, context=context or None
            )
            return [entry["item_id"] for entry in answer["personalized_ranking"]]

        return rank

    def search(self, index_name: str, body: Any, pipeline_param: str | None = None) -> dict[str, Any]:
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise SearchRequestError("parsing_exception", "request body must be an object")
        body = dict(body)
        ad_hoc = body.pop("search_pipeline", None)
        index = self.index(index_name)
        if ad_hoc is not None and pipeline_param:
            raise SearchRequestError(
                "illegal_argument_exception", "give a search_pipeline in the body or as a parameter, not both"
            )
        if ad_hoc is not None:
            pipeline: SearchPipeline | None = parse_pipeline("_ad_hoc_pipeline", ad_hoc, ad_hoc=True)
        else:
            name = pipeline_param or self._default_pipeline(index_name)
            pipeline = None if name in (None, "_none") else self._stored_pipeline(str(name))
        parameters = request_parameters_from_body(body)
        response = search(index, body, index_name=index_name)
        if pipeline is None:
            return response
        for processor in pipeline.response_processors:
            try:
                response = apply_pipeline(
                    response,
                    processor,
                    self.ranker_for(processor.campaign_arn),
                    parameters.user_id if parameters else None,
                    parameters.context if parameters else None,
                    pipeline_id=pipeline.pipeline_id,
                )
            except SearchPipelineProcessingError:
                raise
            except PersonalizeError as exc:  # pragma: no cover - apply_pipeline wraps ranker errors
                raise SearchRequestError("illegal_argument_exception", exc.message) from exc
        return response
