"""What every control-plane operation receives: settings, the store and where files live."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pertinent import arns
from pertinent.caller import Caller, current_caller
from pertinent.config import Settings
from pertinent.datasets.locations import LocationPolicy
from pertinent.resources.served_lists import ServedLists
from pertinent.store import MetadataStore
from pertinent.store.objects import Storage, open_storage
from pertinent.telemetry import Telemetry

#: the file name of a dataset's imported (bulk) data under its key
BULK_FILE = "bulk.parquet"
TRAINING_ENGINES = ("local", "spark")


@dataclass
class Context:
    settings: Settings
    store: MetadataStore
    clock: Callable[[], float] = field(default=time.time)
    #: the app's metrics registry and log lines (GET /metrics)
    telemetry: Telemetry = field(default_factory=Telemetry)
    storage: Storage = field(default=None)  # type: ignore[assignment]  # from settings when not given
    #: what recent recommendations showed, by recommendationId (implicit impressions in PutEvents)
    served: ServedLists = field(default_factory=ServedLists)

    def __post_init__(self) -> None:
        if self.settings.training_engine not in TRAINING_ENGINES:
            raise ValueError(
                f"training_engine must be one of {TRAINING_ENGINES}, not {self.settings.training_engine!r}"
            )
        if self.storage is None:
            self.storage = open_storage(
                self.settings.storage,
                self.settings.data_dir,
                self.settings.s3_endpoint_url,
                self.settings.cache_max_mb * 2**20,
            )

    def now(self) -> float:
        return round(self.clock(), 3)

    def caller(self) -> Caller:
        """Who the current request acts for: the verified caller, or the server's own account and region."""
        return current_caller() or Caller(self.settings.account_id, self.settings.region)

    def arn(self, kind: str, *path: str) -> str:
        """An ARN in the caller's account and region (see :mod:`pertinent.caller`)."""
        caller = self.caller()
        return arns.build(caller.region, caller.account_id, kind, *path)

    # -- where files live (keys in the storage; local paths are the data folder or its cache) ----------
    def account_dir(self, arn: str) -> Path:
        """The folder of ``arn``'s account and region: the data dir itself for the server's own account
        (the layout of a single-account server), ``<data_dir>/accounts/{account}/{region}`` for others, so
        two accounts' same-named resources never share files."""
        parsed = arns.parse(arn)
        if (parsed.account, parsed.region) == (self.settings.account_id, self.settings.region):
            return self.settings.data_dir
        return self.settings.data_dir / "accounts" / parsed.account / parsed.region

    def uploads_dir(self) -> Path:
        """Where the console keeps the current caller's uploaded CSV files (importable by that account only)."""
        return self.account_dir(self.arn("dataset-group", "uploads")) / "uploads"

    def location_policy(self, reading: bool = False) -> LocationPolicy:
        """Where the current caller's jobs may read (``reading``: its console uploads too) or write."""
        if reading:
            return LocationPolicy.of(self.settings, self.uploads_dir())
        return LocationPolicy.of(self.settings)

    def _account_key(self, arn: str) -> str:
        """The storage key prefix of ``arn``'s account (empty for the server's own, as ``account_dir``)."""
        parsed = arns.parse(arn)
        if (parsed.account, parsed.region) == (self.settings.account_id, self.settings.region):
            return ""
        return f"accounts/{parsed.account}/{parsed.region}/"

    def dataset_key(self, dataset_arn: str) -> str:
        """``…:dataset/{group}/{TYPE}`` → ``[accounts/{account}/{region}/]datasets/{group}/{TYPE}``."""
        return f"{self._account_key(dataset_arn)}datasets/{arns.parse(dataset_arn).path}"

    def artifact_key(self, model_arn: str) -> str:
        """``…:solution/{name}/{id}`` → ``[account prefix]artifacts/{name}/{id}``; the models of other
        kinds (``…:recommender/{name}/{id}``) → ``[account prefix]artifacts/{kind}/{name}/{id}``."""
        parsed = arns.parse(model_arn)
        path = parsed.path if parsed.kind == "solution" else f"{parsed.kind}/{parsed.path}"
        return f"{self._account_key(model_arn)}artifacts/{path}"

    def search_key(self, dataset_group_arn: str, index_name: str) -> str:
        """``[account prefix]search/{index}``: where the group's search-index snapshots are stored."""
        return f"{self._account_key(dataset_group_arn)}search/{index_name}"

    def dataset_dir(self, dataset_arn: str) -> Path:
        """The dataset's local folder (``<data_dir>/datasets/{group}/{TYPE}`` with local storage)."""
        return self.storage.path(self.dataset_key(dataset_arn))

    def bulk_file(self, dataset: dict[str, Any]) -> Path:
        """The local file of the dataset's current bulk Parquet (fetched from the storage once per version);
        a path that does not exist when nothing was imported."""
        key = f"{self.dataset_key(dataset['dataset_arn'])}/{BULK_FILE}"
        version = str(dataset.get("bulk_version") or "")
        if not version and self.settings.storage:
            return self.storage.path(key, "none")  # never imported: nothing to download
        return self.storage.fetch(key, version) or self.storage.path(key, version)

    def republish_bulk(self, dataset: dict[str, Any], edited: Path) -> None:
        """After ``edited`` (the local file of the current bulk version) was rewritten in place: with object
        storage store it as a new version and point the dataset at it (a no-op with the data folder)."""
        if not self.settings.storage:
            return
        key = f"{self.dataset_key(dataset['dataset_arn'])}/{BULK_FILE}"
        version = uuid.uuid4().hex[:12]
        os.replace(edited, self.storage.path(key, version))
        self.storage.publish(key, version)
        self.store.update(dataset["dataset_arn"], {"bulk_version": version})
        self.storage.prune(key, keep={version})  # the erased rows must not survive in an older version

    def record_erasure(self, dataset_group_arn: str) -> None:
        """After a data deletion job erased users: count it on the dataset group's record, in the database,
        so every process and replica drops its per-user caches and fetches the rewritten model data."""
        self.store.update(
            dataset_group_arn, lambda group: {**group, "erasures": int(group.get("erasures") or 0) + 1}
        )

    @staticmethod
    def artifact_revision(dataset_group: dict[str, Any] | None) -> str:
        """The revision of a group's trained artifacts: it moves when a data deletion job rewrote their
        per-user data ("" before any erasure, as artifacts are first published)."""
        erasures = int((dataset_group or {}).get("erasures") or 0)
        return f"erasure-{erasures}" if erasures else ""

    def uploads_key(self) -> str:
        """With object storage: the key prefix of the current caller's console uploads."""
        return f"{self._account_key(self.arn('dataset-group', 'uploads'))}uploads"

    def artifact_dir(self, model_arn: str) -> Path:
        """Where a training writes the model's artifact (``<data_dir>/artifacts/…`` locally)."""
        return self.storage.path(self.artifact_key(model_arn))

    def trained_artifact(self, model_arn: str, revision: str = "") -> Path:
        """The local folder of a trained model's artifact at ``revision`` (:meth:`artifact_revision`),
        downloaded from the storage if this process has none or an older one."""
        key = self.artifact_key(model_arn)
        return self.storage.fetch_tree(key, revision) or self.storage.path(key)

    def republish_artifact_file(self, model_arn: str, name: str) -> None:
        """Store ``name`` of a trained artifact again after it was rewritten in place (data deletion)."""
        self.storage.publish(f"{self.artifact_key(model_arn)}/{name}")
