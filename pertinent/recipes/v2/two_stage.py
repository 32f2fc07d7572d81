"""aws-user-personalization-v2 and aws-personalized-ranking-v2: candidates, features, LambdaMART.

Stage one (:mod:`pertinent.recipes.v2.generators`): the v1 scorer (recency-weighted EASE or iALS) over the
history, item-to-item transitions from the last events, session co-occurrence, item metadata against the
history, popular, trending and new items. Stage two: a LightGBM ``lambdarank`` model over the features of
:mod:`pertinent.recipes.v2.features`.

Fit (``_fit``): the newest interactions of a sample of users (``max(1, min(5, 10 %))`` each) are held
out; the generators are fitted on the rest; each sampled user's remaining history is a query whose
held-out items are the relevant candidates, with the context of the first held-out event as the
request's context (dropped for a third of the queries, so the ranker also learns to rank without
context); a quarter of the queries keep only the last 0-3 events of the history, as new users and new
sessions have. A fifth of the query users are a validation split: the number of trees (the ranker's size) is
chosen there by early stopping, never on evaluation data. Then the generators are refitted on all data;
the ranker is kept. With too little data for a ranker (fewer than 30 training queries with a hit), the
v1 score ranks alone.

Serving passes a :class:`~pertinent.recipes.v2.features.RequestState` built from the live history, so
the very next request reflects the last event, its context and the user's current metadata.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from pertinent.recipes.base import (
    HyperParameter,
    HyperParameterValue,
    IdArray,
    Recipe,
    RecipeType,
    ScoreArray,
    _softmax,
)
from pertinent.recipes.user_personalization import (
    ENGINE_HYPERPARAMETERS,
    HIDDEN_DIMENSION,
    HISTORY_PERCENTILES,
    UserPersonalization,
)
from pertinent.recipes.v2.features import (
    BASE_FEATURES,
    LAST_EVENT_TYPE,
    Generators,
    RequestState,
    Scored,
    candidate_features,
)
from pertinent.recipes.v2.generators import (
    LiftTable,
    cooccurrence_matrix,
    lift_table,
    popularity_and_trend,
    recent_cut,
    transition_matrix,
    trend_of,
    user_column_signal,
)
from pertinent.recipes.v2.side import CodedColumn, InteractionSide

if TYPE_CHECKING:
    from pertinent.training.matrix import InteractionData

__all__ = ["PersonalizedRankingV2", "TwoStageRecipe", "UserPersonalizationV2"]

V2_HYPERPARAMETERS: tuple[HyperParameter, ...] = (
    HyperParameter(
        "apply_recency_bias",
        "categorical",
        "true",
        values=("true", "false"),
        tunable=False,
        description="Weigh a user's recent events more in the v1 candidate scorer.",
    ),
    HIDDEN_DIMENSION,
    *HISTORY_PERCENTILES,
    *ENGINE_HYPERPARAMETERS,
    HyperParameter(
        "ranker_leaves",
        "int",
        31,
        low=4,
        high=255,
        description="Leaves per tree of the LambdaMART ranker.",
    ),
    HyperParameter(
        "ranker_learning_rate",
        "float",
        0.05,
        low=0.005,
        high=0.5,
        log_scale=True,
        description="Shrinkage of the LambdaMART ranker.",
    ),
    HyperParameter(
        "ranker_max_trees",
        "int",
        300,
        low=10,
        high=2000,
        tunable=False,
        description="Most trees; the number used is chosen by early stopping on a validation split.",
    ),
    HyperParameter(
        "ranker_max_users",
        "int",
        4000,
        low=50,
        high=1_000_000,
        tunable=False,
        description="Users sampled for the ranker's training queries (more: slower fit).",
    ),
    HyperParameter(
        "candidate_budget",
        "int",
        380,
        low=20,
        high=5000,
        tunable=False,
        description="Candidates the generators propose per request before their union (the ranker's cost).",
    ),
    HyperParameter(
        "candidate_history",
        "int",
        0,
        low=0,
        high=1_000_000,
        tunable=False,
        description="Newest events the v1 candidate scorer reads (0: all): a cost knob (200 cost 4-6 % NDCG on validation).",
    ),
    HyperParameter(
        "transition_gap",
        "int",
        3,
        low=1,
        high=20,
        tunable=False,
        description="Events ahead that count as 'what follows' for the transition generator.",
    ),
)
MIN_QUERIES = 30
SHORT_SHARE = 0.25  # training queries cut to their last 0-3 events (new users, new sessions)
REPEAT_SHARE = 0.3  # training queries whose candidates include the user's history items
NON_CANDIDATE = -1.0e4


class TwoStageRecipe(Recipe):
    """The v2 engine (see module docs). Attributes end in ``_`` and are all learned in ``fit``."""

    softmax_scores: ClassVar[bool] = True
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = V2_HYPERPARAMETERS
    uses_side_data: ClassVar[bool] = True

    generators_: Generators
    ranker_: Any  # lightgbm.Booster or None
    feature_names_: tuple[str, ...]
    context_columns_: dict[str, CodedColumn]
    user_columns_: dict[str, CodedColumn]
    event_types_: tuple[str, ...]
    user_last_event_type_: NDArray[np.int32]
    user_last_event_value_: NDArray[np.float32]
    user_last_time_: NDArray[np.float64]
    user_impressions_: sp.csr_matrix
    ranker_trees_: int

    @property
    def algorithm(self) -> str:
        base = getattr(self, "generators_", None)
        return f"two-stage({base.base.algorithm if base else 'auto'})"

    def tunable_hyperparameters(
        self, data: InteractionData, params: Mapping[str, HyperParameterValue]
    ) -> tuple[HyperParameter, ...]:
        base = UserPersonalization(random_state=self.random_state, ease_max_items=self.ease_max_items)
        names = {hp.name for hp in base.tunable_hyperparameters(data, _base_params(params))}
        names |= {"ranker_leaves", "ranker_learning_rate"}
        return tuple(hp for hp in self.hyperparameters if hp.name in names)

    # ------------------------------------------------------------------ fit
    def _fit(self, data: InteractionData) -> None:
        side = data.side or InteractionSide.empty(data.n_interactions, data.n_users, data.n_items)
        rng = np.random.default_rng(self.random_state)
        counts = data.user_counts
        eligible = np.flatnonzero(counts >= 3)
        limit = int(self.params_["ranker_max_users"])
        users = np.sort(rng.choice(eligible, size=min(limit, len(eligible)), replace=False))
        keep = np.ones(data.n_interactions, dtype=bool)
        indptr = data.user_indptr
        tails: dict[int, tuple[int, int]] = {}
        for user in users.tolist():
            lo, hi = int(indptr[user]), int(indptr[user + 1])
            m = max(1, min(5, int(0.1 * (hi - lo))))
            keep[hi - m : hi] = False
            tails[user] = (hi - m, hi)
        self.context_columns_ = dict(side.context)
        self.user_columns_ = dict(side.user_attributes)
        self.event_types_ = side.event_type.values
        ranker: Any = None
        trees = 0
        names: list[str] = []
        if len(users) >= MIN_QUERIES:
            reduced = data.select(keep)
            gen = self._fit_generators(reduced, side.select(keep), items_from=data)
            names = gen.feature_names()
            ranker, trees = self._train_ranker(gen, data, side, users, tails, rng)
        self.generators_ = self._fit_generators(data, side)
        self.feature_names_ = tuple(names or self.generators_.feature_names())
        self.ranker_ = ranker
        self.ranker_trees_ = trees
        self.user_last_event_type_, self.user_last_event_value_ = _last_events(data, side)
        has = data.user_counts > 0
        self.user_last_time_ = np.full(data.n_users, np.nan, dtype=np.float64)
        self.user_last_time_[has] = data.timestamps[data.user_indptr[1:][has] - 1]
        self.user_impressions_ = _user_impressions(data, side)

    def _fit_generators(
        self, data: InteractionData, side: InteractionSide, items_from: InteractionData | None = None
    ) -> Generators:
        """``items_from``: the data item-level statistics (popularity, trend, age) come from; the ranker's
        training queries use the full data there, corrected per query for the user's own held-out events,
        so an item is new or unpopular for a query exactly when it would be without that user."""
        base = UserPersonalization(random_state=self.random_state, ease_max_items=self.ease_max_items)
        base.fit(data, _base_params(self.params_))
        n = data.n_items
        stats = items_from or data
        popularity, trend = popularity_and_trend(stats.item_idx, stats.timestamps, n)
        end = float(stats.timestamps.max()) if stats.n_interactions else 0.0
        first = np.full(n, np.inf)
        np.minimum.at(first, stats.item_idx, stats.timestamps.astype(np.float64))
        created = np.where(np.isfinite(side.item_created), side.item_created, first)
        created = np.where(np.isfinite(created), created, np.nan)
        age = np.where(np.isfinite(created), end - created, 0.0)
        tokens = data.item_features
        gap = int(self.params_["transition_gap"])
        start = float(stats.timestamps.min()) if stats.n_interactions else 0.0
        stride = int(end - start) + 2
        keys = np.sort(stats.item_idx.astype(np.int64) * stride + (stats.timestamps.astype(np.int64) - int(start)))
        return Generators(
            candidate_counts=candidate_counts(int(self.params_["candidate_budget"])),
            history_limit=int(self.params_["candidate_history"]),
            event_keys=keys,
            start_time=start,
            stride=stride,
            base=base,
            transitions=transition_matrix(data.user_idx, data.item_idx, n, max_gap=gap),
            cooccurrence=cooccurrence_matrix(data.user_idx, data.item_idx, n),
            item_features=tokens,
            popularity=popularity,
            trend=trend,
            item_created=created.astype(np.float64),
            end_time=end,
            metadata_popularity=_metadata_popularity(tokens, stats),
            popular_order=np.lexsort((np.arange(n), -popularity)).astype(np.int64),
            trending_order=np.lexsort((np.arange(n), -(trend * (popularity > np.log1p(2.0))))).astype(
                np.int64
            ),
            newest_order=np.lexsort((np.arange(n), age)).astype(np.int64),
            context_lifts={
                name: lift_table(col.codes, data.item_idx, len(col.values), n, tokens)
                for name, col in side.context.items()
            },
            user_lifts={
                name: lift_table(
                    col.codes[data.user_idx],
                    data.item_idx,
                    len(col.values),
                    n,
                    tokens,
                    signal=user_column_signal(col.codes, data.user_idx, data.item_idx, len(col.values), n),
                )
                for name, col in side.user_attributes.items()
            },
        )

    def _train_ranker(
        self,
        gen: Generators,
        data: InteractionData,
        side: InteractionSide,
        users: NDArray[np.int64],
        tails: Mapping[int, tuple[int, int]],
        rng: np.random.Generator,
    ) -> tuple[Any, int]:
        import lightgbm as lgb

        stats = _ItemStats.of(data)
        rows: list[NDArray[np.float32]] = []
        labels: list[NDArray[np.float32]] = []
        groups: list[int] = []
        query_users: list[int] = []
        full_indptr = data.user_indptr
        for user in users.tolist():
            t_lo, t_hi = tails[user]
            lo = int(full_indptr[user])
            # a query per cut inside the held-out tail (at most three): the history is everything before
            # the cut (the tail's first events are live events the generators never saw, as at serving)
            cuts = sorted(rng.choice(t_hi - t_lo, size=min(3, t_hi - t_lo), replace=False).tolist())
            for offset in cuts:
                cut = t_lo + offset
                q_lo = lo
                if rng.random() < SHORT_SHARE:  # short histories too: new users, first events of a session
                    q_lo = max(lo, cut - int(rng.integers(0, 4)))
                drop_context = rng.random() < 1.0 / 3.0
                context = {} if drop_context else {n: int(c.codes[cut]) for n, c in side.context.items()}
                state = _training_state(data, side, user, q_lo, cut, context)
                when = float(data.timestamps[cut])  # the request comes right before the next event
                gap = when - float(data.timestamps[cut - 1]) if cut > q_lo else float("nan")
                state = dataclasses.replace(state, time=when, gap_seconds=gap)
                ahead = data.item_idx[cut:t_hi].astype(np.int64)
                repeats = rng.random() < REPEAT_SHARE
                allowed = None
                if not repeats:  # the usual request: what is new to the user (filters, unseen lists)
                    allowed = np.ones(gen.n_items, dtype=bool)
                    allowed[state.items] = False
                    ahead = ahead[allowed[ahead]]
                if len(ahead) == 0:
                    continue
                scored = candidate_features(gen, state, allowed=allowed)
                stats.without_own_events(scored, t_lo, t_hi)
                # the very next item counts most, the later held-out ones as well
                label = np.isin(scored.candidates, ahead).astype(np.float32)
                label[scored.candidates == ahead[0]] = 2.0
                if not label.any():
                    continue
                rows.append(scored.features)
                labels.append(label)
                groups.append(len(label))
                query_users.append(user)
        if len(groups) < MIN_QUERIES:
            return None, 0
        # validation users (all their queries): the ranker's size is chosen there
        distinct = np.unique(query_users)
        valid_users = rng.choice(distinct, size=max(1, len(distinct) // 5), replace=False)
        is_valid = np.isin(np.asarray(query_users), valid_users)
        valid_q, train_q = np.flatnonzero(is_valid), np.flatnonzero(~is_valid)

        def stack(q: NDArray[np.int64]) -> tuple[NDArray[np.float32], NDArray[np.float32], list[int]]:
            x = np.vstack([rows[i] for i in q.tolist()])
            return x, np.concatenate([labels[i] for i in q.tolist()]), [groups[i] for i in q.tolist()]

        x_train, y_train, g_train = stack(train_q)
        x_valid, y_valid, g_valid = stack(valid_q)
        names = gen.feature_names()
        train_set = lgb.Dataset(
            x_train,
            y_train,
            group=g_train,
            feature_name=[f"f{j}_" + re.sub(r"[^A-Za-z0-9_]", "_", name) for j, name in enumerate(names)],
            categorical_feature=[LAST_EVENT_TYPE],
            free_raw_data=False,
        )
        valid_set = lgb.Dataset(x_valid, y_valid, group=g_valid, reference=train_set)
        leaves = int(self.params_["ranker_leaves"])
        best_score, best_text, best_trees = -1.0, "", 0
        # the ranker's shape: two sizes tried, each with early stopping, chosen on the validation users
        for num_leaves, min_leaf in ((max(4, leaves // 2), 50), (leaves, 100)):
            params = {
                "objective": "lambdarank",
                "metric": "ndcg",
                "eval_at": [10],
                "learning_rate": float(self.params_["ranker_learning_rate"]),
                "num_leaves": num_leaves,
                "min_data_in_leaf": min_leaf,
                "feature_fraction": 0.9,
                "lambdarank_truncation_level": 30,
                "max_bin": 63,
                "num_threads": 1,
                "seed": self.random_state,
                "deterministic": True,
                "force_row_wise": True,
                "verbose": -1,
            }
            booster = lgb.train(
                params,
                train_set,
                num_boost_round=int(self.params_["ranker_max_trees"]),
                valid_sets=[valid_set],
                callbacks=[lgb.early_stopping(30, verbose=False)],
            )
            trees = int(booster.best_iteration or booster.current_iteration())
            score = float(booster.best_score["valid_0"]["ndcg@10"]) if booster.best_score else 0.0
            if score > best_score:
                best_score, best_trees = score, trees
                best_text = booster.model_to_string(num_iteration=trees)
        model_text, best = best_text, best_trees
        return lgb.Booster(model_str=model_text), best

    # ------------------------------------------------------------------ requests
    def request_state(
        self,
        history: NDArray[np.int64],
        weights: NDArray[np.float32] | None = None,
        *,
        user_index: int = -1,
        context: Mapping[str, str] | None = None,
        user_metadata: Mapping[str, object] | None = None,
        impressions: Sequence[int] = (),
        last_event_type: str | None = None,
        last_event_value: float | None = None,
        request_time: float | None = None,
        now: float | None = None,
    ) -> RequestState:
        """Encode a request: context values override the user's metadata of the same column.

        ``request_time``: the newest live event's time (default: the user's newest training event);
        ``now``: the request's wall-clock time, for the time since the newest event."""
        self._check_fitted()
        items = self._check_items(history)
        w = np.ones(len(items), dtype=np.float32) if weights is None else np.asarray(weights, np.float32)
        context = context or {}
        meta = {k.upper(): v for k, v in (user_metadata or {}).items()}
        upper_context = {k.upper(): v for k, v in context.items()}
        context_codes = {
            name: col.code_of(upper_context[name.upper()])
            for name, col in self.context_columns_.items()
            if name.upper() in upper_context
        }
        user_codes: dict[str, int] = {}
        for name, col in self.user_columns_.items():
            value = upper_context.get(name.upper(), meta.get(name.upper()))
            if value is not None:
                user_codes[name] = col.code_of(value)
        shown = list(impressions)
        when = float("nan")
        event_type = -1
        event_value = float("nan")
        if 0 <= user_index < self.user_impressions_.shape[0]:
            lo, hi = self.user_impressions_.indptr[user_index], self.user_impressions_.indptr[user_index + 1]
            shown += np.repeat(
                self.user_impressions_.indices[lo:hi], self.user_impressions_.data[lo:hi].astype(np.int64)
            ).tolist()
            when = float(self.user_last_time_[user_index])
            event_type = int(self.user_last_event_type_[user_index])
            event_value = float(self.user_last_event_value_[user_index])
        if last_event_type is not None:
            lowered = last_event_type.strip().lower()
            event_type = self.event_types_.index(lowered) if lowered in self.event_types_ else -1
            event_value = float("nan") if last_event_value is None else float(last_event_value)
        newest = when if request_time is None else float(request_time)
        gap = float("nan")
        if now is not None and np.isfinite(newest):
            gap = max(float(now) - newest, 0.0)
        return RequestState(
            gap_seconds=gap,
            items=items,
            weights=w,
            impressions=np.asarray(shown, dtype=np.int64),
            context_codes=context_codes,
            user_codes=user_codes,
            last_event_type=event_type,
            last_event_value=event_value,
            time=when if request_time is None else float(request_time),
        )

    @property
    def context_keys(self) -> tuple[str, ...]:
        """Context keys this model uses: Interactions contextual columns and Users columns."""
        return tuple(dict.fromkeys([*self.context_columns_, *self.user_columns_]))

    def _ranked(self, scored: Scored) -> NDArray[np.float32]:
        if self.ranker_ is None or len(scored.candidates) == 0:
            return scored.v1[scored.candidates].astype(np.float32)
        raw = np.asarray(self.ranker_.predict(scored.features, num_threads=1), dtype=np.float64)
        # trees are piecewise constant: break their ties by metadata similarity, then the v1 score
        metadata = scored.features[:, BASE_FEATURES.index("metadata_score")].astype(np.float64)
        v1 = scored.features[:, 0].astype(np.float64)
        v1 = (v1 - v1.min()) / ((v1.max() - v1.min()) or 1.0)
        cold = scored.features[:, BASE_FEATURES.index("popularity")] == 0
        if cold.any():  # no interactions to learn from: the ranker's mean for them, ordered by metadata
            raw[cold] = raw[cold].mean() + 0.1 * metadata[cold]
        prior = self.generators_.metadata_popularity
        tokens = np.zeros(len(raw)) if prior is None else prior[scored.candidates].astype(np.float64)
        tokens = (tokens - tokens.min()) / ((tokens.max() - tokens.min()) or 1.0)
        return np.asarray(raw + 1e-2 * metadata + 1e-3 * v1 + 3e-3 * tokens, dtype=np.float32)

    def score_state(self, state: RequestState, allowed: NDArray[np.bool_] | None = None) -> ScoreArray:
        """Full-catalog raw scores: ranker scores on the candidates, far below them the v1 order."""
        self._check_fitted()
        return self._catalog_scores(candidate_features(self.generators_, state, allowed=allowed))

    def _catalog_scores(self, scored: Scored) -> ScoreArray:
        out = scored.v1.astype(np.float64)
        spread = float(out.max() - out.min()) or 1.0
        out = NON_CANDIDATE + (out - out.min()) / spread
        out[scored.candidates] = self._ranked(scored)
        result: ScoreArray = out.astype(np.float32)
        return result

    def recommend_state(
        self, state: RequestState, n: int, exclude: NDArray[np.int64] | None = None
    ) -> tuple[IdArray, ScoreArray]:
        """Top ``n`` for one request (``exclude``: filtered-out items), softmax scores as Personalize."""
        allowed: NDArray[np.bool_] | None = None  # None: every item (no mask to apply per generator)
        if exclude is not None and len(exclude):
            allowed = np.ones(self.n_items_, dtype=bool)
            allowed[self._check_items(exclude)] = False
        self._check_fitted()
        scored = candidate_features(self.generators_, state, allowed=allowed)
        if len(scored.candidates) >= n:  # the usual case: the top comes from the ranked candidates, and
            # the softmax over the catalog equals the one over them (the rest lie NON_CANDIDATE below)
            ranked = self._ranked(scored).astype(np.float64)
            c = scored.candidates
            order = np.lexsort((c, -self.item_popularity_[c], -ranked))[:n]
            return scored.candidates[order], _softmax(ranked.astype(np.float32))[order]
        raw = self._catalog_scores(scored)
        masked = raw if allowed is None else np.where(allowed, raw, -np.inf).astype(np.float32)
        top = self._top_n(masked, n)
        return top, _softmax(raw)[top]

    def rank_state(
        self, state: RequestState, items: Sequence[int] | NDArray[np.int64]
    ) -> tuple[IdArray, ScoreArray]:
        """Order ``items`` (GetPersonalizedRanking's inputList) for one request; softmax over them."""
        self._check_fitted()
        ids = self._check_items(items)
        _, first = np.unique(ids, return_index=True)
        ids = ids[np.sort(first)]
        scored = candidate_features(self.generators_, state, candidates=ids)
        raw = self._ranked(scored)
        order = np.lexsort((np.arange(len(ids)), -self.item_popularity_[ids], -raw))
        return ids[order], _softmax(raw)[order]

    def explain_state(self, state: RequestState, item: int, top: int = 5) -> dict[str, Any]:
        """Why ``item`` ranks where it does: the features that moved its score most (LightGBM SHAP
        contributions, or the v1 score without a ranker) and the history items most related to it."""
        self._check_fitted()
        target = int(self._check_items([item])[0])
        scored = candidate_features(self.generators_, state, candidates=np.array([target], dtype=np.int64))
        names = list(self.feature_names_)
        values = scored.features[0]
        if self.ranker_ is not None:
            contrib = np.asarray(self.ranker_.predict(scored.features, pred_contrib=True, num_threads=1))[0]
            bias = float(contrib[-1])
            pairs = sorted(
                zip(names, contrib[:-1].tolist(), values.tolist(), strict=True), key=lambda p: -abs(p[1])
            )
        else:
            bias = 0.0
            pairs = [("v1_score", float(values[0]), float(values[0]))]
        gen = self.generators_
        related: list[tuple[int, float]] = []
        history = state.items
        if len(history):
            unique_hist = np.unique(history)
            strength = (
                np.asarray(gen.transitions[unique_hist][:, target].toarray()).ravel()
                + np.asarray(gen.cooccurrence[unique_hist][:, target].toarray()).ravel()
                + gen.base._score([np.array([target])], [np.ones(1, dtype=np.float32)])[0][unique_hist] * 0.01
            )
            order = np.argsort(-strength)[:top]
            related = [(int(unique_hist[i]), float(strength[i])) for i in order.tolist() if strength[i] > 0]
        score = float(self._ranked(scored)[0])
        return {
            "score": round(score, 6),
            "features": [
                {"name": n, "contribution": round(c, 6), "value": None if np.isnan(v) else round(v, 6)}
                for n, c, v in pairs[:top]
            ],
            "baseline": round(bias, 6),
            "related_history": related,
            "signals": {n: None if np.isnan(v) else round(float(v), 6) for n, v in zip(names, values.tolist(), strict=True)},
        }

    # ------------------------------------------------------------------ Recipe contract
    def _score(
        self, histories: Sequence[NDArray[np.int64]], weights: Sequence[NDArray[np.float32]]
    ) -> ScoreArray:
        out = np.zeros((len(histories), self.n_items_), dtype=np.float32)
        for row, (h, w) in enumerate(zip(histories, weights, strict=True)):
            out[row] = self.score_state(RequestState(items=h, weights=w))
        return out

    def recommend_batch(
        self,
        histories: Sequence[Any],
        n: int = 25,
        exclude: Sequence[Any] | None = None,
        candidates: Any = None,
        *,
        history_weights: Sequence[Any] | None = None,
    ) -> tuple[IdArray, ScoreArray]:
        """As :meth:`Recipe.recommend_batch`; excluded items never take a candidate slot."""
        self._check_fitted()
        if n < 0:
            raise ValueError("n must be >= 0")
        hist, weights = self._prepare(histories, history_weights)
        if exclude is not None and len(exclude) != len(hist):
            raise ValueError("exclude must have one entry per history")
        out_ids = np.full((len(hist), n), -1, dtype=np.int64)
        out_scores = np.full((len(hist), n), -np.inf, dtype=np.float32)
        for row, (h, w) in enumerate(zip(hist, weights, strict=True)):
            allowed = np.ones(self.n_items_, dtype=bool)
            if candidates is not None:
                allowed[:] = False
                allowed[self._check_items(candidates)] = True
            if exclude is not None:
                allowed[self._check_items(exclude[row])] = False
            ids, scores = self.recommend_state(
                RequestState(items=h, weights=w), n, np.flatnonzero(~allowed).astype(np.int64)
            )
            out_ids[row, : len(ids)] = ids
            out_scores[row, : len(ids)] = scores
        return out_ids, out_scores

    def rank(
        self, history_item_idx: Any, items: Any, *, history_weights: Any = None
    ) -> tuple[IdArray, ScoreArray]:
        hist, weights = self._prepare(
            [history_item_idx], None if history_weights is None else [history_weights]
        )
        return self.rank_state(RequestState(items=hist[0], weights=weights[0]), items)

    def _similar_scores(self, item: int) -> ScoreArray:
        gen = self.generators_
        one = np.array([item], dtype=np.int64)
        base = gen.base._similar_scores(item)
        spread = float(base.max() - base.min()) or 1.0
        trans = (
            np.asarray(gen.transitions[one].toarray()).ravel()
            + np.asarray(gen.cooccurrence[one].toarray()).ravel()
        )
        return np.asarray((base - base.min()) / spread + trans, dtype=np.float32)

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, NDArray[Any]]:
        gen = self.generators_
        arrays: dict[str, NDArray[Any]] = {f"base__{k}": v for k, v in gen.base._state().items()}
        arrays["base__item_popularity_"] = gen.base.item_popularity_
        for name, matrix in (("transitions", gen.transitions), ("cooccurrence", gen.cooccurrence)):
            arrays.update(_csr_arrays(name, matrix))
        if gen.item_features is not None:
            arrays.update(_csr_arrays("item_features", gen.item_features))
        arrays.update(_csr_arrays("user_impressions", self.user_impressions_))
        for key in (
            "popularity",
            "trend",
            "item_created",
            "popular_order",
            "trending_order",
            "newest_order",
        ):
            arrays[key] = getattr(gen, key)
        for kind, lifts in (("context", gen.context_lifts), ("user", gen.user_lifts)):
            for i, table in enumerate(lifts.values()):
                arrays[f"{kind}_lift_{i}"] = table.by_item
                arrays[f"{kind}_meta_lift_{i}"] = table.by_metadata
        arrays["user_last_event_type"] = self.user_last_event_type_
        arrays["user_last_event_value"] = self.user_last_event_value_
        arrays["user_last_time"] = self.user_last_time_
        if gen.metadata_popularity is not None:
            arrays["metadata_popularity"] = gen.metadata_popularity
        if gen.event_keys is not None:
            arrays["event_keys"] = gen.event_keys
        if self.ranker_ is not None:
            text = self.ranker_.model_to_string().encode()
            arrays["ranker"] = np.frombuffer(text, dtype=np.uint8)
        return arrays

    def _meta(self) -> dict[str, Any]:
        gen = self.generators_
        return {
            "base": {**gen.base._meta(), "n_items": gen.base.n_items_},
            "context_columns": {k: _column_meta(c) for k, c in self.context_columns_.items()},
            "user_columns": {k: _column_meta(c) for k, c in self.user_columns_.items()},
            "event_types": list(self.event_types_),
            "feature_names": list(self.feature_names_),
            "ranker_trees": self.ranker_trees_,
            "has_item_features": gen.item_features is not None,
            "end_time": gen.end_time,
            "start_time": gen.start_time,
            "stride": gen.stride,
        }

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        base = UserPersonalization(random_state=self.random_state, ease_max_items=self.ease_max_items)
        base.params_ = UserPersonalization.validate_params(_base_params(self.params_))
        base.n_items_ = int(meta["base"]["n_items"])
        base.item_popularity_ = arrays["base__item_popularity_"].astype(np.float32)
        base._restore({k[6:]: v for k, v in arrays.items() if k.startswith("base__")}, meta["base"])
        self.context_columns_ = {k: _column_from_meta(v) for k, v in meta["context_columns"].items()}
        self.user_columns_ = {k: _column_from_meta(v) for k, v in meta["user_columns"].items()}
        self.event_types_ = tuple(meta["event_types"])
        self.feature_names_ = tuple(meta["feature_names"])
        self.ranker_trees_ = int(meta["ranker_trees"])
        self.generators_ = Generators(
            candidate_counts=candidate_counts(int(self.params_.get("candidate_budget", 380))),
            history_limit=int(self.params_.get("candidate_history", 0)),
            base=base,
            transitions=_csr_from("transitions", arrays),
            cooccurrence=_csr_from("cooccurrence", arrays),
            item_features=_csr_from("item_features", arrays) if meta["has_item_features"] else None,
            popularity=arrays["popularity"].astype(np.float32),
            trend=arrays["trend"].astype(np.float32),
            item_created=arrays["item_created"].astype(np.float64),
            end_time=float(meta["end_time"]),
            start_time=float(meta.get("start_time", 0.0)),
            stride=int(meta.get("stride", 1)),
            event_keys=arrays["event_keys"].astype(np.int64) if "event_keys" in arrays else None,
            metadata_popularity=arrays.get("metadata_popularity"),
            popular_order=arrays["popular_order"].astype(np.int64),
            trending_order=arrays["trending_order"].astype(np.int64),
            newest_order=arrays["newest_order"].astype(np.int64),
            context_lifts={
                k: LiftTable(arrays[f"context_lift_{i}"], arrays[f"context_meta_lift_{i}"])
                for i, k in enumerate(self.context_columns_)
            },
            user_lifts={
                k: LiftTable(arrays[f"user_lift_{i}"], arrays[f"user_meta_lift_{i}"])
                for i, k in enumerate(self.user_columns_)
            },
        )
        self.user_impressions_ = _csr_from("user_impressions", arrays)
        self.user_last_event_type_ = arrays["user_last_event_type"].astype(np.int32)
        self.user_last_event_value_ = arrays["user_last_event_value"].astype(np.float32)
        self.user_last_time_ = arrays["user_last_time"].astype(np.float64)
        self.ranker_ = None
        if "ranker" in arrays:
            import lightgbm as lgb

            self.ranker_ = lgb.Booster(model_str=arrays["ranker"].tobytes().decode())


