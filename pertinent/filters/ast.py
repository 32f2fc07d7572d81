"""The syntax tree of a Personalize filter expression, and its canonical printer.

A filter is a :class:`FilterChain`: one or more :class:`Expression` joined by ``|``. Each expression is
``INCLUDE|EXCLUDE <target> WHERE <conditions> [IF <conditions>]``. The ``WHERE`` part is kept in disjunctive
form exactly as written (``AND`` binds tighter than ``OR``): a tuple of ``OR``-ed groups, each a tuple of
``AND``-ed :class:`Condition`. The ``IF`` part is a tuple of ``AND``-ed ``CurrentUser`` conditions.

Every node is a frozen dataclass, so trees compare and hash by value. Nodes carry the 1-based character
``position`` where they started in the source text (for error messages); positions never take part in
equality, so ``parse_filter(format_filter(chain)) == chain`` holds for any tree the parser produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    """What an expression does with the rows its conditions match."""

    INCLUDE = "INCLUDE"
    EXCLUDE = "EXCLUDE"


class Target(StrEnum):
    """What a filter filters: items (recommendations), actions, or users (user segments)."""

    ITEM_ID = "ItemID"
    ACTION_ID = "ActionID"
    USER_ID = "UserID"


class Dataset(StrEnum):
    """The left part of ``Dataset.FIELD``."""

    ITEMS = "Items"
    USERS = "Users"
    INTERACTIONS = "Interactions"
    ACTIONS = "Actions"
    CURRENT_ITEM = "CurrentItem"
    CURRENT_USER = "CurrentUser"

    @property
    def schema_dataset(self) -> Dataset:
        """The dataset whose schema defines the fields (CurrentItem → Items, CurrentUser → Users)."""
        if self is Dataset.CURRENT_ITEM:
            return Dataset.ITEMS
        if self is Dataset.CURRENT_USER:
            return Dataset.USERS
        return self


class Operator(StrEnum):
    """A condition's operator. ``IN``/``NOT IN`` take value lists, the others one number."""

    IN = "IN"
    NOT_IN = "NOT IN"
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    @property
    def is_membership(self) -> bool:
        """True for ``IN`` and ``NOT IN``."""
        return self in (Operator.IN, Operator.NOT_IN)


#: The target each dataset may appear with in a ``WHERE`` clause.
TARGET_DATASETS: dict[Target, tuple[Dataset, ...]] = {
    Target.ITEM_ID: (Dataset.ITEMS, Dataset.INTERACTIONS),
    Target.ACTION_ID: (Dataset.ACTIONS, Dataset.INTERACTIONS),
    Target.USER_ID: (Dataset.USERS, Dataset.INTERACTIONS),
}

#: The only ``Interactions`` field a filter may use.
EVENT_TYPE = "EVENT_TYPE"


@dataclass(frozen=True)
class FieldRef:
    """``Dataset.FIELD``; the field name is case-sensitive, the dataset is canonicalised."""

    dataset: Dataset
    name: str
    position: int = field(default=0, compare=False, repr=False)

    @property
    def is_event_type(self) -> bool:
        """True for ``Interactions.EVENT_TYPE`` (the only field ``*`` may be used with)."""
        return self.dataset is Dataset.INTERACTIONS and self.name == EVENT_TYPE


@dataclass(frozen=True)
class StringLiteral:
    """A double-quoted string value in an ``IN`` list."""

    value: str
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class NumberLiteral:
    """A number after a comparison operator."""

    value: float
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Placeholder:
    """``$NAME``: a value list (or a number) supplied at request time in ``filterValues``."""

    name: str
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Wildcard:
    """``*`` (or ``"*"``) in an ``Interactions.EVENT_TYPE`` list: every event type."""

    position: int = field(default=0, compare=False, repr=False)


ListItem = StringLiteral | Placeholder | Wildcard


@dataclass(frozen=True)
class ValueList:
    """The parenthesised, comma-separated right side of ``IN`` / ``NOT IN``."""

    items: tuple[ListItem, ...]
    position: int = field(default=0, compare=False, repr=False)


#: The right side of a condition: a list (``IN``), a number or placeholder (comparisons) or ``CurrentItem.F``.
Operand = ValueList | NumberLiteral | Placeholder | FieldRef


