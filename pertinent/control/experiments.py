"""A/B experiments (native, beyond Personalize): users split deterministically between two or more campaigns
or recommenders, and each arm's metrics with confidence intervals and lift (docs/experiments.md).

A user's arm is a hash of (experiment ARN, user id) against the arms' cumulative weights, so every replica
gives the same answer without shared state. Serving through an experiment logs one ``exposure`` row per
request in the event log and tags the answer's ``recommendationId`` with the experiment and arm
(:mod:`pertinent.resources.recommendation_ids`), so events sent back with it are attributed to the arm. The
metrics are the dataset group's metric attribution's (SUM / SAMPLECOUNT per event type), or, without one,
the number of events per user; each arm's figure is the mean per exposed user, with a normal 95 % interval;
lift is relative to the first (control) arm, its interval by the delta method.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from pertinent.control.common import Record, new_record, require
from pertinent.control.context import Context
from pertinent.control.metric_attributions import KIND as ATTRIBUTION
from pertinent.control.metric_attributions import check_metrics, item_values, metric_value, parse_expression
from pertinent.errors import InvalidInputException, ResourceAlreadyExistsException, ResourceInUseException
from pertinent.resources.recommendation_ids import decode, experiment_code
from pertinent.resources.status import ACTIVE

KIND = "experiment"
STOPPED = "STOPPED"
MAX_ARMS = 16
Z95 = 1.959964
DEFAULT_METRICS = [{"metric_name": "EVENTS", "event_type": "*", "expression": "SAMPLECOUNT()"}]


def _arm_source(ctx: Context, arm: Mapping[str, Any], index: int) -> tuple[str, str, str]:
    """(kind, ARN, dataset group) of an arm's campaign or recommender, which must be ACTIVE."""
    campaign, recommender = arm.get("campaignArn"), arm.get("recommenderArn")
    if bool(campaign) == bool(recommender):
        raise InvalidInputException(f"arms[{index}] needs exactly one of campaignArn and recommenderArn.")
    kind, arn = ("campaign", str(campaign)) if campaign else ("recommender", str(recommender))
    record = require(ctx, kind, arn)
    if record.get("status") != ACTIVE:
        raise ResourceInUseException(f"arms[{index}]: {kind} {arn} is {record.get('status')}, not ACTIVE.")
    return kind, arn, str(record["dataset_group_arn"])


def create_experiment(ctx: Context, body: Mapping[str, Any]) -> Record:
    name = body.get("name")
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= 63
        or not name.replace("-", "").replace("_", "").isalnum()
    ):
        raise InvalidInputException("name must be 1-63 letters, digits, '-' or '_'.")
    arms = body.get("arms")
    if (
        not isinstance(arms, list)
        or not 2 <= len(arms) <= MAX_ARMS
        or not all(isinstance(a, dict) for a in arms)
    ):
        raise InvalidInputException(f"arms must be a list of 2 to {MAX_ARMS} objects.")
    stored, groups, names = [], set(), set()
    for index, arm in enumerate(arms):
        arm_name = arm.get("name") or f"arm{index}"
        if not isinstance(arm_name, str) or arm_name in names:
            raise InvalidInputException(f"arms[{index}].name must be a unique string.")
        names.add(arm_name)
        weight = arm.get("weight", 1)
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight <= 0
        ):
            raise InvalidInputException(f"arms[{index}].weight must be a positive number.")
        kind, arn, group = _arm_source(ctx, arm, index)
        groups.add(group)
        stored.append({"name": arm_name, "kind": kind, "arn": arn, "weight": float(weight)})
    if len(groups) != 1:
        raise InvalidInputException("Every arm must serve the same dataset group.")
    metrics = body.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, list) or not metrics:
            raise InvalidInputException("metrics must be a non-empty list.")
        checked = []
        for index, metric in enumerate(metrics):
            if not isinstance(metric, dict) or not all(
                isinstance(metric.get(k), str) for k in ("metricName", "eventType", "expression")
            ):
                raise InvalidInputException(
                    f"metrics[{index}] needs metricName, eventType and expression strings."
                )
            checked.append(
                {
                    "metric_name": metric["metricName"],
                    "event_type": metric["eventType"],
                    "expression": metric["expression"],
                }
            )
        metrics = check_metrics(ctx, next(iter(groups)), checked)  # the rules of CreateMetricAttribution
    arn = ctx.arn(KIND, name)
    record = new_record(
        ctx, name=name, experiment_arn=arn, dataset_group_arn=groups.pop(), arms=stored, metrics=metrics
    )
    record["status"] = ACTIVE
    try:
        ctx.store.insert(KIND, arn, record, parent_arn=record["dataset_group_arn"])
    except ResourceAlreadyExistsException:
        raise ResourceAlreadyExistsException(f"An experiment named {name} already exists.") from None
    return record


