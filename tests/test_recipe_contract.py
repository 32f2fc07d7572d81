"""Every registered recipe passes the shared contract (tests/contracts/recipe_contract.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pertinent.recipes.base import HyperParameter, InvalidHyperParameterError, recency_weights
from pertinent.recipes.registry import RECIPE_CLASSES, UnknownRecipeError, get_recipe_class, load_recipe
from pertinent.recipes.user_personalization import FALLBACK_HALF_LIFE, UserPersonalization, fit_ease, fold_in
from pertinent.training.matrix import InteractionData
from tests.contracts.recipe_contract import (
    CHECKS,
    POPULARITY_CHECKS,
    RecipeConfig,
    check_save_load_identical,
    checkerboard,
    contract_configs,
)

CONFIGS = contract_configs()


@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_recipe_contract(config: RecipeConfig, check: Callable[[RecipeConfig], None]) -> None:
    check(config)


@pytest.mark.parametrize("config", [c for c in CONFIGS if c.cls.recipe_type == "POPULAR_ITEMS"], ids=str)
@pytest.mark.parametrize("check", POPULARITY_CHECKS, ids=lambda c: c.__name__)
def test_popularity_contract(config: RecipeConfig, check: Callable[[RecipeConfig], None]) -> None:
    check(config)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_save_load_identical(config: RecipeConfig, tmp_path: Path) -> None:
    check_save_load_identical(config, tmp_path)


def test_registry_names_match_classes() -> None:
    expected = {
        "aws-popularity-count",
        "aws-trending-now",
        "aws-user-personalization",
        "aws-user-personalization-v2",
        "aws-personalized-ranking",
        "aws-personalized-ranking-v2",
        "aws-similar-items",
        "aws-sims",
        "aws-item-affinity",
        "aws-item-attribute-affinity",
    }
    assert set(RECIPE_CLASSES) == expected
    for name, cls in RECIPE_CLASSES.items():
        assert cls.name == name
        assert get_recipe_class(f"arn:aws:personalize:::recipe/{name}") is cls
        names = [hp.name for hp in cls.hyperparameters]
        assert len(names) == len(set(names)), name


def test_unknown_recipe() -> None:
    with pytest.raises(UnknownRecipeError, match="aws-hrnn"):
        get_recipe_class("aws-hrnn")


def test_load_recipe_dispatches_on_sidecar(tmp_path: Path) -> None:
    model = get_recipe_class("aws-sims")().fit(checkerboard(), {"min_cointeraction_count": "1"})
    model.save(tmp_path / "m")
    loaded = load_recipe(tmp_path / "m.npz")
    assert type(loaded).__name__ == "Sims"
    with pytest.raises(ValueError, match="aws-sims"):
        get_recipe_class("aws-popularity-count").load(tmp_path / "m")


def test_algorithm_choice_is_automatic_and_visible() -> None:
    data = checkerboard()
    assert UserPersonalization(ease_max_items=1000).fit(data).algorithm == "ease"
    assert UserPersonalization(ease_max_items=10).fit(data, {"hidden_dimension": "32"}).algorithm == "ials"
    with pytest.raises(ValueError, match="ease_max_items"):
        UserPersonalization(ease_max_items=10).fit(data, {"algorithm": "ease"})


def test_hyperparameter_parsing() -> None:
    hp = HyperParameter("k", "int", 5, low=1, high=10)
    assert hp.parse("7") == 7 and hp.parse(7) == 7 and hp.parse(" 3 ") == 3
    for bad in ("0", "11", "2.5", "x", True, None):
        with pytest.raises(InvalidHyperParameterError, match="'k' must be an integer between 1 and 10"):
            hp.parse(bad)
    f = HyperParameter("f", "float", 0.5, low=0.0, high=1.0)
    assert f.parse("0.25") == 0.25 and f.to_wire(0.25) == "0.25"
    for bad in ("nan", "inf", "1.5", "abc"):
        with pytest.raises(InvalidHyperParameterError):
            f.parse(bad)
    c = HyperParameter("c", "categorical", "true", values=("true", "false"))
    assert c.parse("TRUE") == "true" and c.parse(False) == "false"
    with pytest.raises(InvalidHyperParameterError, match="one of 'true', 'false'"):
        c.parse("maybe")


def test_recency_weights() -> None:
    np.testing.assert_allclose(recency_weights(4, 2.0), [1 / 2.5, 0.5, 1 / 1.5, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(recency_weights(3, 0.0), [1.0, 1.0, 1.0])


def test_ease_matches_textbook_closed_form() -> None:
    rng = np.random.default_rng(0)
    dense = (rng.random((40, 15)) < 0.3).astype(np.float32)
    import scipy.sparse as sp

    b = fit_ease(sp.csr_matrix(dense), 3.0)
    g = dense.T.astype(np.float64) @ dense + 3.0 * np.eye(15)
    p = np.linalg.inv(g)
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(b, expected, atol=1e-5)


def test_fold_in_matches_least_squares() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(8, 3)).astype(np.float32)
    import scipy.sparse as sp

    history = sp.csr_matrix(np.array([[1.0, 0, 0.5, 0, 0, 0, 0, 0]], dtype=np.float32))
    x = fold_in(history, y, regularization=0.1, alpha=2.0)[0]
    c = 1.0 + 2.0 * history.toarray()[0]
    p = (history.toarray()[0] > 0).astype(float)
    expected = np.linalg.solve(y.T @ np.diag(c) @ y + 0.1 * np.eye(3), y.T @ (c * p))
    np.testing.assert_allclose(x, expected, rtol=1e-4)


def test_ials_fold_in_follows_new_events() -> None:
    data = checkerboard()
    model = UserPersonalization().fit(data, {"algorithm": "ials", "hidden_dimension": "32"})
    before, _ = model.recommend([0, 1], n=1, exclude=[0, 1])
    after, _ = model.recommend([0, 1, 12, 13, 14], n=1, exclude=[0, 1, 12, 13, 14])
    assert before[0] < 12 <= after[0]


def _taste_switch_data(n_users: int = 240, seed: int = 0) -> InteractionData:
    """Every user's taste moves from one item group to the other halfway through their history."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for user in range(n_users):
        first, second = (0, 1) if user % 2 else (1, 0)
        for group, count in ((first, 12), (second, 6)):
            for item in rng.choice(30, size=count, replace=False):
                users.append(user)
                items.append(group * 30 + int(item))
    return InteractionData.from_indices(users, items)


