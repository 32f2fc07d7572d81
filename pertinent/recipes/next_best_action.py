"""aws-next-best-action: each user's propensity to take each action within the action optimization period.

Pure computation (numpy + LightGBM, no I/O besides save/load). The model is a LightGBM binary classifier
over (user, candidate action, moment) rows whose label is "the user takes this action within
``action_optimization_period`` days from that moment". Features come from the user's action history strictly
before the moment — the candidate itself, the last two actions the user took, how often and how recently the
user took / ignored the candidate, the user's activity — plus the action's and the user's metadata, so the
same function scores a live history at serving time and an action with no interactions yet.

AWS (https://docs.aws.amazon.com/personalize/latest/dg/native-recipe-next-best-action.html): scores are
propensities in [0, 1]; an action gets a score only once it has at least 50 TAKEN and 50 NOT_TAKEN/VIEWED
interactions in the training data (before that it is recommended with score 0.0); between equally likely
actions the one with the greater VALUE ranks higher; EXPIRATION_TIMESTAMP and REPEAT_FREQUENCY are honoured
at serving time (:func:`eligible_actions`).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

NAME = "aws-next-best-action"
TAKEN, NOT_TAKEN, VIEWED = "TAKEN", "NOT_TAKEN", "VIEWED"
DAY = 86400.0
#: an action gets a score once it has this many TAKEN and this many NOT_TAKEN/VIEWED interactions (AWS: 50)
MIN_INTERACTIONS_PER_ACTION = 50
RESERVED_ACTION_COLUMNS = (
    "ACTION_ID",
    "VALUE",
    "EXPIRATION_TIMESTAMP",
    "REPEAT_FREQUENCY",
    "CREATION_TIMESTAMP",
)
MAX_NEGATIVES = 40


def normalize_event_type(event_type: str) -> str:
    """``"Taken"``, ``"Not taken"``, ``"NOT_TAKEN"``, ``"viewed"`` → TAKEN / NOT_TAKEN / VIEWED ('' if other)."""
    key = event_type.strip().upper().replace(" ", "_").replace("-", "_")
    return key if key in (TAKEN, NOT_TAKEN, VIEWED) else ""


@dataclass(frozen=True)
class ActionEvent:
    timestamp: float
    action: int  # index into the action catalog
    kind: str  # TAKEN | NOT_TAKEN | VIEWED


@dataclass
class ActionCatalog:
    """The actions and their metadata as model features (categorical codes, numbers)."""

    action_ids: list[str]
    rows: list[dict[str, Any]]
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    vocab: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def index(self) -> dict[str, int]:
        return {a: i for i, a in enumerate(self.action_ids)}

    def column(self, name: str) -> NDArray[np.float64]:
        values = [row.get(name) for row in self.rows]
        return np.array([np.nan if v is None or v == "" else float(v) for v in values], dtype=np.float64)

    def features(self) -> NDArray[np.float64]:
        """One row per action: VALUE, then numeric metadata, then categorical codes (-1: missing/unknown)."""
        columns = [
            self.column("VALUE") if any("VALUE" in r for r in self.rows) else np.full(len(self.rows), np.nan)
        ]
        columns += [self.column(name) for name in self.numeric]
        for name in self.categorical:
            vocab = self.vocab.get(name, {})
            columns.append(np.array([_code(vocab, row.get(name)) for row in self.rows], dtype=np.float64))
        return np.column_stack(columns) if columns else np.zeros((len(self.rows), 0))


@dataclass
class UserFeatures:
    """Users' metadata as features (categorical codes, numbers); unknown users get missing values."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    vocab: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return len(self.categorical) + len(self.numeric)

    def of(self, user_id: str | None) -> NDArray[np.float64]:
        row = self.rows.get(user_id or "", {})
        values = [_number(row.get(name)) for name in self.numeric]
        values += [float(_code(self.vocab.get(name, {}), row.get(name))) for name in self.categorical]
        return np.array(values, dtype=np.float64)


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None and value != "" else math.nan
    except (TypeError, ValueError):
        return math.nan


def _code(vocab: Mapping[str, int], value: Any) -> int:
    if value is None or value == "":
        return -1
    first = str(value).split("|", 1)[0]
    return vocab.get(first, -1)


def build_vocab(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, dict[str, int]]:
    vocab: dict[str, dict[str, int]] = {}
    for name in columns:
        values = sorted({str(r[name]).split("|", 1)[0] for r in rows if r.get(name) not in (None, "")})
        vocab[name] = {v: i for i, v in enumerate(values)}
    return vocab