class UserPersonalizationV2(TwoStageRecipe):
    """aws-user-personalization-v2: the two-stage engine recommending from the whole catalog.

    Examples
    --------
    >>> from pertinent.training.matrix import InteractionData
    >>> data = InteractionData.from_indices([0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 2, 3, 2, 3])
    >>> model = UserPersonalizationV2().fit(data, {"apply_recency_bias": "false", "ease_min_item_users": "1"})
    >>> int(model.recommend([3], n=1, exclude=[3])[0][0])
    2
    """

    name: ClassVar[str] = "aws-user-personalization-v2"
    recipe_type: ClassVar[RecipeType] = "USER_PERSONALIZATION"


class PersonalizedRankingV2(TwoStageRecipe):
    """aws-personalized-ranking-v2: the two-stage engine's ranker over GetPersonalizedRanking's list.

    Examples
    --------
    >>> from pertinent.training.matrix import InteractionData
    >>> data = InteractionData.from_indices([0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 2, 3, 2, 3])
    >>> PersonalizedRankingV2().fit(data, {"ease_min_item_users": "1"}).rank([2], [0, 3])[0].tolist()
    [3, 0]
    """

    name: ClassVar[str] = "aws-personalized-ranking-v2"
    recipe_type: ClassVar[RecipeType] = "PERSONALIZED_RANKING"


