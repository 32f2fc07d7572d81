"""Personalize's hold-out protocol: 10 % of users, their oldest 90 % in, newest 10 % to predict."""

from __future__ import annotations

import numpy as np
import pytest

from pertinent.training.matrix import InteractionData
from pertinent.training.splits import holdout_split


def _data(n_users: int = 100, per_user: int = 20, seed: int = 0) -> InteractionData:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.permutation(200)[:per_user] for _ in range(n_users)])
    timestamps = rng.integers(0, 10_000, size=len(users))
    return InteractionData.from_indices(users, items, timestamps=timestamps)


def test_ten_percent_of_users_newest_ten_percent_held_out() -> None:
    data = _data()
    split = holdout_split(data, random_state=3)
    assert len(split) == 10
    assert split.train.n_interactions == data.n_interactions - 10 * 2
    for user, inputs, targets in zip(split.test_users, split.inputs, split.targets, strict=True):
        items, _ = data.history(int(user))
        stamps = data.timestamps[data.user_indptr[user] : data.user_indptr[user + 1]]
        assert len(inputs) == 18
        np.testing.assert_array_equal(inputs, items[:18])
        assert set(targets.tolist()) == set(items[18:].tolist())
        assert stamps[:18].max() <= stamps[18:].min()  # inputs are the oldest


def test_same_seed_same_split_and_different_seed_differs() -> None:
    data = _data()
    a, b, c = (
        holdout_split(data, random_state=1),
        holdout_split(data, random_state=1),
        holdout_split(data, random_state=2),
    )
    np.testing.assert_array_equal(a.test_users, b.test_users)
    assert not np.array_equal(a.test_users, c.test_users)


def test_at_least_one_target_and_short_histories_are_never_held_out() -> None:
    users = [0, 0, 0] + [u for u in range(1, 30) for _ in range(1)]
    items = [0, 1, 2] + list(range(3, 32))
    data = InteractionData.from_indices(users, items)
    split = holdout_split(data, random_state=0)
    assert split.test_users.tolist() == [0]  # the only user with 2+ interactions
    assert split.inputs[0].tolist() == [0, 1] and split.targets[0].tolist() == [2]


def test_targets_already_in_the_input_are_not_scored() -> None:
    # user 0 repeats item 5 at the end: nothing new to predict, so the user is not scored
    data = InteractionData.from_indices([0, 0, 0, 1, 1], [5, 6, 5, 7, 8])
    split = holdout_split(data, test_user_fraction=0.5, random_state=0)
    assert 0 not in split.test_users.tolist()
    assert split.train.n_interactions == data.n_interactions - 1


def test_bad_fractions() -> None:
    with pytest.raises(ValueError):
        holdout_split(_data(), test_user_fraction=0.0)
