"""The contract every registered recipe honours, checked on tiny data with exact answers.

The data is implicit's checkerboard idea: two disjoint groups of users and items; each user interacted
with every item of their own group but one (the withheld item ``user % GROUP_SIZE`` of the group). A
personalized recipe must then recommend the withheld item first, from the user's own group; a popularity
recipe must return the most popular item first. Each check is a plain function taking a
:class:`RecipeConfig`, so ``tests/test_recipe_contract.py`` can parametrize them over the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from pertinent.recipes.base import InvalidHyperParameterError, NotFittedError, Recipe
from pertinent.recipes.registry import RECIPE_CLASSES
from pertinent.training.matrix import InteractionData

GROUP_SIZE = 12
N_GROUPS = 2
N_ITEMS = GROUP_SIZE * N_GROUPS
PERSONALIZED_TYPES = ("USER_PERSONALIZATION", "PERSONALIZED_RANKING", "RELATED_ITEMS")


@dataclass(frozen=True)
class RecipeConfig:
    """A registered recipe plus hyperparameters for one run of the contract."""

    name: str
    param_items: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, name: str, params: dict[str, str] | None = None) -> RecipeConfig:
        return cls(name, tuple(sorted((params or {}).items())))

    @property
    def params(self) -> dict[str, str]:
        return dict(self.param_items)

    @property
    def cls(self) -> type[Recipe]:
        return RECIPE_CLASSES[self.name]

    @property
    def personalized(self) -> bool:
        return self.cls.recipe_type in PERSONALIZED_TYPES

    def make(self, random_state: int = 0) -> Recipe:
        return self.cls(random_state=random_state)

    def fit(self, data: InteractionData, random_state: int = 0) -> Recipe:
        return self.make(random_state).fit(data, self.params)

    def fitted(self, dataset: str = "checkerboard") -> Recipe:
        """A shared fitted model (recipes do not change after fit); ``dataset``: checkerboard|popularity."""
        return _fitted(self, dataset)

    def __str__(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}[{extra}]" if extra else self.name


def contract_configs() -> list[RecipeConfig]:
    """Every registered recipe at its defaults, plus the iALS path of the EASE/iALS recipes."""
    configs = [RecipeConfig.of(name) for name in sorted(RECIPE_CLASSES)]
    for name in sorted(RECIPE_CLASSES):
        if "algorithm" in {hp.name for hp in RECIPE_CLASSES[name].hyperparameters}:
            configs.append(RecipeConfig.of(name, {"algorithm": "ials", "hidden_dimension": "32"}))
    return configs


def group_of(item: int) -> int:
    return item // GROUP_SIZE


def withheld_item(user: int) -> int:
    return group_of_user(user) * GROUP_SIZE + user % GROUP_SIZE


def group_of_user(user: int) -> int:
    return user // GROUP_SIZE


@cache
def _fitted(config: RecipeConfig, dataset: str) -> Recipe:
    return config.fit(checkerboard() if dataset == "checkerboard" else popularity_data())


@cache
def checkerboard() -> InteractionData:
    """``N_GROUPS × GROUP_SIZE`` users; user u interacted with its group's items except one."""
    users: list[int] = []
    items: list[int] = []
    for user in range(N_GROUPS * GROUP_SIZE):
        group = group_of_user(user)
        for item in range(group * GROUP_SIZE, (group + 1) * GROUP_SIZE):
            if item != withheld_item(user):
                users.append(user)
                items.append(item)
    return InteractionData.from_indices(users, items, n_items=N_ITEMS)


@cache
def popularity_data() -> InteractionData:
    """Item i has ``N_ITEMS - i`` distinct users, so item 0 is the most popular and the order is strict."""
    users: list[int] = []
    items: list[int] = []
    for item in range(N_ITEMS):
        for user in range(N_ITEMS - item):
            users.append(user)
            items.append(item)
    return InteractionData.from_indices(users, items, n_items=N_ITEMS)


def history_of(data: InteractionData, user: int) -> np.ndarray:
    return data.history(user)[0].astype(np.int64)


