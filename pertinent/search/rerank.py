"""The personalized re-ranking blend of OpenSearch's ``personalized_search_ranking`` processor.

For the hit at 1-based page position ``o`` whose item has 1-based rank ``p`` in the personalized ranking::

    score = float32( (1 - w) / log2(o + 1)  +  w / log2(p + 1) )

computed in double precision with ``log2(x) = ln(x) / ln(2)`` exactly as the plugin's Java does, rounded to
float32, then the hits are sorted by that score, descending, with a *stable* sort, so equal scores keep the
engine's order. Only ranks count: neither the engine's ``_score`` nor Personalize's scores enter the formula.
``w = 0`` returns the hits untouched (with their engine scores); ``w = 1`` gives pure personalized order.

Where we deliberately differ from the plugin (``AmazonPersonalizedRankerImpl.combineScores``):

* **An id missing from the personalized ranking** gets ``p = 0`` in the plugin, so ``w / log2(1) = +inf`` and
  the hit jumps to the top. Here it is ranked *after* every id the ranking does contain, in engine order, which
  is what Amazon Personalize itself does with items it has not seen in training (it appends them at the end of
  its answer). The first missing id gets ``p = len(personalized_ids) + 1``, the next ``+ 2`` and so on; a
  repeated missing id keeps the rank of its first occurrence (as ``indexOf`` would).
* **A hit without an id** (``_source`` lacks ``item_id_field``, the value is null, ``_source`` is absent, or
  ``_id`` is absent) throws a NullPointerException in the plugin. Here it is treated like a missing id: it gets
  the next appended rank, in engine order among the other missing ones, and is never sent to Personalize.
* **More than 500 hits** (Personalize's limit on ``inputList``) fail the plugin's call. The blend itself has
  no limit here; :mod:`pertinent.search.pipelines` ranks the distinct ids in chunks of at most 500 and
  concatenates the chunks' rankings.

``missing="first"`` reproduces the plugin's ``+inf`` for ids absent from the personalized ranking (every such
hit scores ``+inf`` at any ``w > 0`` and they keep engine order at the top); it exists so that the plugin's
documented outputs can be checked to the float, not for serving.

Where the score goes: every returned hit is a *new* dict (the input is never mutated) whose ``_score`` is the
blended float32 score; the engine's score is dropped, as the plugin drops it. ``max_score`` of the page becomes
``max(0.0, all blended scores)`` (see :func:`blended_max_score`).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pertinent.java_compat import java_is_blank, java_to_string

_LN2 = math.log(2)
MissingPolicy = Literal["last", "first"]


def is_blank(text: str | None) -> bool:
    """Java's ``String.isBlank()`` (None counts as blank, as the plugin treats a null field as unset)."""
    return java_is_blank(text)


def item_id_of(hit: Mapping[str, Any], item_id_field: str | None) -> str | None:
    """The id the plugin sends to Personalize for a hit, or None when the hit has none.

    A non-blank ``item_id_field`` is a top-level ``_source`` key (a dotted path does not walk nested objects),
    turned into a string with Java's ``toString()`` (``123`` → ``"123"``, ``1.0`` → ``"1.0"``). A blank or
    absent field means the hit's ``_id``.
    """
    if is_blank(item_id_field):
        hit_id = hit.get("_id")
        return None if hit_id is None else str(hit_id)
    source = hit.get("_source")
    if not isinstance(source, Mapping):
        return None
    value = source.get(item_id_field)
    return None if value is None else java_to_string(value)


def personalized_ranks(
    hit_ids: Sequence[str | None], personalized_ids: Sequence[str], missing: MissingPolicy = "last"
) -> list[int]:
    """The 1-based personalized rank ``p`` of each hit id.

    ``missing="last"``: an id absent from ``personalized_ids`` (or a hit without an id) gets the next rank
    after the whole ranking, in engine order (see the module doc). ``missing="first"``: it gets ``0``, as the
    plugin's ``indexOf(id) + 1`` does.
    """
    ranks: dict[str, int] = {}
    for position, item_id in enumerate(personalized_ids, start=1):
        ranks.setdefault(item_id, position)
    if missing == "first":
        return [ranks.get(hit_id, 0) if hit_id is not None else 0 for hit_id in hit_ids]
    next_rank = len(personalized_ids) + 1
    result: list[int] = []
    for hit_id in hit_ids:
        if hit_id is not None and hit_id in ranks:
            result.append(ranks[hit_id])
            continue
        if hit_id is not None:
            ranks[hit_id] = next_rank
        result.append(next_rank)
        next_rank += 1
    return result


def _log2(value: int) -> float:
    return (
        math.log(value) / _LN2
    )  # Java's Math.log(x) / Math.log(2), not math.log2 (they differ in the last bit)


def blend_scores(personalized_rank: Sequence[int], weight: float) -> list[float]:
    """float32 scores ``(1-w)/log2(o+1) + w/log2(p+1)`` for page positions ``o = 1, 2, …``.

    A rank ``p = 0`` gives ``w / 0``, which is ``+inf`` in Java's double arithmetic for ``w > 0``.
    """
    doubles: list[float] = []
    for position, rank in enumerate(personalized_rank, start=1):
        engine_part = (1 - weight) / _log2(position + 1)
        personal_part = weight / _log2(rank + 1) if rank > 0 else (math.inf if weight > 0 else math.nan)
        doubles.append(engine_part + personal_part)
    return array("f", doubles).tolist()  # C's double→float cast: round to nearest, as Java's (float)


def rerank(
    hits: Sequence[Mapping[str, Any]],
    personalized_ids: Sequence[str],
    weight: float,
    item_id_field: str | None = None,
    *,
    missing: MissingPolicy = "last",
) -> list[dict[str, Any]]:
    """Re-order one page of hits by the plugin's blend of engine rank and personalized rank.

    ``hits`` are OpenSearch hit objects (``{"_id", "_score", "_source", ...}``) in engine order;
    ``personalized_ids`` is the personalized ranking of their ids, best first; ``weight`` is in [0, 1];
    ``item_id_field`` names the ``_source`` key holding the item id (blank or None: the hit's ``_id``).

    Returns new hit dicts: at ``weight == 0`` the hits unchanged (engine order and engine ``_score``),
    otherwise sorted by the blended float32 score, stored in ``_score``. Ids absent from
    ``personalized_ids`` and hits without an id are ranked after all present ids (see the module doc);
    ``missing="first"`` gives them the plugin's ``+inf`` instead.
    Raises ValueError for a weight outside [0, 1] (NaN included).
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be between 0.0 and 1.0, got {weight!r}")
    if weight == 0:
        return [dict(hit) for hit in hits]
    hit_ids = [item_id_of(hit, item_id_field) for hit in hits]
    scores = blend_scores(personalized_ranks(hit_ids, personalized_ids, missing), weight)
    order = sorted(range(len(hits)), key=lambda i: -scores[i])  # sorted() is stable
    return [{**hits[i], "_score": scores[i]} for i in order]


def blended_max_score(hits: Sequence[Mapping[str, Any]]) -> float:
    """The plugin's ``max_score`` after blending: the largest ``_score``, and never below 0.0."""
    best = 0.0
    for hit in hits:
        score = hit.get("_score")
        if isinstance(score, int | float) and score > best:
            best = float(score)
    return best
