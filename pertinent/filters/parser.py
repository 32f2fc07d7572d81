"""Recursive-descent parser for Personalize filter expressions (reference §7).

::

    chain := expression ("|" expression)*
    expression := ("INCLUDE"|"EXCLUDE") ("ItemID"|"ActionID"|"UserID") "WHERE" where ["IF" if]
    where := group ("OR" group)*          group := condition ("AND" condition)*
    if := condition ("AND" condition)*    (CurrentUser conditions only)
    condition := Dataset.FIELD ("IN"|"NOT" "IN") (list | CurrentItem.FIELD)
               | Dataset.FIELD ("="|"!="|"<"|"<="|">"|">=") (number | $NAME | CurrentItem.FIELD)
    list := "(" item ("," item)* ")"      item := "string" | $NAME | *

Keywords, targets and dataset names are case-insensitive (``EXCLUDE itemId WHERE INTERACTIONS.EVENT_TYPE in
("Purchase")`` is AWS's own SDK example); field names are exact. Every syntax error names the offending symbol
and its 1-based position. ``docs/filters.md`` is the full reference.

:func:`validate_against_schemas` and :func:`parse_filter_values` live in their own modules and are re-exported
here, so that everything about reading a filter can be imported from one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from pertinent.filters.ast import (
    TARGET_DATASETS,
    Action,
    Condition,
    Dataset,
    Expression,
    FieldRef,
    FilterChain,
    ListItem,
    NumberLiteral,
    Operand,
    Operator,
    Placeholder,
    StringLiteral,
    Target,
    ValueList,
    Wildcard,
)
from pertinent.filters.lexer import (
    MAX_EXPRESSION_LENGTH,
    Token,
    TokenKind,
    create_error,
    quote_symbol,
    tokenize,
)
from pertinent.filters.validation import validate_against_schemas
from pertinent.filters.values import parse_filter_values

__all__ = ["parse_filter", "parse_filter_values", "validate_against_schemas"]

_ACTIONS = {a.value: a for a in Action}
_TARGETS = {t.value.upper(): t for t in Target}
_DATASETS = {d.value.upper(): d for d in Dataset}
_COMPARISONS = {o.value: o for o in Operator if not o.is_membership}
_DATASET_NAMES = "Items, Users, Interactions, Actions, CurrentItem or CurrentUser"


def parse_filter(expression: str) -> FilterChain:
    """Parse a filter expression into a :class:`FilterChain`, checking every rule of the grammar.

    Raises InvalidInputException (``Could not create filter. …``) naming the problem and its 1-based position.

    >>> chain = parse_filter('EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE > 18')
    >>> chain.placeholders
    ('GENRE',)
    """
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise create_error(
            f"The filter expression has {len(expression)} characters; the maximum is {MAX_EXPRESSION_LENGTH}."
        )
    if not expression.strip():
        raise create_error("The filter expression is empty.")
    tokens = tokenize(expression)
    _check_parentheses(tokens)
    return _Parser(tokens).chain()


def _check_parentheses(tokens: list[Token]) -> None:
    """Report unbalanced parentheses before parsing, pointing at the unmatched one."""
    open_positions: list[int] = []
    for token in tokens:
        if token.kind is TokenKind.LPAREN:
            open_positions.append(token.position)
        elif token.kind is TokenKind.RPAREN:
            if not open_positions:
                raise create_error(
                    f'Unbalanced parentheses: ")" at position {token.position} has no matching "(".'
                )
            open_positions.pop()
    if open_positions:
        raise create_error(f'Unbalanced parentheses: "(" at position {open_positions[-1]} is never closed.')


@dataclass
class _Clause:
    """What the parser knows about the expression it is inside."""

    target: Target
    in_if: bool = False
    dataset: Dataset | None = None  # of the first WHERE condition


class _Parser:
    """One pass over the tokens; ``self.i`` indexes the next token."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    # --- token helpers -----------------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind is not TokenKind.END:
            self.i += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind is TokenKind.WORD and token.text.upper() in words

    @staticmethod
    def fail(token: Token, expected: str) -> Exception:
        """The error for an unexpected token (returned, so callers can ``raise self.fail(...)``)."""
        if token.kind is TokenKind.END:
            return create_error(
                f"Unexpected end of expression at position {token.position}: expected {expected}."
            )
        symbol = quote_symbol(token.text)
        return create_error(
            f"Invalid input symbol {symbol} at position {token.position}: expected {expected}."
        )

    # --- grammar -------------------------------------------------------------------------------------------

    def chain(self) -> FilterChain:
        expressions = [self.expression(None)]
        while self.peek().kind is TokenKind.PIPE:
            self.advance()
            expressions.append(self.expression(expressions[0].target))
        assert self.peek().kind is TokenKind.END  # expression() only stops at "|" or the end
        return FilterChain(tuple(expressions))

    def expression(self, chain_target: Target | None) -> Expression:
        start = self.advance()
        action = _ACTIONS.get(start.text.upper()) if start.kind is TokenKind.WORD else None
        if action is None:
            raise self.fail(start, "INCLUDE or EXCLUDE")
        token = self.advance()
        target = _TARGETS.get(token.text.upper()) if token.kind is TokenKind.WORD else None
        if target is None:
            raise self.fail(token, "ItemID, ActionID or UserID")
        if chain_target is not None and target is not chain_target:
            raise create_error(
                f"Invalid target {quote_symbol(token.text)} at position {token.position}: every expression "
                f"of a filter must use the target of the first expression ({chain_target.value})."
            )
        token = self.advance()
        if not (token.kind is TokenKind.WORD and token.text.upper() == "WHERE"):
            raise self.fail(token, "WHERE")
        clause = _Clause(target)
        where: list[tuple[Condition, ...]] = []
        group = [self.condition(clause)]
        if_conditions: list[Condition] = []
        while True:
            token = self.peek()
            if self.at_word("AND"):
                self.advance()
                (if_conditions if clause.in_if else group).append(self.condition(clause))
            elif self.at_word("OR") and not clause.in_if:
                self.advance()
                where.append(tuple(group))
                group = [self.condition(clause)]
            elif self.at_word("OR"):
                raise create_error(
                    f"OR at position {token.position}: IF conditions can only be joined with AND."
                )
            elif self.at_word("IF"):
                if clause.in_if:
                    raise create_error(
                        f"IF at position {token.position}: IF can only be used once, at the end of an "
                        "expression."
                    )
                if target is Target.USER_ID:
                    raise create_error(
                        f"IF at position {token.position}: IF conditions check the user who gets "
                        "recommendations, so they cannot be used in UserID filters."
                    )
                self.advance()
                clause.in_if = True
                if_conditions.append(self.condition(clause))
            elif token.kind in (TokenKind.PIPE, TokenKind.END):
                break
            else:
                expected = "AND" if clause.in_if else "AND, OR, IF"
                raise self.fail(token, f'{expected}, "|" or the end of the expression')
        where.append(tuple(group))
        return Expression(action, target, tuple(where), tuple(if_conditions), start.position)

    def field_ref(self, token: Token) -> FieldRef:
        """Resolve a NAME token's dataset (case-insensitively)."""
        assert isinstance(token.value, tuple)
        dataset_text, name = token.value
        dataset = _DATASETS.get(dataset_text.upper())
        if dataset is None:
            raise create_error(
                f"Invalid dataset {quote_symbol(dataset_text)} at position {token.position}: "
                f"expected {_DATASET_NAMES}."
            )
        return FieldRef(dataset, name, token.position)

    def condition(self, clause: _Clause) -> Condition:
        token = self.advance()
        if token.kind is not TokenKind.NAME:
            example = "CurrentUser.AGE" if clause.in_if else "Items.GENRE"
            raise self.fail(token, f"a Dataset.FIELD such as {example}")
        left = self.field_ref(token)
        self.check_left(left, clause)
        op = self.operator()
        right = self.operand(left, op, clause)
        return Condition(left, op, right)

    def check_left(self, left: FieldRef, clause: _Clause) -> None:
        """The rules on the left side of a condition (datasets, IF, CurrentItem, EVENT_TYPE)."""
        at = f"at position {left.position}"
        shown = quote_symbol(left.dataset.value)
        if clause.in_if:
            if left.dataset is not Dataset.CURRENT_USER:
                raise create_error(f"Invalid dataset {shown} {at}: IF conditions can only use CurrentUser.")
            return
        if left.dataset is Dataset.CURRENT_USER:
            raise create_error(f"CurrentUser {at} can only be used in an IF condition.")
        if left.dataset is Dataset.CURRENT_ITEM:
            raise create_error(f"CurrentItem {at} can only be used on the right side of a condition.")
        allowed = TARGET_DATASETS[clause.target]
        if left.dataset not in allowed:
            names = " or ".join(d.value for d in allowed)
            raise create_error(
                f"Invalid dataset {shown} {at}: {clause.target.value} expressions can only use {names}."
            )
        if clause.dataset is None:
            clause.dataset = left.dataset
        elif left.dataset is not clause.dataset:
            raise create_error(
                f"Invalid dataset {shown} {at}: all conditions of an expression must use the dataset of its "
                f'first condition ({clause.dataset.value}); chain expressions with "|" to combine datasets.'
            )
        if left.dataset is Dataset.INTERACTIONS and not left.is_event_type:
            raise create_error(
                f"Invalid field {quote_symbol('Interactions.' + left.name)} {at}: only "
                "Interactions.EVENT_TYPE can be used in a filter."
            )

    def operator(self) -> Operator:
        token = self.advance()
        if token.kind is TokenKind.OP:
            return _COMPARISONS[token.text]
        if token.kind is TokenKind.WORD and token.text.upper() == "IN":
            return Operator.IN
        if token.kind is TokenKind.WORD and token.text.upper() == "NOT":
            after = self.advance()
            if after.kind is TokenKind.WORD and after.text.upper() == "IN":
                return Operator.NOT_IN
            raise self.fail(after, 'IN after "NOT"')
        raise self.fail(token, "an operator: IN, NOT IN, =, !=, <, <=, > or >=")

    def operand(self, left: FieldRef, op: Operator, clause: _Clause) -> Operand:
        token = self.peek()
        if token.kind is TokenKind.NAME:
            return self.current_item(left, clause)
        if op.is_membership:
            if token.kind is not TokenKind.LPAREN:
                raise self.fail(token, '"(" or CurrentItem.FIELD')
            return self.value_list(left)
        self.advance()
        if token.kind is TokenKind.NUMBER:
            assert isinstance(token.value, float)
            return NumberLiteral(token.value, token.position)
        if token.kind is TokenKind.PLACEHOLDER:
            assert isinstance(token.value, str)
            return Placeholder(token.value, token.position)
        if token.kind is TokenKind.STAR and not left.is_event_type:
            raise self._star_error(token)
        raise self.fail(token, "a number, a $PLACEHOLDER or CurrentItem.FIELD")

    def current_item(self, left: FieldRef, clause: _Clause) -> FieldRef:
        token = self.advance()
        right = self.field_ref(token)
        if right.dataset is not Dataset.CURRENT_ITEM:
            raise self.fail(token, "a value; the right side of a condition can only name a CurrentItem field")
        if clause.in_if or left.dataset is not Dataset.ITEMS:
            raise create_error(
                f"CurrentItem at position {right.position} can only be compared with an Items field in a "
                "WHERE condition."
            )
        return right

    def value_list(self, left: FieldRef) -> ValueList:
        opening = self.advance()
        if self.peek().kind is TokenKind.RPAREN:
            raise create_error(
                f"Empty value list at position {opening.position}: IN and NOT IN need at least one value."
            )
        items: list[ListItem] = []
        while True:
            items.append(self.list_item(left))
            token = self.advance()
            if token.kind is TokenKind.RPAREN:
                return ValueList(tuple(items), opening.position)
            if token.kind is not TokenKind.COMMA:
                raise self.fail(token, '"," or ")"')

    def list_item(self, left: FieldRef) -> ListItem:
        token = self.advance()
        if token.kind is TokenKind.STRING:
            assert isinstance(token.value, str)
            if token.value == "*" and left.is_event_type:
                return Wildcard(token.position)
            return StringLiteral(token.value, token.position)
        if token.kind is TokenKind.PLACEHOLDER:
            assert isinstance(token.value, str)
            return Placeholder(token.value, token.position)
        if token.kind is TokenKind.STAR:
            if left.is_event_type:
                return Wildcard(token.position)
            raise self._star_error(token)
        raise self.fail(token, "a value")

    @staticmethod
    def _star_error(token: Token) -> Exception:
        return create_error(
            f'"*" at position {token.position} can only be used with Interactions.EVENT_TYPE.'
        )
