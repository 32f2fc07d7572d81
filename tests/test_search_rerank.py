"""The plugin's blend, checked to the float against reference/personalized-search.md §1.3."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pertinent.java_compat import (
    java_double_to_string,
    java_hashmap_order,
    java_is_blank,
    java_string_hash,
    java_to_string,
    parse_java_double,
)
from pertinent.search.rerank import (
    blend_scores,
    blended_max_score,
    item_id_of,
    personalized_ranks,
    rerank,
)

ENGINE_ORDER = ["A", "B", "C", "D", "E"]
PERSONALIZED = ["E", "D", "C", "B", "A"]


def f32(value: float) -> float:
    """Java's ``(float)`` of a double, computed independently of the code under test."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def java_blend(o: int, p: int, w: float) -> float:
    ln2 = math.log(2)
    personal = w / (math.log(p + 1) / ln2) if p else math.inf
    return f32((1 - w) / (math.log(o + 1) / ln2) + personal)


def hits(ids: list[str]) -> list[dict[str, Any]]:
    return [{"_id": item, "_score": 10.0 - i, "_source": {"ITEM_ID": item}} for i, item in enumerate(ids)]


def order_and_scores(result: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(hit["_id"], hit["_score"]) for hit in result]


# The reference table: weight -> output order with scores rounded to 4 places.
WORKED_EXAMPLES = {
    0.3: [("A", 0.8161), ("B", 0.5709), ("E", 0.5708), ("C", 0.5000), ("D", 0.4908)],
    0.5: [("A", 0.6934), ("E", 0.6934), ("B", 0.5308), ("D", 0.5308), ("C", 0.5000)],
    0.7: [("E", 0.8161), ("D", 0.5709), ("A", 0.5708), ("C", 0.5000), ("B", 0.4908)],
    1.0: [("E", 1.0), ("D", 0.6309), ("C", 0.5), ("B", 0.4307), ("A", 0.3869)],
}

# The same outputs as exact float32 values (what Java's (float) cast stores).
EXACT = {
    0.3: [0.8160558342933655, 0.5708537697792053, 0.5707969665527344, 0.5, 0.49075251817703247],
    0.5: [0.6934264302253723, 0.6934264302253723, 0.5308031439781189, 0.5308031439781189, 0.5],
    0.7: [0.8160558342933655, 0.5708537697792053, 0.5707969665527344, 0.5, 0.49075251817703247],
    1.0: [1.0, 0.6309297680854797, 0.5, 0.43067654967308044, 0.38685280084609985],
}


@pytest.mark.parametrize("weight", sorted(WORKED_EXAMPLES))
def test_worked_examples_to_the_float(weight: float) -> None:
    result = order_and_scores(rerank(hits(ENGINE_ORDER), PERSONALIZED, weight))
    expected = WORKED_EXAMPLES[weight]
    assert [item for item, _ in result] == [item for item, _ in expected]
    assert [round(score, 4) for _, score in result] == [score for _, score in expected]
    assert [score for _, score in result] == EXACT[weight]
    for item, score in result:
        o = ENGINE_ORDER.index(item) + 1
        p = PERSONALIZED.index(item) + 1
        assert score == java_blend(o, p, weight)


def test_worked_example_missing_id_plugin_mode_is_infinity() -> None:
    result = rerank(hits(ENGINE_ORDER), ["E", "D", "C", "B"], 0.3, missing="first")
    assert order_and_scores(result) == [
        ("A", math.inf),
        ("B", 0.5708537697792053),
        ("E", 0.5707969665527344),
        ("C", 0.5),
        ("D", 0.49075251817703247),
    ]
    assert blended_max_score(result) == math.inf


