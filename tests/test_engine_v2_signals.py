"""The v2 engine's extra inputs each change results where they carry signal and (almost) nothing where
they do not: request context, user metadata, item metadata of cold items, impressions."""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pytest

from pertinent.datasets.planted import planted_data
from pertinent.recipes.v2.two_stage import PersonalizedRankingV2, UserPersonalizationV2
from pertinent.training.matrix import InteractionData

M = 20  # items per cluster


@cache
def fitted(signal: bool) -> tuple[InteractionData, UserPersonalizationV2]:
    p = planted_data(n_users=300, mean_events=30, context_signal=signal, user_signal=signal, seed=3)
    data = InteractionData.from_arrow(p.interactions, p.items, users=p.users, with_side=True)
    return data, UserPersonalizationV2().fit(data)


def _top(model: UserPersonalizationV2, data: InteractionData, user: int, **kw: object) -> list[int]:
    items, weights = data.history(user)
    state = model.request_state(items.astype(np.int64), weights, user_index=user, **kw)  # type: ignore[arg-type]
    ids, _ = model.recommend_state(state, 10, exclude=items.astype(np.int64))
    return [int(data.item_ids[i][1:]) for i in ids]


def _tv_share(items: list[int]) -> float:
    return float(np.mean([i % M < M // 2 for i in items]))


@pytest.mark.parametrize("signal", [True, False])
def test_context_changes_results_only_where_it_carries_signal(signal: bool) -> None:
    data, model = fitted(signal)
    users = range(0, 300, 15)
    tv = [_top(model, data, u, context={"DEVICE": "tv"}) for u in users]
    mobile = [_top(model, data, u, context={"DEVICE": "mobile"}) for u in users]
    gap = np.mean([_tv_share(a) - _tv_share(b) for a, b in zip(tv, mobile, strict=True)])
    if signal:
        assert gap > 0.3, gap  # tv requests get the tv half of the clusters
    else:
        assert abs(gap) < 0.1, gap
        same = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(tv, mobile, strict=True)])
        assert same >= 0.8, same


@pytest.mark.parametrize("signal", [True, False])
def test_user_metadata_changes_a_newcomers_results_only_where_it_carries_signal(signal: bool) -> None:
    data, model = fitted(signal)
    empty = np.zeros(0, dtype=np.int64)
    lists = {}
    for segment in ("s0", "s1", "s2", "s3"):
        ids, _ = model.recommend_state(model.request_state(empty, user_metadata={"SEGMENT": segment}), 10)
        lists[segment] = [int(data.item_ids[i][1:]) // M for i in ids]
    if signal:  # segment s has clusters c with c % 4 == s
        for segment, clusters in lists.items():
            own = np.mean([c % 4 == int(segment[1]) for c in clusters])
            assert own >= 0.6, (segment, clusters)
    else:
        overlap = np.mean([len(set(lists["s0"]) & set(v)) / max(len(set(v)), 1) for v in lists.values()])
        assert overlap >= 0.8, lists


def test_cold_items_are_ranked_from_their_metadata_without_ties() -> None:
    p = planted_data(n_users=300, mean_events=30, seed=4)
    genres = [f"genre{k % 8}|genre{(k + k // 8 + 1) % 8}" for k in range(16)]  # distinct metadata
    cold = pa.table({"ITEM_ID": [f"c{k}" for k in range(16)], "GENRE": genres})
    items = pa.concat_tables([p.items, cold])
    data = InteractionData.from_arrow(p.interactions, items, users=p.users, with_side=True)
    model = PersonalizedRankingV2().fit(data)
    cold_idx = [data.item_index[f"c{k}"] for k in range(16)]
    hits = 0
    for user in range(0, 300, 20):
        history, weights = data.history(user)
        favourite = np.bincount([int(data.item_ids[i][1:]) // M for i in history], minlength=8).argmax()
        ids, scores = model.rank(history.astype(np.int64), cold_idx, history_weights=weights)
        assert len(set(np.round(scores, 7).tolist())) == 16, scores  # no tied scores
        hits += f"genre{favourite}" in genres[int(data.item_ids[ids[0]][1:])].split("|")
    assert hits >= 12, hits  # of 15 users, the favourite genre's cold item first


def test_impressions_without_a_click_lower_an_item() -> None:
    p = planted_data(n_users=300, mean_events=30, seed=5)
    interactions = p.interactions
    rng = np.random.default_rng(0)
    n = interactions.num_rows
    users = interactions["USER_ID"].to_pylist()
    items = interactions["ITEM_ID"].to_pylist()
    ignored: dict[str, set[str]] = {}
    shown = []
    for row in range(n):  # each event showed the clicked item and two random items the user never clicks
        others = [f"i{int(x)}" for x in rng.integers(0, 160, size=2)]
        shown.append("|".join([items[row], *others]))
        ignored.setdefault(users[row], set()).update(others)
    table = interactions.append_column("IMPRESSION", pa.array(shown))
    keep = [items[r] not in ignored[users[r]] for r in range(n)]  # planted: shown and ignored → never clicked
    table = table.filter(pa.array(keep))
    data = InteractionData.from_arrow(table, p.items, users=p.users, with_side=True)
    model = UserPersonalizationV2().fit(data)
    assert "impressions_without_click" in model.feature_names_
    moved = 0
    for user in range(0, 300, 20):
        history, weights = data.history(user)
        h = history.astype(np.int64)
        plain = model.request_state(h, weights)
        ids, _ = model.recommend_state(plain, 10, exclude=h)
        target = ids[:3]
        state = model.request_state(h, weights, impressions=np.repeat(target, 3).tolist())
        after, _ = model.recommend_state(state, 10, exclude=h)
        moved += sum(int(np.flatnonzero(after == t)[0]) if t in after else 10 for t in target.tolist()) > 3
    assert moved >= 10, moved