# ---------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class _ItemStats:
    """Full-data item statistics, to correct a training query's candidates for the user's own held-out
    events: each query then sees item popularity, trend and newness as if its user had not acted."""

    item_idx: NDArray[np.int32]
    counts: NDArray[np.float64]
    recent: NDArray[np.float64]
    is_recent: NDArray[np.bool_]
    share: float

    @classmethod
    def of(cls, data: InteractionData) -> _ItemStats:
        n = data.n_items
        counts = np.bincount(data.item_idx, minlength=n).astype(np.float64)
        is_recent = (
            data.timestamps >= recent_cut(data.timestamps) if data.n_interactions else np.zeros(0, dtype=bool)
        )
        recent = np.bincount(data.item_idx[is_recent], minlength=n).astype(np.float64)
        share = max(float(recent.sum()) / max(float(counts.sum()), 1.0), 1e-6)
        return cls(data.item_idx, counts, recent, is_recent, share)

    def without_own_events(self, scored: Scored, lo: int, hi: int) -> None:
        own = self.item_idx[lo:hi]
        c = scored.candidates
        own_counts = np.bincount(own, minlength=len(self.counts))[c]
        touched = own_counts > 0
        if not touched.any():
            return
        own_recent = np.bincount(own[self.is_recent[lo:hi]], minlength=len(self.counts))[c]
        rows = np.flatnonzero(touched)
        remaining = (self.counts[c] - own_counts)[touched]
        recent = (self.recent[c] - own_recent)[touched]
        scored.features[rows, BASE_FEATURES.index("popularity")] = np.log1p(remaining)
        scored.features[rows, BASE_FEATURES.index("trend")] = trend_of(recent, remaining, self.share)
        scored.features[rows[remaining == 0], BASE_FEATURES.index("item_age_days")] = 0.0