def experiment_arn(ctx: Context, name: str) -> str:
    return ctx.arn(KIND, name)


def get_experiment(ctx: Context, name: str) -> Record:
    return require(ctx, KIND, experiment_arn(ctx, name))


def list_experiments(ctx: Context, dataset_group_arn: str | None = None) -> list[Record]:
    return ctx.store.list(KIND, dataset_group_arn)


def stop_experiment(ctx: Context, name: str) -> Record:
    record = get_experiment(ctx, name)
    if record["status"] == STOPPED:
        raise ResourceInUseException(f"Experiment {name} is already STOPPED.")
    now = ctx.now()
    updated = ctx.store.update(
        record["experiment_arn"], {"status": STOPPED, "last_updated_date_time": now, "stopped_date_time": now}
    )
    assert updated is not None
    return updated


def assign(experiment: Mapping[str, Any], user_id: str) -> int:
    """The arm index of ``user_id``: a stable hash against the cumulative weights."""
    digest = hashlib.sha256(f"{experiment['experiment_arn']}\x00{user_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    largest = max(float(a["weight"]) for a in experiment["arms"])
    weights = [float(a["weight"]) / largest for a in experiment["arms"]]  # a finite sum, even for 1e308s
    total, cumulative = sum(weights), 0.0
    for index, weight in enumerate(weights):
        cumulative += weight / total
        if point < cumulative:
            return index
    return len(weights) - 1


def log_exposure(ctx: Context, experiment: Mapping[str, Any], arm: int, user_id: str) -> None:
    ctx.store.append_events(
        [
            {
                "dataset_group_arn": experiment["dataset_group_arn"],
                "kind": "exposure",
                "user_id": user_id,
                "session_id": experiment["experiment_arn"],
                "item_id": None,
                "event_type": experiment["arms"][arm]["name"],
                "event_value": None,
                "timestamp": ctx.now(),
                "body": None,
            }
        ]
    )


def _metrics(ctx: Context, experiment: Mapping[str, Any]) -> tuple[list[Record], str]:
    if experiment.get("metrics"):
        return list(experiment["metrics"]), "experiment"
    for attribution in ctx.store.list(ATTRIBUTION, experiment["dataset_group_arn"]):
        return list(attribution["metrics"]), attribution["metric_attribution_arn"]
    return list(DEFAULT_METRICS), "default"


def _interval(mean: float, var: float, n: int) -> tuple[float, float, float]:
    se = math.sqrt(var / n) if n > 1 else math.nan
    return se, mean - Z95 * se, mean + Z95 * se


def results(ctx: Context, experiment: Mapping[str, Any]) -> Record:
    """Each arm's exposed users and, per metric, mean per user with its 95 % interval and lift vs arm 0."""
    arn = experiment["experiment_arn"]
    group = experiment["dataset_group_arn"]
    arms = experiment["arms"]
    exposed: list[set[str]] = [set() for _ in arms]
    by_name = {a["name"]: i for i, a in enumerate(arms)}
    for event in ctx.store.events_of_kind(group, "exposure"):
        if event["session_id"] == arn and event["event_type"] in by_name and event["user_id"]:
            exposed[by_name[event["event_type"]]].add(event["user_id"])
    metrics, metrics_from = _metrics(ctx, experiment)
    items = {
        str(column): item_values(ctx, group, str(column))
        for _, dataset_type, column in (parse_expression(m["expression"]) for m in metrics)
        if dataset_type == "ITEMS"
    }
    code = experiment_code(arn)
    per_user: list[dict[str, dict[str, float]]] = [{} for _ in arms]  # arm → metric → user → value
    events_per_arm = [0] * len(arms)
    for event in ctx.store.events_of_kind(group, "interaction"):
        body = json.loads(event["body"]) if event["body"] else {}
        decoded = decode(body.get("RECOMMENDATION_ID"))
        if decoded is None or decoded.experiment_code != code or decoded.arm >= len(arms):
            continue
        user = event["user_id"] or event["session_id"]
        exposed[decoded.arm].add(user)
        events_per_arm[decoded.arm] += 1
        for metric in metrics:
            if (
                metric["event_type"] != "*"
                and metric["event_type"].lower() != str(event["event_type"] or "").lower()
            ):
                continue
            value = metric_value(metric, event, body, items)
            if value is not None and math.isfinite(value):
                sums = per_user[decoded.arm].setdefault(metric["metric_name"], {})
                sums[user] = sums.get(user, 0.0) + value
    out_arms = []
    for index, arm in enumerate(arms):
        n = len(exposed[index])
        figures: dict[str, Record] = {}
        for metric in metrics:
            name = metric["metric_name"]
            values = [per_user[index].get(name, {}).get(u, 0.0) for u in exposed[index]]
            mean = sum(values) / n if n else 0.0
            var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.nan
            se, low, high = _interval(mean, var, n)
            figures[name] = {
                "total": sum(values),
                "mean": mean,
                "variance": var,
                "standardError": se,
                "confidenceInterval": [low, high],
            }
        out_arms.append(
            {
                "name": arm["name"],
                "source": arm["arn"],
                "weight": arm["weight"],
                "users": n,
                "events": events_per_arm[index],
                "metrics": figures,
            }
        )
    control = out_arms[0]
    for arm in out_arms:
        for name, figure in arm["metrics"].items():
            base = control["metrics"][name]
            figure["lift"] = (
                _lift(figure, base, arm["users"], control["users"]) if arm is not control else None
            )
    return {
        "experimentArn": arn,
        "metricsFrom": metrics_from,
        "confidenceLevel": 0.95,
        "controlArm": control["name"],
        "arms": _finite(out_arms),
    }


def _lift(arm: Mapping[str, Any], control: Mapping[str, Any], n_arm: int, n_control: int) -> Record:
    """Relative lift (arm − control) / control with a delta-method 95 % interval, and the absolute difference."""
    m_a, m_c = float(arm["mean"]), float(control["mean"])
    v_a, v_c = float(arm["variance"]), float(control["variance"])
    diff = m_a - m_c
    se_diff = math.sqrt(v_a / n_arm + v_c / n_control) if n_arm > 1 and n_control > 1 else math.nan
    if m_c > 0 and n_arm > 1 and n_control > 1:
        relative = diff / m_c
        se_rel = math.sqrt(v_a / n_arm / m_c**2 + (m_a**2) * v_c / n_control / m_c**4)
    else:
        relative, se_rel = math.nan, math.nan
    return {
        "relative": relative,
        "relativeConfidenceInterval": [relative - Z95 * se_rel, relative + Z95 * se_rel],
        "difference": diff,
        "differenceConfidenceInterval": [diff - Z95 * se_diff, diff + Z95 * se_diff],
        "significant": bool(se_diff == se_diff and abs(diff) > Z95 * se_diff),
    }


def _finite(value: Any) -> Any:
    """NaN/inf (too few users) as null, so the answer is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
