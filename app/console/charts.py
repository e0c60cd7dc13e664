"""Charts drawn on the server as inline SVG (no JavaScript library, nothing fetched): the
考评 page's bars (a score per street or department) and its trend (scores over months).

Each function returns ``Markup`` of one ``<svg>`` element; every label is escaped. The
SVGs have a ``viewBox`` and scale to their container's width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

# Series colours (a colour-blind-safe palette), one per line of the trend.
PALETTE = ("#1f5fbf", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
BAR_COLOUR = "#1f5fbf"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bars(items: Sequence[tuple[str, float | None]], label: str, maximum: float = 100.0) -> Markup:
    """Horizontal bars, one per ``(name, value)`` in the order given; a missing value
    draws no bar and reads 无数据. ``maximum`` is the axis' end (scores are out of 100)."""
    row_h, name_w, bar_w, value_w, top = 26, 150, 460, 60, 8
    width = name_w + bar_w + value_w
    height = top * 2 + row_h * max(len(items), 1)
    parts = [
        f'<svg class="chart chart-bars" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = name_w + bar_w * tick
        parts.append(
            f'<line x1="{_num(x)}" y1="{top}" x2="{_num(x)}" y2="{height - top}" '
            f'stroke="#e3e8ee" stroke-width="1"/>'
        )
    for index, (name, value) in enumerate(items):
        y = top + index * row_h
        parts.append(
            f'<text x="{name_w - 6}" y="{y + row_h * 0.65:.1f}" text-anchor="end" '
            f'font-size="13" fill="#1d2733">{escape(name)}</text>'
        )
        if value is None:
            parts.append(
                f'<text x="{name_w + 4}" y="{y + row_h * 0.65:.1f}" font-size="12" '
                f'fill="#6b7886">无数据</text>'
            )
            continue
        length = bar_w * max(0.0, min(value, maximum)) / maximum
        parts.append(
            f'<rect class="bar" data-name="{escape(name)}" data-value="{_num(value)}" '
            f'x="{name_w}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" '
            f'fill="{BAR_COLOUR}"><title>{escape(name)}：{value:.2f}</title></rect>'
        )
        parts.append(
            f'<text x="{name_w + length + 4:.1f}" y="{y + row_h * 0.65:.1f}" font-size="12" '
            f'fill="#1d2733">{value:.2f}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _scale(values: list[float]) -> tuple[float, float]:
    """The value axis: whole tens around the values, within 0..100."""
    if not values:
        return 0.0, 100.0
    low = max(0.0, math.floor((min(values) - 5) / 10) * 10)
    high = min(100.0, math.ceil((max(values) + 5) / 10) * 10)
    return (low, high) if high > low else (max(0.0, high - 10), high or 10.0)


def trend(
    months: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], label: str
) -> Markup:
    """Lines of a value per month: ``series`` is ``(name, values)``, one value per month
    (``None``: no figure that month, the line breaks)."""
    left, right, top, bottom, width, height = 44, 140, 12, 30, 640, 240
    plot_w, plot_h = width - left - right, height - top - bottom
    given = [v for _name, values in series for v in values if v is not None]
    low, high = _scale(given)
    step = plot_w / max(len(months) - 1, 1)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg class="chart chart-trend" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for tick in range(5):
        value = low + (high - low) * tick / 4
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e3e8ee"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#6b7886">{_num(value)}</text>'
        )
    for index, month in enumerate(months):
        x = left + step * index
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" font-size="11" '
            f'fill="#6b7886">{escape(month)}</text>'
        )
    for number, (name, values) in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        parts.extend(_line(name, values, colour, left, step, y_of))
        legend_y = top + 16 * number + 8
        parts.append(
            f'<rect x="{width - right + 10}" y="{legend_y - 8}" width="10" height="10" '
            f'fill="{colour}"/><text x="{width - right + 24}" y="{legend_y + 1}" '
            f'font-size="12" fill="#1d2733">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _line(name, values, colour, left, step, y_of) -> list[str]:
    """One series: polylines between the months with a figure, and a dot on each."""
    parts, run = [], []
    for index, value in enumerate([*values, None]):
        if value is not None:
            run.append((left + step * index, y_of(value), value))
            continue
        if len(run) > 1:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y, _v in run)
            parts.append(
                f'<polyline class="line" data-name="{escape(name)}" points="{points}" '
                f'fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        run = []
    for index, value in enumerate(values):
        if value is None:
            continue
        parts.append(
            f'<circle class="point" data-name="{escape(name)}" data-value="{_num(value)}" '
            f'cx="{left + step * index:.1f}" cy="{y_of(value):.1f}" r="3" fill="{colour}">'
            f"<title>{escape(name)}：{value:.2f}</title></circle>"
        )
    return parts
