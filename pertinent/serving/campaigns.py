"""Campaigns in memory: each ACTIVE campaign's trained model, swapped atomically when it changes.

A request first refreshes the process's cached reads (:class:`~pertinent.store.cached_reads.CachedReads`:
one probe of the store), then takes its campaign record from memory and uses the model of the version it
names. When UpdateCampaign points the campaign at another version, the change is seen by the next request
of every process; the first one to notice loads the new model *beside* the old one and then replaces the
reference; requests already running keep the object they hold, so none fails during the swap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pertinent import arns
from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, ResourceNotFoundException
from pertinent.recipes.catalog import ALL_RECIPES
from pertinent.recipes.use_cases import use_case_of
from pertinent.resources.status import ACTIVE
from pertinent.serving.inline import about_to_block
from pertinent.serving.shared_models import share
from pertinent.store.cached_reads import CachedReads
from pertinent.training.pipeline import TrainedModel, load_trained_model


@dataclass(frozen=True)
class LoadedCampaign:
    campaign: dict[str, Any]
    version_arn: str
    model: TrainedModel
    recipe_name: str
    recipe_type: str
    dataset_group_arn: str
    event_watermark: int  # event-log seq already folded into the model's training data
    use_case: str | None = None  # a recommender's domain recipe (aws-vod-top-picks …); None for campaigns

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.campaign.get("campaign_config") or {})


class CampaignCache:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reads = CachedReads(ctx.store)
        self._models: dict[str, tuple[TrainedModel, dict[str, Any], int]] = {}
        self._checked: dict[str, int] = {}  # model ARN → resources version its artifact time was seen at
        self._hits = ctx.telemetry.model_cache.labels("hit")
        self._lock = threading.Lock()

    def _stamp(self, model_arn: str, revision: str) -> int:
        """The artifact's data file time: a data deletion job rewrites it (erased users' histories
        go) and moves the group's artifact revision (in the database), so every process and replica
        fetches the rewritten file and reloads the model on its next request."""
        try:
            return (self.ctx.trained_artifact(model_arn, revision) / "data.npz").stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def _revision(self, model_arn: str, record: dict[str, Any] | None) -> str:
        """The artifact revision of the model's dataset group (from memory until a resource changes)."""
        if record is None:
            record = self.reads.get(model_arn, "solution-version")
        group = (record or {}).get("dataset_group_arn")
        return self.ctx.artifact_revision(self.reads.get(group, "dataset-group") if group else None)

    def _cached(self, model_arn: str, record: dict[str, Any] | None) -> tuple[TrainedModel, dict[str, Any]]:
        """The model at ``model_arn`` (loaded once per process, again after its artifact changes).

        The artifact is looked at again only when a resource changed since the last look: a data
        deletion job rewrites ``data.npz`` and moves the group's artifact revision (a resource change)."""
        cached = self._models.get(model_arn)
        version = self.reads.version
        if cached is not None and version >= 0 and self._checked.get(model_arn) == version:
            self._hits.inc()
            return cached[0], cached[1]
        if self.ctx.settings.storage:  # with object storage the look may download the artifact
            about_to_block()
        revision = self._revision(model_arn, record)
        stamp = self._stamp(model_arn, revision)
        if cached is not None and cached[2] == stamp:
            self._checked[model_arn] = version
            self._hits.inc()
            return cached[0], cached[1]
        about_to_block()  # a model load: not on the event loop
        self.ctx.telemetry.model_cache.labels("miss").inc()
        if record is None:
            record = self.reads.get(model_arn, "solution-version")
            if record is None or record.get("status") != ACTIVE:
                raise ResourceNotFoundException(f"Solution version {model_arn} is not ACTIVE.")
            if record.get("recipe_arn") == arns.recipe_arn("aws-next-best-action"):
                raise InvalidInputException(
                    f"Solution version {model_arn} is a Next-Best-Action model; call GetActionRecommendations."
                )
        with self._lock:
            cached = self._models.get(model_arn)
            if cached is None or cached[2] != stamp:
                folder = self.ctx.trained_artifact(model_arn, revision)
                model = share(load_trained_model(folder), folder, self.ctx.settings.ann_min_items)
                self.ctx.storage.hold(folder, model)  # the cache keeps what a loaded model maps
                cached = (model, record, stamp)
                self._models[model_arn] = cached
                self._checked[model_arn] = version
                self.ctx.telemetry.models_loaded.set(len(self._models))
        return cached[0], cached[1]

    def model(self, version_arn: str) -> tuple[TrainedModel, dict[str, Any]]:
        """The trained model of a solution version (loaded once per process)."""
        return self._cached(version_arn, None)

    def get(self, campaign_arn: str) -> LoadedCampaign:
        """The campaign as of now (this refreshes the cached reads: call it once per request, first)."""
        self.reads.refresh()
        campaign = self.reads.get(campaign_arn, "campaign")
        if campaign is None:
            raise ResourceNotFoundException(f"Could not find campaign with ARN {campaign_arn}.")
        if campaign.get("status") != ACTIVE:
            raise ResourceNotFoundException(
                f"Campaign {campaign_arn} is {campaign.get('status')}; it can serve once it is ACTIVE."
            )
        return self.for_version(campaign["resolved_solution_version_arn"], campaign)

    def for_version(self, version_arn: str, campaign: dict[str, Any] | None = None) -> LoadedCampaign:
        """A solution version's model served as if by a campaign with ``campaign``'s ``campaign_config``
        (batch jobs run over a version directly, with their own ``batchInferenceJobConfig``)."""
        if campaign is None:  # a batch job starting: see the store as of now
            self.reads.refresh()
        model, version = self.model(version_arn)
        self.ctx.telemetry.served.labels(version_arn).inc()
        recipe_name = arns.parse(version["recipe_arn"]).path
        recipe = ALL_RECIPES[version["recipe_arn"]]
        return LoadedCampaign(
            campaign or {"campaign_arn": version_arn},
            version_arn,
            model,
            recipe_name,
            recipe.recipe_type,
            version["dataset_group_arn"],
            int(version.get("event_watermark") or 0),
        )

    def get_recommender(self, recommender_arn: str) -> LoadedCampaign:
        """An ACTIVE recommender's model, served like a campaign of its base recipe (this refreshes the
        cached reads, as :meth:`get` does)."""
        self.reads.refresh()
        recommender = self.reads.get(recommender_arn, "recommender")
        if recommender is None:
            raise ResourceNotFoundException(f"Could not find recommender with ARN {recommender_arn}.")
        if recommender.get("status") != ACTIVE:
            raise InvalidInputException(
                f"Recommender {recommender_arn} is {recommender.get('status')}; it serves requests only when "
                "ACTIVE"
                + (" (StartRecommender starts it)." if recommender.get("status") == "INACTIVE" else ".")
            )
        model_arn = recommender["model_arn"]
        cached = self._cached(model_arn, recommender)
        self.ctx.telemetry.served.labels(model_arn).inc()
        use_case = use_case_of(recommender["recipe_arn"])
        base = ALL_RECIPES[arns.recipe_arn(use_case.base_recipe)]
        config = dict(recommender.get("recommender_config") or {})
        return LoadedCampaign(
            {**recommender, "campaign_arn": recommender_arn, "campaign_config": config},
            model_arn,
            cached[0],
            use_case.base_recipe,
            base.recipe_type,
            recommender["dataset_group_arn"],
            int(recommender.get("event_watermark") or 0),
            use_case=arns.parse(recommender["recipe_arn"]).path,
        )

    def forget(self, version_arn: str) -> None:
        with self._lock:
            self._models.pop(version_arn, None)
            self._checked.pop(version_arn, None)
            self.ctx.telemetry.models_loaded.set(len(self._models))
