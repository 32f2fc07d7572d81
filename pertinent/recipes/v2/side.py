"""What the v2 engine knows about interactions beyond (user, item, time): context columns, event types and
values, impressions, user metadata and item creation times.

:class:`InteractionSide` is aligned with :class:`~pertinent.training.matrix.InteractionData`'s sorted
interactions (and its users and items); the training layer builds it from the datasets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["CodedColumn", "InteractionSide", "normalize_value"]


def normalize_value(value: object) -> str | None:
    """How categorical values are compared: stripped, lower case; empty means missing."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = str(value).strip().lower()
    return text or None


@dataclass(frozen=True, eq=False)
class CodedColumn:
    """One categorical (or binned numeric) column: per-row codes into ``values`` (-1 = missing).

    Numeric columns carry their quantile ``edges``; a value then codes to its bin.

    Examples
    --------
    >>> col = CodedColumn.from_values(["Mobile", "tv", None, "mobile"])
    >>> col.values, col.codes.tolist(), col.code_of("MOBILE")
    (('mobile', 'tv'), [0, 1, -1, 0], 0)
    """

    values: tuple[str, ...]
    codes: NDArray[np.int32]
    edges: tuple[float, ...] | None = None
    _lookup: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._lookup.update({v: i for i, v in enumerate(self.values)})

    @classmethod
    def from_values(cls, raw: list[object], *, max_values: int = 64, min_count: int = 1) -> CodedColumn:
        """Code string values; only the ``max_values`` most frequent with ``min_count`` rows keep a code."""
        normalized = [normalize_value(v) for v in raw]
        counts: dict[str, int] = {}
        for v in normalized:
            if v is not None:
                counts[v] = counts.get(v, 0) + 1
        kept = sorted((v for v in counts if counts[v] >= min_count), key=lambda v: (-counts[v], v))
        values = tuple(sorted(kept[:max_values]))
        lookup = {v: i for i, v in enumerate(values)}
        codes = np.array([lookup.get(v, -1) if v is not None else -1 for v in normalized], dtype=np.int32)
        return cls(values, codes)

    @classmethod
    def from_numbers(cls, raw: NDArray[np.float64], *, bins: int = 8) -> CodedColumn:
        finite = np.isfinite(raw)
        if not finite.any():
            return cls((), np.full(len(raw), -1, dtype=np.int32), edges=())
        edges = np.unique(np.quantile(raw[finite], np.linspace(0, 1, bins + 1)[1:-1]))
        codes = np.where(finite, np.searchsorted(edges, np.nan_to_num(raw), side="right"), -1)
        values = tuple(f"#{i}" for i in range(len(edges) + 1))
        return cls(values, codes.astype(np.int32), edges=tuple(float(e) for e in edges))

    @property
    def numeric(self) -> bool:
        return self.edges is not None

    def code_of(self, value: object) -> int:
        """The code of a request value (-1 when unknown or missing)."""
        if self.edges is not None:
            try:
                number = float(str(value))
            except ValueError:
                return -1
            if not math.isfinite(number):
                return -1
            return int(np.searchsorted(np.asarray(self.edges), number, side="right"))
        text = normalize_value(value)
        return -1 if text is None else self._lookup.get(text, -1)

    def take(self, rows: NDArray[np.int64] | NDArray[np.bool_]) -> CodedColumn:
        return CodedColumn(self.values, self.codes[rows], self.edges)


@dataclass(frozen=True, eq=False)
class InteractionSide:
    """Per-interaction, per-user and per-item extras, aligned with an InteractionData.

    Attributes
    ----------
    context : dict of str to CodedColumn
        Every contextual column of the Interactions schema (string columns beyond the reserved ones),
        one code per interaction.
    event_type : CodedColumn
        ``EVENT_TYPE`` per interaction (no values when the column is absent).
    event_value : ndarray of float32
        ``EVENT_VALUE`` per interaction, NaN where absent.
    impression_indptr, impression_items : ndarray
        Interaction ``j`` showed items ``impression_items[impression_indptr[j]:impression_indptr[j + 1]]``
        (explicit ``IMPRESSION`` lists, as item indices).
    user_attributes : dict of str to CodedColumn
        Every column of the Users dataset, one code per user.
    item_created : ndarray of float64
        Items' ``CREATION_TIMESTAMP`` (epoch seconds), NaN where unknown.
    """

    context: Mapping[str, CodedColumn]
    event_type: CodedColumn
    event_value: NDArray[np.float32]
    impression_indptr: NDArray[np.int64]
    impression_items: NDArray[np.int32]
    user_attributes: Mapping[str, CodedColumn]
    item_created: NDArray[np.float64]

    @classmethod
    def empty(cls, n_interactions: int, n_users: int, n_items: int) -> InteractionSide:
        del n_users
        return cls(
            context={},
            event_type=CodedColumn((), np.full(n_interactions, -1, dtype=np.int32)),
            event_value=np.full(n_interactions, np.nan, dtype=np.float32),
            impression_indptr=np.zeros(n_interactions + 1, dtype=np.int64),
            impression_items=np.zeros(0, dtype=np.int32),
            user_attributes={},
            item_created=np.full(n_items, np.nan, dtype=np.float64),
        )

    def impressions_of(self, row: int) -> NDArray[np.int32]:
        return self.impression_items[self.impression_indptr[row] : self.impression_indptr[row + 1]]

    def select(self, mask: NDArray[np.bool_]) -> InteractionSide:
        """The interactions where ``mask`` is true (users and items unchanged)."""
        lengths = np.diff(self.impression_indptr)
        keep_items = np.repeat(mask, lengths)
        indptr = np.zeros(int(mask.sum()) + 1, dtype=np.int64)
        np.cumsum(lengths[mask], out=indptr[1:])
        return InteractionSide(
            context={k: c.take(mask) for k, c in self.context.items()},
            event_type=self.event_type.take(mask),
            event_value=self.event_value[mask],
            impression_indptr=indptr,
            impression_items=self.impression_items[keep_items],
            user_attributes=self.user_attributes,
            item_created=self.item_created,
        )
