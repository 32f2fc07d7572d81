"""What every control-plane operation receives: settings, the store and where files live."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pertinent import arns
from pertinent.caller import Caller, current_caller
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

    def caller(self) -> Caller:
        """Who the current request acts for: the verified caller, or the server's own account and region."""
        return current_caller() or Caller(self.settings.account_id, self.settings.region)

    def arn(self, kind: str, *path: str) -> str:
        """An ARN in the caller's account and region (see :mod:`pertinent.caller`)."""
        caller = self.caller()
        return arns.build(caller.region, caller.account_id, kind, *path)

    # -- where files live ---------------------------------------------------------------------------
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

    def dataset_dir(self, dataset_arn: str) -> Path:
        """``…:dataset/{group}/{TYPE}`` → ``<account_dir>/datasets/{group}/{TYPE}``."""
        return self.account_dir(dataset_arn) / "datasets" / arns.parse(dataset_arn).path

    def erasure_marker(self, dataset_group_arn: str) -> Path:
        """A file a data deletion job touches when it erased users: per-user caches key on its time."""
        return self.settings.data_dir / "datasets" / arns.parse(dataset_group_arn).path / "erasures.stamp"

    def artifact_dir(self, model_arn: str) -> Path:
        """``…:solution/{name}/{id}`` → ``<account_dir>/artifacts/{name}/{id}``; the models of other kinds
        (``…:recommender/{name}/{id}``) → ``<account_dir>/artifacts/{kind}/{name}/{id}``."""
        parsed = arns.parse(model_arn)
        base = self.account_dir(model_arn) / "artifacts"
        return base / parsed.path if parsed.kind == "solution" else base / parsed.kind / parsed.path