def test_recency_half_life_is_chosen_from_the_data() -> None:
    data = _taste_switch_data()
    auto = UserPersonalization().fit(data)
    assert auto.recency_half_life_ > 0  # recent events predict the next one here
    assert UserPersonalization().fit(data, {"recency_mask": "false"}).recency_half_life_ == 0
    assert UserPersonalization().fit(data, {"recency_half_life": "7"}).recency_half_life_ == 7
    # too little data to hold anything out: a fixed fallback
    assert UserPersonalization().fit(checkerboard()).recency_half_life_ == FALLBACK_HALF_LIFE
    history = data.history(0)[0]
    ids, _ = auto.recommend(history, n=3, exclude=history)
    assert all(i < 30 for i in ids)  # user 0 moved to group 0 last


@pytest.mark.parametrize(
    "module",
    [
        "pertinent.recipes.base",
        "pertinent.recipes.popularity_count",
        "pertinent.recipes.trending_now",
        "pertinent.recipes.user_personalization",
        "pertinent.recipes.personalized_ranking",
        "pertinent.recipes.similar_items",
        "pertinent.recipes.registry",
        "pertinent.recipes.hpo",
        "pertinent.training.matrix",
        "pertinent.training.splits",
        "pertinent.training.evaluation",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_ials_serving_after_a_refit_uses_the_new_factors() -> None:
    """The cached YᵀY of fold-in must follow the factors: a refit on other data changes the answer."""
    import numpy as np

    from pertinent.recipes.user_personalization import UserPersonalization
    from pertinent.training.matrix import InteractionData

    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(60), 10)
    first = InteractionData.from_indices(users, rng.integers(0, 40, 600), n_users=60, n_items=40)
    second = InteractionData.from_indices(users, rng.integers(0, 40, 600), n_users=60, n_items=40)
    recipe = UserPersonalization(random_state=0).fit(first, {"algorithm": "ials"})
    history = np.array([1, 2, 3])
    recipe.recommend(history, 5)  # computes and caches the Gram matrix
    recipe.fit(second, {"algorithm": "ials"})
    fresh = UserPersonalization(random_state=0).fit(second, {"algorithm": "ials"})
    assert np.array_equal(recipe.recommend(history, 5)[0], fresh.recommend(history, 5)[0])
