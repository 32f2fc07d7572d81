"""Train an aws-next-best-action solution version: Actions + Action_Interactions (+ Users, Interactions) in,
artifact directory out. :func:`load_action_model` reads it back for serving.

Data rules (personalize_api.md §6.1, §10.2): an Actions and an Action_Interactions dataset are required, and
the Interactions dataset must hold at least 1000 item interactions. Offline metrics: 10 % of the users with
TAKEN events are held out; for each, the model ranks the actions eligible at the moment of the user's last
TAKEN event from the history before it, scored against that action (coverage, MRR@25, NDCG@5/10/25,
precision@5/10/25 — the keys GetSolutionMetrics reports for other recipes).

Artifact layout::

    artifact_dir/
      nba/                 the LightGBM booster and per-action state (NextBestAction.save)
      actions.json         the action catalog (ids, rows, feature columns, vocabularies), user features
      histories.npz        every user's action events (user ids, indptr, action index, timestamp, kind)
      manifest.json        recipe, metrics, sizes
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pertinent.errors import TrainingFailure
from pertinent.recipes.next_best_action import (
    NAME,
    RESERVED_ACTION_COLUMNS,
    TAKEN,
    ActionCatalog,
    ActionEvent,
    NextBestAction,
    UserFeatures,
    build_vocab,
    eligible_actions,
    normalize_event_type,
    rank_actions,
)
from pertinent.training.evaluation import METRIC_NAMES, ndcg_at_k, precision_at_k, reciprocal_rank_at_k

MIN_ITEM_INTERACTIONS = 1000
KINDS = ("TAKEN", "NOT_TAKEN", "VIEWED")
Progress = Callable[[float, str], None]


@dataclass
class ActionModel:
    """A trained next-best-action version as serving needs it."""

    model: NextBestAction
    catalog: ActionCatalog
    users: UserFeatures
    histories: dict[str, list[ActionEvent]]
    item_activity: dict[str, float]
    manifest: dict[str, Any]


def _feature_columns(table: pa.Table | None, reserved: tuple[str, ...]) -> tuple[list[str], list[str]]:
    if table is None:
        return [], []
    categorical, numeric = [], []
    for f in table.schema:
        if f.name in reserved:
            continue
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        if pa.types.is_string(f.type) and meta.get("textual") != "true":
            categorical.append(f.name)
        elif pa.types.is_integer(f.type) or pa.types.is_floating(f.type):
            numeric.append(f.name)
    return categorical, numeric


def build_catalog(actions: pa.Table, action_interactions: pa.Table) -> ActionCatalog:
    rows_by_id: dict[str, dict[str, Any]] = {}
    for row in actions.to_pylist():
        rows_by_id[str(row["ACTION_ID"])] = row
    for action in action_interactions["ACTION_ID"].to_pylist():
        rows_by_id.setdefault(str(action), {"ACTION_ID": str(action)})
    ids = sorted(rows_by_id)
    rows = [rows_by_id[i] for i in ids]
    categorical, numeric = _feature_columns(actions, RESERVED_ACTION_COLUMNS)
    return ActionCatalog(ids, rows, categorical, numeric, build_vocab(rows, categorical))


def build_user_features(users: pa.Table | None) -> UserFeatures:
    if users is None:
        return UserFeatures()
    rows = {str(r["USER_ID"]): r for r in users.to_pylist()}
    categorical, numeric = _feature_columns(users, ("USER_ID",))
    return UserFeatures(rows, categorical, numeric, build_vocab(list(rows.values()), categorical))


def read_histories(action_interactions: pa.Table, index: Mapping[str, int]) -> dict[str, list[ActionEvent]]:
    histories: dict[str, list[ActionEvent]] = {}
    columns = action_interactions.select(["USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"]).to_pydict()
    for user, action, stamp, event_type in zip(
        columns["USER_ID"], columns["ACTION_ID"], columns["TIMESTAMP"], columns["EVENT_TYPE"], strict=True
    ):
        kind = normalize_event_type(str(event_type or ""))
        if user is None or action is None or stamp is None or not kind or str(action) not in index:
            continue
        histories.setdefault(str(user), []).append(ActionEvent(float(stamp), index[str(action)], kind))
    for events in histories.values():
        events.sort(key=lambda e: e.timestamp)
    return histories


def _fit(
    model: NextBestAction,
    histories: Mapping[str, list[ActionEvent]],
    catalog: ActionCatalog,
    users: UserFeatures,
    activity: Mapping[str, float],
) -> NextBestAction:
    vectors = {u: users.of(u) for u in histories}
    try:
        return model.fit(
            histories, catalog.features(), vectors, users.width, activity, len(catalog.categorical)
        )
    except ValueError as exc:
        raise TrainingFailure(str(exc)) from None


def evaluate_actions(
    model: NextBestAction,
    test: Mapping[str, list[ActionEvent]],
    catalog: ActionCatalog,
    users: UserFeatures,
    activity: Mapping[str, float],
) -> dict[str, float]:
    features = catalog.features()
    values = catalog.column("VALUE")
    totals = dict.fromkeys(METRIC_NAMES, 0.0)
    shown: set[int] = set()
    n = 0
    for user, events in test.items():
        taken = [k for k, e in enumerate(events) if e.kind == TAKEN]
        if not taken:
            continue
        target = events[taken[-1]]
        history = [e for e in events if e.timestamp < target.timestamp]
        scores = model.propensities(
            history, target.timestamp, users.of(user), activity.get(user, 0.0), features
        )
        allowed = eligible_actions(catalog, history, target.timestamp)
        allowed[target.action] = True  # it was taken then, so it was available
        ranked = np.asarray(rank_actions(scores, values, allowed, 25))
        relevant = np.asarray([target.action])
        shown.update(ranked.tolist())
        totals["mean_reciprocal_rank_at_25"] += reciprocal_rank_at_k(ranked, relevant, 25)
        for k in (5, 10, 25):
            totals[f"normalized_discounted_cumulative_gain_at_{k}"] += ndcg_at_k(ranked, relevant, k)
            totals[f"precision_at_{k}"] += precision_at_k(ranked, relevant, k)
        n += 1
    metrics = {k: (v / n if n else 0.0) for k, v in totals.items()}
    metrics["coverage"] = len(shown) / max(1, len(catalog.action_ids))
    return {k: round(float(v), 6) for k, v in metrics.items()}


def train_next_best_action(
    interactions: pa.Table,
    users: pa.Table | None,
    actions: pa.Table | None,
    action_interactions: pa.Table | None,
    solution_config: Mapping[str, Any] | None,
    artifact_dir: Path,
    progress: Progress | None = None,
    random_state: int = 0,
) -> dict[str, Any]:
    """Train, evaluate on held-out users, refit on everyone and write the artifact; returns the metrics."""
    started = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    if actions is None:
        raise TrainingFailure("Next-Best-Action needs an Actions dataset. Import one first.")
    if action_interactions is None or action_interactions.num_rows == 0:
        raise TrainingFailure("Next-Best-Action needs an Action interactions dataset. Import one first.")
    if interactions.num_rows < MIN_ITEM_INTERACTIONS:
        raise TrainingFailure(
            f"Next-Best-Action needs at least {MIN_ITEM_INTERACTIONS} item interactions; the Interactions "
            f"dataset has {interactions.num_rows}."
        )
    params = dict((solution_config or {}).get("algorithm_hyper_parameters") or {})
    params.update(
        {
            k: v
            for k, v in ((solution_config or {}).get("feature_transformation_parameters") or {}).items()
            if k == "action_optimization_period"
        }
    )
    try:
        period = float(params.get("action_optimization_period", 14))
    except ValueError:
        raise TrainingFailure("action_optimization_period must be a number of days (7 to 28).") from None
    if not 7 <= period <= 28:
        raise TrainingFailure(f"action_optimization_period must be between 7 and 28 days, not {period:g}.")
    report(0.05, "Reading actions and action interactions")
    catalog = build_catalog(actions, action_interactions)
    user_features = build_user_features(users)
    histories = read_histories(action_interactions, catalog.index)
    activity: dict[str, float] = {}
    for user in interactions["USER_ID"].to_pylist():
        activity[str(user)] = activity.get(str(user), 0.0) + 1.0
    rng = np.random.default_rng(random_state)
    with_takes = sorted(u for u, events in histories.items() if any(e.kind == TAKEN for e in events))
    n_test = max(1, math.ceil(0.1 * len(with_takes))) if len(with_takes) > 1 else 0
    test_users = set(rng.choice(with_takes, n_test, replace=False).tolist()) if n_test else set()
    train = {u: e for u, e in histories.items() if u not in test_users}
    report(0.2, f"Training on {len(train)} users, holding out {len(test_users)}")
    model = _fit(NextBestAction(period, random_state), train, catalog, user_features, activity)
    metrics = evaluate_actions(model, {u: histories[u] for u in test_users}, catalog, user_features, activity)
    report(0.7, "Training on every user")
    final = _fit(NextBestAction(period, random_state), histories, catalog, user_features, activity)
    save_action_model(artifact_dir, final, catalog, user_features, histories, activity, metrics, started)
    report(1.0, "Done")
    return {"metrics": metrics, "n_actions": len(catalog.action_ids), "n_users": len(histories)}


def save_action_model(
    artifact_dir: Path,
    model: NextBestAction,
    catalog: ActionCatalog,
    users: UserFeatures,
    histories: Mapping[str, list[ActionEvent]],
    activity: Mapping[str, float],
    metrics: Mapping[str, float],
    started: float,
) -> None:
    artifact_dir.mkdir(parents=True, exist_ok=True)
    model.save(artifact_dir / "nba")
    kind_codes = {k: i for i, k in enumerate(KINDS)}
    user_ids = sorted(histories)
    indptr = np.cumsum([0] + [len(histories[u]) for u in user_ids]).astype(np.int64)
    flat = [e for u in user_ids for e in histories[u]]
    with open(artifact_dir / "histories.npz", "wb") as fh:
        np.savez(
            fh,
            user_ids=np.asarray(user_ids, dtype=np.str_),
            indptr=indptr,
            actions=np.asarray([e.action for e in flat], dtype=np.int32),
            timestamps=np.asarray([e.timestamp for e in flat], dtype=np.float64),
            kinds=np.asarray([kind_codes[e.kind] for e in flat], dtype=np.int8),
        )
    catalog_json = {
        "action_ids": catalog.action_ids,
        "rows": catalog.rows,
        "categorical": catalog.categorical,
        "numeric": catalog.numeric,
        "vocab": catalog.vocab,
        "users": {
            "rows": users.rows,
            "categorical": users.categorical,
            "numeric": users.numeric,
            "vocab": users.vocab,
        },
        "item_activity": dict(activity),
    }
    (artifact_dir / "actions.json").write_text(json.dumps(catalog_json, default=str))
    manifest = {
        "recipe": NAME,
        "metrics": dict(metrics),
        "n_actions": len(catalog.action_ids),
        "n_users": len(histories),
        "training_seconds": round(time.perf_counter() - started, 3),
    }
    (artifact_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def load_action_model(artifact_dir: Path) -> ActionModel:
    data = json.loads((artifact_dir / "actions.json").read_text())
    catalog = ActionCatalog(
        data["action_ids"], data["rows"], data["categorical"], data["numeric"], data["vocab"]
    )
    u = data["users"]
    users = UserFeatures(u["rows"], u["categorical"], u["numeric"], u["vocab"])
    histories: dict[str, list[ActionEvent]] = {}
    with np.load(artifact_dir / "histories.npz", allow_pickle=False) as archive:
        ids, indptr = archive["user_ids"].tolist(), archive["indptr"]
        actions, stamps, kinds = archive["actions"], archive["timestamps"], archive["kinds"]
        for n, user in enumerate(ids):
            lo, hi = int(indptr[n]), int(indptr[n + 1])
            histories[user] = [
                ActionEvent(float(stamps[k]), int(actions[k]), KINDS[int(kinds[k])]) for k in range(lo, hi)
            ]
    manifest = json.loads((artifact_dir / "manifest.json").read_text())
    return ActionModel(
        NextBestAction.load(artifact_dir / "nba"),
        catalog,
        users,
        histories,
        dict(data["item_activity"]),
        manifest,
    )