@dataclass(frozen=True)
class Condition:
    """``<left> <op> <right>``."""

    left: FieldRef
    op: Operator
    right: Operand

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        """The placeholders on the right side, in order of appearance."""
        if isinstance(self.right, Placeholder):
            return (self.right,)
        if isinstance(self.right, ValueList):
            return tuple(item for item in self.right.items if isinstance(item, Placeholder))
        return ()


@dataclass(frozen=True)
class Expression:
    """``INCLUDE|EXCLUDE <target> WHERE <where> [IF <if_conditions>]``.

    ``where`` is a disjunction of conjunctions: ``((a, b), (c,))`` means ``a AND b OR c``.
    """

    action: Action
    target: Target
    where: tuple[tuple[Condition, ...], ...]
    if_conditions: tuple[Condition, ...] = ()
    position: int = field(default=0, compare=False, repr=False)

    @property
    def dataset(self) -> Dataset:
        """The dataset of the first ``WHERE`` condition, which every ``WHERE`` condition shares."""
        return self.where[0][0].left.dataset

    def conditions(self) -> Iterator[Condition]:
        """Every condition, ``WHERE`` first, then ``IF``."""
        for group in self.where:
            yield from group
        yield from self.if_conditions

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Distinct placeholder names in order of first appearance."""
        return tuple(dict.fromkeys(p.name for c in self.conditions() for p in c.placeholders))


@dataclass(frozen=True)
class FilterChain:
    """A whole filter: expressions joined by ``|``, all with the same target."""

    expressions: tuple[Expression, ...]

    @property
    def target(self) -> Target:
        """The target shared by every expression."""
        return self.expressions[0].target

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Distinct placeholder names (without ``$``) in order of first appearance."""
        return tuple(dict.fromkeys(name for e in self.expressions for name in e.placeholders))

    @property
    def fields(self) -> tuple[tuple[Dataset, str], ...]:
        """Distinct ``(schema dataset, field)`` pairs used anywhere, in order of first appearance.

        ``CurrentItem.F`` counts as ``Items.F`` and ``CurrentUser.F`` as ``Users.F``.
        """
        refs: list[tuple[Dataset, str]] = []
        for expression in self.expressions:
            for condition in expression.conditions():
                refs.append((condition.left.dataset.schema_dataset, condition.left.name))
                if isinstance(condition.right, FieldRef):
                    refs.append((condition.right.dataset.schema_dataset, condition.right.name))
        return tuple(dict.fromkeys(refs))


# --- the canonical printer -----------------------------------------------------------------------------


def format_number(value: float) -> str:
    """The shortest text that parses back to exactly ``value`` (``12``, ``-0.5``, ``1e+20``)."""
    if not math.isfinite(value):
        raise ValueError(f"filter numbers are finite, not {value!r}")
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def format_string(value: str) -> str:
    """A double-quoted string; ``"`` and ``\\`` are escaped with a backslash."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_list_item(item: ListItem) -> str:
    if isinstance(item, StringLiteral):
        return format_string(item.value)
    if isinstance(item, Placeholder):
        return "$" + item.name
    return '"*"'


def _format_operand(operand: Operand) -> str:
    if isinstance(operand, ValueList):
        return "(" + ", ".join(_format_list_item(item) for item in operand.items) + ")"
    if isinstance(operand, NumberLiteral):
        return format_number(operand.value)
    if isinstance(operand, Placeholder):
        return "$" + operand.name
    return f"{operand.dataset.value}.{operand.name}"


def format_condition(condition: Condition) -> str:
    """``Items.GENRE IN ("Comedy", $GENRE)``."""
    left = f"{condition.left.dataset.value}.{condition.left.name}"
    return f"{left} {condition.op.value} {_format_operand(condition.right)}"


def format_expression(expression: Expression) -> str:
    """One expression in canonical spelling: upper-case keywords, single spaces."""
    where = " OR ".join(" AND ".join(format_condition(c) for c in group) for group in expression.where)
    text = f"{expression.action.value} {expression.target.value} WHERE {where}"
    if expression.if_conditions:
        text += " IF " + " AND ".join(format_condition(c) for c in expression.if_conditions)
    return text


def format_filter(chain: FilterChain) -> str:
    """The canonical text of a filter, such that ``parse_filter(format_filter(c)) == c``."""
    return " | ".join(format_expression(e) for e in chain.expressions)
