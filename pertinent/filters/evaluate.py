"""Compile a parsed filter into a function from a request's context to a boolean numpy mask.

``True`` in the mask means the row (item, action or user) may be returned. The semantics (reference §7):

* ``INCLUDE`` keeps only matching rows, ``EXCLUDE`` removes matching rows. A chain combines its expressions as
  ``union(INCLUDE masks) − union(EXCLUDE masks)``; with no (active) ``INCLUDE`` every row starts allowed.
* An expression whose ``IF CurrentUser…`` conditions are false (or that has no current user) has no effect.
  Neither has an ``EXCLUDE`` expression missing a placeholder value; an ``INCLUDE`` one missing a value is an
  error.
* ``Items``/``Actions``/``Users`` conditions test the row's own attributes. A categorical (``|``-separated,
  multi-valued) attribute is ``IN`` a list when any of its values is; ``NOT IN`` when it has values and none
  is.
  A missing attribute (no values, NaN) never matches any condition, ``NOT IN`` and ``!=`` included.
* ``Interactions.EVENT_TYPE`` conditions match the rows the current user interacted with through an event type
  satisfying them, counting only the newest ``interactions_per_event_type`` (100) interactions of each type.
  Event types match case-insensitively; everything else is exact.

Categorical ``IN`` is evaluated from per-field inverted lists (value → row indices), built once per table and
cached on it, so a request touches only the rows holding the listed values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pertinent.errors import InvalidInputException
from pertinent.filters.ast import (
    Action,
    Condition,
    Dataset,
    Expression,
    FieldRef,
    FilterChain,
    NumberLiteral,
    Operator,
    Placeholder,
    StringLiteral,
    Target,
    ValueList,
    Wildcard,
    format_number,
)
from pertinent.filters.lexer import parse_number
from pertinent.filters.values import FilterValues

Mask = npt.NDArray[np.bool_]
Attribute = str | float

#: How many of a user's newest interactions per event type Interactions filters consider (Personalize: 100).
DEFAULT_INTERACTIONS_PER_EVENT_TYPE = 100

_EMPTY = np.zeros(0, dtype=np.int64)
_COMPARE: dict[Operator, Callable[[npt.NDArray[np.float64], float], Mask]] = {
    Operator.EQ: lambda column, value: column == value,
    Operator.NE: lambda column, value: (column != value) & ~np.isnan(column),
    Operator.LT: lambda column, value: column < value,
    Operator.LE: lambda column, value: column <= value,
    Operator.GT: lambda column, value: column > value,
    Operator.GE: lambda column, value: column >= value,
}
_COMPARE_SCALAR: dict[Operator, Callable[[float, float], bool]] = {
    Operator.EQ: lambda a, b: a == b,
    Operator.NE: lambda a, b: a != b,
    Operator.LT: lambda a, b: a < b,
    Operator.LE: lambda a, b: a <= b,
    Operator.GT: lambda a, b: a > b,
    Operator.GE: lambda a, b: a >= b,
}


# --- tables ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldIndex:
    """Inverted lists of one categorical field: value → sorted row indices, and which rows have any value."""

    postings: dict[str, npt.NDArray[np.int64]]
    present: Mask


def build_index(column: Sequence[frozenset[str]]) -> FieldIndex:
    """The :class:`FieldIndex` of a categorical column (one set of values per row)."""
    lists: dict[str, list[int]] = {}
    present = np.zeros(len(column), dtype=np.bool_)
    for row, values in enumerate(column):
        if values:
            present[row] = True
            for value in values:
                lists.setdefault(value, []).append(row)
    return FieldIndex({v: np.asarray(rows, dtype=np.int64) for v, rows in lists.items()}, present)


class _Columns:
    """Attribute columns shared by :class:`ItemTable` and :class:`UserTable`, with cached inverted lists."""

    categorical: dict[str, list[frozenset[str]]]
    numeric: dict[str, npt.NDArray[np.float64]]
    _indexes: dict[str, FieldIndex]

    @property
    def size(self) -> int:
        """The number of rows (defined by each table)."""
        raise NotImplementedError

    def _check_columns(self) -> None:
        n = self.size
        for name, column in self.categorical.items():
            if len(column) != n:
                raise ValueError(f"categorical column {name!r} has {len(column)} rows, expected {n}")
        numeric = {name: np.asarray(column, dtype=np.float64) for name, column in self.numeric.items()}
        for name, array in numeric.items():
            if array.shape != (n,):
                raise ValueError(f"numeric column {name!r} has shape {array.shape}, expected ({n},)")
        self.numeric = numeric

    def field_index(self, name: str) -> FieldIndex | None:
        """The inverted lists of categorical field ``name`` (built on first use), or None if it has none."""
        index = self._indexes.get(name)
        if index is None:
            column = self.categorical.get(name)
            if column is None:
                return None
            index = self._indexes[name] = build_index(column)
        return index

    def attribute(self, name: str, row: int) -> frozenset[str] | float | None:
        """One row's value of a field: its set of categorical values, its number, or None when missing."""
        column = self.categorical.get(name)
        if column is not None:
            return column[row] or None
        array = self.numeric.get(name)
        if array is not None and not math.isnan(array[row]):
            return float(array[row])
        return None


