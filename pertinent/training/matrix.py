"""Interactions as arrays: id maps, per-interaction index arrays and CSR user×item matrices.

:class:`InteractionData` is what every recipe trains on. It is built from the Interactions dataset (a
pyarrow Table with ``USER_ID``, ``ITEM_ID``, ``TIMESTAMP`` and optionally ``EVENT_TYPE``/``EVENT_VALUE``)
after the solution's event selection (:class:`EventSelection`: ``eventType``, ``eventValueThreshold``,
``eventsConfig``), plus the optional Items dataset, whose items get an index even when nobody interacted
with them yet, and whose metadata becomes a sparse TF-IDF feature matrix for content similarity.

Interactions are stored sorted by (user, timestamp, input order), so a user's history is one contiguous,
oldest-first slice ``user_indptr[u]:user_indptr[u + 1]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from numpy.typing import NDArray

from pertinent.errors import TrainingFailure
from pertinent.recipes.v2.side import InteractionSide
from pertinent.training.side_data import build_side

__all__ = [
    "EventParameters",
    "EventSelection",
    "InteractionData",
    "build_item_features",
]

_RESERVED_ITEM_COLUMNS = frozenset({"ITEM_ID", "CREATION_TIMESTAMP"})
_TOKEN = re.compile(r"[^\W_]{2,}", re.UNICODE)
_TEXT_STOPWORDS = frozenset(
    "the and for with that this from are was were but not you your have has had its into over "
    "than then they them their there which who whom what when where why how all any can will".split()
)


@dataclass(frozen=True)
class EventParameters:
    """One entry of ``solutionConfig.eventsConfig.eventParametersList``."""

    event_type: str
    event_value_threshold: float | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class EventSelection:
    """Which interactions a solution trains on, and with what weight.

    Parameters
    ----------
    event_type : str or None
        The solution's ``eventType``: train only on interactions of that type.
    event_value_threshold : float or None
        ``solutionConfig.eventValueThreshold``: keep interactions with ``EVENT_VALUE >= threshold``.
    event_parameters : tuple of EventParameters
        ``solutionConfig.eventsConfig.eventParametersList``. When given, only the listed event types are
        used, each with its own optional value threshold and a weight in [0, 1] (weight 0 drops the type).

    Examples
    --------
    >>> EventSelection.from_solution_config({"event_value_threshold": "3.5"}, event_type=None)
    EventSelection(event_type=None, event_value_threshold=3.5, event_parameters=())
    """

    event_type: str | None = None
    event_value_threshold: float | None = None
    event_parameters: tuple[EventParameters, ...] = ()

    @classmethod
    def from_solution_config(
        cls, solution_config: Mapping[str, Any] | None, event_type: str | None
    ) -> EventSelection:
        """Read the snake_case ``solution_config`` (values as on the wire: thresholds may be strings)."""
        config = solution_config or {}
        threshold = _optional_float(config.get("event_value_threshold"), "eventValueThreshold")
        params: list[EventParameters] = []
        events_config = config.get("events_config") or {}
        for i, entry in enumerate(events_config.get("event_parameters_list") or []):
            name = entry.get("event_type")
            if not name:
                raise TrainingFailure(f"eventsConfig.eventParametersList[{i}] has no eventType.")
            weight = _optional_float(entry.get("weight"), f"eventParametersList[{i}].weight")
            if weight is not None and not 0.0 <= weight <= 1.0:
                raise TrainingFailure(
                    f"eventParametersList[{i}].weight must be between 0 and 1, got {weight}."
                )
            params.append(
                EventParameters(
                    event_type=str(name),
                    event_value_threshold=_optional_float(
                        entry.get("event_value_threshold"), f"eventParametersList[{i}].eventValueThreshold"
                    ),
                    weight=1.0 if weight is None else weight,
                )
            )
        return cls(
            event_type=event_type or None, event_value_threshold=threshold, event_parameters=tuple(params)
        )

    def apply(self, table: pa.Table) -> tuple[pa.Table, NDArray[np.float32]]:
        """The selected rows of ``table`` and their weights."""
        n = table.num_rows
        keep = pa.array(np.ones(n, dtype=bool))
        weights = np.ones(n, dtype=np.float32)
        needs_type = self.event_type is not None or bool(self.event_parameters)
        if needs_type and "EVENT_TYPE" not in table.column_names:
            raise TrainingFailure(
                "The solution selects events by type, but the Interactions dataset has no EVENT_TYPE column."
            )
        needs_value = self.event_value_threshold is not None or any(
            p.event_value_threshold is not None for p in self.event_parameters
        )
        if needs_value and "EVENT_VALUE" not in table.column_names:
            raise TrainingFailure(
                "The solution sets an event value threshold, but the Interactions dataset has no "
                "EVENT_VALUE column."
            )
        if self.event_type is not None:
            keep = pc.and_(keep, _fill_false(pc.equal(table["EVENT_TYPE"], self.event_type)))
        if self.event_value_threshold is not None:
            keep = pc.and_(
                keep, _fill_false(pc.greater_equal(table["EVENT_VALUE"], self.event_value_threshold))
            )
        if self.event_parameters:
            listed = pa.array(np.zeros(n, dtype=bool))
            for p in self.event_parameters:
                match = _fill_false(pc.equal(table["EVENT_TYPE"], p.event_type))
                if p.event_value_threshold is not None:
                    match = pc.and_(
                        match, _fill_false(pc.greater_equal(table["EVENT_VALUE"], p.event_value_threshold))
                    )
                weights[_to_bool(match)] = p.weight
                listed = pc.or_(listed, match)
            keep = pc.and_(keep, listed)
        mask = _to_bool(keep) & (weights > 0)
        for column in ("USER_ID", "ITEM_ID", "TIMESTAMP"):
            mask &= ~_to_bool(pc.is_null(table[column]))
        return table.filter(pa.array(mask)), weights[mask]


@dataclass(frozen=True, eq=False)
class InteractionData:
    """Interactions with integer user and item indices, sorted by (user, timestamp).

    Parameters
    ----------
    user_ids, item_ids : ndarray of str
        Index → external id, unique (sorted when built from Arrow). ``item_ids`` also holds items that
        only appear in the Items dataset (cold items).
    user_idx, item_idx : ndarray of int32
        One entry per interaction.
    timestamps : ndarray of int64
        Epoch seconds, one per interaction.
    weights : ndarray of float32
        Per-interaction weight from the event selection (1.0 unless ``eventsConfig`` says otherwise).
    item_features : scipy.sparse.csr_matrix or None
        ``n_items × n_features`` row-normalized TF-IDF of the Items metadata, or None without metadata.
    feature_names : tuple of str
        Name of each feature column (``GENRES=comedy``, ``DESCRIPTION:space``, ``PRICE#3``).

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"USER_ID": ["u1", "u1", "u2"], "ITEM_ID": ["a", "b", "a"], "TIMESTAMP": [3, 1, 2]})
    >>> data = InteractionData.from_arrow(t)
    >>> data.item_ids.tolist(), data.history(0)[0].tolist()
    (['a', 'b'], [1, 0])
    >>> data.csr().toarray().tolist()
    [[1.0, 1.0], [1.0, 0.0]]
    """

    user_ids: NDArray[np.str_]
    item_ids: NDArray[np.str_]
    user_idx: NDArray[np.int32]
    item_idx: NDArray[np.int32]
    timestamps: NDArray[np.int64]
    weights: NDArray[np.float32]
    item_features: sp.csr_matrix | None = None
    feature_names: tuple[str, ...] = field(default=())
    #: context, event types/values, impressions, user metadata (built with ``with_side=True``)
    side: InteractionSide | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrow(
        cls,
        interactions: pa.Table,
        items: pa.Table | None = None,
        *,
        selection: EventSelection | None = None,
        users: pa.Table | None = None,
        with_side: bool = False,
    ) -> InteractionData:
        """Build from the Interactions (and optionally Items) dataset after ``selection``; ``with_side``
        also keeps context, event types/values, impressions and the ``users`` metadata (v2 engine)."""
        missing = {"USER_ID", "ITEM_ID", "TIMESTAMP"} - set(interactions.column_names)
        if missing:
            raise TrainingFailure(
                f"The Interactions dataset lacks required column(s): {', '.join(sorted(missing))}."
            )
        table, weights = (selection or EventSelection()).apply(interactions)
        user_codes, user_ids = _encode(table["USER_ID"])
        item_column = table["ITEM_ID"]
        extra_items: pa.ChunkedArray | None = None
        if items is not None and "ITEM_ID" in items.column_names:
            extra_items = items["ITEM_ID"].drop_null()
        item_codes, item_ids = _encode(item_column, extra_items)
        timestamps = _to_int64(table["TIMESTAMP"])
        order = np.lexsort((np.arange(len(user_codes)), timestamps, user_codes))
        features: sp.csr_matrix | None = None
        names: tuple[str, ...] = ()
        if items is not None:
            features, names = build_item_features(items, item_ids)
        side = None
        if with_side:
            index = {str(v): i for i, v in enumerate(item_ids.tolist())}
            side = build_side(table.take(pa.array(order)), index, user_ids, users, items)
        return cls(
            user_ids=user_ids,
            item_ids=item_ids,
            user_idx=user_codes[order].astype(np.int32),
            item_idx=item_codes[order].astype(np.int32),
            timestamps=timestamps[order],
            weights=weights[order].astype(np.float32),
            item_features=features,
            feature_names=names,
            side=side,
        )

    @classmethod
    def from_indices(
        cls,
        user_idx: Sequence[int] | NDArray[np.integer[Any]],
        item_idx: Sequence[int] | NDArray[np.integer[Any]],
        *,
        timestamps: Sequence[int] | NDArray[np.integer[Any]] | None = None,
        weights: Sequence[float] | NDArray[np.floating[Any]] | None = None,
        n_users: int | None = None,
        n_items: int | None = None,
        item_features: sp.csr_matrix | None = None,
    ) -> InteractionData:
        """Build from integer indices (ids become ``"0"``, ``"1"``, …): handy for tests and benchmarks.

        Without ``timestamps`` the input order is the time order.
        """
        users = np.asarray(user_idx, dtype=np.int64)
        items = np.asarray(item_idx, dtype=np.int64)
        ts = np.arange(len(users), dtype=np.int64) if timestamps is None else np.asarray(timestamps, np.int64)
        w = np.ones(len(users), np.float32) if weights is None else np.asarray(weights, np.float32)
        if not len(users) == len(items) == len(ts) == len(w):
            raise ValueError("user_idx, item_idx, timestamps and weights must have the same length")
        n_u = int(users.max(initial=-1)) + 1 if n_users is None else n_users
        n_i = int(items.max(initial=-1)) + 1 if n_items is None else n_items
        order = np.lexsort((np.arange(len(users)), ts, users))
        return cls(
            user_ids=np.arange(n_u).astype(str),
            item_ids=np.arange(n_i).astype(str),
            user_idx=users[order].astype(np.int32),
            item_idx=items[order].astype(np.int32),
            timestamps=ts[order],
            weights=w[order],
            item_features=item_features,
        )

    # ------------------------------------------------------------------ sizes and maps
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.user_idx)

    @cached_property
    def user_index(self) -> dict[str, int]:
        """USER_ID → index."""
        return {str(u): i for i, u in enumerate(self.user_ids.tolist())}

    @cached_property
    def item_index(self) -> dict[str, int]:
        """ITEM_ID → index."""
        return {str(u): i for i, u in enumerate(self.item_ids.tolist())}

    @cached_property
    def user_indptr(self) -> NDArray[np.int64]:
        """User ``u``'s interactions are rows ``user_indptr[u]:user_indptr[u + 1]`` (oldest first)."""
        counts = np.bincount(self.user_idx, minlength=self.n_users)
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr

    @cached_property
    def user_counts(self) -> NDArray[np.int64]:
        """Interactions per user."""
        return np.diff(self.user_indptr)

    @cached_property
    def item_user_counts(self) -> NDArray[np.int64]:
        """Unique users per item."""
        return np.asarray(np.bincount(self.csr().indices, minlength=self.n_items), dtype=np.int64)

    def history(self, user: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """Item indices and weights of ``user``'s interactions, oldest first."""
        lo, hi = self.user_indptr[user], self.user_indptr[user + 1]
        return self.item_idx[lo:hi], self.weights[lo:hi]

    def histories(self, users: Iterable[int]) -> tuple[list[NDArray[np.int32]], list[NDArray[np.float32]]]:
        """:meth:`history` for many users."""
        items: list[NDArray[np.int32]] = []
        weights: list[NDArray[np.float32]] = []
        for u in users:
            i, w = self.history(int(u))
            items.append(i)
            weights.append(w)
        return items, weights

    # ------------------------------------------------------------------ matrices and subsets
    def csr(self, *, weighted: bool = False, aggregate: Literal["max", "sum"] = "max") -> sp.csr_matrix:
        """The ``n_users × n_items`` float32 CSR matrix.

        Unweighted, an entry is 1 when the user interacted with the item at all. Weighted, repeated
        interactions of one (user, item) pair are combined by ``aggregate`` (``"sum"`` suits confidence
        models such as iALS, ``"max"`` suits EASE).
        """
        values = self.weights if weighted else np.ones(self.n_interactions, dtype=np.float32)
        shape = (self.n_users, self.n_items)
        if aggregate == "sum":
            matrix = sp.csr_matrix((values, (self.user_idx, self.item_idx)), shape=shape, dtype=np.float32)
        else:
            # keep the largest value per pair: sort so the max comes last, then keep last duplicates
            key = self.user_idx.astype(np.int64) * max(self.n_items, 1) + self.item_idx
            order = np.lexsort((values, key))
            last = np.ones(len(order), dtype=bool)
            last[:-1] = key[order][1:] != key[order][:-1]
            kept = order[last]
            matrix = sp.csr_matrix(
                (values[kept], (self.user_idx[kept], self.item_idx[kept])), shape=shape, dtype=np.float32
            )
        matrix.sum_duplicates()
        matrix.sort_indices()
        return matrix

    def select(self, mask: NDArray[np.bool_]) -> InteractionData:
        """The interactions where ``mask`` is true, with the same id maps and item features."""
        return InteractionData(
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            user_idx=self.user_idx[mask],
            item_idx=self.item_idx[mask],
            timestamps=self.timestamps[mask],
            weights=self.weights[mask],
            item_features=self.item_features,
            feature_names=self.feature_names,
            side=None if self.side is None else self.side.select(mask),
        )

    def users_with_at_least(self, k: int) -> int:
        """How many users have at least ``k`` interactions."""
        return int(np.count_nonzero(self.user_counts >= k))


# ---------------------------------------------------------------------- item metadata features
def build_item_features(
    items: pa.Table,
    item_ids: NDArray[np.str_],
    *,
    textual_columns: Sequence[str] | None = None,
    numeric_bins: int = 8,
) -> tuple[sp.csr_matrix | None, tuple[str, ...]]:
    """TF-IDF features of the Items metadata, rows aligned with ``item_ids``.

    Categorical string fields give one token per ``|``-separated value, the textual field one token per
    word, numeric fields one token per quantile bin. A string column is textual when its Arrow field
    metadata says ``textual: true`` (the dataset layer stores the Avro schema flags there), or, without
    metadata, when its values average more than three words. Each field is L2-normalized on its own and
    the fields are weighted equally. Items absent from ``items`` get an all-zero row.
    """
    if "ITEM_ID" not in items.column_names or items.num_rows == 0:
        return None, ()
    index = {str(v): i for i, v in enumerate(item_ids.tolist())}
    row_of = np.array([index.get(str(v), -1) for v in items["ITEM_ID"].to_pylist()], dtype=np.int64)
    blocks: list[sp.csr_matrix] = []
    names: list[str] = []
    for column in items.column_names:
        if column in _RESERVED_ITEM_COLUMNS:
            continue
        arrow_field = items.schema.field(column)
        values = items[column]
        tokens: list[list[str]]
        if pa.types.is_string(arrow_field.type) or pa.types.is_large_string(arrow_field.type):
            texts = values.to_pylist()
            if _is_textual(arrow_field, texts, textual_columns):
                tokens = [_text_tokens(column, t) for t in texts]
            else:
                tokens = [_categorical_tokens(column, t) for t in texts]
        elif pa.types.is_boolean(arrow_field.type):
            tokens = [[] if v is None else [f"{column}={str(v).lower()}"] for v in values.to_pylist()]
        elif pa.types.is_integer(arrow_field.type) or pa.types.is_floating(arrow_field.type):
            tokens = _numeric_tokens(column, values, numeric_bins)
        else:
            continue
        block, block_names = _tfidf_block(tokens, row_of, len(item_ids))
        if block is not None:
            blocks.append(block)
            names.extend(block_names)
    if not blocks:
        return None, ()
    matrix = sp.hstack(blocks, format="csr", dtype=np.float32)
    fields_present = np.zeros(matrix.shape[0], dtype=np.float32)
    for block in blocks:
        fields_present += (np.diff(block.indptr) > 0).astype(np.float32)
    scale = np.where(fields_present > 0, 1.0 / np.sqrt(np.maximum(fields_present, 1.0)), 0.0).astype(
        np.float32
    )
    matrix = sp.diags(scale) @ matrix
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.eliminate_zeros()
    return matrix, tuple(names)


def _is_textual(arrow_field: pa.Field, texts: list[Any], textual_columns: Sequence[str] | None) -> bool:
    if textual_columns is not None:
        return arrow_field.name in textual_columns
    meta = {k.decode().lower(): v.decode().lower() for k, v in (arrow_field.metadata or {}).items()}
    if meta.get("textual") == "true":
        return True
    if meta.get("categorical") == "true":
        return False
    sample = [t for t in texts[:1000] if t]
    if not sample:
        return False
    return sum(len(t.split()) for t in sample) / len(sample) > 3.0


def _categorical_tokens(column: str, value: str | None) -> list[str]:
    if not value:
        return []
    return [f"{column}={part.strip().lower()}" for part in value.split("|") if part.strip()]


def _text_tokens(column: str, value: str | None) -> list[str]:
    if not value:
        return []
    return [
        f"{column}:{w}" for w in _TOKEN.findall(value.lower()) if w not in _TEXT_STOPWORDS and not w.isdigit()
    ]


def _numeric_tokens(column: str, values: pa.ChunkedArray, bins: int) -> list[list[str]]:
    raw = values.to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(raw)
    if not finite.any():
        return [[] for _ in raw]
    edges = np.unique(np.quantile(raw[finite], np.linspace(0, 1, bins + 1)[1:-1]))
    codes = np.searchsorted(edges, raw, side="right")
    return [[f"{column}#{c}"] if ok else [] for c, ok in zip(codes.tolist(), finite.tolist(), strict=True)]


def _tfidf_block(
    tokens: list[list[str]], row_of: NDArray[np.int64], n_rows: int
) -> tuple[sp.csr_matrix | None, list[str]]:
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for row, row_tokens in zip(row_of.tolist(), tokens, strict=True):
        if row < 0:
            continue
        for token in row_tokens:
            rows.append(row)
            cols.append(vocabulary.setdefault(token, len(vocabulary)))
    if not vocabulary:
        return None, []
    counts = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (np.array(rows), np.array(cols))),
        shape=(n_rows, len(vocabulary)),
        dtype=np.float32,
    )
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=len(vocabulary))
    useful = np.flatnonzero(df >= 2)  # a token on one item links it to nothing
    if len(useful) == 0:
        return None, []
    counts = counts[:, useful].tocsr()
    n_docs = max(int(np.count_nonzero(np.diff(counts.indptr))), 1)
    idf = np.log((1.0 + n_docs) / (1.0 + df[useful])) + 1.0
    counts.data = (1.0 + np.log(counts.data)).astype(np.float32)
    weighted = counts @ sp.diags(idf.astype(np.float32))
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    inv = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0).astype(np.float32)
    names = list(vocabulary)
    return sp.csr_matrix(sp.diags(inv) @ weighted, dtype=np.float32), [names[i] for i in useful.tolist()]


