"""Evaluating filters to masks: which items of a small hand-made catalog pass each construct (§7)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.errors import InvalidInputException
from pertinent.filters import (
    Action,
    Condition,
    Dataset,
    Expression,
    FieldRef,
    FilterChain,
    FilterContext,
    ItemTable,
    NumberLiteral,
    Operator,
    Placeholder,
    StringLiteral,
    Target,
    UserFilterContext,
    UserTable,
    ValueList,
    Wildcard,
    compile_filter,
    compile_user_filter,
    format_filter,
    parse_filter,
    parse_filter_values,
)
from pertinent.filters.ast import ListItem, Operand

Raw = str | float | None

# Eight movies. GENRE is categorical and multi-valued ("|"); None is a missing value.
COLUMNS = ("GENRE", "PRICE", "CREATION_TIMESTAMP", "CATEGORY", "DESCRIPTION", "NUMBER_OF_DOWNLOADS")
# fmt: off
ROWS: list[tuple[str, Raw, Raw, Raw, Raw, Raw, Raw]] = [
    ("m1", "Comedy",        5,    1000, "watch", "luxury",  10),
    ("m2", "Drama",         12,   2000, "watch", "sport",   50),
    ("m3", "Comedy|Drama",  8,    3000, "shoe",  "boot",    5),
    ("m4", "Horror",        15,   4000, "shoe",  "sneaker", 100),
    ("m5", "Action|Horror", 20,   5000, "shoe",  None,      19),
    ("m6", "Documentary",   None, 6000, None,    "luxury",  20),
    ("m7", None,            3,    7000, "watch", "luxury",  None),
    ("m8", "Action|Comedy", 9.5,  None, "hat",   "boot",    300),
]
# fmt: on
MOVIES: dict[str, dict[str, Raw]] = {row[0]: dict(zip(COLUMNS, row[1:], strict=True)) for row in ROWS}
NUMERIC = frozenset({"PRICE", "CREATION_TIMESTAMP", "NUMBER_OF_DOWNLOADS"})
CATEGORICAL = ("GENRE", "CATEGORY", "DESCRIPTION")
CATALOG = ItemTable.from_rows(list(MOVIES), list(MOVIES.values()), NUMERIC)
ALL = list(MOVIES)
INDEX = {item_id: i for i, item_id in enumerate(MOVIES)}

# The current user's history (most recent first) and attributes.
HISTORY = {"click": ["m1", "m2"], "stream": ["m3"], "purchase": ["m4"], "favorite": ["m5"]}
USER: dict[str, str | float] = {"AGE": 25.0, "MEMBERSHIP_STATUS": "gold", "SEGMENTS": "students|renters"}

_DEFAULT: dict[str, str | float] = {}


def passing(
    expression: str,
    filter_values: Mapping[str, str] | None = None,
    *,
    user: Mapping[str, str | float] | None = USER,
    item: str | None = None,
    history: Mapping[str, Sequence[str]] = HISTORY,
) -> list[str]:
    """The ids of the catalog that pass ``expression`` for this request."""
    chain = parse_filter(expression)
    context = FilterContext(
        items=CATALOG,
        user_interactions={
            t: np.array([INDEX[i] for i in ids], dtype=np.int64) for t, ids in history.items()
        },
        current_user=user,
        current_item=None if item is None else INDEX[item],
        values=parse_filter_values(filter_values, chain),
    )
    mask = compile_filter(chain)(context)
    assert mask.dtype == np.bool_
    assert mask.shape == (len(MOVIES),)
    return [str(item_id) for item_id in CATALOG.item_ids[mask]]


def but(*removed: str) -> list[str]:
    return [item_id for item_id in ALL if item_id not in removed]


# --- every example of §7 and the developer guide --------------------------------------------------------


def test_exclude_clicked_or_streamed() -> None:
    assert passing('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")') == but(
        "m1", "m2", "m3"
    )


def test_include_purchased() -> None:
    assert passing('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")') == ["m4"]


def test_include_clicked() -> None:
    assert passing('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")') == ["m1", "m2"]


def test_exclude_event_type_parameter() -> None:
    expression = "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)"
    assert passing(expression, {"EVENT_TYPE": '"click"'}) == but("m1", "m2")
    assert passing(expression, {"EVENT_TYPE": '"click","purchase"'}) == but("m1", "m2", "m4")
    assert passing(expression) == ALL  # EXCLUDE without its value: ignored


def test_exclude_category_parameter() -> None:
    expression = "EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)"
    assert passing(expression, {"CATEGORY": '"shoe"'}) == but("m3", "m4", "m5")
    assert passing(expression, {"CATEGORY": '"shoe","hat"'}) == but("m3", "m4", "m5", "m8")
    assert passing(expression) == ALL


def test_include_created_before_date() -> None:
    expression = "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE"
    assert passing(expression, {"DATE": "4000"}) == ["m1", "m2", "m3"]
    assert passing(expression, {"DATE": '"4000"'}) == ["m1", "m2", "m3"]  # a quoted number works too


def test_include_cheaper_and_same_genre_as_current_item() -> None:
    expression = "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE"
    assert passing(expression, item="m3") == ["m1"]  # m3: 8, Comedy|Drama
    assert passing(expression, item="m5") == ["m4", "m8"]  # m5: 20, Action|Horror


def test_exclude_genre_if_current_user_age() -> None:
    expression = "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE"
    assert passing(expression, {"GENRE": '"Comedy"', "AGE": "25"}) == but("m1", "m3", "m8")
    assert passing(expression, {"GENRE": '"Comedy"', "AGE": "30"}) == ALL
    assert passing(expression, {"GENRE": '"Comedy"'}) == ALL  # $AGE missing: the EXCLUDE is ignored


def test_include_luxury_watches_for_adults() -> None:
    expression = (
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") '
        "IF CurrentUser.AGE > 18"
    )
    assert passing(expression) == ["m1", "m7"]
    assert passing(expression, user={"AGE": 16.0}) == ALL
    assert passing(expression, user=None) == ALL


def test_include_genre_parameter_minus_clicked_or_streamed() -> None:
    expression = (
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")'
    )
    assert passing(expression, {"GENRE": '"Comedy","Drama"'}) == ["m8"]
    assert passing(expression, {"GENRE": '"Horror"'}) == ["m4", "m5"]


def test_include_genre_parameter() -> None:
    assert passing("INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)", {"GENRE": '"Horror"'}) == ["m4", "m5"]


def test_include_any_interaction() -> None:
    assert passing('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")') == ["m1", "m2", "m3", "m4", "m5"]


def test_exclude_shoes_that_are_not_boots() -> None:
    # m5 is a shoe without a DESCRIPTION: a missing value does not satisfy NOT IN, so m5 stays.
    expression = 'EXCLUDE ItemID WHERE Items.CATEGORY IN ("shoe") AND Items.DESCRIPTION NOT IN ("boot")'
    assert passing(expression) == but("m4")


def test_include_few_downloads() -> None:
    assert passing("INCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20") == ["m1", "m3", "m5"]


def test_exclude_few_downloads_for_users_between_18_and_30() -> None:
    expression = (
        "EXCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20 IF CurrentUser.AGE > 18 AND CurrentUser.AGE < 30"
    )
    assert passing(expression) == but("m1", "m3", "m5")
    assert passing(expression, user={"AGE": 30.0}) == ALL
    assert passing(expression, user={"AGE": 18.0}) == ALL


def test_include_price_parameter() -> None:
    assert passing("INCLUDE ItemID WHERE Items.PRICE <= $PRICE", {"PRICE": "9.5"}) == ["m1", "m3", "m7", "m8"]


def test_include_cheaper_than_current_item_and_newer_than_date() -> None:
    expression = "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.CREATION_TIMESTAMP > $DATE"
    assert passing(expression, {"DATE": "3000"}, item="m5") == ["m4", "m7"]


def test_include_category_parameter_or_favorites() -> None:
    expression = (
        "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | "
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")'
    )
    assert passing(expression, {"CATEGORY": '"hat"'}) == ["m5", "m8"]


def test_sdk_example_in_mixed_case() -> None:
    assert passing('EXCLUDE itemId WHERE INTERACTIONS.EVENT_TYPE in ("Purchase")') == but("m4")


def test_unknown_field_never_matches() -> None:
    assert passing('INCLUDE ItemID WHERE Items.OWNER IN ("in-house")') == []
    assert (
        passing('EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("shoe") AND Items.CATEGORY_L2 NOT IN ("boot")')
        == ALL
    )


# --- each construct ---------------------------------------------------------------------------------------

W = "INCLUDE ItemID WHERE "

CONSTRUCTS = [
    # IN / NOT IN on a multi-valued categorical field: any value matches; missing never matches
    ('Items.GENRE IN ("Drama")', ["m2", "m3"]),
    ('Items.GENRE IN ("Drama", "Horror")', ["m2", "m3", "m4", "m5"]),
    ('Items.GENRE IN ("Western")', []),
    ('Items.GENRE IN ("comedy")', []),  # values are case-sensitive
    ('Items.GENRE IN ("Comedy ")', []),  # and exact
    ('Items.GENRE IN ("Comedy|Drama")', []),  # one value is one category
    ('Items.GENRE NOT IN ("Comedy")', ["m2", "m4", "m5", "m6"]),
    ('Items.GENRE NOT IN ("Comedy", "Drama")', ["m4", "m5", "m6"]),
    ('Items.GENRE NOT IN ("Western")', but("m7")),
    # IN on a numeric field compares numbers
    ('Items.PRICE IN ("5", "9.5")', ["m1", "m8"]),
    ('Items.PRICE IN ("5.0", "cheap")', ["m1"]),
    ('Items.PRICE NOT IN ("5")', ["m2", "m3", "m4", "m5", "m7", "m8"]),
    # comparisons; NaN never matches, not even !=
    ("Items.PRICE = 12", ["m2"]),
    ("Items.PRICE = 9.5", ["m8"]),
    ("Items.PRICE != 12", ["m1", "m3", "m4", "m5", "m7", "m8"]),
    ("Items.PRICE < 8", ["m1", "m7"]),
    ("Items.PRICE <= 8", ["m1", "m3", "m7"]),
    ("Items.PRICE > 15", ["m5"]),
    ("Items.PRICE >= 15", ["m4", "m5"]),
    ("Items.PRICE > -1", but("m6")),
    ("Items.PRICE >= 1e1", ["m2", "m4", "m5"]),
    ("Items.CREATION_TIMESTAMP >= 6000", ["m6", "m7"]),
    # AND, OR, and AND binding tighter than OR
    ("Items.PRICE > 5 AND Items.PRICE < 12", ["m3", "m8"]),
    ('Items.GENRE IN ("Horror") OR Items.PRICE < 5', ["m4", "m5", "m7"]),
    ('Items.GENRE IN ("Documentary") OR Items.GENRE IN ("Comedy") AND Items.PRICE > 6', ["m3", "m6", "m8"]),
    ('Items.GENRE IN ("Comedy") AND Items.PRICE > 6 OR Items.GENRE IN ("Documentary")', ["m3", "m6", "m8"]),
    ('Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") AND Items.PRICE < 4', ["m7"]),
    # event types: case-insensitive, *, NOT IN, several conditions
    ('Interactions.EVENT_TYPE IN ("CLICK")', ["m1", "m2"]),
    ("Interactions.EVENT_TYPE IN (*)", ["m1", "m2", "m3", "m4", "m5"]),
    ('Interactions.EVENT_TYPE NOT IN ("click")', ["m3", "m4", "m5"]),
    ('Interactions.EVENT_TYPE NOT IN ("*")', []),
    ('Interactions.EVENT_TYPE IN ("watch")', []),
    ('Interactions.EVENT_TYPE IN ("click", "stream") AND Interactions.EVENT_TYPE NOT IN ("click")', ["m3"]),
    ('Interactions.EVENT_TYPE IN ("purchase") OR Interactions.EVENT_TYPE IN ("favorite")', ["m4", "m5"]),
]


@pytest.mark.parametrize(("where", "expected"), CONSTRUCTS)
def test_include_construct(where: str, expected: list[str]) -> None:
    assert passing(W + where) == expected


@pytest.mark.parametrize(("where", "expected"), CONSTRUCTS)
def test_exclude_is_the_complement_of_include(where: str, expected: list[str]) -> None:
    assert passing("EXCLUDE ItemID WHERE " + where) == but(*expected)


PLACEHOLDERS = [
    ("Items.GENRE IN ($G)", {"G": '"Comedy","Horror"'}, ["m1", "m3", "m4", "m5", "m8"]),
    ("Items.GENRE IN ($G)", {"G": '"Drama"'}, ["m2", "m3"]),
    ('Items.GENRE IN ("Drama", $G)', {"G": '"Horror"'}, ["m2", "m3", "m4", "m5"]),
    ("Items.GENRE NOT IN ($G)", {"G": '"Comedy"'}, ["m2", "m4", "m5", "m6"]),
    ("Items.GENRE IN ($A, $B)", {"A": '"Drama"', "B": '"Action"'}, ["m2", "m3", "m5", "m8"]),
    ("Items.PRICE > $P", {"P": "9"}, ["m2", "m4", "m5", "m8"]),
    ("Items.PRICE > $P", {"P": '"9"'}, ["m2", "m4", "m5", "m8"]),
    ("Items.PRICE >= $P AND Items.PRICE <= $Q", {"P": "5", "Q": "8"}, ["m1", "m3"]),
    ("Items.PRICE > $P OR Items.CREATION_TIMESTAMP < $P", {"P": "14.5"}, ["m4", "m5"]),
    ("Items.PRICE IN ($P)", {"P": '"12","3"'}, ["m2", "m7"]),
    ("Interactions.EVENT_TYPE IN ($E)", {"E": '"Stream","PURCHASE"'}, ["m3", "m4"]),
    ("Interactions.EVENT_TYPE IN ($E)", {"E": '"*"'}, ["m1", "m2", "m3", "m4", "m5"]),
]


@pytest.mark.parametrize(("where", "filter_values", "expected"), PLACEHOLDERS)
def test_placeholders(where: str, filter_values: dict[str, str], expected: list[str]) -> None:
    assert passing(W + where, filter_values) == expected


def test_history_keys_are_matched_case_insensitively() -> None:
    history = {"Click": ["m1"], "STREAM": ["m2"]}
    assert passing(W + 'Interactions.EVENT_TYPE IN ("click", "Stream")', history=history) == ["m1", "m2"]


def test_only_the_newest_100_interactions_per_event_type_count() -> None:
    n = 150
    table = ItemTable.from_rows(
        [f"i{i}" for i in range(n)], [{"PRICE": float(i)} for i in range(n)], {"PRICE"}
    )
    clicks = np.arange(119, -1, -1, dtype=np.int64)  # items 119 … 0, most recent first
    views = np.array([0, 149], dtype=np.int64)
    chain = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')
    mask = compile_filter(chain)(FilterContext(table, {"click": clicks, "view": views}))
    assert np.flatnonzero(mask).tolist() == list(range(20)) + list(
        range(120, 150)
    )  # 119 … 20 are the newest 100
    both = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "view")')
    mask = compile_filter(both)(FilterContext(table, {"click": clicks, "view": views}))
    assert np.flatnonzero(mask).tolist() == list(range(1, 20)) + list(range(120, 149))  # 0 is a recent view
    smaller = FilterContext(table, {"click": clicks}, interactions_per_event_type=10)
    assert np.flatnonzero(~compile_filter(chain)(smaller)).tolist() == list(range(110, 120))


def test_current_item_conditions() -> None:
    same_genre = W + "Items.GENRE IN CurrentItem.GENRE"
    assert passing(same_genre, item="m3") == ["m1", "m2", "m3", "m8"]  # the current item itself too
    assert passing(same_genre, item="m7") == []  # the current item has no genre
    assert passing(same_genre) == []  # no current item: nothing matches
    assert passing("EXCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE") == ALL
    assert passing(W + "Items.GENRE NOT IN CurrentItem.GENRE", item="m3") == ["m4", "m5", "m6"]
    assert passing(W + "Items.PRICE >= CurrentItem.PRICE", item="m4") == ["m4", "m5"]
    assert passing(W + "Items.PRICE != CurrentItem.PRICE", item="m4") == ["m1", "m2", "m3", "m5", "m7", "m8"]
    assert passing(W + "Items.PRICE < CurrentItem.PRICE", item="m6") == []  # m6 has no price
    assert passing(W + "Items.PRICE IN CurrentItem.PRICE", item="m8") == ["m8"]
    assert passing(W + "Items.CREATION_TIMESTAMP < CurrentItem.PRICE", item="m5") == []


IF_CASES = [
    ("IF CurrentUser.AGE > 18", USER, ["m1"]),
    ("IF CurrentUser.AGE > 30", USER, ALL),
    ("IF CurrentUser.AGE > 18", None, ALL),  # no current user: no effect
    ("IF CurrentUser.AGE > 18", {"MEMBERSHIP_STATUS": "gold"}, ALL),  # attribute missing
    ("IF CurrentUser.AGE > 18", {"AGE": math.nan}, ALL),
    ("IF CurrentUser.AGE > 18", {"AGE": "25"}, ["m1"]),  # a number sent as text
    ("IF CurrentUser.AGE > 18", {"AGE": "old"}, ALL),
    ("IF CurrentUser.AGE != 30", USER, ["m1"]),
    ('IF CurrentUser.AGE = 25 AND CurrentUser.MEMBERSHIP_STATUS IN ("gold")', USER, ["m1"]),
    ('IF CurrentUser.AGE = 25 AND CurrentUser.MEMBERSHIP_STATUS IN ("silver")', USER, ALL),
    ('IF CurrentUser.MEMBERSHIP_STATUS NOT IN ("silver")', USER, ["m1"]),
    ('IF CurrentUser.SEGMENTS IN ("renters")', USER, ["m1"]),  # multi-valued user attribute
    ('IF CurrentUser.SEGMENTS NOT IN ("renters")', USER, ALL),
    ('IF CurrentUser.SEGMENTS NOT IN ("owners")', USER, ["m1"]),
    ('IF CurrentUser.AGE IN ("25")', USER, ["m1"]),
    ('IF CurrentUser.MEMBERSHIP_STATUS IN ("gold")', {"MEMBERSHIP_STATUS": ""}, ALL),
]


@pytest.mark.parametrize(("condition", "user", "expected"), IF_CASES)
def test_if_conditions(condition: str, user: dict[str, str | float] | None, expected: list[str]) -> None:
    assert passing(W + 'Items.GENRE IN ("Comedy") AND Items.PRICE < 6 ' + condition, user=user) == expected


def test_if_with_placeholders() -> None:
    expression = 'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") IF CurrentUser.MEMBERSHIP_STATUS IN ($LEVEL)'
    assert passing(expression, {"LEVEL": '"bronze","gold"'}) == ["m4", "m5"]
    assert passing(expression, {"LEVEL": '"bronze"'}) == ALL


CHAINS = [
    (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") | INCLUDE ItemID WHERE Items.PRICE < 4',
        ["m4", "m5", "m7"],
    ),
    (
        'EXCLUDE ItemID WHERE Items.GENRE IN ("Horror") | EXCLUDE ItemID WHERE Items.PRICE < 4',
        but("m4", "m5", "m7"),
    ),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("Horror") | EXCLUDE ItemID WHERE Items.PRICE > 15', ["m4"]),
    ('EXCLUDE ItemID WHERE Items.PRICE > 15 | INCLUDE ItemID WHERE Items.GENRE IN ("Horror")', ["m4"]),
    (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") | '
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") | '
        "EXCLUDE ItemID WHERE Items.PRICE > 15 | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("CLICK")',
        ["m4"],
    ),
    # an INCLUDE whose IF is false drops out of the union; the other INCLUDE still restricts
    (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") IF CurrentUser.AGE > 60 | '
        'INCLUDE ItemID WHERE Items.GENRE IN ("Drama")',
        ["m2", "m3"],
    ),
    # every INCLUDE inactive: only the EXCLUDE applies
    (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") IF CurrentUser.AGE > 60 | '
        'EXCLUDE ItemID WHERE Items.GENRE IN ("Drama")',
        but("m2", "m3"),
    ),
    (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") | INCLUDE ItemID WHERE Items.GENRE IN ("Horror")',
        ["m4", "m5"],
    ),
]


@pytest.mark.parametrize(("expression", "expected"), CHAINS)
def test_chain_semantics(expression: str, expected: list[str]) -> None:
    assert passing(expression) == expected


def test_exclude_missing_a_value_is_dropped_from_the_chain() -> None:
    expression = (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy") | EXCLUDE ItemID WHERE Items.PRICE > $MAX | '
        "EXCLUDE ItemID WHERE Items.GENRE IN ($NOT)"
    )
    assert passing(expression) == ["m1", "m3", "m8"]
    assert passing(expression, {"MAX": "9"}) == ["m1", "m3"]
    assert passing(expression, {"NOT": '"Drama"'}) == ["m1", "m8"]


def test_include_missing_a_value_is_an_error_even_without_parse_filter_values() -> None:
    chain = parse_filter("INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    with pytest.raises(InvalidInputException) as caught:
        compile_filter(chain)(FilterContext(CATALOG))
    assert caught.value.message == (
        'Missing filterValues entry "GENRE": an INCLUDE expression of the filter uses $GENRE, and INCLUDE '
        "expressions need a value for every placeholder."
    )


def test_comparison_value_that_is_not_a_number_is_an_error() -> None:
    chain = parse_filter("INCLUDE ItemID WHERE Items.PRICE < $P")
    with pytest.raises(InvalidInputException) as caught:
        compile_filter(chain)(FilterContext(CATALOG, values={"P": ["cheap"]}))
    assert caught.value.message == (
        'Invalid filter value for "P": $P is used with "<", so its value must be a single number, e.g. "10".'
    )


def test_compiled_filter_is_reusable_and_the_index_is_cached_on_the_table() -> None:
    table = ItemTable.from_rows(list(MOVIES), list(MOVIES.values()), NUMERIC)
    compiled = compile_filter(parse_filter("INCLUDE ItemID WHERE Items.GENRE IN ($G)"))
    first = compiled(FilterContext(table, values={"G": ["Comedy"]}))
    index = table.field_index("GENRE")
    assert index is not None
    first[:] = False  # the caller owns the mask it gets
    second = compiled(FilterContext(table, values={"G": ["Comedy"]}))
    assert table.field_index("GENRE") is index
    assert table.item_ids[second].tolist() == ["m1", "m3", "m8"]
    assert table.item_ids[compiled(FilterContext(table, values={"G": ["Drama"]}))].tolist() == ["m2", "m3"]
    assert sorted(index.postings) == ["Action", "Comedy", "Documentary", "Drama", "Horror"]
    assert index.postings["Comedy"].tolist() == [0, 2, 7]
    assert index.present.tolist() == [True] * 6 + [False, True]


def test_empty_catalog() -> None:
    empty = ItemTable(np.array([], dtype=np.str_))
    mask = compile_filter(parse_filter(W + 'Items.GENRE IN ("a") | EXCLUDE ItemID WHERE Items.P > 1'))(
        FilterContext(empty)
    )
    assert mask.shape == (0,)


def test_table_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="categorical column 'G' has 1 rows, expected 2"):
        ItemTable(np.array(["a", "b"]), {"G": [frozenset({"x"})]})
    with pytest.raises(ValueError, match=r"numeric column 'P' has shape \(3,\), expected \(2,\)"):
        ItemTable(np.array(["a", "b"]), numeric={"P": np.zeros(3)})
    with pytest.raises(ValueError, match="1 attribute rows for 2 ids"):
        ItemTable.from_rows(["a", "b"], [{}])
    with pytest.raises(ValueError, match="event_types has 1 rows, expected 2"):
        UserTable(np.array(["a", "b"]), event_types=[frozenset()])


# --- actions and users ------------------------------------------------------------------------------------


def test_action_filters() -> None:
    actions = ItemTable.from_rows(
        ["a1", "a2", "a3"],
        [
            {"VALUE": 10, "KIND": "upsell"},
            {"VALUE": 50, "KIND": "retention"},
            {"VALUE": 5, "KIND": "upsell|retention"},
        ],
        {"VALUE"},
    )
    chain = parse_filter(
        'INCLUDE ActionID WHERE Actions.KIND IN ("upsell") | '
        'EXCLUDE ActionID WHERE Interactions.EVENT_TYPE IN ("Taken")'
    )
    mask = compile_filter(chain)(FilterContext(actions, {"taken": np.array([0])}))
    assert actions.item_ids[mask].tolist() == ["a3"]
    cheap = compile_filter(parse_filter("EXCLUDE ActionID WHERE Actions.VALUE >= 10"))
    assert actions.item_ids[cheap(FilterContext(actions))].tolist() == ["a3"]


USERS = UserTable.from_rows(
    ["u1", "u2", "u3", "u4"],
    [
        {"MEMBERSHIP_STATUS": "gold", "AGE": 25},
        {"MEMBERSHIP_STATUS": "silver", "AGE": 17},
        {"MEMBERSHIP_STATUS": "gold|partner", "AGE": 40},
        {"MEMBERSHIP_STATUS": None, "AGE": None},
    ],
    {"AGE"},
    [{"click"}, {"Click", "rating"}, set(), {"Purchase"}],
)


def segment(expression: str, filter_values: dict[str, str] | None = None) -> list[str]:
    chain = parse_filter(expression)
    mask = compile_user_filter(chain)(UserFilterContext(USERS, parse_filter_values(filter_values, chain)))
    assert mask.dtype == np.bool_ and mask.shape == (4,)
    return [str(user_id) for user_id in USERS.user_ids[mask]]


USER_SEGMENTS = [
    ("INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)", {"MEMBERSHIP": '"gold"'}, ["u1", "u3"]),
    ("INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)", {"MEMBERSHIP": '"partner"'}, ["u3"]),
    (
        "EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
        {"EVENT_TYPE": '"click"'},
        ["u3", "u4"],
    ),
    ("EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)", None, ["u1", "u2", "u3", "u4"]),
    ("EXCLUDE UserID WHERE Users.AGE < $AGE", {"AGE": "18"}, ["u1", "u3", "u4"]),
    ('INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click", "rating")', None, ["u1", "u2"]),
    ('INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click, rating")', None, []),  # one value, as written
    ('INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("PURCHASE")', None, ["u4"]),
    ("INCLUDE UserID WHERE Interactions.EVENT_TYPE IN (*)", None, ["u1", "u2", "u4"]),
    ('INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS NOT IN ("gold")', None, ["u2"]),
    (
        'INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ("gold") | '
        'EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")',
        None,
        ["u3"],
    ),
]


@pytest.mark.parametrize(("expression", "filter_values", "expected"), USER_SEGMENTS)
def test_user_segment_filters(
    expression: str, filter_values: dict[str, str] | None, expected: list[str]
) -> None:
    assert segment(expression, filter_values) == expected


def test_users_without_event_types() -> None:
    users = UserTable(np.array(["u1", "u2"]), numeric={"AGE": np.array([20.0, math.nan])})
    assert users.event_types == [frozenset(), frozenset()]
    chain = parse_filter(
        'EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click") | INCLUDE UserID WHERE Users.AGE > 1'
    )
    assert compile_user_filter(chain)(UserFilterContext(users)).tolist() == [True, False]


def test_comparisons_on_event_types_never_match() -> None:
    # The schema check rejects these (EVENT_TYPE is a string); unchecked, they simply match nothing.
    assert passing(W + "Interactions.EVENT_TYPE = 3") == []
    assert passing("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE != 3") == ALL


def test_targets_must_match_the_request() -> None:
    with pytest.raises(InvalidInputException, match="only be used for user segments"):
        compile_filter(parse_filter('INCLUDE UserID WHERE Users.A IN ("a")'))
    with pytest.raises(InvalidInputException, match="user segments need a filter on UserID"):
        compile_user_filter(parse_filter('INCLUDE ItemID WHERE Items.A IN ("a")'))


# --- property: the vectorised evaluator agrees with a per-item reference ---------------------------------

EVENT_TYPES = ["click", "stream", "purchase", "favorite"]
GENRES = ["Comedy", "Drama", "Horror", "Action", "Documentary", "Western"]
WORDS = ["watch", "shoe", "hat", "luxury", "boot", "sport", "sneaker", "x"]
NUMBERS = [-1.0, 0.0, 3.0, 5.0, 8.0, 9.5, 12.0, 15.0, 19.0, 20.0, 100.0, 2000.0, 4000.0]


def _reference_values(
    right: Operand, values: Mapping[str, list[str | float]], current: dict[str, Raw] | None
) -> list[str | float] | None:
    """What the right side stands for; None means '*'."""
    if isinstance(right, FieldRef):
        raw = None if current is None else current.get(right.name)
        if raw is None:
            return []
        return list(raw.split("|")) if isinstance(raw, str) else [float(raw)]
    assert isinstance(right, ValueList)
    out: list[str | float] = []
    for item in right.items:
        if isinstance(item, Wildcard):
            return None
        out.extend([item.value] if isinstance(item, StringLiteral) else values[item.name])
    return out


_OPS: dict[Operator, Callable[[float, float], bool]] = {
    Operator.EQ: operator.eq,
    Operator.NE: operator.ne,
    Operator.LT: operator.lt,
    Operator.LE: operator.le,
    Operator.GT: operator.gt,
    Operator.GE: operator.ge,
}


def _reference_number(
    right: Operand, values: Mapping[str, list[str | float]], current: dict[str, Raw] | None
) -> float | None:
    if isinstance(right, NumberLiteral):
        return right.value
    if isinstance(right, Placeholder):
        return float(values[right.name][0])
    assert isinstance(right, FieldRef)
    raw = None if current is None else current.get(right.name)
    return None if raw is None else float(raw)


def _reference_attribute(
    condition: Condition,
    row: dict[str, Raw],
    values: Mapping[str, list[str | float]],
    current: dict[str, Raw] | None,
) -> bool:
    raw = row.get(condition.left.name)
    if raw is None:
        return False
    if not condition.op.is_membership:
        number = _reference_number(condition.right, values, current)
        return (
            condition.left.name in NUMERIC and number is not None and _OPS[condition.op](float(raw), number)
        )
    listed = _reference_values(condition.right, values, current) or []
    if condition.left.name in NUMERIC:
        hit = any(float(v) == float(raw) for v in listed)
    else:
        hit = any(str(v) in str(raw).split("|") for v in listed)
    return hit if condition.op is Operator.IN else not hit


def _reference_user(condition: Condition, user: Mapping[str, str | float]) -> bool:
    raw = user.get(condition.left.name)
    if raw is None:
        return False
    if not condition.op.is_membership:
        assert isinstance(condition.right, NumberLiteral)
        return _OPS[condition.op](float(raw), condition.right.value)
    listed = _reference_values(condition.right, {}, None) or []
    hit = any(str(v) in str(raw).split("|") for v in listed)
    return hit if condition.op is Operator.IN else not hit


def _reference_event(condition: Condition, event_type: str, values: Mapping[str, list[str | float]]) -> bool:
    listed = _reference_values(condition.right, values, None)
    hit = listed is None or any(str(v).lower() in (event_type, "*") for v in listed)
    return hit if condition.op is Operator.IN else not hit


def reference(
    chain: FilterChain,
    history: dict[str, list[int]],
    user: dict[str, str | float],
    current: int | None,
    values: Mapping[str, list[str | float]],
) -> list[bool]:
    """Reference §7, item by item, in plain Python."""
    rows = list(MOVIES.values())
    current_row = None if current is None else rows[current]
    includes: list[list[bool]] = []
    excludes: list[list[bool]] = []
    for expression in chain.expressions:
        if any(name not in values for name in expression.placeholders):
            assert expression.action is Action.EXCLUDE
            continue
        if_holds = all(_reference_user(c, user) for c in expression.if_conditions)
        if not if_holds:
            continue
        matched = []
        for i, row in enumerate(rows):
            if expression.dataset is Dataset.INTERACTIONS:
                hit = any(
                    i in items[:100]
                    and any(all(_reference_event(c, t, values) for c in g) for g in expression.where)
                    for t, items in history.items()
                )
            else:
                hit = any(
                    all(_reference_attribute(c, row, values, current_row) for c in g)
                    for g in expression.where
                )
            matched.append(hit)
        (includes if expression.action is Action.INCLUDE else excludes).append(matched)
    n = len(rows)
    allowed = [any(m[i] for m in includes) for i in range(n)] if includes else [True] * n
    return [allowed[i] and not any(m[i] for m in excludes) for i in range(n)]


@st.composite
def item_conditions(draw: st.DrawFn, placeholders: list[str]) -> Condition:
    name = draw(st.sampled_from([*CATEGORICAL, *sorted(NUMERIC)]))
    left = FieldRef(Dataset.ITEMS, name)
    if name in NUMERIC:
        op = draw(st.sampled_from(list(Operator)))
        if op.is_membership:
            numbers = st.sampled_from(NUMBERS).map(lambda v: StringLiteral(str(v)))
            return Condition(left, op, ValueList(tuple(draw(st.lists(numbers, min_size=1, max_size=3)))))
        right: Operand = draw(
            st.one_of(
                st.sampled_from(NUMBERS).map(NumberLiteral),
                st.sampled_from(["N1", "N2"]).map(Placeholder),
                st.sampled_from(sorted(NUMERIC)).map(lambda f: FieldRef(Dataset.CURRENT_ITEM, f)),
            )
        )
        if isinstance(right, Placeholder):
            placeholders.append(right.name)
        return Condition(left, op, right)
    op = draw(st.sampled_from([Operator.IN, Operator.NOT_IN]))
    if draw(st.integers(0, 5)) == 0:
        return Condition(left, op, FieldRef(Dataset.CURRENT_ITEM, draw(st.sampled_from(CATEGORICAL))))
    pool = GENRES + WORDS
    item = st.one_of(st.sampled_from(pool).map(StringLiteral), st.sampled_from(["L1", "L2"]).map(Placeholder))
    items: list[ListItem] = draw(st.lists(item, min_size=1, max_size=3))
    placeholders.extend(i.name for i in items if isinstance(i, Placeholder))
    return Condition(left, op, ValueList(tuple(items)))


@st.composite
def event_conditions(draw: st.DrawFn, placeholders: list[str]) -> Condition:
    spelled = st.sampled_from([*EVENT_TYPES, "CLICK", "Stream", "watch"]).map(StringLiteral)
    item = st.one_of(spelled, st.just(Wildcard()), st.just(Placeholder("E1")))
    items: list[ListItem] = draw(st.lists(item, min_size=1, max_size=3))
    placeholders.extend(i.name for i in items if isinstance(i, Placeholder))
    op = draw(st.sampled_from([Operator.IN, Operator.NOT_IN]))
    return Condition(FieldRef(Dataset.INTERACTIONS, "EVENT_TYPE"), op, ValueList(tuple(items)))


@st.composite
def user_conditions(draw: st.DrawFn) -> Condition:
    if draw(st.booleans()):
        op = draw(st.sampled_from([o for o in Operator if not o.is_membership]))
        return Condition(
            FieldRef(Dataset.CURRENT_USER, "AGE"),
            op,
            NumberLiteral(draw(st.sampled_from([18.0, 25.0, 30.0]))),
        )
    op = draw(st.sampled_from([Operator.IN, Operator.NOT_IN]))
    value = draw(st.sampled_from(["gold", "silver", "renters"]))
    return Condition(
        FieldRef(Dataset.CURRENT_USER, draw(st.sampled_from(["MEMBERSHIP_STATUS", "SEGMENTS"]))),
        op,
        ValueList((StringLiteral(value),)),
    )


@st.composite
def scenario(
    draw: st.DrawFn,
) -> tuple[FilterChain, dict[str, str], dict[str, list[int]], dict[str, str | float], int | None]:
    placeholders: list[str] = []
    expressions = []
    for _ in range(draw(st.integers(1, 3))):
        interactions = draw(st.booleans())
        make = event_conditions if interactions else item_conditions
        group = st.lists(make(placeholders), min_size=1, max_size=3).map(tuple)
        where = tuple(draw(st.lists(group, min_size=1, max_size=2)))
        if_conditions = tuple(draw(st.lists(user_conditions(), max_size=2)))
        expressions.append(
            Expression(draw(st.sampled_from(list(Action))), Target.ITEM_ID, where, if_conditions)
        )
    chain = parse_filter(format_filter(FilterChain(tuple(expressions))))
    pool = {
        "L1": st.lists(st.sampled_from(GENRES + WORDS), min_size=1, max_size=3).map(
            lambda vs: ",".join(f'"{v}"' for v in vs)
        ),
        "L2": st.sampled_from(GENRES).map(lambda v: f'"{v}"'),
        "N1": st.sampled_from(NUMBERS).map(str),
        "N2": st.sampled_from(NUMBERS).map(lambda v: f'"{v}"'),
        "E1": st.lists(st.sampled_from([*EVENT_TYPES, "*", "Click"]), min_size=1, max_size=2).map(
            lambda vs: ",".join(f'"{v}"' for v in vs)
        ),
    }
    filter_values = {name: draw(pool[name]) for name in chain.placeholders if draw(st.integers(0, 4))}
    history = {
        t: draw(st.lists(st.integers(0, len(MOVIES) - 1), max_size=4, unique=True))
        for t in EVENT_TYPES
        if draw(st.booleans())
    }
    users: list[dict[str, str | float]] = [USER, {"AGE": 17.0, "MEMBERSHIP_STATUS": "silver"}, {}]
    user = draw(st.sampled_from(users))
    current = draw(st.one_of(st.none(), st.integers(0, len(MOVIES) - 1)))
    return chain, filter_values, history, user, current


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_vectorised_evaluation_matches_the_reference(
    case: tuple[FilterChain, dict[str, str], dict[str, list[int]], dict[str, str | float], int | None],
) -> None:
    chain, filter_values, history, user, current = case
    try:
        values = parse_filter_values(filter_values, chain)
    except InvalidInputException as error:
        assert error.message.startswith("Missing filterValues entry")
        return
    context = FilterContext(
        CATALOG, {t: np.array(ids, dtype=np.int64) for t, ids in history.items()}, user, current, values
    )
    mask = compile_filter(chain)(context)
    assert mask.tolist() == reference(chain, history, user, current, values)
