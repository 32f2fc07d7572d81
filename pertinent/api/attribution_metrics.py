"""Metric-attribution and A/B-experiment figures for ``GET /metrics``, registered into the app's own
telemetry registry (:mod:`pertinent.telemetry`): ``pertinent_metric_attribution_value`` (a metric summed over
every report so far, by metric attribution, metric, event type and source),
``pertinent_metric_attribution_reports``, ``pertinent_experiment_arm_mean`` and
``pertinent_experiment_arm_users``. Computed when scraped, from the store, so every replica agrees.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pertinent.control import experiments, metric_attributions
from pertinent.control.context import Context


class AttributionCollector(Collector):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        value = GaugeMetricFamily(
            "pertinent_metric_attribution_value",
            "A metric attribution's metric summed over its reports, per event attribution source.",
            labels=["metric_attribution", "metric_name", "event_type", "source"],
        )
        reports = GaugeMetricFamily(
            "pertinent_metric_attribution_reports",
            "Reports written by a metric attribution.",
            labels=["metric_attribution"],
        )
        for record in self.ctx.store.list(metric_attributions.KIND):
            arn = record["metric_attribution_arn"]
            for (name, event_type, source), total in sorted(
                metric_attributions.totals(self.ctx, arn).items()
            ):
                value.add_metric([record["name"], name, event_type, source], total)
            reports.add_metric([record["name"]], self.ctx.store.count(metric_attributions.REPORT_KIND, arn))
        yield value
        yield reports
        arms = GaugeMetricFamily(
            "pertinent_experiment_arm_mean",
            "An A/B experiment arm's metric: mean per exposed user.",
            labels=["experiment", "arm", "metric_name"],
        )
        users = GaugeMetricFamily(
            "pertinent_experiment_arm_users",
            "Users exposed to an experiment arm.",
            labels=["experiment", "arm"],
        )
        for record in self.ctx.store.list(experiments.KIND):
            for arm in experiments.results(self.ctx, record)["arms"]:
                users.add_metric([record["name"], arm["name"]], arm["users"])
                for name, figure in arm["metrics"].items():
                    arms.add_metric([record["name"], arm["name"], name], figure["mean"] or 0.0)
        yield arms
        yield users


def register_attribution_metrics(ctx: Context) -> None:
    """Add the metric-attribution and experiment figures to the app's ``/metrics`` registry."""
    ctx.telemetry.registry.register(AttributionCollector(ctx))