# ---------------------------------------------------------------------- arrow helpers
def _optional_float(value: object, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TrainingFailure(f"{what} must be a number, got {value!r}.") from None
    if not math.isfinite(result):
        raise TrainingFailure(f"{what} must be a finite number, got {value!r}.")
    return result


def _fill_false(array: Any) -> Any:
    return pc.fill_null(array, False)


def _to_bool(array: Any) -> NDArray[np.bool_]:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _to_int64(column: pa.ChunkedArray) -> NDArray[np.int64]:
    return np.asarray(column.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _encode(
    column: pa.ChunkedArray, extra: pa.ChunkedArray | None = None
) -> tuple[NDArray[np.int64], NDArray[np.str_]]:
    """Codes of ``column`` into the sorted unique ids of ``column`` ∪ ``extra``."""
    column = column.cast(pa.string())
    encoded = column.combine_chunks().dictionary_encode() if column.num_chunks else pa.array([], pa.string())
    if isinstance(encoded, pa.DictionaryArray):
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        dictionary = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=str)
    else:
        codes = np.zeros(0, dtype=np.int64)
        dictionary = np.zeros(0, dtype=str)
    all_ids = dictionary
    if extra is not None and len(extra):
        extra_ids = np.asarray(extra.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=str)
        all_ids = np.concatenate([dictionary, extra_ids]) if len(dictionary) else extra_ids
    unique = np.unique(all_ids) if len(all_ids) else np.zeros(0, dtype=str)
    remap = np.searchsorted(unique, dictionary) if len(dictionary) else np.zeros(0, dtype=np.int64)
    return remap[codes].astype(np.int64), unique