N_HISTORY_FEATURES = 8


def history_features(
    history: Sequence[ActionEvent], now: float, n_actions: int, item_activity: float, period_days: float
) -> NDArray[np.float64]:
    """Per-candidate history features, shape (n_actions, N_HISTORY_FEATURES)."""
    out = np.full((n_actions, N_HISTORY_FEATURES), np.nan, dtype=np.float64)
    out[:, 0] = np.arange(n_actions)  # the candidate (categorical)
    taken = [e for e in history if e.kind == TAKEN]
    out[:, 1] = taken[-1].action if taken else -1  # last action taken (categorical)
    out[:, 2] = taken[-2].action if len(taken) > 1 else -1
    taken_count = np.zeros(n_actions)
    ignored_count = np.zeros(n_actions)
    last_taken = np.full(n_actions, np.nan)
    for event in history:
        if event.kind == TAKEN:
            taken_count[event.action] += 1
            last_taken[event.action] = event.timestamp
        else:
            ignored_count[event.action] += 1
    out[:, 3] = taken_count
    out[:, 4] = ignored_count
    out[:, 5] = np.log1p(np.maximum(0.0, now - last_taken) / DAY)  # NaN where never taken
    out[:, 6] = math.log1p(len(taken))
    out[:, 7] = math.log1p(item_activity)
    del period_days
    return out


CATEGORICAL_HISTORY = (0, 1, 2)


