"""The dashboard's charts as inline SVG, drawn on the server: the page loads nothing from anywhere.

Built on the report charts' primitives (`output_generation/charts.py`: layout, colours, round
axis ticks, compact number labels, series); what the dashboard needs beyond them is a time axis
and named categories, so those two panels live here:
- `time_chart`: lines over time (equity curve, latency, CPU/memory, spend), with optional
  horizontal reference lines (a budget, a target) and a step or straight interpolation;
- `category_chart`: bars per named category (daily P&L per day, attempts per source), signed
  values coloured by sign.
Every text from data (series and category names) is escaped here, so the result is `Markup`.
An empty chart says why it is empty instead of drawing axes around nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from ..output_generation.charts import AXIS_COLOR, GRID_COLOR, TEXT_COLOR, BarSeries, ChartLayout, nice_ticks

__all__ = ["Line", "Reference", "DASHBOARD_LAYOUT", "time_chart", "category_chart", "empty_chart", "BarSeries"]

DASHBOARD_LAYOUT = ChartLayout(width=640, panel_height=260, margin_left=70, margin_right=20, margin_top=44,
                               margin_bottom=46, max_x_labels=12)


@dataclass(frozen=True)
class Line:
    """One line: values at times (UTC), NaN leaves a gap. `step` holds each value until the next."""

    name: str
    times: Sequence[pd.Timestamp]
    values: Sequence[float]
    color: str
    css_class: str
    step: bool = False


@dataclass(frozen=True)
class Reference:
    """A horizontal line at a value (a budget, a target), labelled."""

    name: str
    value: float
    color: str
    css_class: str


def empty_chart(title: str, why: str, *, css_class: str, layout: ChartLayout = DASHBOARD_LAYOUT) -> Markup:
    """A titled panel that says why there is nothing to draw."""
    body = (_title(title, layout) +
            f'<text class="chart-empty" x="{layout.width / 2:.0f}" y="{layout.panel_height / 2:.0f}" '
            f'text-anchor="middle" font-size="13" fill="{TEXT_COLOR}">{escape(why)}</text>')
    return _svg(body, layout=layout, css_class=css_class, label=f"{title}: {why}")


def time_chart(lines: Sequence[Line], *, title: str, y_label: str, value_format: Callable[[float], str],
               timezone: str, css_class: str, references: Sequence[Reference] = (), empty: str = "no data yet",
               layout: ChartLayout = DASHBOARD_LAYOUT, include_zero: bool = False) -> Markup:
    """Lines over a shared time axis (labels in `timezone`); each point carries a `<title>` with its value."""
    prepared = []
    for line in lines:
        times = pd.to_datetime(pd.Series(list(line.times), dtype="object"), utc=True, errors="coerce")
        values = np.asarray(line.values, dtype="float64")
        keep = times.notna().to_numpy() & np.isfinite(values)
        if keep.any():
            prepared.append((line, times[keep].to_numpy(dtype="datetime64[ns]").astype("int64"), values[keep]))
    if not prepared:
        return empty_chart(title, empty, css_class=css_class, layout=layout)
    all_t = np.concatenate([t for _, t, _ in prepared])
    all_v = np.concatenate([v for _, _, v in prepared] + [np.asarray([r.value for r in references], dtype="float64")])
    t0, t1 = int(all_t.min()), int(all_t.max())
    if t1 == t0:
        t0, t1 = t0 - 30 * 10**9, t1 + 30 * 10**9
    low, high = float(np.nanmin(all_v)), float(np.nanmax(all_v))
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    ticks = nice_ticks(low, high)
    y_min, y_max = ticks[0], ticks[-1]
    left, right, top, bottom = _box(layout)

    def x_of(t: np.ndarray | int) -> np.ndarray:
        return left + (np.asarray(t, dtype="float64") - t0) / (t1 - t0) * (right - left)

    def y_of(v: np.ndarray | float) -> np.ndarray:
        return top + (y_max - np.asarray(v, dtype="float64")) / (y_max - y_min) * (bottom - top)

    out = [_title(title, layout), *_y_axis(ticks, y_of, value_format, y_label, layout)]
    out.extend(_time_axis(t0, t1, x_of, timezone, layout))
    for ref in references:
        if math.isfinite(ref.value):
            y = float(y_of(ref.value))
            out.append(f'<line class="reference {escape(ref.css_class)}" x1="{left}" x2="{right}" y1="{y:.1f}" '
                       f'y2="{y:.1f}" stroke="{ref.color}" stroke-width="1.5" stroke-dasharray="6 4"/>')
            out.append(f'<text x="{left + 4}" y="{y - 5:.1f}" text-anchor="start" font-size="11" fill="{ref.color}">'
                       f'{escape(ref.name)} {escape(value_format(ref.value))}</text>')
    for line, t, v in prepared:
        xs, ys = x_of(t), y_of(v)
        if line.step and xs.size > 1:
            xs = np.repeat(xs, 2)[1:]
            ys = np.repeat(ys, 2)[:-1]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        out.append(f'<polyline class="line {escape(line.css_class)}" fill="none" stroke="{line.color}" '
                   f'stroke-width="2" points="{points}"/>')
        last_x, last_y = float(x_of(t[-1])), float(y_of(v[-1]))
        tip = f"{line.name}: {value_format(float(v[-1]))} (latest)"
        out.append(f'<circle class="point {escape(line.css_class)}" cx="{last_x:.1f}" cy="{last_y:.1f}" r="3.5" '
                   f'fill="{line.color}" data-value="{float(v[-1]):.6g}"><title>{escape(tip)}</title></circle>')
    out.extend(_legend([(line.name, line.color) for line, _, _ in prepared], layout))
    return _svg("\n".join(out), layout=layout, css_class=css_class, label=title)


def category_chart(categories: Sequence[str], series: Sequence[BarSeries], *, title: str, y_label: str,
                   value_format: Callable[[float], str], css_class: str, empty: str = "no data yet",
                   references: Sequence[Reference] = (), layout: ChartLayout = DASHBOARD_LAYOUT) -> Markup:
    """Grouped bars per named category; a series with `negative_color` colours negative bars with it."""
    values = [np.asarray(s.values, dtype="float64") for s in series]
    finite = np.concatenate([v[np.isfinite(v)] for v in values] + [np.asarray([r.value for r in references])]) \
        if values else np.zeros(0)
    if not categories or not any(np.isfinite(v).any() for v in values):
        return empty_chart(title, empty, css_class=css_class, layout=layout)
    ticks = nice_ticks(min(0.0, float(finite.min())), max(0.0, float(finite.max())))
    y_min, y_max = ticks[0], ticks[-1]
    left, right, top, bottom = _box(layout)

    def y_of(v: float) -> float:
        return top + (y_max - v) / (y_max - y_min) * (bottom - top)

    n = len(categories)
    slot = (right - left) / n
    bar_w = slot * layout.bar_fill / max(len(series), 1)
    out = [_title(title, layout), *_y_axis(ticks, y_of, value_format, y_label, layout)]
    zero = y_of(0.0)
    for k, (s, v) in enumerate(zip(series, values)):
        for i, category in enumerate(categories):
            value = float(v[i]) if i < v.size else float("nan")
            if not math.isfinite(value):
                continue
            x = left + i * slot + slot * (1 - layout.bar_fill) / 2 + k * bar_w
            y0, h = (y_of(value), zero - y_of(value)) if value >= 0 else (zero, y_of(value) - zero)
            color = s.negative_color if (value < 0 and s.negative_color) else s.color
            tip = f"{category} {s.name}: {value_format(value)}"
            out.append(f'<rect class="bar {escape(s.css_class)}" data-category="{escape(category)}" '
                       f'data-value="{value:.6g}" x="{x:.2f}" y="{y0:.2f}" width="{max(bar_w, 0.5):.2f}" '
                       f'height="{max(h, 0.0):.2f}" fill="{color}"><title>{escape(tip)}</title></rect>')
    out.append(f'<line x1="{left}" x2="{right}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="{AXIS_COLOR}"/>')
    step = max(1, math.ceil(n / layout.max_x_labels))
    for i in range(0, n, step):
        x = left + (i + 0.5) * slot
        out.append(f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" font-size="10" '
                   f'fill="{TEXT_COLOR}">{escape(categories[i])}</text>')
    for ref in references:
        y = y_of(ref.value)
        out.append(f'<line class="reference {escape(ref.css_class)}" x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{ref.color}" stroke-width="1.5" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{left + 4}" y="{y - 5:.1f}" text-anchor="start" font-size="11" fill="{ref.color}">'
                   f'{escape(ref.name)} {escape(value_format(ref.value))}</text>')
    out.extend(_legend([(s.name, s.color) for s in series], layout))
    return _svg("\n".join(out), layout=layout, css_class=css_class, label=title)


# --- pieces -------------------------------------------------------------------------------------

def _box(layout: ChartLayout) -> tuple[float, float, float, float]:
    left = layout.margin_left
    right = layout.width - layout.margin_right
    top = layout.margin_top
    bottom = layout.panel_height - layout.margin_bottom
    return left, right, top, bottom


def _title(title: str, layout: ChartLayout) -> str:
    return (f'<text class="chart-title" x="{layout.margin_left}" y="20" font-size="14" font-weight="600" '
            f'fill="{TEXT_COLOR}">{escape(title)}</text>')


def _y_axis(ticks: Sequence[float], y_of: Callable[[float], float], value_format: Callable[[float], str],
            y_label: str, layout: ChartLayout) -> list[str]:
    left, right, top, bottom = _box(layout)
    out = []
    for tick in ticks:
        y = float(y_of(tick))
        stroke = AXIS_COLOR if tick == 0 else GRID_COLOR
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{stroke}" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
                   f'fill="{TEXT_COLOR}">{escape(value_format(tick))}</text>')
    mid = (top + bottom) / 2
    out.append(f'<text class="y-label" x="14" y="{mid:.1f}" transform="rotate(-90 14 {mid:.1f})" text-anchor="middle" '
               f'font-size="11" fill="{TEXT_COLOR}">{escape(y_label)}</text>')
    return out


def _time_axis(t0: int, t1: int, x_of: Callable[[int], np.ndarray], timezone: str, layout: ChartLayout) -> list[str]:
    left, right, top, bottom = _box(layout)
    out = [f'<line x1="{left}" x2="{right}" y1="{bottom:.1f}" y2="{bottom:.1f}" stroke="{AXIS_COLOR}"/>']
    span_s = (t1 - t0) / 1e9
    fmt = "%H:%M:%S" if span_s < 600 else "%H:%M" if span_s < 12 * 3600 else "%m-%d %H:%M" if span_s < 7 * 86400 \
        else "%m-%d"
    ticks = np.linspace(t0, t1, 5)
    for i, t in enumerate(ticks):
        x = float(x_of(int(t)))
        label = pd.Timestamp(int(t), tz="UTC").tz_convert(timezone).strftime(fmt)
        anchor = "start" if i == 0 else "end" if i == len(ticks) - 1 else "middle"  # edge labels stay inside
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom:.1f}" y2="{bottom + 4:.1f}" stroke="{AXIS_COLOR}"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="{anchor}" font-size="10" '
                   f'fill="{TEXT_COLOR}">{escape(label)}</text>')
    zone = pd.Timestamp(t1, tz="UTC").tz_convert(timezone).tzname()
    out.append(f'<text x="{right:.1f}" y="{bottom + 32:.1f}" text-anchor="end" font-size="10" '
               f'fill="{TEXT_COLOR}">time ({escape(zone or timezone)})</text>')
    return out


def _legend(items: Sequence[tuple[str, str]], layout: ChartLayout) -> list[str]:
    out = []
    x = layout.width - layout.margin_right
    for name, color in reversed(items):
        width = 16 + 6.2 * len(name)
        x -= width + 12
        out.append(f'<rect x="{x:.1f}" y="28" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="37" font-size="11" fill="{TEXT_COLOR}">{escape(name)}</text>')
    return out


def _svg(body: str, *, layout: ChartLayout, css_class: str, label: str) -> Markup:
    return Markup(
        f'<svg class="chart {escape(css_class)}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {layout.width} {layout.panel_height}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" font-family="system-ui, -apple-system, Segoe UI, sans-serif">'
        f'<rect width="100%" height="100%" fill="#ffffff"/>{body}</svg>')

