"""What every control-plane operation receives: settings, the store and where files live."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pertinent import arns
from pertinent.config import Settings
from pertinent.store import MetadataStore
from pertinent.telemetry import Telemetry


@dataclass
class Context:
    settings: Settings
    store: MetadataStore
    clock: Callable[[], float] = field(default=time.time)
    #: the app's metrics registry and log lines (GET /metrics)
    telemetry: Telemetry = field(default_factory=Telemetry)

    def now(self) -> float:
        return round(self.clock(), 3)

    def arn(self, kind: str, *path: str) -> str:
        return arns.build(self.settings.region, self.settings.account_id, kind, *path)

    # -- where files live ---------------------------------------------------------------------------
    def dataset_dir(self, dataset_arn: str) -> Path:
        """``…:dataset/{group}/{TYPE}`` → ``<data_dir>/datasets/{group}/{TYPE}``."""
        return self.settings.data_dir / "datasets" / arns.parse(dataset_arn).path

    def erasure_marker(self, dataset_group_arn: str) -> Path:
        """A file a data deletion job touches when it erased users: per-user caches key on its time."""
        return self.settings.data_dir / "datasets" / arns.parse(dataset_group_arn).path / "erasures.stamp"

    def artifact_dir(self, model_arn: str) -> Path:
        """``…:solution/{name}/{id}`` → ``<data_dir>/artifacts/{name}/{id}``; the models of other kinds
        (``…:recommender/{name}/{id}``) → ``<data_dir>/artifacts/{kind}/{name}/{id}``."""
        parsed = arns.parse(model_arn)
        base = self.settings.data_dir / "artifacts"
        return base / parsed.path if parsed.kind == "solution" else base / parsed.kind / parsed.path