def test_missing_id_goes_after_present_ids_by_default() -> None:
    # The plugin would put A at the top with +inf; we give it the rank after the ranking (p = 5).
    result = rerank(hits(ENGINE_ORDER), ["E", "D", "C", "B"], 0.9)
    assert [hit["_id"] for hit in result] == ["E", "D", "C", "B", "A"]
    assert all(math.isfinite(hit["_score"]) for hit in result)
    assert result[-1]["_score"] == java_blend(1, 5, 0.9)


def test_empty_personalized_answer_keeps_engine_order() -> None:
    # Every id missing: ranks 1..n in engine order, so the blend keeps the engine order at any weight.
    for weight in (0.25, 0.5, 1.0):
        assert [hit["_id"] for hit in rerank(hits(ENGINE_ORDER), [], weight)] == ENGINE_ORDER


def test_weight_zero_returns_hits_untouched_with_engine_scores() -> None:
    original = hits(ENGINE_ORDER)
    result = rerank(original, PERSONALIZED, 0.0)
    assert result == original
    assert result[0] is not original[0]  # copies, never the caller's dicts


def test_weight_one_is_personalized_order_for_present_ids() -> None:
    personalized = ["C", "A", "E", "B", "D"]
    assert [hit["_id"] for hit in rerank(hits(ENGINE_ORDER), personalized, 1.0)] == personalized


def test_quarter_weight_differs_from_both_orders() -> None:
    # testReRankWithWeightAsNeitherZeroOrOne: at 0.25 the result is neither input order.
    ids = [str(i) for i in range(10)]
    result = [hit["_id"] for hit in rerank(hits(ids), list(reversed(ids)), 0.25)]
    assert result != ids
    assert result != list(reversed(ids))


def test_ties_keep_engine_order() -> None:
    # At w = 0.5 a hit at (o=a, p=b) ties with one at (o=b, p=a): the earlier engine hit stays first.
    result = rerank(hits(["X", "Y"]), ["Y", "X"], 0.5)
    assert [hit["_id"] for hit in result] == ["X", "Y"]
    assert result[0]["_score"] == result[1]["_score"]


def test_input_is_not_mutated_and_other_keys_survive() -> None:
    original = [{"_index": "items", "_id": "A", "_score": 3.0, "_source": {"x": 1}, "sort": [1]}]
    result = rerank(original, ["A"], 0.5)
    assert original[0]["_score"] == 3.0
    assert result[0]["_index"] == "items" and result[0]["sort"] == [1]


def test_hit_without_id_field_does_not_crash_and_goes_last() -> None:
    page = hits(["A", "B", "C"])
    del page[0]["_source"]["ITEM_ID"]  # the plugin throws a NullPointerException here
    page[1]["_source"] = None
    result = rerank(page, ["C"], 1.0, item_id_field="ITEM_ID")
    assert [hit["_id"] for hit in result] == ["C", "A", "B"]


def test_item_id_field_uses_java_to_string() -> None:
    assert item_id_of({"_id": "x", "_source": {"n": 123}}, "n") == "123"
    assert item_id_of({"_id": "x", "_source": {"n": 1.0}}, "n") == "1.0"
    assert item_id_of({"_id": "x", "_source": {"n": ["a", "b"]}}, "n") == "[a, b]"
    assert item_id_of({"_id": "x", "_source": {"n": True}}, "n") == "true"
    assert item_id_of({"_id": "x", "_source": {"a": {"b": "y"}}}, "a.b") is None  # no nested walk
    assert item_id_of({"_id": "x", "_source": {}}, "  ") == "x"  # blank field: the _id
    assert item_id_of({"_id": "x"}, None) == "x"


def test_duplicate_ids_share_the_first_rank() -> None:
    assert personalized_ranks(["A", "A", "B"], ["B", "A", "A"]) == [2, 2, 1]


def test_missing_ids_get_appended_ranks_in_engine_order() -> None:
    assert personalized_ranks(["Z", "A", None, "Z", "Y"], ["A"]) == [2, 1, 3, 2, 4]
    assert personalized_ranks(["Z", "A", None], ["A"], missing="first") == [0, 1, 0]


