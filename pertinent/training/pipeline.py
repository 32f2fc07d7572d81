"""One solution-version training job, without any database or HTTP: tables in, artifact directory out.

Steps (personalize_api.md §9, §10.3): select events → check Personalize's minimums → hold out 10 % of the
users → (HPO on a validation split carved from the training part) → fit on the training part and compute
GetSolutionMetrics on the held-out users → refit on all data → save the model, the id maps and the users'
histories to ``artifact_dir``. :func:`load_trained_model` reads it back for serving.

Artifact layout::

    artifact_dir/
      model.npz, model.json     the recipe (Recipe.save)
      data.npz                  user_ids, item_ids, per-user histories, item creation timestamps
      manifest.json             recipe, algorithm, hyperparameters, metrics, sizes
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from pertinent.errors import TrainingFailure
from pertinent.recipes.base import (
    DEFAULT_EASE_MAX_ITEMS,
    HyperParameterValue,
    InvalidHyperParameterError,
    Recipe,
)
from pertinent.recipes.hpo import HpoResult, HpoSettings, SearchDimension, Trial, parse_hpo_config, search
from pertinent.recipes.registry import UnknownRecipeError, get_recipe_class, load_recipe
from pertinent.recipes.user_personalization import FactorSolver
from pertinent.training.evaluation import METRIC_NAMES, evaluate
from pertinent.training.matrix import EventSelection, InteractionData
from pertinent.training.splits import holdout_split

__all__ = [
    "MIN_INTERACTIONS",
    "MIN_USERS_WITH_TWO_INTERACTIONS",
    "ARTIFACT_FORMAT_VERSION",
    "TrainedModel",
    "TrainingResult",
    "check_minimum_data",
    "load_trained_model",
    "train_solution_version",
]

MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO_INTERACTIONS = 25
ARTIFACT_FORMAT_VERSION = 1

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class TrainingResult:
    """What a finished training job reports (DescribeSolutionVersion / GetSolutionMetrics)."""

    metrics: dict[str, float]
    tuned_params: dict[str, str]
    artifact_dir: Path
    n_users: int
    n_items: int
    n_interactions: int
    algorithm: str
    training_seconds: float = 0.0
    hpo_trials: int = 0


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A trained solution version as serving needs it: the recipe plus id maps and training histories.

    Attributes
    ----------
    recipe : Recipe
        The fitted recipe (recommend / rank / similar_items over indices).
    user_ids, item_ids : ndarray of str
        Index → USER_ID / ITEM_ID.
    history_indptr, history_items, history_weights : ndarray
        User ``u``'s training interactions, oldest first, are
        ``history_items[history_indptr[u]:history_indptr[u + 1]]`` (with their event weights).
    item_creation_timestamps : ndarray of int64
        Items' ``CREATION_TIMESTAMP``, else their first interaction, else the newest interaction time
        (Personalize counts such items as new), for exploration of new items.
    manifest : dict
        The JSON manifest (recipe, algorithm, params, metrics, sizes).
    """

    recipe: Recipe
    user_ids: NDArray[np.str_]
    item_ids: NDArray[np.str_]
    history_indptr: NDArray[np.int64]
    history_items: NDArray[np.int32]
    history_weights: NDArray[np.float32]
    item_creation_timestamps: NDArray[np.int64]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def recipe_name(self) -> str:
        return self.recipe.name

    @property
    def algorithm(self) -> str:
        return self.recipe.algorithm

    @cached_property
    def user_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.user_ids.tolist())}

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.item_ids.tolist())}

    def user_history(self, user_id: str) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """Training history of ``user_id`` (item indices oldest first, weights); empty if unknown."""
        u = self.user_index.get(user_id)
        if u is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        lo, hi = self.history_indptr[u], self.history_indptr[u + 1]
        return self.history_items[lo:hi], self.history_weights[lo:hi]

    def item_indices(self, item_ids: list[str]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Indices of ``item_ids`` (-1 where unknown) and the mask of known ones."""
        idx = np.array([self.item_index.get(i, -1) for i in item_ids], dtype=np.int64)
        return idx, idx >= 0


def check_minimum_data(data: InteractionData, event_type: str | None = None) -> None:
    """Personalize's minimums (§10.3), with its failure texts; raises TrainingFailure."""
    if data.n_interactions < MIN_INTERACTIONS:
        if event_type:
            raise TrainingFailure(
                f"Dataset has fewer than {MIN_INTERACTIONS} interactions after filtering by event type: "
                f"{event_type}"
            )
        raise TrainingFailure(
            f"There are not enough interactions to train a model: found {data.n_interactions} after event "
            f"type and event value filtering, at least {MIN_INTERACTIONS} are required."
        )
    if data.users_with_at_least(2) < MIN_USERS_WITH_TWO_INTERACTIONS:
        raise TrainingFailure(
            f"Dataset has fewer than {MIN_USERS_WITH_TWO_INTERACTIONS} users with at least 2 interactions "
            "each."
        )


def train_solution_version(
    interactions: pa.Table,
    items: pa.Table | None,
    users: pa.Table | None,
    recipe_name: str,
    solution_config: Mapping[str, Any] | None,
    event_type: str | None,
    perform_hpo: bool,
    ease_max_items: int = DEFAULT_EASE_MAX_ITEMS,
    artifact_dir: Path = Path("."),
    progress: Progress | None = None,
    random_state: int = 0,
    factor_solver: FactorSolver | None = None,
) -> TrainingResult:
    """Train one solution version end to end and write its artifact.

    Parameters
    ----------
    interactions, items, users : pyarrow.Table
        The dataset group's datasets (``items``/``users`` optional; the v2 recipes use ``users``).
    recipe_name : str
        ``aws-user-personalization`` etc. (or the recipe ARN).
    solution_config : dict
        snake_case ``solutionConfig``: ``event_value_threshold``, ``algorithm_hyper_parameters`` (wire
        strings), ``feature_transformation_parameters`` (keys naming a recipe hyperparameter, such as
        ``trend_discovery_frequency``, are applied), ``events_config``, ``hpo_config``.
    event_type : str or None
        The solution's ``eventType``.
    perform_hpo : bool
        Search hyperparameters (``hpo_config``) on a validation split first.
    ease_max_items : int
        Largest catalog trained with EASE (server setting).
    artifact_dir : Path
        Where the model is written.
    progress : callable, optional
        ``progress(fraction, message)`` with fraction in [0, 1].
    random_state : int
        Seed of the splits, HPO sampling and model initialisation.
    factor_solver : callable, optional
        Another iALS solver for the factor recipes (:class:`pertinent.training.spark_als.SparkFactorSolver`
        for ``training_engine=spark``); those recipes then train iALS whatever the catalog size.

    Raises
    ------
    TrainingFailure
        Unknown recipe, invalid hyperparameters or HPO config, or too little data; the message is the
        solution version's ``failureReason``.
    """
    started = time.perf_counter()
    report = progress or _no_progress
    config = dict(solution_config or {})
    try:
        recipe_cls = get_recipe_class(recipe_name)
    except UnknownRecipeError as exc:
        raise TrainingFailure(str(exc)) from None
    try:
        # Personalize takes some knobs (trend_discovery_frequency) as featureTransformationParameters:
        # those that name a declared hyperparameter count, algorithmHyperParameters win
        declared = {hp.name for hp in recipe_cls.hyperparameters}
        transformations = config.get("feature_transformation_parameters") or {}
        user_params = {k: v for k, v in transformations.items() if k in declared}
        user_params.update(config.get("algorithm_hyper_parameters") or {})
        fixed = recipe_cls.validate_params(user_params)
        hpo_settings = parse_hpo_config(recipe_cls, config.get("hpo_config")) if perform_hpo else None
    except InvalidHyperParameterError as exc:
        raise TrainingFailure(str(exc)) from None

    factor_recipe = factor_solver is not None and hasattr(recipe_cls, "factor_solver")

    def new_recipe() -> Recipe:
        if not factor_recipe:
            return recipe_cls(random_state=random_state, ease_max_items=ease_max_items)
        recipe = recipe_cls(random_state=random_state, ease_max_items=0)  # "auto" → iALS on the engine
        recipe.factor_solver = factor_solver  # type: ignore[attr-defined]
        return recipe

    report(0.02, "Selecting interactions")
    selection = EventSelection.from_solution_config(config, event_type)
    data = InteractionData.from_arrow(
        interactions,
        items,
        selection=selection,
        users=users,
        with_side=bool(getattr(recipe_cls, "uses_side_data", False)),
    )
    check_minimum_data(data, event_type)
    report(0.1, f"{data.n_interactions} interactions from {data.n_users} users on {data.n_items} items")

    if recipe_cls.recipe_type == "USER_SEGMENTATION":
        return _train_segments(recipe_cls, new_recipe, data, items, fixed, artifact_dir, report, started)
    split = holdout_split(data, random_state=random_state)
    params: dict[str, HyperParameterValue] = dict(fixed)
    n_trials = 0
    if hpo_settings is not None:
        result = _run_hpo(
            new_recipe, split.train, fixed, set(user_params), hpo_settings, random_state, data.n_items, report
        )
        params = result.best_params
        n_trials = len(result.trials)

    report(0.6, "Training on the training users and scoring the held-out users")
    try:
        model = new_recipe().fit(split.train, params)
    except (InvalidHyperParameterError, ValueError) as exc:
        raise TrainingFailure(str(exc)) from None
    metrics = evaluate(model, split, data.n_items)
    return _refit_and_write(
        recipe_cls,
        new_recipe,
        data,
        items,
        params,
        metrics,
        {name: float(metrics[name]) for name in METRIC_NAMES},
        artifact_dir,
        report,
        started,
        n_trials,
    )


def _train_segments(
    recipe_cls: type[Recipe],
    new_recipe: Callable[[], Recipe],
    data: InteractionData,
    items: pa.Table | None,
    params: dict[str, HyperParameterValue],
    artifact_dir: Path,
    report: Progress,
    started: float,
) -> TrainingResult:
    """USER_SEGMENTATION recipes: per-user 80/20 split, ``hit`` / ``recall`` metrics, refit, artifact."""
    from pertinent.recipes.user_personalization import UserPersonalization
    from pertinent.training.segment_metrics import per_user_split, segment_metrics

    report(0.6, "Training on each user's oldest 80 % and scoring segments for the newest 20 %")
    train, test = per_user_split(data)
    try:
        model = new_recipe().fit(train, params)
    except (InvalidHyperParameterError, ValueError) as exc:
        raise TrainingFailure(str(exc)) from None
    assert isinstance(model, UserPersonalization)
    metrics = segment_metrics(model, data, test)
    return _refit_and_write(
        recipe_cls, new_recipe, data, items, params, metrics, metrics, artifact_dir, report, started, 0
    )


def _refit_and_write(
    recipe_cls: type[Recipe],
    new_recipe: Callable[[], Recipe],
    data: InteractionData,
    items: pa.Table | None,
    params: dict[str, HyperParameterValue],
    metrics: dict[str, Any],
    result_metrics: dict[str, float],
    artifact_dir: Path,
    report: Progress,
    started: float,
    n_trials: int,
) -> TrainingResult:
    """Refit on all interactions, write the artifact with its manifest, and describe the result."""
    report(0.8, "Training on all interactions")
    final = new_recipe().fit(data, params)
    report(0.95, "Writing the model")
    tuned = recipe_cls.params_to_wire(params)
    seconds = time.perf_counter() - started
    _write_artifact(
        artifact_dir,
        final,
        data,
        items,
        manifest={
            "format_version": ARTIFACT_FORMAT_VERSION,
            "recipe": recipe_cls.name,
            "algorithm": final.algorithm,
            "params": tuned,
            "metrics": metrics,
            "n_users": data.n_users,
            "n_items": data.n_items,
            "n_interactions": data.n_interactions,
            "hpo_trials": n_trials,
            "training_seconds": round(seconds, 3),
        },
    )
    report(1.0, "Done")
    return TrainingResult(
        metrics=result_metrics,
        tuned_params=tuned,
        artifact_dir=artifact_dir,
        n_users=data.n_users,
        n_items=data.n_items,
        n_interactions=data.n_interactions,
        algorithm=final.algorithm,
        training_seconds=seconds,
        hpo_trials=n_trials,
    )


def _run_hpo(
    new_recipe: Callable[[], Recipe],
    train: InteractionData,
    fixed: dict[str, HyperParameterValue],
    user_fixed: set[str],
    settings: HpoSettings,
    random_state: int,
    n_catalog_items: int,
    report: Progress,
) -> HpoResult:
    validation = holdout_split(train, random_state=random_state + 1)
    probe = new_recipe()
    dimensions: tuple[SearchDimension, ...]
    if settings.dimensions is not None:
        dimensions = settings.dimensions
    else:
        try:
            tunable = probe.tunable_hyperparameters(train, fixed)
        except ValueError as exc:
            raise TrainingFailure(str(exc)) from None
        dimensions = tuple(
            SearchDimension.from_hyperparameter(hp) for hp in tunable if hp.name not in user_fixed
        )

    def evaluate_params(params: dict[str, HyperParameterValue]) -> dict[str, float]:
        try:
            model = new_recipe().fit(validation.train, params)
        except (InvalidHyperParameterError, ValueError) as exc:
            raise TrainingFailure(str(exc)) from None
        return evaluate(model, validation, n_catalog_items)

    def on_trial(i: int, total: int, trial: Trial) -> None:
        report(0.1 + 0.5 * (i + 1) / max(total, 1), f"HPO trial {i + 1}/{total}: {trial.score:.4f}")

    return search(
        evaluate_params,
        fixed,
        dimensions,
        max_trials=settings.max_trials,
        objective=settings.objective,
        random_state=random_state,
        on_trial=on_trial,
    )


def _write_artifact(
    artifact_dir: Path,
    model: Recipe,
    data: InteractionData,
    items: pa.Table | None,
    manifest: dict[str, Any],
) -> None:
    artifact_dir.mkdir(parents=True, exist_ok=True)
    model.save(artifact_dir / "model")
    with open(artifact_dir / "data.npz", "wb") as fh:
        np.savez(
            fh,
            user_ids=data.user_ids,
            item_ids=data.item_ids,
            history_indptr=data.user_indptr,
            history_items=data.item_idx,
            history_weights=data.weights,
            item_creation_timestamps=_creation_timestamps(data, items),
        )
    (artifact_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _creation_timestamps(data: InteractionData, items: pa.Table | None) -> NDArray[np.int64]:
    newest = int(data.timestamps.max()) if data.n_interactions else 0
    first = np.full(data.n_items, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, data.item_idx, data.timestamps)
    created = np.where(first == np.iinfo(np.int64).max, newest, first)
    if items is not None and "CREATION_TIMESTAMP" in items.column_names and "ITEM_ID" in items.column_names:
        index = data.item_index
        ids = items["ITEM_ID"].to_pylist()
        stamps = items["CREATION_TIMESTAMP"].to_pylist()
        for item_id, stamp in zip(ids, stamps, strict=True):
            i = index.get(str(item_id))
            if i is not None and stamp is not None:
                created[i] = int(stamp)
    return created.astype(np.int64)


def load_trained_model(artifact_dir: Path) -> TrainedModel:
    """Read what :func:`train_solution_version` wrote."""
    artifact_dir = Path(artifact_dir)
    manifest = json.loads((artifact_dir / "manifest.json").read_text())
    if manifest.get("format_version") != ARTIFACT_FORMAT_VERSION:
        raise ValueError(f"unsupported artifact format {manifest.get('format_version')!r}")
    recipe = load_recipe(artifact_dir / "model")
    with np.load(artifact_dir / "data.npz", allow_pickle=False) as archive:
        return TrainedModel(
            recipe=recipe,
            user_ids=archive["user_ids"],
            item_ids=archive["item_ids"],
            history_indptr=archive["history_indptr"].astype(np.int64),
            history_items=archive["history_items"].astype(np.int32),
            history_weights=archive["history_weights"].astype(np.float32),
            item_creation_timestamps=archive["item_creation_timestamps"].astype(np.int64),
            manifest=manifest,
        )


def _no_progress(fraction: float, message: str) -> None:
    del fraction, message
