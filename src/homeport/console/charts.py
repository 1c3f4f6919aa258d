"""Line charts as inline SVG, drawn on the server: no charting library in the browser, nothing to fetch, and a
chart is text a test can read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 8, 20  # room for the value axis on the left and the time axis below
COLOURS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777")


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[tuple[float, float]]  # (epoch seconds, value), oldest first


def nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least `value` (1 when there is nothing above 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if value >= 1000:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def svg(title: str, lines: Sequence[Line], start: float, end: float, unit: str = "") -> Markup:
    """A chart of `lines` over [start, end]: one polyline per line, a legend, the top value and the times."""
    span = max(end - start, 1e-9)
    inside = [[(t, v) for t, v in line.points if start <= t <= end] for line in lines]
    top = nice_ceiling(max((v for points in inside for _, v in points), default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - start) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / top * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}"'
        f' data-title="{escape(title)}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 10}" class="axis" text-anchor="end">{escape(short(top))}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" class="axis" text-anchor="end">0</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 5}" class="axis">{_clock(start)}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 5}" class="axis" text-anchor="end">{_clock(end)}</text>',
    ]
    for i, (line, points) in enumerate(zip(lines, inside, strict=True)):
        colour = COLOURS[i % len(COLOURS)]
        if len(points) == 1:
            ((t, v),) = points
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>')
        elif points:
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        last = f" {short(points[-1][1])}{escape(unit)}" if points else ""
        parts.append(
            f'<text x="{LEFT + 6 + 140 * i}" y="{TOP + 12}" class="legend" fill="{colour}"'
            f' data-points="{len(points)}">{escape(line.label)}{last}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


BASELINE, CURRENT = "#2563eb", "#d97706"
BAR_W, BAR_H = 380, 140
BAR_LEFT, BAR_BOTTOM, BAR_TOP = 36, 30, 16


def distribution(title: str, labels: Sequence[str], baseline: Sequence[float], current: Sequence[float]) -> Markup:
    """Two distributions over the same buckets as grouped bars on one scale (shares of 1), styled by attributes of
    its own so that it reads the same in the console and in a page saved alone. Each bar's title gives its share."""
    if not labels:
        return Markup("")
    top = nice_ceiling(max([*baseline, *current, 0.0]))
    plot_w, plot_h = BAR_W - BAR_LEFT - 4, BAR_H - BAR_TOP - BAR_BOTTOM
    slot = plot_w / len(labels)
    every = max(1, math.ceil(len(labels) / 12))  # at most a dozen labels under the axis
    parts = [
        f'<svg class="distribution" viewBox="0 0 {BAR_W} {BAR_H}" width="{BAR_W}" height="{BAR_H}" role="img"'
        f' aria-label="{escape(title)}" data-buckets="{len(labels)}" font-family="system-ui, sans-serif">',
        f'<rect x="{BAR_LEFT}" y="{BAR_TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#e5e7eb"/>',
        f'<text x="{BAR_LEFT - 4}" y="{BAR_TOP + 8}" font-size="9" fill="#6b7280" text-anchor="end">{top:.0%}</text>',
        f'<text x="{BAR_LEFT - 4}" y="{BAR_TOP + plot_h}" font-size="9" fill="#6b7280" text-anchor="end">0</text>',
        f'<text x="{BAR_LEFT}" y="10" font-size="10" fill="{BASELINE}">■ baseline</text>',
        f'<text x="{BAR_LEFT + 70}" y="10" font-size="10" fill="{CURRENT}">■ current</text>',
    ]
    for i, label in enumerate(labels):
        for j, (series, name, colour) in enumerate(((baseline, "baseline", BASELINE), (current, "current", CURRENT))):
            if i >= len(series):
                continue
            height = series[i] / top * plot_h
            x = BAR_LEFT + i * slot + 1 + j * (slot - 2) / 2
            parts.append(
                f'<rect x="{x:.1f}" y="{BAR_TOP + plot_h - height:.1f}" width="{max((slot - 2) / 2, 0.5):.1f}"'
                f' height="{height:.1f}" fill="{colour}" class="{name}">'
                f"<title>{escape(label)}: {name} {series[i]:.1%}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{BAR_LEFT + i * slot + slot / 2:.1f}" y="{BAR_TOP + plot_h + 11}" font-size="8"'
                f' fill="#6b7280" text-anchor="middle">{escape(label[:10])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
