"""Exploration of new items (User-Personalization's ``itemExplorationConfig``).

Cold items — in the catalog but absent from the model or never interacted with in its training data —
whose creation time lies within ``explorationItemAgeCutOff`` days of the newest known item are candidates;
they are ordered by how well their metadata matches the user's history (cosine over categorical and
textual tokens), newest first where that says nothing. Items without a ``CREATION_TIMESTAMP`` count as new,
as Personalize treats them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pertinent.serving.group_data import Catalog
from pertinent.serving.inline import about_to_block

_WORD = re.compile(r"[a-z0-9]+")
SECONDS_PER_DAY = 86_400.0


def item_features(catalog: Catalog) -> sp.csr_matrix:
    """Rows: catalog items; columns: ``FIELD=value`` categorical tokens and lower-cased textual words (L2-normed)."""
    if catalog._features is not None:
        return catalog._features
    about_to_block()
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for index, row in enumerate(catalog.rows):
        tokens: set[str] = set()
        for name in catalog.metadata_fields:
            value = row.get(name)
            if value is None or isinstance(value, (int, float)):
                continue
            if name in catalog.textual_fields:
                tokens.update(f"{name}:{w}" for w in _WORD.findall(str(value).lower()))
            else:
                tokens.update(f"{name}={v}" for v in str(value).split("|") if v)
        for token in tokens:
            rows.append(index)
            cols.append(vocabulary.setdefault(token, len(vocabulary)))
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(catalog.rows), max(1, len(vocabulary))),
    )
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    features = sp.diags(1.0 / norms).dot(matrix).tocsr()
    catalog._features = features
    return features


def cold_candidates(
    catalog: Catalog, popularity: npt.NDArray[np.floating] | npt.NDArray[np.integer], cutoff_days: float
) -> npt.NDArray[np.int64]:
    """Catalog indices of cold items created within the cut-off."""
    n_model = catalog.n_model_items
    cold = np.ones(len(catalog.item_ids), dtype=bool)
    cold[:n_model] = np.asarray(popularity[:n_model]) <= 0
    created = catalog.creation_timestamps
    if np.isfinite(created).any():
        newest = np.nanmax(created)
        recent = np.isnan(created) | (created >= newest - cutoff_days * SECONDS_PER_DAY)
        cold &= recent
    return np.flatnonzero(cold).astype(np.int64)


def cached_cold_candidates(
    catalog: Catalog, popularity: npt.NDArray[np.floating] | npt.NDArray[np.integer], cutoff_days: float
) -> npt.NDArray[np.int64]:
    """:func:`cold_candidates`, computed once per catalog, model popularity and cut-off (a batch job asks
    for every user; the answer depends on none of them)."""
    cached = catalog._cold.get(cutoff_days)
    if cached is not None and cached[0] is popularity:
        return cached[1]  # type: ignore[no-any-return]
    result = cold_candidates(catalog, popularity, cutoff_days)
    catalog._cold[cutoff_days] = (popularity, result)
    return result


def exploration_items(
    catalog: Catalog,
    popularity: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    history: npt.NDArray[np.int64],
    mask: npt.NDArray[np.bool_],
    cutoff_days: float,
    limit: int,
    exclude: Iterable[int] = (),
) -> list[int]:
    """Up to ``limit`` cold items for this user (catalog indices), best match first."""
    candidates = cached_cold_candidates(catalog, popularity, cutoff_days)
    taken = set(exclude)
    candidates = np.array([c for c in candidates.tolist() if mask[c] and c not in taken], dtype=np.int64)
    if len(candidates) == 0 or limit <= 0:
        return []
    created = np.nan_to_num(catalog.creation_timestamps[candidates], nan=np.inf)
    similarity = np.zeros(len(candidates), dtype=np.float32)
    if len(history):
        features = item_features(catalog)
        profile = np.asarray(features[history].sum(axis=0)).ravel()
        norm = float(np.linalg.norm(profile))
        if norm > 0:
            similarity = np.asarray(features[candidates].dot(profile / norm)).ravel().astype(np.float32)
    order = np.lexsort((candidates, -created, -similarity))
    return [int(c) for c in candidates[order][:limit]]
