"""GetRecommendations and GetPersonalizedRanking: model scores, the user's live history, filters,
exploration of new items, promotions and item metadata."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, ResourceNotFoundException
from pertinent.filters.evaluate import CompiledFilter, FilterContext, compile_filter
from pertinent.filters.parser import parse_filter
from pertinent.filters.values import parse_filter_values
from pertinent.recipes.use_cases import USE_CASES
from pertinent.recipes.v2.features import RequestState
from pertinent.recipes.v2.two_stage import TwoStageRecipe
from pertinent.resources.recommendation_ids import new_recommendation_id
from pertinent.serving.campaigns import CampaignCache, LoadedCampaign
from pertinent.serving.exploration import exploration_items
from pertinent.serving.group_data import Catalog, GroupDataCache
from pertinent.serving.v2_requests import check_context, request_state

DEFAULT_RESULTS = 25
MAX_RESULTS = 500
MAX_RESULTS_WITH_METADATA = 50
MAX_INPUT_LIST = 500
#: recipes whose answers carry no score in Personalize
SCORELESS = frozenset({"aws-popularity-count", "aws-trending-now", "aws-sims", "aws-similar-items"})
Record = dict[str, Any]


@dataclass(frozen=True)
class History:
    items: npt.NDArray[np.int64]  # model item indices, oldest first (training history, then new events)
    weights: npt.NDArray[np.float32]
    catalog_items: npt.NDArray[np.int64]  # the same in catalog indices, including items the model lacks
    logged: list[dict[str, Any]]  # every interaction the event log holds for the user, oldest first


class Recommender:
    """Serves one process's recommendation requests; all state is caches."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.campaigns = CampaignCache(ctx)
        self.reads = self.campaigns.reads  # refreshed by campaigns.get, first thing in every request
        self.data = GroupDataCache(ctx, self.reads)
        self._filters: dict[str, tuple[str, CompiledFilter]] = {}
        self._lock = threading.Lock()

    # -- pieces ---------------------------------------------------------------------------------------
    def history(
        self,
        loaded: LoadedCampaign,
        catalog: Catalog,
        user_id: str | None,
        logged: list[dict[str, Any]] | None = None,
    ) -> History:
        """Training history plus every interaction logged since training: the very next request sees an event.

        ``logged`` is the user's event-log interactions when the caller already read them (batch jobs read
        the whole group's log once); otherwise they are read here, once per request.
        """
        if not user_id:
            empty = np.zeros(0, dtype=np.int64)
            return History(empty, np.zeros(0, dtype=np.float32), empty, [])
        items, weights = loaded.model.user_history(user_id)
        if logged is None:  # cached until the user's next event
            logged = self.reads.user_events(loaded.dataset_group_arn, user_id)
        events = [e for e in logged if e["seq"] > loaded.event_watermark]  # the rest is in the model
        model_index = loaded.model.item_index
        new_model = [model_index[e["item_id"]] for e in events if e["item_id"] in model_index]
        new_catalog = [catalog.index[e["item_id"]] for e in events if e["item_id"] in catalog.index]
        all_items = np.concatenate([items.astype(np.int64), np.asarray(new_model, dtype=np.int64)])
        all_weights = np.concatenate([weights, np.ones(len(new_model), dtype=np.float32)])
        catalog_items = np.concatenate([items.astype(np.int64), np.asarray(new_catalog, dtype=np.int64)])
        return History(all_items, all_weights, catalog_items, logged)

    def compiled_filter(self, filter_arn: str, dataset_group_arn: str) -> CompiledFilter:
        record = self.reads.get(filter_arn, "filter")
        if record is None:
            raise ResourceNotFoundException(f"Could not find filter with ARN {filter_arn}.")
        if record.get("dataset_group_arn") != dataset_group_arn:
            raise InvalidInputException(
                f"Filter {filter_arn} belongs to another dataset group than the campaign."
            )
        if record.get("status") != "ACTIVE":
            raise InvalidInputException(f"Filter {filter_arn} is {record.get('status')}, not ACTIVE.")
        expression = record["filter_expression"]
        cached = self._filters.get(filter_arn)
        if cached is None or cached[0] != expression:
            cached = (expression, compile_filter(parse_filter(expression)))
            with self._lock:
                self._filters[filter_arn] = cached
        return cached[1]

    def filter_mask(
        self,
        loaded: LoadedCampaign,
        catalog: Catalog,
        filter_arn: str | None,
        filter_values: Mapping[str, str] | None,
        user_id: str | None,
        current_item: int | None,
        history: History,
    ) -> npt.NDArray[np.bool_]:
        """Boolean mask over the catalog: True where an item may be returned."""
        if not filter_arn:
            if filter_values:
                raise InvalidInputException("filterValues were given without a filterArn.")
            return catalog.everything_allowed()
        compiled = self.compiled_filter(filter_arn, loaded.dataset_group_arn)
        values = parse_filter_values(filter_values, compiled.chain)
        context = FilterContext(
            items=catalog.table,
            user_interactions=self.user_interactions(loaded, catalog, user_id, history.logged),
            current_user=self.data.users(loaded.dataset_group_arn).get(user_id) if user_id else None,
            current_item=current_item,
            values=values,
        )
        return np.asarray(compiled(context), dtype=bool)

    def user_interactions(
        self, loaded: LoadedCampaign, catalog: Catalog, user_id: str | None, logged: list[dict[str, Any]]
    ) -> dict[str, npt.NDArray[np.int64]]:
        """Lower-cased event type → catalog indices, most recent first (bulk data and logged events)."""
        if not user_id:
            return {}
        by_type: dict[str, list[int]] = {}
        for event in reversed(logged):
            index = catalog.index.get(event["item_id"])
            if index is not None:
                by_type.setdefault((event["event_type"] or "").lower(), []).append(index)
        items, types = self.data.user_interactions(loaded.dataset_group_arn).of(user_id)
        for item, event_type in zip(items.tolist(), types.tolist(), strict=True):
            index = catalog.index.get(item)
            if index is not None:
                by_type.setdefault(event_type, []).append(index)
        return {k: np.asarray(v, dtype=np.int64) for k, v in by_type.items()}

    # -- GetRecommendations ---------------------------------------------------------------------------
    def get_recommendations(
        self,
        campaign_arn: str | None = None,
        item_id: str | None = None,
        user_id: str | None = None,
        num_results: int | None = None,
        context: Mapping[str, str] | None = None,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
        recommender_arn: str | None = None,
        promotions: Sequence[Record] | None = None,
        metadata_columns: Mapping[str, Sequence[str]] | None = None,
    ) -> Record:
        if recommender_arn and campaign_arn:
            raise InvalidInputException("Specify either campaignArn or recommenderArn, not both.")
        if not campaign_arn and not recommender_arn:
            raise InvalidInputException("campaignArn or recommenderArn is required.")
        if recommender_arn:
            loaded = self.campaigns.get_recommender(recommender_arn)
            _check_use_case_inputs(loaded, user_id, item_id)
        else:
            loaded = self.campaigns.get(str(campaign_arn))
        campaign_arn = loaded.campaign["campaign_arn"]
        n = _num_results(num_results, bool(metadata_columns))
        if loaded.recipe_type == "PERSONALIZED_RANKING":
            raise InvalidInputException(
                f"Campaign {campaign_arn} uses {loaded.recipe_name}; call GetPersonalizedRanking instead."
            )
        return self.recommend_loaded(
            loaded,
            f"campaign {campaign_arn}",
            item_id=item_id,
            user_id=user_id,
            n=n,
            filter_arn=filter_arn,
            filter_values=filter_values,
            promotions=promotions,
            metadata_columns=metadata_columns,
            context=context,
        )

    def recommend_loaded(
        self,
        loaded: LoadedCampaign,
        label: str,
        *,
        item_id: str | None,
        user_id: str | None,
        n: int,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
        promotions: Sequence[Record] | None = None,
        metadata_columns: Mapping[str, Sequence[str]] | None = None,
        context: Mapping[str, str] | None = None,
    ) -> Record:
        """GetRecommendations over a loaded model (a campaign's, or a batch job's solution version)."""
        recipe = loaded.model.recipe
        catalog = self.data.catalog(loaded.dataset_group_arn, loaded.version_arn, loaded.model.item_ids)
        related = loaded.recipe_type == "RELATED_ITEMS"
        if related and not item_id:
            raise InvalidInputException(f"itemId is required for {label} ({loaded.recipe_name}).")
        if loaded.recipe_name.startswith("aws-user-personalization") and not user_id:
            raise InvalidInputException(f"userId is required for {label} ({loaded.recipe_name}).")
        history = self.history(loaded, catalog, user_id)
        current_item = catalog.index.get(item_id) if item_id else None
        mask = self.filter_mask(loaded, catalog, filter_arn, filter_values, user_id, current_item, history)
        if loaded.use_case is not None:
            mask = mask & self._use_case_mask(loaded, catalog, user_id, history)
        excluded = catalog.excluded(mask)

        promoted: list[tuple[int, float | None, str]] = []
        if promotions:
            promoted = self._promoted(loaded, catalog, promotions[0], n, user_id, current_item, history)
            excluded = np.union1d(excluded, [p[0] for p in promoted]).astype(np.int64)
        n_main = n - len(promoted)

        if related:
            model_item = loaded.model.item_index.get(str(item_id))
            if model_item is not None:
                ids, scores = recipe.similar_items(model_item, n_main, exclude=excluded)
            else:  # an item the model never saw: popular items, as Personalize does
                ids, scores = recipe.recommend(np.zeros(0, dtype=np.int64), n_main, exclude=excluded)
        elif isinstance(recipe, TwoStageRecipe):  # the v2 engine: live features, context, user metadata
            state = self._v2_state(loaded, recipe, user_id, history, context)
            ids, scores = recipe.recommend_state(state, n_main, excluded)
        else:
            results = self.user_results(loaded, catalog, [history], [mask], [excluded], n_main)[0]
            results = _interleave(results, [(i, s, name) for i, s, name in promoted], n)
            return self.answer(loaded, catalog, results, metadata_columns, "item_list")
        results = [(int(i), float(s), None) for i, s in zip(ids.tolist(), scores.tolist(), strict=True)]
        results = _interleave(results, [(i, s, name) for i, s, name in promoted], n)
        return self.answer(loaded, catalog, results, metadata_columns, "item_list")

    def user_results(
        self,
        loaded: LoadedCampaign,
        catalog: Catalog,
        histories: Sequence[History],
        masks: Sequence[npt.NDArray[np.bool_]],
        excluded: Sequence[npt.NDArray[np.int64]],
        n: int,
    ) -> list[list[tuple[int, float | None, str | None]]]:
        """Top ``n`` for many users' histories in one vectorized scoring call (GetRecommendations passes
        one user, a batch inference job a chunk), then exploration of new items per user."""
        recipe = loaded.model.recipe
        rows: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]
        if len(histories) == 1:  # one request: the recipe's single-user path (ANN retrieval where it has one)
            rows = [
                recipe.recommend(
                    histories[0].items, n, exclude=excluded[0], history_weights=histories[0].weights
                )
            ]
        else:
            ids, scores = recipe.recommend_batch(
                [h.items for h in histories],
                n,
                exclude=list(excluded),
                history_weights=[h.weights for h in histories],
            )
            rows = [(ids[r][ids[r] >= 0], scores[r][ids[r] >= 0]) for r in range(len(histories))]
        explore = loaded.recipe_name == "aws-user-personalization"  # v2 does not explore (AWS: promotions)
        out: list[list[tuple[int, float | None, str | None]]] = []
        for (row_ids, row_scores), history in zip(rows, histories, strict=True):
            results: list[tuple[int, float | None, str | None]] = [
                (int(i), float(s), None) for i, s in zip(row_ids.tolist(), row_scores.tolist(), strict=True)
            ]
            if explore:
                results = self._explore(loaded, catalog, results, masks[len(out)], history, n)
            out.append(results)
        return out

    def _use_case_mask(
        self, loaded: LoadedCampaign, catalog: Catalog, user_id: str | None, history: History
    ) -> npt.NDArray[np.bool_]:
        """A domain use case leaves out the items the user already has events of its type on (e.g. the
        videos a user watched, for Top picks), as AWS's use-case pages document."""
        mask = np.ones(len(catalog.item_ids), dtype=bool)
        use_case = USE_CASES[str(loaded.use_case)]
        if use_case.exclude_event_type and user_id:
            seen = self.user_interactions(loaded, catalog, user_id, history.logged)
            mask[seen.get(use_case.exclude_event_type.lower(), np.zeros(0, dtype=np.int64))] = False
        return mask

    def _v2_state(
        self,
        loaded: LoadedCampaign,
        recipe: TwoStageRecipe,
        user_id: str | None,
        history: History,
        context: Mapping[str, str] | None,
    ) -> RequestState:
        check_context(recipe, loaded.recipe_name, context)
        user_row = self.data.users(loaded.dataset_group_arn).get(user_id) if user_id else None
        return request_state(
            recipe,
            history.items,
            history.weights,
            user_index=loaded.model.user_index.get(user_id, -1) if user_id else -1,
            logged=history.logged,
            watermark=loaded.event_watermark,
            item_index=loaded.model.item_index,
            context=context,
            user_metadata=user_row,
        )

    def _promoted(
        self,
        loaded: LoadedCampaign,
        catalog: Catalog,
        promotion: Record,
        n: int,
        user_id: str | None,
        current_item: int | None,
        history: History,
    ) -> list[tuple[int, float | None, str]]:
        percent = int(promotion.get("percent_promoted_items") or 0)
        if not promotion.get("filter_arn"):
            raise InvalidInputException("A promotion needs a filterArn.")
        if not 1 <= percent <= 100:
            raise InvalidInputException("percentPromotedItems must be between 1 and 100.")
        count = max(1, math.floor(n * percent / 100))
        mask = self.filter_mask(
            loaded,
            catalog,
            promotion["filter_arn"],
            promotion.get("filter_values"),
            user_id,
            current_item,
            history,
        )
        excluded = catalog.excluded(mask)
        ids, scores = loaded.model.recipe.recommend(
            history.items, count, exclude=excluded, history_weights=history.weights
        )
        name = str(promotion.get("name") or "promotion")
        return [(int(i), float(s), name) for i, s in zip(ids.tolist(), scores.tolist(), strict=True)]

    def _explore(
        self,
        loaded: LoadedCampaign,
        catalog: Catalog,
        results: list[tuple[int, float | None, str | None]],
        mask: npt.NDArray[np.bool_],
        history: History,
        n: int,
    ) -> list[tuple[int, float | None, str | None]]:
        config = loaded.config.get("item_exploration_config") or {}
        weight = _float_setting(config, "explorationWeight", 0.3, 0.0, 1.0)
        cutoff_days = _float_setting(config, "explorationItemAgeCutOff", 30.0, 0.0, None)
        slots = round(weight * n)
        if slots == 0:
            return results
        popularity = loaded.model.recipe.item_popularity_
        taken = {i for i, _, _ in results}
        explored = exploration_items(
            catalog, popularity, history.catalog_items, mask, cutoff_days, limit=slots, exclude=taken
        )
        if not explored:
            return results
        keep = results[: max(0, n - len(explored))]
        return _interleave(keep, [(i, 0.0, None) for i in explored], n)

    def answer(
        self,
        loaded: LoadedCampaign,
        catalog: Catalog,
        results: Sequence[tuple[int, float | None, str | None]],
        metadata_columns: Mapping[str, Sequence[str]] | None,
        key: str,
    ) -> Record:
        columns = self._metadata_columns(loaded, catalog, metadata_columns)
        scored = loaded.recipe_name not in SCORELESS and loaded.use_case is None  # domain: no scores
        items: list[Record] = []
        for index, score, promotion in results:
            entry: Record = {"item_id": str(catalog.item_ids[index])}
            if scored and score is not None and math.isfinite(score):
                entry["score"] = round(float(score), 7)
            if promotion:
                entry["promotion_name"] = promotion
            if columns:
                entry["metadata"] = catalog.metadata(index, columns)
            items.append(entry)
        source = loaded.campaign.get("campaign_arn") or loaded.version_arn  # batch jobs: the version
        recommendation_id = new_recommendation_id(source)
        self.ctx.served.remember(recommendation_id, [str(e["item_id"]) for e in items])
        return {key: items, "recommendation_id": recommendation_id}

    @staticmethod
    def _metadata_columns(
        loaded: LoadedCampaign, catalog: Catalog, metadata_columns: Mapping[str, Sequence[str]] | None
    ) -> list[str]:
        if not metadata_columns:
            return []
        if not loaded.config.get("enable_metadata_with_recommendations"):
            owner = "recommenderConfig" if loaded.use_case else "campaignConfig"
            raise InvalidInputException(
                f"metadataColumns need {owner}.enableMetadataWithRecommendations on the "
                f"{'recommender' if loaded.use_case else 'campaign'}."
            )
        unknown_keys = set(metadata_columns) - {"ITEMS"}
        if unknown_keys:
            raise InvalidInputException(f"metadataColumns keys must be ITEMS, not {sorted(unknown_keys)}.")
        columns = list(metadata_columns.get("ITEMS", []))
        if len(columns) > 10:
            raise InvalidInputException("metadataColumns takes at most 10 ITEMS columns.")
        unknown = [c for c in columns if c not in catalog.metadata_fields]
        if unknown:
            raise InvalidInputException(f"The Items dataset has no column {unknown[0]!r}.")
        return columns

    # -- GetPersonalizedRanking -----------------------------------------------------------------------
    def get_personalized_ranking(
        self,
        campaign_arn: str,
        input_list: Sequence[str],
        user_id: str,
        context: Mapping[str, str] | None = None,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
        metadata_columns: Mapping[str, Sequence[str]] | None = None,
    ) -> Record:
        loaded = self.campaigns.get(campaign_arn)
        if loaded.recipe_type not in ("PERSONALIZED_RANKING", "USER_PERSONALIZATION") or (
            loaded.recipe_name in SCORELESS
        ):
            raise InvalidInputException(
                f"Campaign {campaign_arn} uses {loaded.recipe_name}, which cannot rank; use a "
                "personalized-ranking or user-personalization campaign."
            )
        return self.rank_loaded(
            loaded, input_list, user_id, filter_arn, filter_values, metadata_columns, context=context
        )

    def rank_loaded(
        self,
        loaded: LoadedCampaign,
        input_list: Sequence[str],
        user_id: str,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
        metadata_columns: Mapping[str, Sequence[str]] | None = None,
        *,
        context: Mapping[str, str] | None = None,
    ) -> Record:
        """GetPersonalizedRanking over a loaded model (a campaign's, or a batch job's solution version)."""
        limit = MAX_RESULTS_WITH_METADATA if metadata_columns else MAX_INPUT_LIST
        if not input_list:
            raise InvalidInputException("inputList must contain at least one item id.")
        if len(input_list) > limit:
            raise InvalidInputException(
                f"inputList may contain at most {limit} items, not {len(input_list)}."
            )
        catalog = self.data.catalog(loaded.dataset_group_arn, loaded.version_arn, loaded.model.item_ids)
        history = self.history(loaded, catalog, user_id)
        mask = self.filter_mask(loaded, catalog, filter_arn, filter_values, user_id, None, history)
        unique = list(dict.fromkeys(input_list))
        model_index = loaded.model.item_index
        allowed = [i for i in unique if i not in catalog.index or mask[catalog.index[i]]]
        known = [model_index[i] for i in allowed if i in model_index]
        results: list[tuple[int, float | None, str | None]] = []
        recipe = loaded.model.recipe
        if known and isinstance(recipe, TwoStageRecipe):
            state = self._v2_state(loaded, recipe, user_id, history, context)
            ids, scores = recipe.rank_state(state, known)
            results = [(int(i), float(s), None) for i, s in zip(ids.tolist(), scores.tolist(), strict=True)]
        elif known:
            ids, scores = recipe.rank(history.items, known, history_weights=history.weights)
            results = [(int(i), float(s), None) for i, s in zip(ids.tolist(), scores.tolist(), strict=True)]
        answer = self.answer(loaded, catalog, results, metadata_columns, "personalized_ranking")
        for item in allowed:  # items the model does not know go last, without a score, in input order
            if item not in model_index:
                entry: Record = {"item_id": item}
                answer["personalized_ranking"].append(entry)
        return answer