@dataclass(eq=False)
class ItemTable(_Columns):
    """The catalog, aligned with the model's item index (for ActionID filters: the actions, the same way).

    ``categorical`` holds every string field (categorical or not) as one set of values per item (a
    categorical value ``"Comedy|Drama"`` is ``frozenset({"Comedy", "Drama"})``; an empty set is missing);
    ``numeric`` holds every number field as float64 with NaN for missing.
    """

    item_ids: npt.NDArray[np.str_]
    categorical: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    numeric: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    _indexes: dict[str, FieldIndex] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._check_columns()

    @property
    def size(self) -> int:
        """The number of items."""
        return len(self.item_ids)

    @classmethod
    def from_rows(
        cls,
        item_ids: Sequence[str],
        rows: Sequence[Mapping[str, Attribute | None]],
        numeric_fields: Iterable[str] = (),
    ) -> ItemTable:
        """Build a table from one attribute mapping per item (``"A|B"`` strings split into values)."""
        categorical, numeric = _columns_from_rows(len(item_ids), rows, frozenset(numeric_fields))
        return cls(np.asarray(item_ids, dtype=np.str_), categorical, numeric)


@dataclass(eq=False)
class UserTable(_Columns):
    """Users, for UserID filters (user segments): attributes as in :class:`ItemTable`, plus for each user the
    lower-cased event types of the interactions that count for filtering."""

    user_ids: npt.NDArray[np.str_]
    categorical: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    numeric: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    event_types: list[frozenset[str]] = field(default_factory=list)
    _indexes: dict[str, FieldIndex] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.event_types:
            self.event_types = [frozenset()] * self.size
        if len(self.event_types) != self.size:
            raise ValueError(f"event_types has {len(self.event_types)} rows, expected {self.size}")
        self._check_columns()

    @property
    def size(self) -> int:
        """The number of users."""
        return len(self.user_ids)

    def event_index(self) -> FieldIndex:
        """Inverted lists of event type → users who have interactions of that type."""
        index = self._indexes.get("\0EVENT_TYPE")
        if index is None:
            index = self._indexes["\0EVENT_TYPE"] = build_index(self.event_types)
        return index

    @classmethod
    def from_rows(
        cls,
        user_ids: Sequence[str],
        rows: Sequence[Mapping[str, Attribute | None]],
        numeric_fields: Iterable[str] = (),
        event_types: Sequence[Iterable[str]] = (),
    ) -> UserTable:
        """Build a table from one attribute mapping (and optionally one set of event types) per user."""
        categorical, numeric = _columns_from_rows(len(user_ids), rows, frozenset(numeric_fields))
        events = [frozenset(e.lower() for e in types) for types in event_types]
        return cls(np.asarray(user_ids, dtype=np.str_), categorical, numeric, events)


