"""performHPO: random or grid search over a recipe's hyperparameters, scored on a validation split.

The search space is ``hpoConfig.algorithmHyperParameterRanges`` when given (checked against the recipe's
declarations), otherwise the recipe's own tunable hyperparameters with their declared ranges, minus the
ones fixed in ``algorithmHyperParameters``. The first trial is always the fixed/default configuration, so
HPO never returns something that scored worse than the defaults on the validation users. When every
dimension is discrete and the whole grid fits the budget it is searched exhaustively, otherwise
configurations are sampled (log-uniformly where declared). The budget is
``hpoResourceConfig.maxNumberOfTrainingJobs`` (default 8, at most 40); trials run one after another.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pertinent.recipes.base import HyperParameter, HyperParameterValue, InvalidHyperParameterError, Recipe

__all__ = [
    "DEFAULT_MAX_TRIALS",
    "HpoResult",
    "HpoSettings",
    "SearchDimension",
    "Trial",
    "parse_hpo_config",
    "search",
]

DEFAULT_MAX_TRIALS = 8
MAX_TRIALS_LIMIT = 40
DEFAULT_OBJECTIVE = "normalized_discounted_cumulative_gain_at_10"
_OBJECTIVES = (
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)


@dataclass(frozen=True)
class SearchDimension:
    """One searched hyperparameter: an int/float interval or a list of categorical values."""

    name: str
    kind: Literal["int", "float", "categorical"]
    low: float = 0.0
    high: float = 0.0
    values: tuple[str, ...] = ()
    log_scale: bool = False

    @classmethod
    def from_hyperparameter(cls, hp: HyperParameter) -> SearchDimension:
        if hp.kind == "categorical":
            return cls(hp.name, "categorical", values=hp.values)
        if hp.low is None or hp.high is None:
            raise InvalidHyperParameterError(f"Hyperparameter {hp.name!r} has no range to search.")
        return cls(hp.name, hp.kind, low=hp.low, high=hp.high, log_scale=hp.log_scale and hp.low > 0)

    @property
    def is_discrete(self) -> bool:
        return self.kind == "categorical" or (self.kind == "int" and self.high - self.low < 16)

    def grid(self) -> list[HyperParameterValue]:
        if self.kind == "categorical":
            return list(self.values)
        return list(range(int(self.low), int(self.high) + 1))

    def sample(self, rng: np.random.Generator) -> HyperParameterValue:
        if self.kind == "categorical":
            return self.values[int(rng.integers(len(self.values)))]
        if self.log_scale:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.kind == "int":
            return int(min(max(round(value), self.low), self.high))
        return float(f"{value:.4g}")


@dataclass(frozen=True)
class HpoSettings:
    """What ``hpoConfig`` asks for: the space (None: the recipe's default), budget and objective."""

    dimensions: tuple[SearchDimension, ...] | None = None
    max_trials: int = DEFAULT_MAX_TRIALS
    objective: str = DEFAULT_OBJECTIVE


@dataclass(frozen=True)
class Trial:
    """One evaluated configuration."""

    params: dict[str, HyperParameterValue]
    score: float
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HpoResult:
    """The best configuration (complete, validated) and every trial in the order run."""

    best_params: dict[str, HyperParameterValue]
    best_score: float
    trials: list[Trial]
    objective: str


def parse_hpo_config(recipe_cls: type[Recipe], hpo_config: Mapping[str, Any] | None) -> HpoSettings:
    """Read the snake_case ``hpo_config`` (wire values: budgets are strings) for ``recipe_cls``.

    Raises
    ------
    InvalidHyperParameterError
        For ranges naming unknown hyperparameters, of the wrong kind, inverted, or outside the declared
        bounds; for a budget outside 1..40; for an unknown objective metric.

    Examples
    --------
    >>> from pertinent.recipes.user_personalization import UserPersonalization
    >>> config = {"hpo_resource_config": {"max_number_of_training_jobs": "4"},
    ...           "algorithm_hyper_parameter_ranges": {
    ...               "integer_hyper_parameter_ranges": [
    ...                   {"name": "hidden_dimension", "min_value": 32, "max_value": 64}]}}
    >>> settings = parse_hpo_config(UserPersonalization, config)
    >>> settings.max_trials, [d.name for d in settings.dimensions]
    (4, ['hidden_dimension'])
    """
    config = hpo_config or {}
    resources = config.get("hpo_resource_config") or {}
    raw_budget = resources.get("max_number_of_training_jobs")
    max_trials = DEFAULT_MAX_TRIALS
    if raw_budget not in (None, ""):
        try:
            max_trials = int(str(raw_budget).strip())
        except ValueError:
            raise InvalidHyperParameterError(
                f"maxNumberOfTrainingJobs must be an integer, got {raw_budget!r}."
            ) from None
        if not 1 <= max_trials <= MAX_TRIALS_LIMIT:
            raise InvalidHyperParameterError(
                f"maxNumberOfTrainingJobs must be between 1 and {MAX_TRIALS_LIMIT}, got {max_trials}."
            )
    objective_config = config.get("hpo_objective") or {}
    objective = str(objective_config.get("metric_name") or DEFAULT_OBJECTIVE)
    if objective not in _OBJECTIVES:
        raise InvalidHyperParameterError(
            f"HPO objective metric {objective!r} is not supported; use one of {', '.join(_OBJECTIVES)}."
        )
    ranges = config.get("algorithm_hyper_parameter_ranges") or {}
    dimensions: list[SearchDimension] = []
    for entry in ranges.get("integer_hyper_parameter_ranges") or []:
        dimensions.append(_numeric_dimension(recipe_cls, entry, "int"))
    for entry in ranges.get("continuous_hyper_parameter_ranges") or []:
        dimensions.append(_numeric_dimension(recipe_cls, entry, "float"))
    for entry in ranges.get("categorical_hyper_parameter_ranges") or []:
        hp = recipe_cls.hyperparameter(str(entry.get("name")))
        if hp.kind != "categorical":
            raise InvalidHyperParameterError(f"Hyperparameter {hp.name!r} is {hp.kind}, not categorical.")
        values = [str(hp.parse(v)) for v in entry.get("values") or []]
        if not values:
            raise InvalidHyperParameterError(f"Categorical range of {hp.name!r} has no values.")
        dimensions.append(SearchDimension(hp.name, "categorical", values=tuple(dict.fromkeys(values))))
    names = [d.name for d in dimensions]
    if len(set(names)) != len(names):
        raise InvalidHyperParameterError("A hyperparameter appears in more than one HPO range.")
    return HpoSettings(dimensions=tuple(dimensions) or None, max_trials=max_trials, objective=objective)


def _numeric_dimension(
    recipe_cls: type[Recipe], entry: Mapping[str, Any], kind: Literal["int", "float"]
) -> SearchDimension:
    hp = recipe_cls.hyperparameter(str(entry.get("name")))
    if hp.kind != kind:
        wanted = "integerHyperParameterRanges" if hp.kind == "int" else "continuousHyperParameterRanges"
        if hp.kind == "categorical":
            wanted = "categoricalHyperParameterRanges"
        raise InvalidHyperParameterError(
            f"Hyperparameter {hp.name!r} is {hp.kind}: give its range in {wanted}."
        )
    low = float(hp.parse(entry.get("min_value")))
    high = float(hp.parse(entry.get("max_value")))
    if low > high:
        raise InvalidHyperParameterError(f"Range of {hp.name!r} has minValue {low} > maxValue {high}.")
    return SearchDimension(hp.name, kind, low=low, high=high, log_scale=hp.log_scale and low > 0)


def candidate_configurations(
    dimensions: Sequence[SearchDimension], budget: int, random_state: int
) -> list[dict[str, HyperParameterValue]]:
    """Up to ``budget`` distinct assignments: the full grid when it fits, random samples otherwise."""
    if budget <= 0 or not dimensions:
        return []
    if all(d.is_discrete for d in dimensions):
        grid = list(itertools.product(*(d.grid() for d in dimensions)))
        if len(grid) <= budget:
            return [dict(zip((d.name for d in dimensions), combo, strict=True)) for combo in grid]
    rng = np.random.default_rng(random_state)
    seen: set[tuple[HyperParameterValue, ...]] = set()
    configs: list[dict[str, HyperParameterValue]] = []
    for _ in range(budget * 20):
        combo = tuple(d.sample(rng) for d in dimensions)
        if combo in seen:
            continue
        seen.add(combo)
        configs.append(dict(zip((d.name for d in dimensions), combo, strict=True)))
        if len(configs) == budget:
            break
    return configs


def search(
    evaluate_params: Callable[[dict[str, HyperParameterValue]], dict[str, float]],
    base_params: Mapping[str, HyperParameterValue],
    dimensions: Sequence[SearchDimension],
    *,
    max_trials: int = DEFAULT_MAX_TRIALS,
    objective: str = DEFAULT_OBJECTIVE,
    random_state: int = 0,
    on_trial: Callable[[int, int, Trial], None] | None = None,
) -> HpoResult:
    """Evaluate ``base_params`` then up to ``max_trials - 1`` other configurations; keep the best.

    ``evaluate_params`` fits on the training part of a validation split and returns its metrics. Ties
    keep the earlier trial, so the defaults win unless something is strictly better.
    """
    base = dict(base_params)
    configs = [base]
    for override in candidate_configurations(dimensions, max_trials - 1, random_state):
        candidate = {**base, **override}
        if candidate not in configs:
            configs.append(candidate)
    trials: list[Trial] = []
    best = 0
    for i, params in enumerate(configs[:max_trials]):
        metrics = evaluate_params(params)
        trial = Trial(params=params, score=float(metrics[objective]), metrics=metrics)
        trials.append(trial)
        if trial.score > trials[best].score:
            best = i
        if on_trial is not None:
            on_trial(i, min(len(configs), max_trials), trial)
    return HpoResult(
        best_params=dict(trials[best].params),
        best_score=trials[best].score,
        trials=trials,
        objective=objective,
    )