def _check_use_case_inputs(loaded: LoadedCampaign, user_id: str | None, item_id: str | None) -> None:
    use_case = USE_CASES[str(loaded.use_case)]
    arn = loaded.campaign["campaign_arn"]
    if use_case.needs_item and not item_id:
        raise InvalidInputException(f"itemId is required for recommender {arn} ({loaded.use_case}).")
    if use_case.needs_user and not user_id:
        raise InvalidInputException(f"userId is required for recommender {arn} ({loaded.use_case}).")


def _num_results(num_results: int | None, with_metadata: bool) -> int:
    if num_results is None:
        return DEFAULT_RESULTS
    limit = MAX_RESULTS_WITH_METADATA if with_metadata else MAX_RESULTS
    if not 1 <= num_results <= limit:
        raise InvalidInputException(f"numResults must be between 1 and {limit}, not {num_results}.")
    return num_results


def _float_setting(
    config: Mapping[str, str], key: str, default: float, low: float, high: float | None
) -> float:
    raw = config.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputException(f"itemExplorationConfig.{key} must be a number, not {raw!r}.") from None
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        allowed = f"between {low} and {high}" if high is not None else f"a finite number of at least {low}"
        raise InvalidInputException(f"itemExplorationConfig.{key} must be {allowed}, not {raw}.")
    return value


def _interleave(
    main: list[tuple[int, float | None, Any]], extra: list[tuple[int, float | None, Any]], n: int
) -> list[tuple[int, float | None, Any]]:
    """Spread ``extra`` evenly through ``main`` (deterministic positions), at most ``n`` in all."""
    if not extra:
        return main[:n]
    total = min(n, len(main) + len(extra))
    positions = {min(total - 1, round((j + 1) * total / (len(extra) + 1)) - 1) for j in range(len(extra))}
    out: list[tuple[int, float | None, Any]] = []
    main_iter, extra_iter = iter(main), iter(extra)
    for slot in range(total):
        source = extra_iter if slot in positions else main_iter
        item = next(source, None) or next(main_iter, None) or next(extra_iter, None)
        if item is None:
            break
        out.append(item)
    return out
