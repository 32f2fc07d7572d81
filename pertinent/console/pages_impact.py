"""Measuring impact: a dataset group's metric attribution charted per source over time, and A/B experiments
with each arm's metrics, intervals and lift."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent import arns
from pertinent.console import urls
from pertinent.console.base import Console, Crumb, JsonBody, Page, text_param
from pertinent.console.charts import bar_chart
from pertinent.console.line_charts import line_chart
from pertinent.console.pages_batch import ROLE_ARN, default_role
from pertinent.console.pages_groups import group_crumbs
from pertinent.console.pages_workflow import NAME
from pertinent.control import OPERATIONS, experiments, metric_attributions
from pertinent.control.insights import common_event_type
from pertinent.errors import InvalidInputException


def attribution_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    ctx = console.ctx
    attribution = next(iter(ctx.store.list(metric_attributions.KIND, group["dataset_group_arn"])), None)
    charts: list[Any] = []
    reports = 0
    if attribution is not None:
        arn = attribution["metric_attribution_arn"]
        per_metric: dict[str, dict[str, dict[int, float]]] = {}
        records = ctx.store.list(metric_attributions.REPORT_KIND, arn)
        reports = len(records)
        for report in records:
            for row in report["rows"]:
                series = per_metric.setdefault(row["METRIC_NAME"], {}).setdefault(
                    urls.name_of(row["EVENT_ATTRIBUTION_SOURCE"]) or row["EVENT_ATTRIBUTION_SOURCE"], {}
                )
                window = int(row["TIMESTAMP"])
                series[window] = series.get(window, 0.0) + float(row["VALUE"])
        for metric in attribution["metrics"]:
            data = per_metric.get(metric["metric_name"], {})
            charts.append(
                (metric, line_chart(f"{metric['metric_name']} ({metric['expression']}) per 15 minutes", data))
            )
    context = {
        "event_type": common_event_type(ctx, group["dataset_group_arn"]) or "click",
        "role": default_role(console),
        "sources": _sources(console, group["dataset_group_arn"]),
        "group_record": group,
        "attribution": attribution,
        "charts": charts,
        "reports": reports,
        "experiments": experiments.list_experiments(ctx, group["dataset_group_arn"]),
    }
    return Page(
        "impact.html",
        f"Impact of {name}",
        context,
        group_crumbs(name, Crumb("Impact")),
        group=name,
        section="impact",
    )


def experiment_page(console: Console, request: Request) -> Page:
    record = experiments.get_experiment(console.ctx, request.path_params["experiment"])
    results = experiments.results(console.ctx, record)
    charts = []
    metric_names = list(results["arms"][0]["metrics"]) if results["arms"] else []
    for metric in metric_names:
        values = [(arm["name"], float(arm["metrics"][metric]["mean"] or 0.0)) for arm in results["arms"]]
        charts.append(bar_chart(f"{metric}: mean per exposed user", values, {k: k for k, _ in values}))
    group = urls.name_of(record["dataset_group_arn"])
    context = {"record": record, "results": results, "charts": charts, "metric_names": metric_names}
    return Page(
        "experiment.html",
        f"Experiment {record['name']}",
        context,
        group_crumbs(
            group, Crumb("Impact", f"{urls.group(group)}/impact"), Crumb(f"Experiment {record['name']}")
        ),
        group=group,
        section="impact",
    )


def _sources(console: Console, group_arn: str) -> list[dict[str, str]]:
    """The group's ACTIVE campaigns and recommenders: what an experiment's arms may serve."""
    store = console.ctx.store
    found = [
        {"arn": c["campaign_arn"], "label": f"campaign {c['name']}"}
        for s in store.list("solution", group_arn)
        for c in store.list("campaign", s["solution_arn"])
        if c.get("status") == "ACTIVE"
    ]
    found += [
        {"arn": r["recommender_arn"], "label": f"recommender {r['name']}"}
        for r in store.list("recommender", group_arn)
        if r.get("status") == "ACTIVE"
    ]
    return found


def create_experiment_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    """Start an A/B experiment between two of the group's campaigns or recommenders (``POST /experiments``)."""
    group = console.record("dataset-group", request.path_params["group"])
    allowed = {s["arn"] for s in _sources(console, group["dataset_group_arn"])}
    arms = []
    for key, arm in (("arm_a", "a"), ("arm_b", "b")):
        arn = text_param(body, key, required=True, limit=2048)
        if arn not in allowed:
            raise InvalidInputException(
                f"{key} must be an ACTIVE campaign or recommender of this dataset group."
            )
        field = "recommenderArn" if arns.parse(arn).kind == "recommender" else "campaignArn"
        arms.append({"name": arm, field: arn})
    if arms[0] == {**arms[1], "name": "a"}:
        raise InvalidInputException("The two arms must serve different campaigns or recommenders.")
    metric = {
        "metricName": text_param(body, "metric_name", required=True),
        "eventType": text_param(body, "event_type", required=True),
        "expression": text_param(body, "expression", required=True),
    }
    record = experiments.create_experiment(
        console.ctx,
        {"name": text_param(body, "name", required=True, limit=63), "arms": arms, "metrics": [metric]},
    )
    return {"arn": record["experiment_arn"], "page": f"/console/experiments/{quote(record['name'], safe='')}"}


def create_attribution_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    """CreateMetricAttribution with one metric, from the impact page's form."""
    group = console.record("dataset-group", request.path_params["group"])
    role = text_param(body, "role_arn", required=True, limit=2048)
    if not ROLE_ARN.match(role):
        raise InvalidInputException(
            f"role_arn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), not {role!r}."
        )
    config: dict[str, Any] = {"role_arn": role}
    output = text_param(body, "output_path", limit=2048)
    if output:
        config["s3_data_destination"] = {"path": output}
    metric = {
        "metric_name": text_param(body, "metric_name", required=True),
        "event_type": text_param(body, "event_type", required=True),
        "expression": text_param(body, "expression", required=True),
    }
    name = text_param(body, "name", required=True, limit=63)
    if not NAME.match(name):
        raise InvalidInputException(
            "name must be 1 to 63 letters, digits, '-' or '_', starting with a letter or digit."
        )
    result: dict[str, Any] = OPERATIONS["CreateMetricAttribution"](
        console.ctx, name=name, dataset_group_arn=group["dataset_group_arn"], metrics=[metric],
        metrics_output_config=config,
    )  # fmt: skip
    return {"arn": result["metric_attribution_arn"]}


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route(
            "/console/api/groups/{group}/metric-attributions",
            console.api(create_attribution_api),
            methods=["POST"],
        ),
        Route(
            "/console/api/groups/{group}/experiments", console.api(create_experiment_api), methods=["POST"]
        ),
        Route("/console/groups/{group}/impact", console.page(attribution_page), methods=["GET"]),
        Route("/console/experiments/{experiment}", console.page(experiment_page), methods=["GET"]),
    ]