# ---------------------------------------------------------------------- checks
def check_fit_returns_self_and_learned_attributes(config: RecipeConfig) -> None:
    recipe = config.make()
    before = set(vars(recipe))
    assert recipe.fit(checkerboard(), config.params) is recipe
    learned = set(vars(recipe)) - before
    assert learned, "fit learned nothing"
    assert all(name.endswith("_") for name in learned), sorted(learned)
    assert recipe.n_items_ == N_ITEMS


def check_not_fitted(config: RecipeConfig) -> None:
    with pytest.raises(NotFittedError):
        config.make().recommend([0], n=3)


def check_checkerboard_top1(config: RecipeConfig) -> None:
    data = checkerboard()
    recipe = config.fitted()
    for user in range(data.n_users):
        history = history_of(data, user)
        ids, scores = recipe.recommend(history, n=3, exclude=history)
        if config.personalized:
            assert ids[0] == withheld_item(user), (user, ids.tolist(), scores.tolist())
            assert group_of(int(ids[0])) == group_of_user(user)
        assert len(ids) == 3
        assert np.all(np.diff(scores) <= 1e-7)


def check_similar_items_same_group(config: RecipeConfig) -> None:
    recipe = config.fitted()
    for item in range(N_ITEMS):
        ids, _ = recipe.similar_items(item, n=5)
        assert item not in ids.tolist()
        assert len(ids) == 5
        if config.personalized:
            assert all(group_of(int(i)) == group_of(item) for i in ids), (item, ids.tolist())


def check_most_popular_first(config: RecipeConfig) -> None:
    recipe = config.fitted("popularity")
    ids, _ = recipe.recommend([], n=5)
    assert ids.tolist() == [0, 1, 2, 3, 4]
    ids, _ = recipe.recommend([0], n=3, exclude=[0])
    assert ids.tolist() == [1, 2, 3]


def check_new_history_is_scored(config: RecipeConfig) -> None:
    """A history never seen in training changes the recommendations (what real-time events rely on)."""
    recipe = config.fitted()
    first_group = np.array([0, 1, 2], dtype=np.int64)
    both = np.array([0, 1, 2, GROUP_SIZE, GROUP_SIZE + 1, GROUP_SIZE + 2, GROUP_SIZE + 3], dtype=np.int64)
    ids_a, _ = recipe.recommend(first_group, n=3, exclude=first_group)
    ids_b, _ = recipe.recommend(both, n=3, exclude=both)
    if config.personalized:
        assert all(group_of(int(i)) == 0 for i in ids_a)
        assert group_of(int(ids_b[0])) == 1  # the newer, longer part of the history is group 1
        assert ids_a.tolist() != ids_b.tolist()


def check_empty_history_gets_popular_items(config: RecipeConfig) -> None:
    recipe = config.fitted("popularity")
    ids, scores = recipe.recommend([], n=4)
    assert len(ids) == 4
    assert np.all(np.isfinite(scores))
    if config.name != "aws-trending-now":
        assert ids[0] == 0


def check_exclude_honoured(config: RecipeConfig) -> None:
    data = checkerboard()
    recipe = config.fitted()
    history = history_of(data, 0)
    exclude = np.concatenate([history, [withheld_item(0)]])
    ids, _ = recipe.recommend(history, n=N_ITEMS, exclude=exclude)
    assert not set(ids.tolist()) & set(exclude.tolist())
    assert len(ids) == N_ITEMS - len(set(exclude.tolist()))
    everything = np.arange(N_ITEMS)
    ids, scores = recipe.recommend(history, n=5, exclude=everything)
    assert len(ids) == 0 and len(scores) == 0


def check_candidates_honoured(config: RecipeConfig) -> None:
    data = checkerboard()
    recipe = config.fitted()
    candidates = np.array([3, GROUP_SIZE + 5, GROUP_SIZE + 7, 20], dtype=np.int64)
    ids, _ = recipe.recommend(history_of(data, 0), n=10, candidates=candidates)
    assert sorted(ids.tolist()) == sorted(candidates.tolist())
    ids, _ = recipe.recommend(history_of(data, 0), n=10, candidates=candidates, exclude=[3])
    assert 3 not in ids.tolist() and len(ids) == 3


