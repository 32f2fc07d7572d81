"""GetActionRecommendations: a next-best-action campaign's propensities for one user, live.

The user's history is the training history plus every PutActionInteractions event logged since training;
the catalog is the trained actions plus every PutActions record (a new action, or new metadata such as an
EXPIRATION_TIMESTAMP, counts at once). Expired actions and actions the user took within their
REPEAT_FREQUENCY days are never returned; ActionID filters apply; scores are propensities in [0, 1].
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from pertinent import arns
from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, ResourceNotFoundException
from pertinent.filters.evaluate import FilterContext, ItemTable
from pertinent.filters.values import parse_filter_values
from pertinent.recipes.next_best_action import (
    NAME,
    ActionCatalog,
    ActionEvent,
    eligible_actions,
    normalize_event_type,
    rank_actions,
)
from pertinent.resources.recommendation_ids import new_recommendation_id
from pertinent.resources.status import ACTIVE
from pertinent.serving.recommend import Recommender
from pertinent.training.actions import ActionModel, load_action_model

DEFAULT_ACTIONS = 5
MAX_ACTIONS = 100
Record = dict[str, Any]


class ActionRecommender:
    def __init__(self, ctx: Context, recommender: Recommender) -> None:
        self.ctx = ctx
        self.recommender = recommender  # for compiled filters
        self._models: dict[tuple[str, str], ActionModel] = {}
        self._catalogs: dict[tuple[str, str], tuple[int, ActionCatalog, ItemTable]] = {}
        self._lock = threading.Lock()

    def _campaign(self, campaign_arn: str) -> tuple[Record, Record, ActionModel]:
        campaign = self.ctx.store.get(campaign_arn, "campaign")
        if campaign is None:
            raise ResourceNotFoundException(f"Could not find campaign with ARN {campaign_arn}.")
        if campaign.get("status") != ACTIVE:
            raise ResourceNotFoundException(
                f"Campaign {campaign_arn} is {campaign.get('status')}, not ACTIVE."
            )
        version_arn = campaign["resolved_solution_version_arn"]
        version = self.ctx.store.get(version_arn, "solution-version")
        if version is None:
            raise ResourceNotFoundException(f"Solution version {version_arn} no longer exists.")
        if arns.parse(version["recipe_arn"]).path != NAME:
            raise InvalidInputException(
                f"Campaign {campaign_arn} uses {arns.parse(version['recipe_arn']).path}; GetActionRecommendations "
                "needs an aws-next-best-action campaign."
            )
        # keyed on the group's artifact revision: a data deletion job rewrites the users' histories and
        # features in the artifact and moves it, so every process reloads the model on its next request
        revision = self.ctx.artifact_revision(
            self.ctx.store.get(version["dataset_group_arn"], "dataset-group")
        )
        key = (version_arn, revision)
        model = self._models.get(key)
        if model is None:
            with self._lock:
                model = self._models.get(key)
                if model is None:
                    folder = self.ctx.trained_artifact(version_arn, revision)
                    model = load_action_model(folder)
                    self._models = {k: m for k, m in self._models.items() if k[0] != version_arn}
                    self._models[key] = model
                    self.ctx.storage.hold(folder, model)
        return campaign, version, model

    def catalog(self, group: str, version_arn: str, model: ActionModel) -> tuple[ActionCatalog, ItemTable]:
        """Trained actions plus PutActions records (rebuilt when a new one is logged)."""
        seq = self.ctx.store.last_event_seq(group, "action")
        cached = self._catalogs.get((group, version_arn))
        if cached is not None and cached[0] == seq:
            return cached[1], cached[2]
        base = model.catalog
        rows = {a: dict(r) for a, r in zip(base.action_ids, base.rows, strict=True)}
        ids = list(base.action_ids)
        for event in self.ctx.store.events_of_kind(group, "action"):
            action = str(event["item_id"])
            body = json.loads(event["body"]) if event["body"] else {"ACTION_ID": action}
            if action not in rows:
                ids.append(action)
            rows[action] = body
        catalog = ActionCatalog(ids, [rows[a] for a in ids], base.categorical, base.numeric, base.vocab)
        numeric = [c for c in {k for r in catalog.rows for k in r} if _is_numeric(catalog.rows, c)]
        table = ItemTable.from_rows(ids, catalog.rows, numeric_fields=numeric)
        with self._lock:
            self._catalogs[(group, version_arn)] = (seq, catalog, table)
        return catalog, table

    def history(
        self, group: str, version: Record, model: ActionModel, catalog: ActionCatalog, user_id: str
    ) -> tuple[list[ActionEvent], list[dict[str, Any]]]:
        index = catalog.index
        trained = list(model.histories.get(user_id, []))
        logged = self.ctx.store.user_events(
            group, user_id, after_seq=int(version.get("event_watermark") or 0), kind="action_interaction"
        )
        for event in logged:
            kind = normalize_event_type(str(event["event_type"] or ""))
            if kind and event["item_id"] in index:
                trained.append(ActionEvent(float(event["timestamp"]), index[event["item_id"]], kind))
        trained.sort(key=lambda e: e.timestamp)
        return trained, logged

    def get_action_recommendations(
        self,
        campaign_arn: str | None = None,
        user_id: str | None = None,
        num_results: int | None = None,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
    ) -> Record:
        if not campaign_arn:
            raise InvalidInputException("campaignArn is required.")
        if not user_id:
            raise InvalidInputException("userId is required for GetActionRecommendations.")
        n = num_results or DEFAULT_ACTIONS
        if not 1 <= n <= MAX_ACTIONS:
            raise InvalidInputException(f"numResults must be between 1 and {MAX_ACTIONS}, not {num_results}.")
        campaign, version, model = self._campaign(campaign_arn)
        group = version["dataset_group_arn"]
        catalog, table = self.catalog(group, version["solution_version_arn"], model)
        history, _ = self.history(group, version, model, catalog, user_id)
        now = self.ctx.now()
        features = catalog.features()
        scores = model.model.propensities(
            history, now, model.users.of(user_id), model.item_activity.get(user_id, 0.0), features
        )
        allowed = eligible_actions(catalog, history, now)
        if filter_arn:
            allowed &= self._filter_mask(filter_arn, filter_values, group, table, history, user_id, model)
        elif filter_values:
            raise InvalidInputException("filterValues were given without a filterArn.")
        ranked = rank_actions(scores, catalog.column("VALUE"), allowed, n)
        return {
            "action_list": [
                {"action_id": catalog.action_ids[i], "score": round(float(scores[i]), 7)} for i in ranked
            ],
            "recommendation_id": new_recommendation_id(campaign["campaign_arn"]),
        }

    def _filter_mask(
        self,
        filter_arn: str,
        filter_values: Mapping[str, str] | None,
        group: str,
        table: ItemTable,
        history: list[ActionEvent],
        user_id: str,
        model: ActionModel,
    ) -> npt.NDArray[np.bool_]:
        compiled = self.recommender.compiled_filter(filter_arn, group)
        if compiled.chain.target.value != "ActionID":
            raise InvalidInputException(
                f"Filter {filter_arn} filters {compiled.chain.target.value}; GetActionRecommendations takes "
                "ActionID filters."
            )
        by_type: dict[str, list[int]] = {}
        names = {"TAKEN": "taken", "NOT_TAKEN": "not taken", "VIEWED": "viewed"}
        for event in reversed(history):
            by_type.setdefault(names[event.kind], []).append(event.action)
            by_type.setdefault(event.kind.lower(), []).append(event.action)
        context = FilterContext(
            items=table,
            user_interactions={k: np.asarray(v, dtype=np.int64) for k, v in by_type.items()},
            current_user=model.users.rows.get(user_id),
            values=parse_filter_values(filter_values, compiled.chain),
        )
        return np.asarray(compiled(context), dtype=bool)


def _is_numeric(rows: list[dict[str, Any]], column: str) -> bool:
    values = [r.get(column) for r in rows if r.get(column) is not None]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
