"""Build the v2 engine's :class:`~pertinent.recipes.v2.side.InteractionSide` from the datasets.

Contextual columns are the Interactions schema's string (or boolean) columns other than the reserved
ones (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE, IMPRESSION, RECOMMENDATION_ID, EVENT_ID),
as Personalize's contextual metadata must be; user attributes are every other column of the Users
dataset (strings coded by value, numbers by quantile bin).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from pertinent.recipes.v2.side import CodedColumn, InteractionSide

__all__ = ["RESERVED_INTERACTION_COLUMNS", "build_side", "context_columns"]

RESERVED_INTERACTION_COLUMNS = frozenset(
    {
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "IMPRESSION",
        "RECOMMENDATION_ID",
        "EVENT_ID",
    }
)


def context_columns(schema: pa.Schema) -> list[str]:
    """The contextual columns of an Interactions table."""
    out: list[str] = []
    for f in schema:
        if f.name.upper() in RESERVED_INTERACTION_COLUMNS:
            continue
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_boolean(f.type):
            out.append(f.name)
    return out


def build_side(
    table: pa.Table,
    item_index: Mapping[str, int],
    user_ids: NDArray[np.str_],
    users: pa.Table | None,
    items: pa.Table | None,
) -> InteractionSide:
    """``table``: the selected Interactions rows in InteractionData's sorted order."""
    n = table.num_rows
    context = {
        name: CodedColumn.from_values(table[name].to_pylist(), min_count=2)
        for name in context_columns(table.schema)
    }
    if "EVENT_TYPE" in table.column_names:
        event_type = CodedColumn.from_values(table["EVENT_TYPE"].to_pylist())
    else:
        event_type = CodedColumn((), np.full(n, -1, dtype=np.int32))
    if "EVENT_VALUE" in table.column_names:
        values = table["EVENT_VALUE"].cast(pa.float64()).to_numpy(zero_copy_only=False)
        event_value = np.asarray(np.where(np.isnan(values), np.nan, values), dtype=np.float32)
    else:
        event_value = np.full(n, np.nan, dtype=np.float32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    shown: list[int] = []
    if "IMPRESSION" in table.column_names:
        for row, raw in enumerate(table["IMPRESSION"].to_pylist()):
            if raw:
                shown.extend(item_index[p] for p in str(raw).split("|") if p in item_index)
            indptr[row + 1] = len(shown)
    attributes: dict[str, CodedColumn] = {}
    if users is not None and "USER_ID" in users.column_names and users.num_rows:
        position = {str(u): i for i, u in enumerate(users["USER_ID"].to_pylist())}
        rows = np.array([position.get(str(u), -1) for u in user_ids.tolist()], dtype=np.int64)
        for f in users.schema:
            if f.name == "USER_ID":
                continue
            column = users[f.name]
            if pa.types.is_integer(f.type) or pa.types.is_floating(f.type):
                raw = column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
                aligned = np.where(rows >= 0, raw[np.maximum(rows, 0)], np.nan)
                attributes[f.name] = CodedColumn.from_numbers(aligned)
            elif (
                pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_boolean(f.type)
            ):
                values = column.to_pylist()
                attributes[f.name] = CodedColumn.from_values(
                    [values[r] if r >= 0 else None for r in rows.tolist()], min_count=2
                )
    created = np.full(len(item_index), np.nan, dtype=np.float64)
    if items is not None and {"ITEM_ID", "CREATION_TIMESTAMP"} <= set(items.column_names):
        for item_id, stamp in zip(
            items["ITEM_ID"].to_pylist(), items["CREATION_TIMESTAMP"].to_pylist(), strict=True
        ):
            i = item_index.get(str(item_id))
            if i is not None and stamp is not None:
                created[i] = float(stamp)
    return InteractionSide(
        context=context,
        event_type=event_type,
        event_value=event_value,
        impression_indptr=indptr,
        impression_items=np.asarray(shown, dtype=np.int32),
        user_attributes=attributes,
        item_created=created,
    )