def check_rank(config: RecipeConfig) -> None:
    data = checkerboard()
    recipe = config.fitted()
    user = 1
    items = np.array(
        [GROUP_SIZE + 2, withheld_item(user), GROUP_SIZE + 4, withheld_item(user)], dtype=np.int64
    )
    ids, scores = recipe.rank(history_of(data, user), items)
    assert sorted(ids.tolist()) == sorted(set(items.tolist()))
    assert np.all(np.diff(scores) <= 1e-7)
    if config.personalized:
        assert ids[0] == withheld_item(user)
    if config.cls.softmax_scores:
        assert abs(float(scores.sum()) - 1.0) < 1e-5


def check_batch_equals_single(config: RecipeConfig) -> None:
    data = checkerboard()
    recipe = config.fitted()
    histories = [history_of(data, u) for u in range(6)]
    batch_ids, batch_scores = recipe.recommend_batch(histories, 4, exclude=histories)
    for row, history in enumerate(histories):
        ids, scores = recipe.recommend(history, 4, exclude=history)
        np.testing.assert_array_equal(batch_ids[row][: len(ids)], ids)
        np.testing.assert_allclose(batch_scores[row][: len(ids)], scores, rtol=1e-6)


def check_save_load_identical(config: RecipeConfig, tmp_path: Path) -> None:
    data = checkerboard()
    recipe = config.fitted()
    recipe.save(tmp_path / "model")
    assert (tmp_path / "model.npz").exists() and (tmp_path / "model.json").exists()
    loaded = config.cls.load(tmp_path / "model")
    assert loaded.params_ == recipe.params_
    assert loaded.algorithm == recipe.algorithm
    history = history_of(data, 3)
    for call in _calls(history):
        a, b = call(recipe), call(loaded)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)


def check_reproducible(config: RecipeConfig) -> None:
    data = checkerboard()
    first, second = config.fit(data, random_state=7), config.fit(data, random_state=7)
    history = history_of(data, 5)
    for call in _calls(history):
        a, b = call(first), call(second)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def check_invalid_hyperparameters_rejected(config: RecipeConfig) -> None:
    data = checkerboard()
    with pytest.raises(InvalidHyperParameterError, match="Unknown hyperparameter 'no_such_knob'"):
        config.make().fit(data, {"no_such_knob": "1"})
    for hp in config.cls.hyperparameters:
        for bad in hp.invalid_examples():
            with pytest.raises(InvalidHyperParameterError, match=hp.name):
                config.cls.validate_params({hp.name: bad})
        assert config.cls.validate_params({hp.name: hp.to_wire(hp.default)})[hp.name] == hp.default


def check_item_index_out_of_range(config: RecipeConfig) -> None:
    recipe = config.fitted()
    with pytest.raises(ValueError, match="out of range"):
        recipe.recommend([N_ITEMS], n=3)
    with pytest.raises(ValueError, match="out of range"):
        recipe.similar_items(-1, n=3)


def _calls(history: np.ndarray) -> list[Callable[[Recipe], tuple[np.ndarray, np.ndarray]]]:
    return [
        lambda r: r.recommend(history, n=6, exclude=history),
        lambda r: r.rank(history, np.arange(N_ITEMS)),
        lambda r: r.similar_items(2, n=6),
    ]


CHECKS: list[Callable[[RecipeConfig], None]] = [
    check_fit_returns_self_and_learned_attributes,
    check_not_fitted,
    check_checkerboard_top1,
    check_similar_items_same_group,
    check_new_history_is_scored,
    check_empty_history_gets_popular_items,
    check_exclude_honoured,
    check_candidates_honoured,
    check_rank,
    check_batch_equals_single,
    check_reproducible,
    check_invalid_hyperparameters_rejected,
    check_item_index_out_of_range,
]
POPULARITY_CHECKS: list[Callable[[RecipeConfig], None]] = [check_most_popular_first]
