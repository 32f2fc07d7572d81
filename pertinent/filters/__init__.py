"""Personalize filter expressions: parse, check against schemas, read filterValues, evaluate to numpy masks.

Pure computation, no I/O. ``docs/filters.md`` documents the grammar, the semantics and every error message.

>>> from pertinent.filters import parse_filter, format_filter
>>> format_filter(parse_filter('exclude itemid where interactions.EVENT_TYPE in ("click")'))
'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
"""

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
    format_filter,
)
from pertinent.filters.evaluate import (
    CompiledFilter,
    CompiledUserFilter,
    FilterContext,
    ItemTable,
    UserFilterContext,
    UserTable,
    compile_filter,
    compile_user_filter,
)
from pertinent.filters.parser import parse_filter
from pertinent.filters.validation import validate_against_schemas
from pertinent.filters.values import FilterValues, parse_filter_values

__all__ = [
    "Action",
    "CompiledFilter",
    "CompiledUserFilter",
    "Condition",
    "Dataset",
    "Expression",
    "FieldRef",
    "FilterChain",
    "FilterContext",
    "FilterValues",
    "ItemTable",
    "NumberLiteral",
    "Operator",
    "Placeholder",
    "StringLiteral",
    "Target",
    "UserFilterContext",
    "UserTable",
    "ValueList",
    "Wildcard",
    "compile_filter",
    "compile_user_filter",
    "format_filter",
    "parse_filter",
    "parse_filter_values",
    "validate_against_schemas",
]