def test_more_than_500_hits() -> None:
    ids = [f"i{n}" for n in range(1200)]
    personalized = list(reversed(ids))
    result = rerank(hits(ids), personalized, 1.0)
    assert [hit["_id"] for hit in result] == personalized
    half = rerank(hits(ids), personalized, 0.5)
    assert len(half) == 1200 and len({hit["_id"] for hit in half}) == 1200


def test_max_score_never_below_zero() -> None:
    assert blended_max_score([]) == 0.0
    assert blended_max_score([{"_score": 0.25}, {"_score": None}, {"_score": 0.5}]) == 0.5


@pytest.mark.parametrize("weight", [-0.1, 1.5, math.nan, math.inf])
def test_weight_outside_range_is_rejected(weight: float) -> None:
    with pytest.raises(ValueError, match="weight"):
        rerank(hits(ENGINE_ORDER), PERSONALIZED, weight)


def test_blend_scores_are_float32() -> None:
    for score in blend_scores([3, 1, 2], 0.37):
        assert f32(score) == score


@given(
    n=st.integers(min_value=1, max_value=40),
    weight=st.floats(min_value=0.0, max_value=1.0),
    seed=st.randoms(use_true_random=False),
)
def test_rerank_is_a_sorted_permutation(n: int, weight: float, seed: Any) -> None:
    ids = [f"i{k}" for k in range(n)]
    personalized = ids[:]
    seed.shuffle(personalized)
    personalized = personalized[: seed.randint(0, n)]
    result = rerank(hits(ids), personalized, weight)
    assert sorted(hit["_id"] for hit in result) == sorted(ids)
    if weight > 0:
        scores = [hit["_score"] for hit in result]
        assert scores == sorted(scores, reverse=True)
        # A stable sort: equal scores keep engine order.
        for first, second in zip(result, result[1:], strict=False):
            if first["_score"] == second["_score"]:
                assert ids.index(first["_id"]) < ids.index(second["_id"])
        present = [hit["_id"] for hit in result if hit["_id"] in personalized]
        if weight == 1.0:
            assert present == personalized


# Expected values below were printed by OpenJDK 17 (HashMap.keySet(), String.hashCode, Double.toString).
JAVA_HASHMAP_30_KEYS = (
    "key63x key77x key21x key49x key35x key119x key168x key112x key7x key154x key126x key203x key182x key70x "
    "key196x key140x key84x key56x key42x key98x key14x key28x key189x key133x key0x key105x key147x key91x "
    "key175x key161x"
).split()


def test_java_helpers() -> None:
    assert java_hashmap_order([f"key{i * 7}x" for i in range(30)]) == JAVA_HASHMAP_30_KEYS
    assert java_string_hash("\u00e9\U0001f600") == 1996812
    assert [
        java_double_to_string(v) for v in (1.0, 0.001, 1.0e7, 1.5e-5, 123456789.0, 0.1 + 0.2, 5e-324)
    ] == [
        "1.0",
        "0.001",
        "1.0E7",
        "1.5E-5",
        "1.23456789E8",
        "0.30000000000000004",
        "4.9E-324",
    ]
    assert [parse_java_double(s) for s in (" 0.5 ", "0x1p-1", "1_0", "0.5f", "5.", "\u00a00.5")] == [
        0.5,
        0.5,
        None,
        0.5,
        5.0,
        None,
    ]
    assert java_string_hash("foo") == 101574
    assert java_string_hash("polygenelubricants") == -2147483648
    assert java_hashmap_order(["foo", "bar"]) == ["bar", "foo"]
    assert java_to_string({"foo": 1, "bar": [1.5, None]}) == "{bar=[1.5, null], foo=1}"
    assert java_is_blank(" \t\n") and java_is_blank("") and java_is_blank(None)
    assert not java_is_blank("\u00a0")  # Java: a non-breaking space is not whitespace