#: each generator's share of the candidate budget: v1, transitions, co-occurrence, metadata, popular,
#: trending, new (popular-under-the-context-value ones take the popular share)
CANDIDATE_SHARES = (150, 60, 60, 40, 30, 20, 20)


def candidate_counts(budget: int) -> tuple[int, int, int, int, int, int, int]:
    """Per-generator candidate counts for a budget (at least one each).

    Examples
    --------
    >>> candidate_counts(380)
    (150, 60, 60, 40, 30, 20, 20)
    >>> candidate_counts(190)
    (75, 30, 30, 20, 15, 10, 10)
    """
    total = sum(CANDIDATE_SHARES)
    a, b, c, d, e, f, g = (max(1, round(budget * share / total)) for share in CANDIDATE_SHARES)
    return a, b, c, d, e, f, g


def _metadata_popularity(tokens: sp.csr_matrix | None, data: InteractionData) -> NDArray[np.float32] | None:
    if tokens is None or tokens.nnz == 0:
        return None
    binary = sp.csr_matrix(tokens, dtype=np.float64)
    binary.data[:] = 1.0
    counts = np.bincount(data.item_idx, minlength=data.n_items).astype(np.float64)
    token_counts = np.log1p(np.asarray(binary.T @ counts).ravel())
    n_tokens = np.maximum(np.diff(binary.indptr), 1)
    return np.asarray((binary @ token_counts) / n_tokens, dtype=np.float32)


