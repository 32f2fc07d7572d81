"""Reading request-time ``filterValues`` (GetRecommendations, GetPersonalizedRanking, batch job lines).

Each entry holds one or more values separated by commas. Strings are double-quoted (in JSON the quotes are
escaped: ``{"GENRE": "\\"Comedy\\",\\"Drama\\""}``); a number for a comparison may be bare
(``{"PRICE": "10"}``) or quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pertinent.errors import InvalidInputException
from pertinent.filters.ast import Action, FilterChain, Operator
from pertinent.filters.lexer import parse_number, quote_symbol, scan_string

#: Placeholder name (without ``$``) → its values: ``str`` for quoted values, ``float`` for numbers.
FilterValues = dict[str, list[str | float]]

_BARE = re.compile(r"[^,\s\"]+")
_EXAMPLE = 'write each value in double quotes, separated by commas, e.g. "\\"comedy\\",\\"drama\\""'


@dataclass
class _Use:
    """How a placeholder is used across the chain."""

    in_include: bool = False
    membership: bool = False
    comparisons: list[Operator] = field(default_factory=list)


def _uses(chain: FilterChain) -> dict[str, _Use]:
    uses: dict[str, _Use] = {}
    for expression in chain.expressions:
        for condition in expression.conditions():
            for placeholder in condition.placeholders:
                use = uses.setdefault(placeholder.name, _Use())
                use.in_include |= expression.action is Action.INCLUDE
                if condition.op.is_membership:
                    use.membership = True
                else:
                    use.comparisons.append(condition.op)
    return uses


def parse_filter_values(filter_values: Mapping[str, str] | None, chain: FilterChain) -> FilterValues:
    """Parse and check a request's ``filterValues`` against the placeholders of ``chain``.

    Returns placeholder name → values, in the chain's placeholder order. A placeholder used only with
    comparison operators gets ``[number]``; one used with ``IN``/``NOT IN`` gets its quoted strings. Raises
    InvalidInputException for a key that is not a placeholder of the filter, a malformed value (an unclosed
    quote, an unquoted string, an empty value), a comparison placeholder that is not exactly one number, or a
    missing value for a placeholder of an ``INCLUDE`` expression. A missing value for a placeholder used only
    by ``EXCLUDE`` expressions is allowed: those expressions are then ignored (see
    :func:`pertinent.filters.evaluate.compile_filter`).

    >>> from pertinent.filters.parser import parse_filter
    >>> chain = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.PRICE < $MAX')
    >>> parse_filter_values({"GENRE": '"Comedy","Drama"', "MAX": "10"}, chain)
    {'GENRE': ['Comedy', 'Drama'], 'MAX': [10.0]}
    """
    supplied = dict(filter_values or {})
    uses = _uses(chain)
    for key in supplied:
        if key not in uses:
            known = ", ".join("$" + name for name in uses) or "none"
            raise InvalidInputException(
                f"Invalid filterValues key {quote_symbol(key)}: the filter has no placeholder ${key} "
                f"(its placeholders: {known})."
            )
    result: FilterValues = {}
    for name, use in uses.items():
        if name not in supplied:
            if use.in_include:
                raise InvalidInputException(
                    f"Missing filterValues entry {quote_symbol(name)}: an INCLUDE expression of the filter "
                    f"uses ${name}, and INCLUDE expressions need a value for every placeholder."
                )
            continue
        values = split_values(name, supplied[name])
        if use.membership:
            for value in values:
                if not isinstance(value, str):
                    raise InvalidInputException(
                        f"Invalid filter value for {quote_symbol(name)}: ${name} is used with IN, so its "
                        f"values are strings; {_EXAMPLE}."
                    )
        if use.comparisons:
            op = use.comparisons[0].value
            number = parse_number(values[0]) if isinstance(values[0], str) else values[0]
            if len(values) != 1 or number is None:
                raise InvalidInputException(
                    f'Invalid filter value for {quote_symbol(name)}: ${name} is used with "{op}", so its '
                    'value must be a single number, e.g. "10".'
                )
            if not use.membership:
                values = [number]
        result[name] = values
    return result


def split_values(name: str, raw: str) -> list[str | float]:
    """Split one ``filterValues`` entry into its values: quoted → ``str``, bare numbers → ``float``."""
    where = f"Invalid filter value for {quote_symbol(name)}"
    if not raw.strip():
        raise InvalidInputException(f"{where}: the value is empty; {_EXAMPLE}.")
    values: list[str | float] = []
    i = 0
    n = len(raw)
    while True:
        while i < n and raw[i].isspace():
            i += 1
        if i >= n or raw[i] == ",":
            raise InvalidInputException(f"{where}: expected a value at position {i + 1}; {_EXAMPLE}.")
        if raw[i] == '"':
            scanned = scan_string(raw, i)
            if scanned is None:
                raise InvalidInputException(
                    f"{where}: unbalanced quotes; the value that starts at position {i + 1} is never closed."
                )
            text, i = scanned
            values.append(text)
        else:
            match = _BARE.match(raw, i)
            token = match.group() if match is not None else raw[i]
            number = parse_number(token)
            if number is None:
                raise InvalidInputException(
                    f"{where}: unquoted value {quote_symbol(token)} at position {i + 1}; {_EXAMPLE}."
                )
            values.append(number)
            i += len(token)
        while i < n and raw[i].isspace():
            i += 1
        if i >= n:
            return values
        if raw[i] != ",":
            raise InvalidInputException(
                f'{where}: expected "," at position {i + 1}, found {quote_symbol(raw[i])}.'
            )
        i += 1
