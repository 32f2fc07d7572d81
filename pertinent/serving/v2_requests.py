"""The v2 engine at request time: a :class:`~pertinent.recipes.v2.features.RequestState` from the live
history, the request's ``context`` (checked against the model's context keys) and the user's current
metadata (bulk Users data plus every PutUsers)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pertinent.errors import InvalidInputException
from pertinent.recipes.v2.features import RequestState
from pertinent.recipes.v2.two_stage import TwoStageRecipe

__all__ = ["check_context", "request_state"]


def check_context(recipe: TwoStageRecipe, recipe_name: str, context: Mapping[str, str] | None) -> None:
    """Context keys must name a contextual column of the Interactions schema or a Users column
    (Personalize: https://docs.aws.amazon.com/personalize/latest/dg/contextual-metadata.html); others are
    refused rather than ignored."""
    if not context:
        return
    known = {k.upper() for k in recipe.context_keys}
    unknown = sorted(k for k in context if k.upper() not in known)
    if unknown:
        valid = ", ".join(recipe.context_keys) or "none (the training data had no contextual columns)"
        raise InvalidInputException(
            f"context key {unknown[0]!r} is not a contextual column of the Interactions or Users dataset "
            f"this {recipe_name} model was trained on; valid keys: {valid}."
        )


def request_state(
    recipe: TwoStageRecipe,
    items: np.ndarray,
    weights: np.ndarray,
    *,
    user_index: int,
    logged: Sequence[Mapping[str, Any]],
    watermark: int,
    item_index: Mapping[str, int],
    context: Mapping[str, str] | None,
    user_metadata: Mapping[str, Any] | None,
) -> RequestState:
    """``items``/``weights``: the whole history in model indices (training part, then new events)."""
    new = [e for e in logged if int(e.get("seq") or 0) > watermark]
    shown: list[int] = []
    for event in new:
        body = event.get("body")
        if not body:
            continue
        try:
            impression = json.loads(body).get("IMPRESSION")
        except (ValueError, AttributeError):
            continue
        if impression:
            shown += [item_index[i] for i in str(impression).split("|") if i in item_index]
    last = new[-1] if new else None
    return recipe.request_state(
        items,
        weights,
        user_index=user_index,
        context=context,
        user_metadata=user_metadata,
        impressions=shown,
        last_event_type=None if last is None else str(last.get("event_type") or ""),
        last_event_value=None if last is None else last.get("event_value"),
        request_time=None if last is None else float(last.get("timestamp") or 0.0) or None,
        now=time.time(),
    )