def _base_params(params: Mapping[str, HyperParameterValue]) -> dict[str, HyperParameterValue]:
    """The v1 scorer's hyperparameters from the v2 ones."""
    shared = {hp.name for hp in UserPersonalization.hyperparameters}
    out = {k: v for k, v in params.items() if k in shared}
    out["recency_mask"] = str(params.get("apply_recency_bias", "true"))
    return out


def _training_state(
    data: InteractionData,
    side: InteractionSide,
    user: int,
    lo: int,
    hi: int,
    context: Mapping[str, int],
) -> RequestState:
    """The request of a training query: ``user``'s interactions ``lo:hi`` of the full data."""
    items = data.item_idx[lo:hi].astype(np.int64)
    event_type, event_value = -1, float("nan")
    shown = np.zeros(0, dtype=np.int64)
    if hi > lo:
        event_type = int(side.event_type.codes[hi - 1])
        event_value = float(side.event_value[hi - 1])
        shown = side.impression_items[side.impression_indptr[lo] : side.impression_indptr[hi]].astype(
            np.int64
        )
    user_codes = {name: int(col.codes[user]) for name, col in side.user_attributes.items()}
    return RequestState(
        items=items,
        weights=data.weights[lo:hi],
        impressions=shown,
        context_codes=context,
        user_codes=user_codes,
        last_event_type=event_type,
        last_event_value=event_value,
    )


