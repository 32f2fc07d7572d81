"""Offline metrics of USER_SEGMENTATION recipes, as Personalize documents them.

Each user's interactions are split 80 % / 20 % (the newest 20 % are the test part); the model trains on the
rest. For each test item, the predicted segment is the top K users by affinity (K = 1 % of the users, at
least 1), leaving out users who interacted with the item in the training part; ``hit`` is the average
number of predicted users who interacted with the item in the test part, ``recall`` the average share of
those actual users that the segment found (https://docs.aws.amazon.com/personalize/latest/dg/item-affinity-recipe.html).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pertinent.recipes.item_affinity import user_affinities
from pertinent.recipes.user_personalization import UserPersonalization
from pertinent.training.matrix import InteractionData

TEST_FRACTION = 0.2
MAX_TEST_ITEMS = 500


def per_user_split(data: InteractionData) -> tuple[InteractionData, NDArray[np.bool_]]:
    """(training part, mask of the test interactions): each user's newest 20 % held out."""
    test = np.zeros(data.n_interactions, dtype=bool)
    indptr = data.user_indptr
    for user in range(data.n_users):
        lo, hi = int(indptr[user]), int(indptr[user + 1])
        n_test = int(np.floor((hi - lo) * TEST_FRACTION))
        if n_test and hi - lo >= 2:
            test[hi - n_test : hi] = True
    return data.select(~test), test


def segment_metrics(
    model: UserPersonalization, data: InteractionData, test: NDArray[np.bool_]
) -> dict[str, float]:
    """``hit`` and ``recall`` of the model (trained on ``data`` without ``test``), averaged over test items."""
    users = np.repeat(np.arange(data.n_users), np.diff(data.user_indptr))
    test_users, test_items = users[test], data.item_idx[test]
    items = np.unique(test_items)
    if len(items) == 0:
        return {"hit": 0.0, "recall": 0.0}
    if len(items) > MAX_TEST_ITEMS:
        items = np.random.default_rng(0).choice(items, MAX_TEST_ITEMS, replace=False)
    train = ~test
    histories = [data.item_idx[lo:hi][train[lo:hi]].astype(np.int64) for lo, hi in _bounds(data)]
    weights = [data.weights[lo:hi][train[lo:hi]] for lo, hi in _bounds(data)]
    queries = np.zeros((model.n_items_, len(items)), dtype=np.float32)
    queries[items, np.arange(len(items))] = 1.0
    affinity = user_affinities(model, histories, weights, queries)
    k = max(1, int(round(0.01 * data.n_users)))
    hits, recalls = [], []
    train_users, train_items = users[train], data.item_idx[train]
    for column, item in enumerate(items.tolist()):
        scores = affinity[:, column].copy()
        scores[train_users[train_items == item]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        actual = set(test_users[test_items == item].tolist())
        found = len(actual.intersection(top.tolist()))
        hits.append(found)
        recalls.append(found / len(actual))
    return {"hit": float(np.mean(hits)), "recall": float(np.mean(recalls))}


def _bounds(data: InteractionData) -> list[tuple[int, int]]:
    indptr = data.user_indptr
    return [(int(indptr[u]), int(indptr[u + 1])) for u in range(data.n_users)]
