"""Parsing, printing, schema checks and filterValues of Personalize filter expressions (reference §7)."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pertinent.errors import InvalidInputException
from pertinent.filters import (
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
    parse_filter,
    parse_filter_values,
    validate_against_schemas,
)
from pertinent.filters.ast import TARGET_DATASETS, ListItem, Operand, format_condition, format_number

# Every example of reference §7 (and of the developer guide pages it cites), in the docs' own spelling.
DOC_EXAMPLES = [
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
    "EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)",
    "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE",
    "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE",
    "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
    'INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") '
    "IF CurrentUser.AGE > 18",
    "INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)",
    "EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
    "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | "
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
    'EXCLUDE ItemID WHERE Items.CATEGORY IN ("shoe") AND Items.DESCRIPTION NOT IN ("boot")',
    "INCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20",
    "EXCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20 IF CurrentUser.AGE > 18 AND CurrentUser.AGE < 30",
    "INCLUDE ItemID WHERE Items.PRICE <= $PRICE",
    "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.CREATION_TIMESTAMP > $DATE",
    'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("shoe") AND Items.CATEGORY_L2 NOT IN ("boot")',
    "EXCLUDE UserID WHERE Users.AGE < $AGE",
    'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click, rating")',
    "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | "
    'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")',
    'INCLUDE ItemID WHERE Items.OWNER IN ("in-house")',
    'EXCLUDE itemId WHERE INTERACTIONS.EVENT_TYPE in ("Purchase")',  # the SDK example: keywords in any case
]


def cond(dataset: Dataset, name: str, op: Operator, right: Operand) -> Condition:
    return Condition(FieldRef(dataset, name), op, right)


def values(*items: ListItem) -> ValueList:
    return ValueList(tuple(items))


def s(text: str) -> StringLiteral:
    return StringLiteral(text)


def error_of(expression: str) -> str:
    with pytest.raises(InvalidInputException) as caught:
        parse_filter(expression)
    return caught.value.message


# --- the tree each construct parses to ------------------------------------------------------------------


def test_every_doc_example_parses_and_round_trips() -> None:
    for text in DOC_EXAMPLES:
        chain = parse_filter(text)
        assert parse_filter(format_filter(chain)) == chain, text


def test_interactions_list() -> None:
    chain = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")')
    assert chain == FilterChain(
        (
            Expression(
                Action.EXCLUDE,
                Target.ITEM_ID,
                ((cond(Dataset.INTERACTIONS, "EVENT_TYPE", Operator.IN, values(s("click"), s("stream"))),),),
            ),
        )
    )
    assert chain.target is Target.ITEM_ID
    assert chain.expressions[0].dataset is Dataset.INTERACTIONS
    assert chain.placeholders == ()


def test_current_item_and_comparison() -> None:
    chain = parse_filter(
        "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE"
    )
    (expression,) = chain.expressions
    assert expression.where == (
        (
            cond(Dataset.ITEMS, "PRICE", Operator.LT, FieldRef(Dataset.CURRENT_ITEM, "PRICE")),
            cond(Dataset.ITEMS, "GENRE", Operator.IN, FieldRef(Dataset.CURRENT_ITEM, "GENRE")),
        ),
    )
    assert chain.fields == ((Dataset.ITEMS, "PRICE"), (Dataset.ITEMS, "GENRE"))


def test_if_conditions_and_placeholders() -> None:
    chain = parse_filter("EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE")
    (expression,) = chain.expressions
    assert expression.where == ((cond(Dataset.ITEMS, "GENRE", Operator.IN, values(Placeholder("GENRE"))),),)
    assert expression.if_conditions == (cond(Dataset.CURRENT_USER, "AGE", Operator.EQ, Placeholder("AGE")),)
    assert chain.placeholders == ("GENRE", "AGE")
    assert chain.fields == ((Dataset.ITEMS, "GENRE"), (Dataset.USERS, "AGE"))


def test_if_chained_with_and() -> None:
    chain = parse_filter(
        "EXCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20 IF CurrentUser.AGE > 18 AND CurrentUser.AGE < 30"
    )
    assert chain.expressions[0].if_conditions == (
        cond(Dataset.CURRENT_USER, "AGE", Operator.GT, NumberLiteral(18)),
        cond(Dataset.CURRENT_USER, "AGE", Operator.LT, NumberLiteral(30)),
    )


def test_and_binds_tighter_than_or() -> None:
    chain = parse_filter(
        'INCLUDE ItemID WHERE Items.A IN ("a") OR Items.B IN ("b") AND Items.C IN ("c") OR Items.D > 1'
    )
    a, b, c = (cond(Dataset.ITEMS, n, Operator.IN, values(s(n.lower()))) for n in "ABC")
    d = cond(Dataset.ITEMS, "D", Operator.GT, NumberLiteral(1))
    assert chain.expressions[0].where == ((a,), (b, c), (d,))


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("=", Operator.EQ),
        ("!=", Operator.NE),
        ("<", Operator.LT),
        ("<=", Operator.LE),
        (">", Operator.GT),
        (">=", Operator.GE),
    ],
)
def test_comparison_operators(text: str, op: Operator) -> None:
    chain = parse_filter(f"INCLUDE ItemID WHERE Items.PRICE {text} -12.5")
    assert chain.expressions[0].where == ((cond(Dataset.ITEMS, "PRICE", op, NumberLiteral(-12.5)),),)


@pytest.mark.parametrize(
    ("text", "number"),
    [("0", 0.0), ("42", 42.0), ("-3", -3.0), (".5", 0.5), ("1e3", 1000.0), ("2.5E-1", 0.25)],
)
def test_numbers(text: str, number: float) -> None:
    chain = parse_filter(f"INCLUDE ItemID WHERE Items.PRICE>={text}")
    assert chain.expressions[0].where[0][0].right == NumberLiteral(number)


def test_not_in_and_placeholders_mixed_with_literals() -> None:
    chain = parse_filter('INCLUDE ItemID WHERE Items.GENRE NOT IN ("Drama", $MORE, "x")')
    right = values(s("Drama"), Placeholder("MORE"), s("x"))
    assert chain.expressions[0].where == ((cond(Dataset.ITEMS, "GENRE", Operator.NOT_IN, right),),)


def test_wildcard_bare_and_quoted_mean_the_same() -> None:
    bare = parse_filter("INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*)")
    quoted = parse_filter('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")')
    assert bare == quoted
    assert bare.expressions[0].where[0][0].right == values(Wildcard())
    assert format_filter(bare) == 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'


def test_a_quoted_star_on_other_fields_is_a_plain_string() -> None:
    chain = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ("*")')
    assert chain.expressions[0].where[0][0].right == values(s("*"))


def test_string_escapes() -> None:
    chain = parse_filter(
        r'INCLUDE ItemID WHERE Items.TITLE IN ("say \"hi\"", "back\\slash", "a\b", "x|y (z), w")'
    )
    right = values(s('say "hi"'), s("back\\slash"), s("a\\b"), s("x|y (z), w"))
    assert chain.expressions[0].where[0][0].right == right
    assert parse_filter(format_filter(chain)) == chain


def test_pipe_chain_keeps_order() -> None:
    chain = parse_filter(
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    )
    assert [e.action for e in chain.expressions] == [Action.INCLUDE, Action.EXCLUDE]
    assert [e.dataset for e in chain.expressions] == [Dataset.ITEMS, Dataset.INTERACTIONS]


def test_action_and_user_targets() -> None:
    action = parse_filter(
        "EXCLUDE ActionID WHERE Actions.VALUE < 5 | "
        'INCLUDE ActionID WHERE Interactions.EVENT_TYPE IN ("taken")'
    )
    assert action.target is Target.ACTION_ID
    users = parse_filter("EXCLUDE UserID WHERE Users.AGE < $AGE")
    assert users.target is Target.USER_ID
    assert users.expressions[0].dataset is Dataset.USERS


@pytest.mark.parametrize(
    "text",
    [
        'include itemid where items.GENRE in ("a") and items.PRICE > 1 if currentuser.AGE not in ("1")',
        'Include ItemId Where Items.GENRE In ("a") And Items.PRICE > 1 If CurrentUser.AGE Not In ("1")',
        'INCLUDE ITEMID WHERE ITEMS.GENRE IN ("a") AND ITEMS.PRICE > 1 IF CURRENTUSER.AGE NOT IN ("1")',
        ' INCLUDE\tItemID\nWHERE   Items.GENRE IN("a")AND Items.PRICE>1 IF CurrentUser.AGE NOT  IN ( "1" ) ',
    ],
)
def test_keywords_targets_and_datasets_are_case_insensitive_whitespace_free(text: str) -> None:
    expected = 'INCLUDE ItemID WHERE Items.GENRE IN ("a") AND Items.PRICE > 1 IF CurrentUser.AGE NOT IN ("1")'
    assert format_filter(parse_filter(text)) == expected


def test_field_names_are_case_sensitive() -> None:
    assert parse_filter('INCLUDE ItemID WHERE Items.genre IN ("a")') != parse_filter(
        'INCLUDE ItemID WHERE Items.GENRE IN ("a")'
    )


def test_positions_are_recorded_but_not_compared() -> None:
    chain = parse_filter('INCLUDE ItemID WHERE  Items.GENRE IN ("a", $B)')
    condition = chain.expressions[0].where[0][0]
    assert condition.left.position == 23
    assert isinstance(condition.right, ValueList)
    assert [item.position for item in condition.right.items] == [39, 44]
    assert chain == parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ("a",$B)')


def test_format_is_canonical() -> None:
    chain = parse_filter(
        "exclude itemid where items.PRICE>=10.0 or items.PRICE<=-1e-07|include itemid where items.X in ($p)"
    )
    assert format_filter(chain) == (
        "EXCLUDE ItemID WHERE Items.PRICE >= 10 OR Items.PRICE <= -1e-07 | "
        "INCLUDE ItemID WHERE Items.X IN ($p)"
    )


def test_longest_expression_is_accepted() -> None:
    head = 'INCLUDE ItemID WHERE Items.GENRE IN ("'
    text = head + "x" * (2500 - len(head) - 2) + '")'
    assert len(text) == 2500
    parse_filter(text)


# --- unhappy paths: the exact message, with the 1-based position -----------------------------------------

P = "Could not create filter. "
W = "INCLUDE ItemID WHERE "  # 21 characters: the first condition starts at position 22
NUM = "expected a number, a $PLACEHOLDER or CurrentItem.FIELD."
OPS = "expected an operator: IN, NOT IN, =, !=, <, <=, > or >=."
NEXT = 'expected AND, OR, IF, "|" or the end of the expression.'
FIELD = "expected a Dataset.FIELD such as Items.GENRE."
SAME = "all conditions of an expression must use the dataset of its first condition"
COMBINE = 'chain expressions with "|" to combine datasets.'
ONLY_CURRENT_ITEM = "expected a value; the right side of a condition can only name a CurrentItem field."
STAR = "can only be used with Interactions.EVENT_TYPE."

ERRORS = [
    # syntax
    ("", "The filter expression is empty."),
    ("   ", "The filter expression is empty."),
    ("INCLUDE", "Unexpected end of expression at position 8: expected ItemID, ActionID or UserID."),
    (
        'FILTER ItemID WHERE Items.A IN ("a")',
        'Invalid input symbol "FILTER" at position 1: expected INCLUDE or EXCLUDE.',
    ),
    (
        'INCLUDE Items WHERE Items.A IN ("a")',
        'Invalid input symbol "Items" at position 9: expected ItemID, ActionID or UserID.',
    ),
    ('INCLUDE ItemID Items.A IN ("a")', 'Invalid input symbol "Items.A" at position 16: expected WHERE.'),
    ("INCLUDE ItemID WHERE", "Unexpected end of expression at position 21: " + FIELD),
    (W + 'GENRE IN ("a")', 'Invalid input symbol "GENRE" at position 22: ' + FIELD),
    (W + 'Items.GENRE ("a")', 'Invalid input symbol "(" at position 34: ' + OPS),
    (W + 'Items.GENRE NOT ("a")', 'Invalid input symbol "(" at position 38: expected IN after "NOT".'),
    (W + "Items.PRICE == 3", 'Invalid input symbol "=" at position 35: ' + NUM),
    (W + "Items.PRICE => 3", 'Invalid input symbol ">" at position 35: ' + NUM),
    (W + "Items.PRICE <> 3", 'Invalid input symbol ">" at position 35: ' + NUM),
    (W + 'Items.PRICE < "3"', "Invalid input symbol '\"3\"' at position 36: " + NUM),
    (W + "Items.PRICE < 12abc", 'Invalid input symbol "12abc" at position 36: ' + NUM),
    (W + "Items.PRICE < 1.2.3", 'Invalid input symbol "1.2.3" at position 36: ' + NUM),
    (W + "Items.PRICE < 1e999", 'Invalid number "1e999" at position 36: out of range.'),
    (
        W + 'Items.GENRE IN "a"',
        'Invalid input symbol \'"a"\' at position 37: expected "(" or CurrentItem.FIELD.',
    ),
    (
        W + "Items.GENRE IN $GENRE",
        'Invalid input symbol "$GENRE" at position 37: expected "(" or CurrentItem.FIELD.',
    ),
    (W + 'Items.GENRE IN ("Comedy", )', 'Invalid input symbol ")" at position 48: expected a value.'),
    (W + 'Items.GENRE IN (, "Comedy")', 'Invalid input symbol "," at position 38: expected a value.'),
    (W + "Items.GENRE IN (Comedy)", 'Invalid input symbol "Comedy" at position 38: expected a value.'),
    (W + "Items.GENRE IN (12)", 'Invalid input symbol "12" at position 38: expected a value.'),
    (W + 'Items.GENRE IN ("a" "b")', 'Invalid input symbol \'"b"\' at position 42: expected "," or ")".'),
    (W + 'Items.GENRE IN ("a") WHERE', 'Invalid input symbol "WHERE" at position 43: ' + NEXT),
    (W + 'Items.GENRE IN ("a") AND', "Unexpected end of expression at position 46: " + FIELD),
    (
        W + 'Items.GENRE IN ("a") |',
        "Unexpected end of expression at position 44: expected INCLUDE or EXCLUDE.",
    ),
    (
        W + 'Items.GENRE IN ("a") | | EXCLUDE',
        'Invalid input symbol "|" at position 45: expected INCLUDE or EXCLUDE.',
    ),
    (W + 'Items.GENRE IN ("a") # comment', 'Invalid input symbol "#" at position 43: ' + NEXT),
    (W + "Items.GENRE IN (“a”)", 'Invalid input symbol "“" at position 38: expected a value.'),
    (W + 'Items. IN ("a")', 'Missing field name at position 28: expected a field name after "Items.".'),
    (W + "Items.", 'Unexpected end of expression at position 28: expected a field name after "Items.".'),
    (
        W + 'Items.1A IN ("a")',
        'Invalid input symbol "1" at position 28: expected a field name after "Items.".',
    ),
    (W + 'Items.A.B IN ("a")', 'Invalid input symbol "." at position 29: ' + OPS),
    (
        W + "Items.GENRE IN ($)",
        'Invalid input symbol "$" at position 38: expected a placeholder name (letters, digits and '
        'underscores) after "$".',
    ),
    (
        W + "Items.A IN ($" + "N" * 51 + ")",
        f'Invalid placeholder "${"N" * 38}…" at position 34: placeholder names have at most 50 characters.',
    ),
    # quotes and parentheses
    (
        W + 'Items.GENRE IN ("Comedy)',
        "Unbalanced quotes: the string that starts at position 38 is never closed.",
    ),
    (
        W + 'Items.GENRE IN ("a", "b\\")',
        "Unbalanced quotes: the string that starts at position 43 is never closed.",
    ),
    (W + 'Items.GENRE IN ("Comedy"', 'Unbalanced parentheses: "(" at position 37 is never closed.'),
    (
        W + 'Items.GENRE IN ("a" | EXCLUDE ItemID WHERE Items.B IN ("b")',
        'Unbalanced parentheses: "(" at position 37 is never closed.',
    ),
    (W + 'Items.GENRE IN ("Comedy"))', 'Unbalanced parentheses: ")" at position 47 has no matching "(".'),
    (W + 'Items.GENRE IN (("a"))', 'Invalid input symbol "(" at position 38: expected a value.'),
    (W + "Items.GENRE IN ()", "Empty value list at position 37: IN and NOT IN need at least one value."),
    (W + "Items.GENRE NOT IN ( )", "Empty value list at position 41: IN and NOT IN need at least one value."),
    # datasets, targets, IF, CurrentItem, *
    (
        W + 'Item.GENRE IN ("a")',
        'Invalid dataset "Item" at position 22: expected Items, Users, Interactions, Actions, CurrentItem or '
        "CurrentUser.",
    ),
    (
        W + 'Items.GENRE IN ("a") AND Interactions.EVENT_TYPE IN ("click")',
        f'Invalid dataset "Interactions" at position 47: {SAME} (Items); {COMBINE}',
    ),
    (
        W + 'Interactions.EVENT_TYPE IN ("click") OR Items.GENRE IN ("a")',
        f'Invalid dataset "Items" at position 62: {SAME} (Interactions); {COMBINE}',
    ),
    (
        W + 'Users.AGE IN ("1")',
        'Invalid dataset "Users" at position 22: ItemID expressions can only use Items or Interactions.',
    ),
    (
        'INCLUDE UserID WHERE Items.GENRE IN ("a")',
        'Invalid dataset "Items" at position 22: UserID expressions can only use Users or Interactions.',
    ),
    (
        "INCLUDE ActionID WHERE Items.PRICE > 1",
        'Invalid dataset "Items" at position 24: ActionID expressions can only use Actions or Interactions.',
    ),
    (
        W + 'Items.A IN ("a") | EXCLUDE UserID WHERE Users.A IN ("b")',
        'Invalid target "UserID" at position 49: every expression of a filter must use the target of the '
        "first expression (ItemID).",
    ),
    (
        W + 'Interactions.DEVICE IN ("phone")',
        'Invalid field "Interactions.DEVICE" at position 22: only Interactions.EVENT_TYPE can be used in a '
        "filter.",
    ),
    (W + "CurrentUser.AGE > 18", "CurrentUser at position 22 can only be used in an IF condition."),
    (
        W + 'CurrentItem.GENRE IN ("a")',
        "CurrentItem at position 22 can only be used on the right side of a condition.",
    ),
    (
        W + 'Items.A IN ("a") IF Items.B > 1',
        'Invalid dataset "Items" at position 42: IF conditions can only use CurrentUser.',
    ),
    (
        W + 'Items.A IN ("a") IF CurrentUser.B > 1 AND Items.C > 1',
        'Invalid dataset "Items" at position 64: IF conditions can only use CurrentUser.',
    ),
    (
        W + 'Items.A IN ("a") IF CurrentUser.B > 1 IF CurrentUser.C > 2',
        "IF at position 60: IF can only be used once, at the end of an expression.",
    ),
    (
        W + 'Items.A IN ("a") IF CurrentUser.B > 1 OR CurrentUser.C > 2',
        "OR at position 60: IF conditions can only be joined with AND.",
    ),
    (
        W + 'Items.A IN ("a") IF CurrentUser.B > 1 WHERE',
        'Invalid input symbol "WHERE" at position 60: expected AND, "|" or the end of the expression.',
    ),
    (
        'INCLUDE UserID WHERE Users.A IN ("a") IF CurrentUser.B > 1',
        "IF at position 39: IF conditions check the user who gets recommendations, so they cannot be used in "
        "UserID filters.",
    ),
    (
        W + "Items.PRICE < Items.COST",
        'Invalid input symbol "Items.COST" at position 36: ' + ONLY_CURRENT_ITEM,
    ),
    (
        W + "Items.PRICE < CurrentUser.AGE",
        'Invalid input symbol "CurrentUser.AGE" at position 36: ' + ONLY_CURRENT_ITEM,
    ),
    (
        W + 'Items.A IN ("a") IF CurrentUser.B IN CurrentItem.B',
        "CurrentItem at position 59 can only be compared with an Items field in a WHERE condition.",
    ),
    (
        "INCLUDE ActionID WHERE Actions.VALUE < CurrentItem.VALUE",
        "CurrentItem at position 40 can only be compared with an Items field in a WHERE condition.",
    ),
    (W + "Items.GENRE IN (*)", '"*" at position 38 ' + STAR),
    (W + 'Items.GENRE IN ("a", *)', '"*" at position 43 ' + STAR),
    (W + "Items.PRICE > *", '"*" at position 36 ' + STAR),
    (W + "Interactions.EVENT_TYPE = *", 'Invalid input symbol "*" at position 48: ' + NUM),
    (W + "Items.PRICE * 2", 'Invalid input symbol "*" at position 34: ' + OPS),
    # length
    ("x" * 2501, "The filter expression has 2501 characters; the maximum is 2500."),
]


@pytest.mark.parametrize(("expression", "message"), ERRORS)
def test_error_messages(expression: str, message: str) -> None:
    assert error_of(expression) == P + message


@pytest.mark.parametrize(("expression", "message"), [(e, m) for e, m in ERRORS if "at position" in m])
def test_error_positions_point_at_the_symbol(expression: str, message: str) -> None:
    position = int(re.findall(r"at position (\d+)", message)[0])
    rest = expression[position - 1 :]
    named = re.search(
        r"""(?:symbol|dataset|target|field|placeholder|number) (?:"(.*?)"|'(.*?)') at position""", message
    )
    if named is not None:
        assert rest.startswith((named.group(1) or named.group(2)).rstrip("…"))
    elif message.startswith("Unexpected end"):
        assert rest == ""
    elif message.startswith("Missing field"):
        assert rest[:1].isspace()
    elif message.startswith("Unbalanced quotes"):
        assert rest.startswith('"')
    elif message.startswith(("Unbalanced parentheses", "Empty value list")):
        assert rest.startswith(message.split('"')[1] if '"' in message else "(")
    else:  # 'IF at position 60: …', '"*" at position 38 …', 'CurrentItem at position 22 …'
        assert rest.startswith(message.split(" at position")[0].strip('"'))


# --- validate_against_schemas ----------------------------------------------------------------------------

FIELDS: dict[str, dict[str, str]] = {
    "Items": {
        "ITEM_ID": "string",
        "GENRE": "categorical",
        "CATEGORY": "categorical",
        "DESCRIPTION": "categorical",
        "STUDIO": "string",
        "PRICE": "numeric",
        "CREATION_TIMESTAMP": "numeric",
        "SYNOPSIS": "textual",
        "IS_NEW": "boolean",
    },
    "Users": {"USER_ID": "string", "AGE": "numeric", "MEMBERSHIP_STATUS": "categorical", "VIP": "boolean"},
    "Interactions": {
        "USER_ID": "string",
        "ITEM_ID": "string",
        "TIMESTAMP": "numeric",
        "EVENT_TYPE": "string",
    },
}


def schema_error(expression: str, fields: dict[str, dict[str, str]] = FIELDS) -> str:
    chain = parse_filter(expression)
    with pytest.raises(InvalidInputException) as caught:
        validate_against_schemas(chain, fields)
    return caught.value.message


@pytest.mark.parametrize(
    "expression",
    [
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
        W + "Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE",
        "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
        W + 'Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") IF CurrentUser.AGE > 18',
        W + 'Items.STUDIO IN ("A24") AND Items.PRICE IN ("9.99", "-1", "1e3")',
        W + "Items.PRICE IN CurrentItem.CREATION_TIMESTAMP",
        W + "Items.STUDIO NOT IN CurrentItem.GENRE",
        "INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP) | EXCLUDE UserID WHERE Users.AGE < 18",
        # exactly five distinct fields; CurrentItem.PRICE is Items.PRICE
        W + 'Items.GENRE IN ("a") AND Items.PRICE < CurrentItem.PRICE | '
        'EXCLUDE ItemID WHERE Items.CATEGORY IN ("b") OR Items.PRICE > 1 IF CurrentUser.AGE > 1 | '
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    ],
)
def test_valid_against_schemas(expression: str) -> None:
    validate_against_schemas(parse_filter(expression), FIELDS)


BOOLEAN = 'use a string field with the values "True" and "False", or an int field with 0 and 1.'
COMPARES = "compares numbers, but"

SCHEMA_ERRORS = [
    (
        W + 'Items.GENRES IN ("a")',
        "Invalid field \"Items.GENRES\" at position 22: the Items schema has no field 'GENRES'.",
    ),
    (
        W + 'Items.genre IN ("a")',
        "Invalid field \"Items.genre\" at position 22: the Items schema has no field 'genre'.",
    ),
    (
        W + 'Items.GENRE IN ("a") IF CurrentUser.HEIGHT > 1',
        "Invalid field \"CurrentUser.HEIGHT\" at position 46: the Users schema has no field 'HEIGHT'.",
    ),
    (
        W + "Items.PRICE < CurrentItem.COST",
        "Invalid field \"CurrentItem.COST\" at position 36: the Items schema has no field 'COST'.",
    ),
    (
        W + 'Items.SYNOPSIS IN ("space")',
        'Invalid Expression: field "Items.SYNOPSIS" at position 22 is textual, and textual fields cannot be '
        "filtered.",
    ),
    (
        W + 'Items.IS_NEW IN ("true")',
        'Invalid Expression: field "Items.IS_NEW" at position 22 is boolean, and boolean fields cannot be '
        "filtered; " + BOOLEAN,
    ),
    (
        W + 'Items.GENRE IN ("a") IF CurrentUser.VIP = 1',
        'Invalid Expression: field "CurrentUser.VIP" at position 46 is boolean, and boolean fields cannot be '
        "filtered; " + BOOLEAN,
    ),
    (
        W + "Items.GENRE = 3",
        f'Invalid Expression: the operator "=" at position 22 {COMPARES} "Items.GENRE" is categorical; use '
        "IN or NOT IN for string values.",
    ),
    (
        W + "Interactions.EVENT_TYPE != 3",
        f'Invalid Expression: the operator "!=" at position 22 {COMPARES} "Interactions.EVENT_TYPE" is '
        "string; use IN or NOT IN for string values.",
    ),
    (
        W + 'Items.GENRE IN ("a") IF CurrentUser.MEMBERSHIP_STATUS > $M',
        f'Invalid Expression: the operator ">" at position 46 {COMPARES} "CurrentUser.MEMBERSHIP_STATUS" is '
        "categorical; use IN or NOT IN for string values.",
    ),
    (
        W + "Items.PRICE < CurrentItem.GENRE",
        'Invalid Expression: "CurrentItem.GENRE" at position 36 is categorical, but the operator "<" '
        "compares numbers.",
    ),
    (
        W + "Items.GENRE IN CurrentItem.PRICE",
        'Invalid Expression: "Items.GENRE" at position 22 is categorical but "CurrentItem.PRICE" is numeric; '
        "IN can only compare fields of the same kind.",
    ),
    (
        W + 'Items.PRICE IN ("9.99", "cheap")',
        'Invalid Expression: "Items.PRICE" is numeric, but the value "cheap" at position 46 is not a number.',
    ),
    (
        W + 'Items.GENRE IN ("a") AND Items.PRICE < 1 AND Items.STUDIO IN ("s") | '
        'EXCLUDE ItemID WHERE Items.CATEGORY IN ("b") OR Items.CREATION_TIMESTAMP > 1 IF CurrentUser.AGE > 1',
        "The filter uses 6 distinct fields (Items.GENRE, Items.PRICE, Items.STUDIO, Items.CATEGORY, "
        "Items.CREATION_TIMESTAMP, Users.AGE); the maximum is 5.",
    ),
]


@pytest.mark.parametrize(("expression", "message"), SCHEMA_ERRORS)
def test_schema_errors(expression: str, message: str) -> None:
    assert schema_error(expression) == P + message


def test_schema_errors_for_missing_datasets() -> None:
    items_only = {"Items": FIELDS["Items"]}
    message = schema_error(W + 'Items.GENRE IN ("a") IF CurrentUser.AGE > 18', items_only)
    assert (
        message
        == P + 'Invalid field "CurrentUser.AGE" at position 46: the dataset group has no Users dataset.'
    )
    message = schema_error('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', items_only)
    assert message == (
        P + 'Invalid field "Interactions.EVENT_TYPE" at position 22: the dataset group has no '
        "Interactions dataset."
    )
    no_event_type = {"Interactions": {"USER_ID": "string", "ITEM_ID": "string", "TIMESTAMP": "numeric"}}
    message = schema_error('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', no_event_type)
    assert message == (
        P + 'Invalid field "Interactions.EVENT_TYPE" at position 22: the Interactions schema has no field '
        "'EVENT_TYPE'."
    )


def test_event_type_must_be_a_string_field() -> None:
    message = schema_error(
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("1")', {"Interactions": {"EVENT_TYPE": "numeric"}}
    )
    assert message == (
        P + 'Invalid Expression: "Interactions.EVENT_TYPE" at position 22 must be a string field to filter '
        "event types."
    )


def test_format_number_refuses_non_finite_numbers() -> None:
    numbers = (0.0, -0.0, 12.0, 0.1, -2.5e-7, 123456789012345.0, 1e15, 1e20)
    texts = ["0", "0", "12", "0.1", "-2.5e-07", "123456789012345", "1000000000000000.0", "1e+20"]
    assert [format_number(v) for v in numbers] == texts
    assert [float(t) for t in texts] == list(numbers)
    with pytest.raises(ValueError, match="finite"):
        format_number(math.inf)


def test_unknown_kinds_are_not_filterable() -> None:
    message = schema_error(W + 'Items.X IN ("a")', {"Items": {"X": "blob"}})
    assert (
        message
        == P + 'Invalid Expression: field "Items.X" at position 22 has a type (blob) that cannot be filtered.'
    )


# --- parse_filter_values ----------------------------------------------------------------------------------

CHAIN = parse_filter(
    "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.PRICE <= $PRICE | "
    "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENTS) | "
    "EXCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE IF CurrentUser.AGE > $AGE"
)


def values_error(filter_values: dict[str, str], chain: FilterChain = CHAIN) -> str:
    with pytest.raises(InvalidInputException) as caught:
        parse_filter_values(filter_values, chain)
    return caught.value.message


def test_filter_values_are_parsed_per_use() -> None:
    parsed = parse_filter_values(
        {
            "GENRE": '"Comedy", "Drama" ,"Sci-Fi, with comma"',
            "PRICE": "9.5",
            "EVENTS": '"Click"',
            "DATE": '"1700000000"',
        },
        CHAIN,
    )
    assert parsed == {
        "GENRE": ["Comedy", "Drama", "Sci-Fi, with comma"],
        "PRICE": [9.5],
        "EVENTS": ["Click"],
        "DATE": [1700000000.0],
    }
    assert list(parsed) == ["GENRE", "PRICE", "EVENTS", "DATE"]  # the chain's placeholder order


def test_filter_values_for_exclude_expressions_may_be_missing() -> None:
    assert parse_filter_values({"GENRE": '"a"', "PRICE": "1"}, CHAIN) == {"GENRE": ["a"], "PRICE": [1.0]}


def test_filter_values_escapes_and_numbers() -> None:
    chain = parse_filter(
        W + "Items.TITLE IN ($T) AND Items.PRICE > $P AND Items.YEAR IN ($Y) AND Items.YEAR = $Y"
    )
    parsed = parse_filter_values({"T": r'"say \"hi\"","a\\b"', "P": "-1.5e2", "Y": '"1999"'}, chain)
    assert parsed == {"T": ['say "hi"', "a\\b"], "P": [-150.0], "Y": ["1999"]}


def test_no_filter_values() -> None:
    chain = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')
    assert parse_filter_values(None, chain) == {}
    assert parse_filter_values({}, chain) == {}


KNOWN = "(its placeholders: $GENRE, $PRICE, $EVENTS, $DATE, $AGE)."
HINT = 'write each value in double quotes, separated by commas, e.g. "\\"comedy\\",\\"drama\\"".'
GENRE = 'Invalid filter value for "GENRE": '
PRICE = 'Invalid filter value for "PRICE": '
ONE_NUMBER = '$PRICE is used with "<=", so its value must be a single number, e.g. "10".'

FILTER_VALUE_ERRORS = [
    (
        {"GENRE": '"a"', "PRICE": "1", "COLOR": '"red"'},
        f'Invalid filterValues key "COLOR": the filter has no placeholder $COLOR {KNOWN}',
    ),
    (
        {"genre": '"a"', "PRICE": "1"},
        f'Invalid filterValues key "genre": the filter has no placeholder $genre {KNOWN}',
    ),
    (
        {"PRICE": "1"},
        'Missing filterValues entry "GENRE": an INCLUDE expression of the filter uses $GENRE, and INCLUDE '
        "expressions need a value for every placeholder.",
    ),
    (
        {"GENRE": '"Comedy', "PRICE": "1"},
        GENRE + "unbalanced quotes; the value that starts at position 1 is never closed.",
    ),
    (
        {"GENRE": '"Comedy","Dra', "PRICE": "1"},
        GENRE + "unbalanced quotes; the value that starts at position 10 is never closed.",
    ),
    ({"GENRE": "Comedy", "PRICE": "1"}, GENRE + 'unquoted value "Comedy" at position 1; ' + HINT),
    ({"GENRE": '"Comedy", Drama', "PRICE": "1"}, GENRE + 'unquoted value "Drama" at position 11; ' + HINT),
    ({"GENRE": '"a" "b"', "PRICE": "1"}, GENRE + 'expected "," at position 5, found \'"\'.'),
    ({"GENRE": '"a",', "PRICE": "1"}, GENRE + "expected a value at position 5; " + HINT),
    ({"GENRE": ',"a"', "PRICE": "1"}, GENRE + "expected a value at position 1; " + HINT),
    ({"GENRE": "  ", "PRICE": "1"}, GENRE + "the value is empty; " + HINT),
    ({"GENRE": "12", "PRICE": "1"}, GENRE + "$GENRE is used with IN, so its values are strings; " + HINT),
    ({"GENRE": '"a"', "PRICE": "cheap"}, PRICE + 'unquoted value "cheap" at position 1; ' + HINT),
    ({"GENRE": '"a"', "PRICE": "nan"}, PRICE + 'unquoted value "nan" at position 1; ' + HINT),
    ({"GENRE": '"a"', "PRICE": '"cheap"'}, PRICE + ONE_NUMBER),
    ({"GENRE": '"a"', "PRICE": "1,2"}, PRICE + ONE_NUMBER),
]


@pytest.mark.parametrize(("filter_values", "message"), FILTER_VALUE_ERRORS)
def test_filter_value_errors(filter_values: dict[str, str], message: str) -> None:
    assert values_error(filter_values) == message


def test_missing_value_shared_by_include_and_exclude_is_an_error() -> None:
    chain = parse_filter("INCLUDE ItemID WHERE Items.A IN ($X) | EXCLUDE ItemID WHERE Items.B IN ($X)")
    assert values_error({}, chain).startswith('Missing filterValues entry "X"')
    assert parse_filter_values({"X": '"v"'}, chain) == {"X": ["v"]}


def test_filter_values_for_a_filter_without_placeholders() -> None:
    chain = parse_filter(W + 'Items.A IN ("a")')
    assert values_error({"A": '"a"'}, chain) == (
        'Invalid filterValues key "A": the filter has no placeholder $A (its placeholders: none).'
    )


# --- properties -------------------------------------------------------------------------------------------

_WORD = "abcXYZ_019"
field_names = st.builds(str.__add__, st.sampled_from("AGxz_"), st.text(_WORD, max_size=8))
placeholder_names = st.text(_WORD, min_size=1, max_size=8)
numbers = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def list_items(draw: st.DrawFn, event_type: bool) -> ListItem:
    kind = draw(
        st.sampled_from(["string", "placeholder", "wildcard"] if event_type else ["string", "placeholder"])
    )
    if kind == "placeholder":
        return Placeholder(draw(placeholder_names))
    if kind == "wildcard":
        return Wildcard()
    return StringLiteral(draw(st.text(max_size=8).filter(lambda text: not (event_type and text == "*"))))


@st.composite
def conditions(draw: st.DrawFn, dataset: Dataset, in_if: bool) -> Condition:
    if in_if:
        left = FieldRef(Dataset.CURRENT_USER, draw(field_names))
    elif dataset is Dataset.INTERACTIONS:
        left = FieldRef(Dataset.INTERACTIONS, "EVENT_TYPE")
    else:
        left = FieldRef(dataset, draw(field_names))
    op = draw(st.sampled_from(list(Operator)))
    current_item = not in_if and dataset is Dataset.ITEMS and draw(st.integers(0, 4)) == 0
    right: Operand
    if current_item:
        right = FieldRef(Dataset.CURRENT_ITEM, draw(field_names))
    elif op.is_membership:
        right = ValueList(tuple(draw(st.lists(list_items(left.is_event_type), min_size=1, max_size=3))))
    elif draw(st.booleans()):
        right = NumberLiteral(draw(numbers))
    else:
        right = Placeholder(draw(placeholder_names))
    return Condition(left, op, right)


@st.composite
def expressions(draw: st.DrawFn, target: Target) -> Expression:
    dataset = draw(st.sampled_from(TARGET_DATASETS[target]))
    group = st.lists(conditions(dataset, in_if=False), min_size=1, max_size=3).map(tuple)
    where = tuple(draw(st.lists(group, min_size=1, max_size=2)))
    if_conditions: tuple[Condition, ...] = ()
    if target is not Target.USER_ID:
        if_conditions = tuple(draw(st.lists(conditions(dataset, in_if=True), max_size=2)))
    return Expression(draw(st.sampled_from(list(Action))), target, where, if_conditions)


@st.composite
def chains(draw: st.DrawFn) -> FilterChain:
    target = draw(st.sampled_from(list(Target)))
    return FilterChain(tuple(draw(st.lists(expressions(target), min_size=1, max_size=2))))


@given(chains())
def test_generated_chains_round_trip(chain: FilterChain) -> None:
    text = format_filter(chain)
    assume(len(text) <= 2500)
    parsed = parse_filter(text)
    assert parsed == chain
    assert format_filter(parsed) == text
    assert parse_filter(format_filter(parse_filter(text))) == parse_filter(text)


def _mangled(chain: FilterChain, rng: random.Random) -> str:
    """The chain printed with keywords, targets and datasets in random case, and random whitespace."""

    def spell(word: str) -> str:
        return "".join(c.swapcase() if rng.random() < 0.5 else c for c in word)

    def gap() -> str:
        return rng.choice([" ", "  ", "\t", "\n "])

    def side(ref: FieldRef) -> str:
        return f"{spell(ref.dataset.value)}.{ref.name}"

    def condition(c: Condition) -> str:
        left = f"{c.left.dataset.value}.{c.left.name}"
        right = (
            side(c.right)
            if isinstance(c.right, FieldRef)
            else format_condition(c)[len(left) + len(c.op) + 2 :]
        )
        op = " ".join(spell(word) for word in c.op.value.split())
        return f"{side(c.left)}{gap()}{op}{gap()}{right}"

    def joined(items: list[str], word: str) -> str:
        return f"{gap()}{spell(word)}{gap()}".join(items)

    parts = []
    for e in chain.expressions:
        text = gap().join(spell(w) for w in (e.action.value, e.target.value, "WHERE"))
        text += gap() + joined([joined([condition(c) for c in group], "AND") for group in e.where], "OR")
        if e.if_conditions:
            text += gap() + spell("IF") + gap() + joined([condition(c) for c in e.if_conditions], "AND")
        parts.append(text)
    return f"{gap()}|{gap()}".join(parts)


@settings(max_examples=50)
@given(chains(), st.integers(0, 2**32 - 1))
def test_keyword_case_and_whitespace_do_not_matter(chain: FilterChain, seed: int) -> None:
    text = _mangled(chain, random.Random(seed))
    assume(len(text) <= 2500)
    assert parse_filter(text) == chain


def _check_error(text: str) -> None:
    try:
        parse_filter(text)
    except InvalidInputException as error:
        assert error.message.startswith(P)
        for position in re.findall(r"at position (\d+)", error.message):
            assert 1 <= int(position) <= len(text) + 1


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_random_text_only_raises_invalid_input(text: str) -> None:
    _check_error(text)


TOKENS = [
    "INCLUDE",
    "EXCLUDE",
    "ItemID",
    "UserID",
    "ActionID",
    "WHERE",
    "AND",
    "OR",
    "IF",
    "NOT",
    "IN",
    "(",
    ")",
    ",",
    "|",
    "*",
    '"a"',
    '"*"',
    '"',
    "$P",
    "$",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "12",
    "-1.5",
    "Items.GENRE",
    "Items.PRICE",
    "Interactions.EVENT_TYPE",
    "Users.AGE",
    "Actions.VALUE",
    "CurrentItem.PRICE",
    "CurrentUser.AGE",
    "Foo.BAR",
    "Items.",
    "GENRE",
    "!",
    "#",
]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.sampled_from([" ", ""]))
def test_token_soup_only_raises_invalid_input(tokens: list[str], separator: str) -> None:
    _check_error(separator.join(tokens))


@settings(max_examples=50)
@given(chains(), st.data())
def test_mutated_valid_text_only_raises_invalid_input(chain: FilterChain, data: st.DataObject) -> None:
    text = format_filter(chain)
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(["", "(", ")", '"', ",", "|", "$", " AND", " IF", "*", "x"]))
    drop = data.draw(st.integers(0, 3))
    _check_error(text[:cut] + insert + text[cut + drop :])
