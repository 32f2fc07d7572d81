"""Personalize's offline-evaluation split.

Amazon Personalize holds out 10 % of the users. After training, the model receives the oldest 90 % of each
held-out user's interactions as input and is scored against that user's newest 10 % (personalize_api.md
§9). Here the model is trained on every interaction except the held-out users' newest part, which is what
serving does too: it scores a history it may or may not have seen in training.

Choices where the documentation is silent, made once here:

* only users with at least 2 interactions can be held out (one for the input, one for the target);
* a held-out user's target part is ``max(1, floor(10 % of their interactions))`` newest ones;
* targets are the distinct target items that are not already in the user's input, because evaluation
  excludes the input history from the recommendations; a user left with no target is not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pertinent.training.matrix import InteractionData

__all__ = ["HoldoutSplit", "holdout_split"]


@dataclass(frozen=True, eq=False)
class HoldoutSplit:
    """Train data plus, per held-out user, an input history and the items to predict.

    Attributes
    ----------
    train : InteractionData
        Everything but the held-out users' newest interactions (same id maps as the full data).
    test_users : ndarray of int64
        Held-out users that are scored (those with at least one target), ascending.
    inputs, input_weights : list of ndarray
        Per scored user, the oldest part of the history (item indices, oldest first) and its weights.
    targets : list of ndarray of int32
        Per scored user, the distinct newest items to predict.
    """

    train: InteractionData
    test_users: NDArray[np.int64]
    inputs: list[NDArray[np.int32]]
    input_weights: list[NDArray[np.float32]]
    targets: list[NDArray[np.int32]]

    def __len__(self) -> int:
        return len(self.test_users)


def holdout_split(
    data: InteractionData,
    *,
    test_user_fraction: float = 0.1,
    target_fraction: float = 0.1,
    random_state: int = 0,
) -> HoldoutSplit:
    """Split ``data`` by Personalize's protocol.

    Parameters
    ----------
    data : InteractionData
        All selected interactions.
    test_user_fraction : float
        Share of all users to hold out (at least one, only among users with 2+ interactions).
    target_fraction : float
        Share of each held-out user's newest interactions to predict (at least one).
    random_state : int
        Seed of the user draw.

    Examples
    --------
    >>> data = InteractionData.from_indices([0] * 10 + [1] * 10, list(range(10)) * 2)
    >>> split = holdout_split(data, test_user_fraction=0.5, random_state=0)
    >>> len(split), split.inputs[0].tolist(), split.targets[0].tolist()
    (1, [0, 1, 2, 3, 4, 5, 6, 7, 8], [9])
    """
    if not 0.0 < test_user_fraction < 1.0 or not 0.0 < target_fraction < 1.0:
        raise ValueError("test_user_fraction and target_fraction must be between 0 and 1")
    counts = data.user_counts
    eligible = np.flatnonzero(counts >= 2)
    n_test = min(len(eligible), max(1, int(round(test_user_fraction * data.n_users))))
    rng = np.random.default_rng(random_state)
    held_out = np.sort(rng.choice(eligible, size=n_test, replace=False)) if n_test else eligible[:0]

    keep = np.ones(data.n_interactions, dtype=bool)
    indptr = data.user_indptr
    scored: list[int] = []
    inputs: list[NDArray[np.int32]] = []
    input_weights: list[NDArray[np.float32]] = []
    targets: list[NDArray[np.int32]] = []
    for user in held_out.tolist():
        lo, hi = int(indptr[user]), int(indptr[user + 1])
        n_target = max(1, int(np.floor((hi - lo) * target_fraction)))
        cut = hi - n_target
        keep[cut:hi] = False
        history = data.item_idx[lo:cut]
        target = np.setdiff1d(data.item_idx[cut:hi], history).astype(np.int32)
        if len(target) == 0:
            continue
        scored.append(user)
        inputs.append(history)
        input_weights.append(data.weights[lo:cut])
        targets.append(target)
    return HoldoutSplit(
        train=data.select(keep),
        test_users=np.asarray(scored, dtype=np.int64),
        inputs=inputs,
        input_weights=input_weights,
        targets=targets,
    )