def _columns_from_rows(
    n: int, rows: Sequence[Mapping[str, Attribute | None]], numeric_fields: frozenset[str]
) -> tuple[dict[str, list[frozenset[str]]], dict[str, npt.NDArray[np.float64]]]:
    if len(rows) != n:
        raise ValueError(f"{len(rows)} attribute rows for {n} ids")
    names = dict.fromkeys(name for row in rows for name in row)
    categorical: dict[str, list[frozenset[str]]] = {}
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    for name in names:
        if name in numeric_fields:
            numeric[name] = np.array([_to_float(row.get(name)) for row in rows], dtype=np.float64)
        else:
            categorical[name] = [_split(row.get(name)) for row in rows]
    return categorical, numeric


def _to_float(value: Attribute | None) -> float:
    if value is None or value == "":
        return math.nan
    return float(value)


def _split(value: Attribute | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    text = value if isinstance(value, str) else format_number(value)
    return frozenset(v for v in text.split("|") if v)


# --- request contexts ------------------------------------------------------------------------------------


@dataclass
class FilterContext:
    """Everything one item (or action) recommendation request gives a filter."""

    items: ItemTable
    #: lower-cased EVENT_TYPE → row indices the current user interacted with, most recent first
    user_interactions: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    #: the current user's Users-dataset attributes (None: no user, or a user without attributes)
    current_user: Mapping[str, Attribute] | None = None
    #: row of the request's item (related-items requests); None when there is none or it is unknown
    current_item: int | None = None
    #: parsed ``filterValues`` (see :func:`pertinent.filters.values.parse_filter_values`)
    values: FilterValues = field(default_factory=dict)
    interactions_per_event_type: int = DEFAULT_INTERACTIONS_PER_EVENT_TYPE


@dataclass
class UserFilterContext:
    """Everything a user-segment request gives a UserID filter."""

    users: UserTable
    values: FilterValues = field(default_factory=dict)


# --- compilation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """The parts of a context a condition reads, whatever the target."""

    values: FilterValues
    current_user: Mapping[str, Attribute] | None = None
    current_item: int | None = None
    items: ItemTable | None = None


def _placeholder_values(placeholder: Placeholder, request: _Request) -> list[Attribute]:
    # Expressions with missing values never get this far (_CompiledExpression.active).
    return request.values[placeholder.name]


def _membership_values(condition: Condition, request: _Request) -> list[Attribute] | None:
    """The values on the right of IN/NOT IN; ``None`` stands for the wildcard ``*``."""
    right = condition.right
    if isinstance(right, FieldRef):  # CurrentItem.F
        if request.items is None or request.current_item is None:
            return []
        value = request.items.attribute(right.name, request.current_item)
        if value is None:
            return []
        return sorted(value) if isinstance(value, frozenset) else [value]
    assert isinstance(right, ValueList)
    values: list[Attribute] = []
    for item in right.items:
        if isinstance(item, Wildcard):
            return None
        if isinstance(item, StringLiteral):
            values.append(item.value)
        else:
            values.extend(_placeholder_values(item, request))
    return values


def _comparison_value(condition: Condition, request: _Request) -> float | None:
    """The number on the right of a comparison, or None when it is missing (so nothing matches)."""
    right = condition.right
    if isinstance(right, NumberLiteral):
        return right.value
    if isinstance(right, FieldRef):  # CurrentItem.F
        if request.items is None or request.current_item is None:
            return None
        value = request.items.attribute(right.name, request.current_item)
        return value if isinstance(value, float) else None
    assert isinstance(right, Placeholder)
    raw = _placeholder_values(right, request)
    number = (parse_number(raw[0]) if isinstance(raw[0], str) else raw[0]) if len(raw) == 1 else None
    if number is None:
        raise InvalidInputException(
            f'Invalid filter value for "{right.name}": ${right.name} is used with "{condition.op.value}", '
            'so its value must be a single number, e.g. "10".'
        )
    return number


def _as_text(value: Attribute) -> str:
    return value if isinstance(value, str) else format_number(value)


def _attribute_mask(condition: Condition, table: _Columns, request: _Request) -> Mask:
    """Rows of ``table`` whose own attribute satisfies ``condition`` (vectorised)."""
    name = condition.left.name
    n = table.size
    if not condition.op.is_membership:
        column = table.numeric.get(name)
        number = _comparison_value(condition, request)
        if column is None or number is None:
            return np.zeros(n, dtype=np.bool_)
        return _COMPARE[condition.op](column, number)
    values = _membership_values(condition, request) or []
    index = table.field_index(name)
    if index is not None:
        mask = np.zeros(n, dtype=np.bool_)
        for value in dict.fromkeys(_as_text(v) for v in values):
            mask[index.postings.get(value, _EMPTY)] = True
        present = index.present
    else:
        column = table.numeric.get(name)
        if column is None:
            return np.zeros(n, dtype=np.bool_)
        numbers = [x for x in (parse_number(v) if isinstance(v, str) else v for v in values) if x is not None]
        mask = np.isin(column, np.asarray(numbers, dtype=np.float64))
        present = ~np.isnan(column)
    return present & ~mask if condition.op is Operator.NOT_IN else mask


def _event_type_holds(condition: Condition, event_type: str, request: _Request) -> bool:
    """Whether one (lower-cased) event type satisfies an ``Interactions.EVENT_TYPE`` condition."""
    if not condition.op.is_membership:
        return False  # EVENT_TYPE is a string; schema validation rejects comparisons on it
    values = _membership_values(condition, request)
    listed = values is None or any(_as_text(v).lower() in (event_type, "*") for v in values)
    return listed if condition.op is Operator.IN else not listed


def _user_condition_holds(condition: Condition, request: _Request) -> bool:
    """Whether the current user satisfies one ``IF CurrentUser…`` condition (missing → False)."""
    user = request.current_user
    raw = user.get(condition.left.name) if user is not None else None
    if raw is None or raw == "" or (isinstance(raw, float) and math.isnan(raw)):
        return False
    if not condition.op.is_membership:
        number = _comparison_value(condition, request)
        mine = parse_number(raw) if isinstance(raw, str) else float(raw)
        return number is not None and mine is not None and _COMPARE_SCALAR[condition.op](mine, number)
    values = _membership_values(condition, request) or []
    if isinstance(raw, str):
        listed = not {v for v in raw.split("|") if v}.isdisjoint(_as_text(v) for v in values)
    else:
        listed = any((parse_number(v) if isinstance(v, str) else v) == raw for v in values)
    return listed if condition.op is Operator.IN else not listed


class _CompiledExpression:
    """One expression of a chain, ready to evaluate against any number of requests."""

    def __init__(self, expression: Expression) -> None:
        self.expression = expression
        self.action = expression.action
        self.placeholders = expression.placeholders
        self.on_interactions = expression.dataset is Dataset.INTERACTIONS

    def active(self, request: _Request) -> bool:
        """False when the expression has no effect on this request (IF false, EXCLUDE missing a value)."""
        missing = [name for name in self.placeholders if name not in request.values]
        if missing:
            if self.action is Action.INCLUDE:
                raise InvalidInputException(
                    f'Missing filterValues entry "{missing[0]}": an INCLUDE expression of the filter uses '
                    f"${missing[0]}, and INCLUDE expressions need a value for every placeholder."
                )
            return False
        return all(_user_condition_holds(c, request) for c in self.expression.if_conditions)

    def event_type_matches(self, event_type: str, request: _Request) -> bool:
        """Whether an (Interactions) expression's WHERE clause holds for one event type."""
        return any(
            all(_event_type_holds(c, event_type, request) for c in group) for group in self.expression.where
        )

    def attribute_mask(self, table: _Columns, request: _Request) -> Mask:
        """The rows whose attributes satisfy the WHERE clause (AND within groups, OR across them)."""
        result: Mask | None = None
        for group in self.expression.where:
            group_mask = _attribute_mask(group[0], table, request)
            for condition in group[1:]:
                group_mask = group_mask & _attribute_mask(condition, table, request)
            result = group_mask if result is None else result | group_mask
        assert result is not None
        return result


def _combine(includes: list[Mask], excludes: list[Mask], n: int) -> Mask:
    result = np.logical_or.reduce(includes) if includes else np.ones(n, dtype=np.bool_)
    for mask in excludes:
        result = result & ~mask
    return np.asarray(result, dtype=np.bool_)


class CompiledFilter:
    """A filter compiled for item (or action) requests; call it with a :class:`FilterContext`."""

    def __init__(self, chain: FilterChain) -> None:
        if chain.target is Target.USER_ID:
            raise InvalidInputException(
                "This filter filters users (UserID); it can only be used for user segments, not for "
                "recommendations."
            )
        self.chain = chain
        self._expressions = [_CompiledExpression(e) for e in chain.expressions]

    @property
    def per_request(self) -> bool:
        """Whether the mask depends on more than the items and ``filterValues``: on the current user's
        interactions or attributes (``Interactions``, ``IF CurrentUser``) or on the current item. A batch
        job computes a filter without them once per distinct ``filterValues``."""
        return any(
            compiled.on_interactions
            or compiled.expression.if_conditions
            or any(isinstance(c.right, FieldRef) for c in compiled.expression.conditions())
            for compiled in self._expressions
        )

    def __call__(self, context: FilterContext) -> Mask:
        """The mask over ``context.items``: True where the item may be recommended."""
        n = context.items.size
        request = _Request(context.values, context.current_user, context.current_item, context.items)
        includes: list[Mask] = []
        excludes: list[Mask] = []
        for compiled in self._expressions:
            if not compiled.active(request):
                continue
            if compiled.on_interactions:
                mask = np.zeros(n, dtype=np.bool_)
                cap = context.interactions_per_event_type
                for event_type, rows in context.user_interactions.items():
                    if len(rows) and compiled.event_type_matches(event_type.lower(), request):
                        mask[np.asarray(rows[:cap], dtype=np.int64)] = True
            else:
                mask = compiled.attribute_mask(context.items, request)
            (includes if compiled.action is Action.INCLUDE else excludes).append(mask)
        return _combine(includes, excludes, n)


class CompiledUserFilter:
    """A UserID filter compiled for user-segment requests; call it with a :class:`UserFilterContext`."""

    def __init__(self, chain: FilterChain) -> None:
        if chain.target is not Target.USER_ID:
            raise InvalidInputException(
                f"This filter filters {chain.target.value}s; user segments need a filter on UserID."
            )
        self.chain = chain
        self._expressions = [_CompiledExpression(e) for e in chain.expressions]

    def __call__(self, context: UserFilterContext) -> Mask:
        """The mask over ``context.users``: True where the user may be part of the segment."""
        users = context.users
        request = _Request(context.values)
        includes: list[Mask] = []
        excludes: list[Mask] = []
        for compiled in self._expressions:
            if not compiled.active(request):
                continue
            if compiled.on_interactions:
                mask = np.zeros(users.size, dtype=np.bool_)
                for event_type, rows in users.event_index().postings.items():
                    if compiled.event_type_matches(event_type, request):
                        mask[rows] = True
            else:
                mask = compiled.attribute_mask(users, request)
            (includes if compiled.action is Action.INCLUDE else excludes).append(mask)
        return _combine(includes, excludes, users.size)


def compile_filter(chain: FilterChain) -> CompiledFilter:
    """Compile an ItemID or ActionID filter: ``compile_filter(chain)(context)`` is the boolean item mask.

    Raises InvalidInputException for a UserID filter (see :func:`compile_user_filter`).
    """
    return CompiledFilter(chain)


def compile_user_filter(chain: FilterChain) -> CompiledUserFilter:
    """Compile a UserID filter: ``compile_user_filter(chain)(context)`` is the boolean user mask."""
    return CompiledUserFilter(chain)
