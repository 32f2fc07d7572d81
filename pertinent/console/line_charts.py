"""Time-series line charts as plain geometry (one polyline per series), drawn by the ``line_chart`` template
macro as inline SVG — no JavaScript, like :mod:`pertinent.console.charts`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 360, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 8, 22
#: series colours (the console's palette; the legend repeats them)
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: str  # "x,y x,y …" for <polyline>
    dots: tuple[tuple[float, float, str], ...]  # (x, y, tooltip)
    total: float


@dataclass(frozen=True)
class LineChart:
    title: str
    series: tuple[Series, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str], ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_bottom: int = HEIGHT - BOTTOM


def _label(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%m-%d %H:%M")


def line_chart(title: str, data: Mapping[str, Mapping[int, float]]) -> LineChart:
    """``data``: series name → {epoch seconds: value}; every series on one time axis and one value axis."""
    times = sorted({t for values in data.values() for t in values})
    top = max([v for values in data.values() for v in values.values()] + [1.0])
    t0, t1 = (times[0], times[-1]) if times else (0, 1)
    span = max(1, t1 - t0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: int) -> float:
        return round(LEFT + (t - t0) / span * plot_w if len(times) > 1 else LEFT + plot_w / 2, 2)

    def y(v: float) -> float:
        return round(TOP + plot_h - v / top * plot_h, 2)

    series = []
    for i, (name, values) in enumerate(sorted(data.items())):
        ordered: Sequence[tuple[int, float]] = sorted(values.items())
        series.append(
            Series(
                name,
                COLOURS[i % len(COLOURS)],
                " ".join(f"{x(t)},{y(v)}" for t, v in ordered),
                tuple((x(t), y(v), f"{name} {_label(t)}: {v:g}") for t, v in ordered),
                sum(values.values()),
            )
        )
    y_ticks = tuple((y(f * top), f"{f * top:g}") for f in (0.0, 0.5, 1.0))
    x_ticks = tuple((x(t), _label(t)) for t in ([t0, t1] if len(times) > 1 else times))
    return LineChart(title, tuple(series), y_ticks, x_ticks)