def _last_events(
    data: InteractionData, side: InteractionSide
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    last = data.user_indptr[1:] - 1
    has = data.user_counts > 0
    types = np.full(data.n_users, -1, dtype=np.int32)
    values = np.full(data.n_users, np.nan, dtype=np.float32)
    types[has] = side.event_type.codes[last[has]]
    values[has] = side.event_value[last[has]]
    return types, values


def _user_impressions(data: InteractionData, side: InteractionSide) -> sp.csr_matrix:
    lengths = np.diff(side.impression_indptr)
    rows = np.repeat(data.user_idx, lengths)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, side.impression_items)),
        shape=(data.n_users, data.n_items),
    )
    matrix.sum_duplicates()
    return matrix


def _csr_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, NDArray[Any]]:
    m = sp.csr_matrix(matrix, dtype=np.float32)
    return {
        f"{name}__data": m.data,
        f"{name}__indices": m.indices.astype(np.int32),
        f"{name}__indptr": m.indptr.astype(np.int64),
        f"{name}__shape": np.asarray(m.shape, dtype=np.int64),
    }


def _csr_from(name: str, arrays: Mapping[str, NDArray[Any]]) -> sp.csr_matrix:
    shape = tuple(int(x) for x in arrays[f"{name}__shape"])
    return sp.csr_matrix(
        (arrays[f"{name}__data"], arrays[f"{name}__indices"], arrays[f"{name}__indptr"]), shape=shape
    )


def _column_meta(column: CodedColumn) -> dict[str, Any]:
    return {"values": list(column.values), "edges": None if column.edges is None else list(column.edges)}


def _column_from_meta(meta: Mapping[str, Any]) -> CodedColumn:
    edges = meta.get("edges")
    return CodedColumn(
        tuple(meta["values"]),
        np.zeros(0, dtype=np.int32),
        None if edges is None else tuple(float(e) for e in edges),
    )
