"""Horizontal bar charts as plain geometry, drawn by the ``bar_chart`` template macro as inline SVG.

No JavaScript and no chart library: the chart is a few ``<rect>`` and ``<text>`` elements in a ``viewBox``
that scales to the page's width, so it reads the same on a phone and in a screenshot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

#: viewBox geometry (user units); the SVG scales to its container
WIDTH = 360
LABEL_WIDTH = 112
VALUE_WIDTH = 52
BAR_HEIGHT = 18
GAP = 8
TOP = 6
AXIS_HEIGHT = 18

#: Personalize's offline metrics in the order the AWS console lists them
METRIC_ORDER = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)

_SHORT = {
    "coverage": "Coverage",
    "mean_reciprocal_rank": "MRR",
    "normalized_discounted_cumulative_gain": "NDCG",
    "precision": "Precision",
    "average_rewards": "Avg. rewards",
    "hit": "Hit rate",
    "recall": "Recall",
}
_AT = re.compile(r"^(?P<base>.+?)_at_(?P<k>\d+)$")


@dataclass(frozen=True)
class Bar:
    """One bar: the metric's key (for tests and tooltips), its label, value and geometry."""

    key: str
    label: str
    value: float
    display: str
    y: float
    width: float


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...]  # (x, label) along the axis
    width: int = WIDTH
    label_width: int = LABEL_WIDTH
    plot_width: int = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bar_height: int = BAR_HEIGHT

    @property
    def height(self) -> float:
        return TOP + len(self.bars) * (BAR_HEIGHT + GAP) + AXIS_HEIGHT

    @property
    def axis_y(self) -> float:
        return TOP + len(self.bars) * (BAR_HEIGHT + GAP)


def metric_label(key: str) -> str:
    """``normalized_discounted_cumulative_gain_at_10`` → ``NDCG@10``; unknown names are tidied up."""
    match = _AT.match(key)
    base, k = (match["base"], match["k"]) if match else (key, None)
    label = _SHORT.get(base, base.replace("_", " ").capitalize())
    return f"{label}@{k}" if k else label


def sorted_metrics(metrics: Mapping[str, object]) -> list[tuple[str, float]]:
    """The numeric, finite metrics in the AWS console's order, then any others by name."""
    numeric = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    known = [k for k in METRIC_ORDER if k in numeric]
    rest = sorted(k for k in numeric if k not in METRIC_ORDER)
    return [(k, numeric[k]) for k in known + rest]


def _nice_max(value: float) -> float:
    """1.0 for scores in [0, 1] (every Personalize metric), else a round number above ``value``."""
    if value <= 1.0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover - the loop always returns


def bar_chart(
    title: str, values: list[tuple[str, float]], labels: Mapping[str, str] | None = None
) -> BarChart:
    """A chart of ``values`` ((key, value) pairs, drawn in order); negative values are drawn as zero."""
    labels = labels or {}
    top = _nice_max(max((v for _, v in values), default=1.0))
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = tuple(
        Bar(
            key=key,
            label=labels.get(key, metric_label(key)),
            value=value,
            display=f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}",
            y=TOP + i * (BAR_HEIGHT + GAP),
            width=round(max(0.0, min(value, top)) / top * plot, 2),
        )
        for i, (key, value) in enumerate(values)
    )
    ticks = tuple((round(LABEL_WIDTH + f * plot, 2), f"{f * top:g}") for f in (0.0, 0.25, 0.5, 0.75, 1.0))
    return BarChart(title, bars, ticks)
