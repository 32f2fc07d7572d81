"""aws-item-affinity and aws-item-attribute-affinity: USER_SEGMENTATION recipes.

The roles of users and items are swapped over the user-personalization scorer (EASE up to
``ease_max_items`` items, iALS beyond): a user's affinity for an item is the score the user's whole history
gives it, and a segment for an item (or for the items matching an attribute query) is the users with the
highest affinity. Training is user-personalization's; :func:`user_affinities` scores every user at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from pertinent.recipes.base import RecipeType
from pertinent.recipes.user_personalization import UserPersonalization

__all__ = ["ItemAffinity", "ItemAttributeAffinity", "user_affinities"]

CHUNK = 1024


class ItemAffinity(UserPersonalization):
    """For each input item, the users most likely to interact with it."""

    name: ClassVar[str] = "aws-item-affinity"
    recipe_type: ClassVar[RecipeType] = "USER_SEGMENTATION"


class ItemAttributeAffinity(UserPersonalization):
    """For each item-attribute query, the users most likely to interact with items that match it."""

    name: ClassVar[str] = "aws-item-attribute-affinity"
    recipe_type: ClassVar[RecipeType] = "USER_SEGMENTATION"


def user_affinities(
    model: UserPersonalization,
    histories: Sequence[NDArray[np.int64]],
    weights: Sequence[NDArray[np.float32]],
    queries: NDArray[np.float32],
) -> NDArray[np.float32]:
    """``len(histories) × n_queries`` affinities: each user's item scores times ``queries`` (items ×
    queries: a one-hot column per item, or a column averaging the items an attribute query matches)."""
    out = np.zeros((len(histories), queries.shape[1]), dtype=np.float32)
    for start in range(0, len(histories), CHUNK):
        stop = min(start + CHUNK, len(histories))
        scores = model._score(list(histories[start:stop]), list(weights[start:stop]))
        out[start:stop] = scores @ queries
    return out