class NextBestAction:
    """Fit on users' action histories; score every action for one history."""

    name = NAME

    def __init__(self, period_days: float = 14.0, random_state: int = 0) -> None:
        self.period_days = period_days
        self.random_state = random_state
        self.booster_: Any = None
        self.scored_actions_: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self.action_features_: NDArray[np.float64] = np.zeros((0, 0))
        self.n_user_features_ = 0
        self.base_rate_: NDArray[np.float64] = np.zeros(0)

    # -- training -----------------------------------------------------------------------------------
    def _rows(
        self,
        history: Sequence[ActionEvent],
        now: float,
        user_vector: NDArray[np.float64],
        item_activity: float,
        action_features: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        features = self.action_features_ if action_features is None else action_features
        n = len(features)
        hist = history_features(history, now, n, item_activity, self.period_days)
        users = np.repeat(user_vector[None, :], n, axis=0)
        return np.hstack([hist, features, users])

    def fit(
        self,
        histories: Mapping[str, Sequence[ActionEvent]],
        action_features: NDArray[np.float64],
        user_vectors: Mapping[str, NDArray[np.float64]],
        n_user_features: int,
        item_activity: Mapping[str, float],
        n_action_categorical: int,
    ) -> NextBestAction:
        """Learn from every user's time-ordered action events (a TAKEN within the period is a positive)."""
        import lightgbm as lgb

        rng = np.random.default_rng(self.random_state)
        self.action_features_ = np.asarray(action_features, dtype=np.float64)
        self.n_user_features_ = n_user_features
        n_actions = len(self.action_features_)
        taken_counts = np.zeros(n_actions)
        ignored_counts = np.zeros(n_actions)
        blocks, labels = [], []
        period = self.period_days * DAY
        empty_user = np.full(n_user_features, np.nan)
        for user, events in histories.items():
            events = sorted(events, key=lambda e: e.timestamp)
            stamps = [e.timestamp for e in events]
            for e in events:
                (taken_counts if e.kind == TAKEN else ignored_counts)[e.action] += 1
            for moment in sorted(set(stamps)):
                start = bisect.bisect_left(stamps, moment)
                before = events[:start]
                window = events[start : bisect.bisect_right(stamps, moment + period)]
                positive = {e.action for e in window if e.kind == TAKEN}
                seen = {e.action for e in window if e.timestamp == moment}
                if not positive and not seen:
                    continue
                rows = self._rows(
                    before, moment, user_vectors.get(user, empty_user), item_activity.get(user, 0.0)
                )
                label = np.zeros(n_actions)
                label[list(positive)] = 1.0
                negatives = [a for a in range(n_actions) if a not in positive and a not in seen]
                if len(negatives) > MAX_NEGATIVES:
                    negatives = rng.choice(negatives, MAX_NEGATIVES, replace=False).tolist()
                keep = sorted(positive | seen | set(negatives))
                blocks.append(rows[keep])
                labels.append(label[keep])
        self.scored_actions_ = (taken_counts >= MIN_INTERACTIONS_PER_ACTION) & (
            ignored_counts >= MIN_INTERACTIONS_PER_ACTION
        )
        self.base_rate_ = taken_counts / max(1.0, taken_counts.sum())
        if not blocks:
            raise ValueError("There are no action interactions to learn from.")
        x = np.vstack(blocks)
        y = np.concatenate(labels)
        if y.min() == y.max():
            raise ValueError(
                "The action interactions need both TAKEN and other (NOT_TAKEN, VIEWED) outcomes."
            )
        categorical = list(CATEGORICAL_HISTORY) + [
            N_HISTORY_FEATURES + self.action_features_.shape[1] - n_action_categorical + i
            for i in range(n_action_categorical)
        ]
        params = {
            "objective": "binary",
            "learning_rate": 0.1,
            "num_leaves": 15,
            "min_data_in_leaf": 20,
            "min_data_per_group": 10,
            "lambda_l2": 1.0,
            "cat_smooth": 1.0,
            "max_cat_to_onehot": 64,
            "verbose": -1,
            "seed": self.random_state,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
        }
        dataset = lgb.Dataset(x, y, categorical_feature=categorical, free_raw_data=True)
        self.booster_ = lgb.train(params, dataset, num_boost_round=80)
        return self

    # -- scoring ------------------------------------------------------------------------------------
    def propensities(
        self,
        history: Sequence[ActionEvent],
        now: float,
        user_vector: NDArray[np.float64],
        item_activity: float,
        action_features: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """P(take) for every action (``action_features``: the current catalog, training actions first; new
        ones appended); 0.0 for actions without enough interactions in training, as AWS documents."""
        rows = self._rows(history, now, user_vector, item_activity, action_features)
        scores = np.asarray(self.booster_.predict(rows), dtype=np.float64)
        scored = np.zeros(len(rows), dtype=bool)
        scored[: len(self.scored_actions_)] = self.scored_actions_
        return np.where(scored, scores, 0.0)

    # -- persistence --------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "booster.txt").write_text(self.booster_.model_to_string())
        with open(directory / "state.npz", "wb") as fh:
            np.savez(
                fh,
                scored_actions=self.scored_actions_,
                action_features=self.action_features_,
                base_rate=self.base_rate_,
            )
        meta = {"recipe": NAME, "period_days": self.period_days, "n_user_features": self.n_user_features_}
        (directory / "nba.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> NextBestAction:
        import lightgbm as lgb

        meta = json.loads((directory / "nba.json").read_text())
        model = cls(period_days=float(meta["period_days"]))
        model.n_user_features_ = int(meta["n_user_features"])
        model.booster_ = lgb.Booster(model_str=(directory / "booster.txt").read_text())
        with np.load(directory / "state.npz", allow_pickle=False) as state:
            model.scored_actions_ = state["scored_actions"].astype(bool)
            model.action_features_ = state["action_features"].astype(np.float64)
            model.base_rate_ = state["base_rate"].astype(np.float64)
        return model


def eligible_actions(catalog: ActionCatalog, history: Sequence[ActionEvent], now: float) -> NDArray[np.bool_]:
    """Actions that may be recommended now: not expired (EXPIRATION_TIMESTAMP in the past), and not taken
    by the user within the last REPEAT_FREQUENCY days."""
    expiration = catalog.column("EXPIRATION_TIMESTAMP")
    ok = ~(expiration <= now)  # NaN (no expiration) stays eligible
    repeat = catalog.column("REPEAT_FREQUENCY")
    last_taken = np.full(len(catalog.action_ids), -np.inf)
    for event in history:
        if event.kind == TAKEN and event.action < len(last_taken):
            last_taken[event.action] = max(last_taken[event.action], event.timestamp)
    too_soon = np.nan_to_num(repeat, nan=0.0) * DAY > (now - last_taken)
    return ok & ~too_soon


def rank_actions(
    scores: NDArray[np.float64], values: NDArray[np.float64], allowed: NDArray[np.bool_], n: int
) -> list[int]:
    """Indices of the ``n`` best allowed actions: by score, then VALUE (higher first), then index."""
    candidates = np.flatnonzero(allowed)
    value = np.nan_to_num(values[candidates], nan=0.0)
    order = np.lexsort((candidates, -value, -np.round(scores[candidates], 6)))
    return [int(candidates[i]) for i in order[:n]]
