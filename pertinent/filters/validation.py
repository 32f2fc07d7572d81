"""Checks of a parsed filter against the schemas of its dataset group (CreateFilter's second step).

``fields`` maps a dataset name (``"Items"``, ``"Users"``, ``"Interactions"``, ``"Actions"``) to its fields,
each with a kind: ``"categorical"``, ``"string"`` (a string neither categorical nor textual, e.g.
``EVENT_TYPE``), ``"numeric"`` (int, long, float, double), ``"boolean"`` or ``"textual"``. A dataset the group
does not have is simply absent.
"""

from __future__ import annotations

from collections.abc import Mapping

from pertinent.filters.ast import (
    Condition,
    Dataset,
    FieldRef,
    FilterChain,
    StringLiteral,
    ValueList,
)
from pertinent.filters.lexer import create_error, parse_number, quote_symbol

#: Personalize's limit on distinct dataset fields in one filter (all expressions together).
MAX_DISTINCT_FIELDS = 5

FILTERABLE_KINDS = frozenset({"categorical", "string", "numeric"})
_STRING_KINDS = frozenset({"categorical", "string"})


def validate_against_schemas(chain: FilterChain, fields: Mapping[str, Mapping[str, str]]) -> None:
    """Raise InvalidInputException unless every field of ``chain`` exists in its dataset and can be filtered.

    Checks: the dataset exists in the group; the field exists (names are case-sensitive); it is not boolean or
    textual; comparison operators (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``) only target numeric fields;
    ``IN`` with ``CurrentItem`` compares fields of the same kind; literal ``IN`` values of a numeric field are
    numbers; and the filter uses at most 5 distinct fields.
    """
    distinct = chain.fields
    if len(distinct) > MAX_DISTINCT_FIELDS:
        names = ", ".join(f"{dataset.value}.{name}" for dataset, name in distinct)
        raise create_error(
            f"The filter uses {len(distinct)} distinct fields ({names}); the maximum is "
            f"{MAX_DISTINCT_FIELDS}."
        )
    for expression in chain.expressions:
        for condition in expression.conditions():
            _check_condition(condition, fields)


def _kind(ref: FieldRef, fields: Mapping[str, Mapping[str, str]]) -> str:
    """The kind of a referenced field, after checking that it exists and can be filtered."""
    dataset = ref.dataset.schema_dataset
    shown = quote_symbol(f"{ref.dataset.value}.{ref.name}")
    at = f"at position {ref.position}"
    dataset_fields = fields.get(dataset.value)
    if dataset_fields is None:
        raise create_error(f"Invalid field {shown} {at}: the dataset group has no {dataset.value} dataset.")
    kind = dataset_fields.get(ref.name)
    if kind is None:
        raise create_error(
            f"Invalid field {shown} {at}: the {dataset.value} schema has no field {ref.name!r}."
        )
    if kind == "boolean":
        raise create_error(
            f"Invalid Expression: field {shown} {at} is boolean, and boolean fields cannot be filtered; use "
            'a string field with the values "True" and "False", or an int field with 0 and 1.'
        )
    if kind == "textual":
        raise create_error(
            f"Invalid Expression: field {shown} {at} is textual, and textual fields cannot be filtered."
        )
    if kind not in FILTERABLE_KINDS:
        raise create_error(
            f"Invalid Expression: field {shown} {at} has a type ({kind}) that cannot be filtered."
        )
    return kind


def _check_condition(condition: Condition, fields: Mapping[str, Mapping[str, str]]) -> None:
    left = condition.left
    kind = _kind(left, fields)
    right = condition.right
    right_kind = _kind(right, fields) if isinstance(right, FieldRef) else None
    shown = quote_symbol(f"{left.dataset.value}.{left.name}")
    at = f"at position {left.position}"
    if not condition.op.is_membership:
        if kind != "numeric":
            raise create_error(
                f'Invalid Expression: the operator "{condition.op.value}" {at} compares numbers, but {shown} '
                f"is {kind}; use IN or NOT IN for string values."
            )
        if right_kind is not None and right_kind != "numeric":
            assert isinstance(right, FieldRef)
            raise create_error(
                f"Invalid Expression: {quote_symbol('CurrentItem.' + right.name)} at position "
                f'{right.position} is {right_kind}, but the operator "{condition.op.value}" compares numbers.'
            )
        return
    if right_kind is not None and (kind == "numeric") != (right_kind == "numeric"):
        assert isinstance(right, FieldRef)
        raise create_error(
            f"Invalid Expression: {shown} {at} is {kind} but {quote_symbol('CurrentItem.' + right.name)} is "
            f"{right_kind}; IN can only compare fields of the same kind."
        )
    if kind == "numeric" and isinstance(right, ValueList):
        for item in right.items:
            if isinstance(item, StringLiteral) and parse_number(item.value) is None:
                raise create_error(
                    f"Invalid Expression: {shown} is numeric, but the value {quote_symbol(item.value)} at "
                    f"position {item.position} is not a number."
                )
    if left.dataset is Dataset.INTERACTIONS and kind not in _STRING_KINDS:
        raise create_error(f"Invalid Expression: {shown} {at} must be a string field to filter event types.")
