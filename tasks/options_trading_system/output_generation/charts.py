"""Server-side SVG chart primitives (bar panels per strike, round ticks, compact money labels) and the
colours every chart shares. The daily report draws its charts with plotly (`report_charts`); the
monitoring dashboard still builds its SVG panels from these.

Pure functions, table in, markup out. The x axis is categorical, one slot per strike in
ascending order (NQ strike spacing widens away from the money, so a linear axis would crush the
strikes that matter into a few pixels); a price between two strikes (the underlying, the
zero-gamma level) is placed by linear interpolation between their slots. Every bar carries
`class="bar ..."`, `data-strike` and a `<title>` with the exact figure (shown on hover). All text
that comes from data is escaped here, so the result is safe to embed as `Markup`.

- `open_interest_chart`: open interest by strike (calls vs puts) over dollars at risk of the
  out-of-the-money holders by strike, sharing the strike axis, underlying price marked;
- `gamma_exposure_chart`: dealer gamma exposure by strike (calls +, puts -) with the zero-gamma
  level and the underlying price marked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from markupsafe import escape

__all__ = ["BarSeries", "PriceMarker", "ChartLayout", "bar_panel", "nice_ticks", "format_count", "format_dollars"]

CALL_COLOR = "#2563eb"
PUT_COLOR = "#ea580c"
POSITIVE_COLOR = "#16a34a"
NEGATIVE_COLOR = "#dc2626"
UNDERLYING_COLOR = "#111827"
ZERO_GAMMA_COLOR = "#7c3aed"
AXIS_COLOR = "#9ca3af"
GRID_COLOR = "#e5e7eb"
TEXT_COLOR = "#374151"


@dataclass(frozen=True)
class ChartLayout:
    """Pixel geometry of one chart panel (the report template sets the page around it)."""

    width: int = 1100
    panel_height: int = 300
    margin_left: int = 86
    margin_right: int = 24
    margin_top: int = 48
    margin_bottom: int = 70
    max_x_labels: int = 32
    bar_fill: float = 0.8  # share of a strike's slot covered by its bars

    @property
    def plot_width(self) -> float:
        return self.width - self.margin_left - self.margin_right

    @property
    def plot_height(self) -> float:
        return self.panel_height - self.margin_top - self.margin_bottom


@dataclass(frozen=True)
class BarSeries:
    """One value per strike (NaN: no bar). `negative_color` colours bars below zero differently."""

    name: str
    values: Sequence[float]
    color: str
    css_class: str
    negative_color: str | None = None


@dataclass(frozen=True)
class PriceMarker:
    """A vertical line at a price (index points), labelled, e.g. the underlying."""

    name: str
    price: float
    color: str
    css_class: str
    dashed: bool = False


def format_count(value: float) -> str:
    """12,345 -> '12.3k' (axis labels); small numbers as integers."""
    return _compact(value, prefix="")


def format_dollars(value: float) -> str:
    """1,234,567 -> '$1.23M', -5,000 -> '-$5k'."""
    return _compact(value, prefix="$")


def _compact(value: float, prefix: str) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            text = f"{magnitude / limit:.3g}"
            return f"{sign}{prefix}{text}{suffix}"
    return f"{sign}{prefix}{magnitude:,.0f}" if magnitude >= 1 or magnitude == 0 else f"{sign}{prefix}{magnitude:.2g}"


def _exact(value: float, unit: str) -> str:
    if unit == "$":
        return f"${value:,.0f}" if value >= 0 else f"-${-value:,.0f}"
    return f"{value:,.0f} {unit}".rstrip()


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round axis ticks (1, 2, 5 x 10^k steps) covering [low, high]; always includes 0 if inside."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high == low:
        high = low + 1.0 if low == 0 else low + abs(low) * 0.1
    raw_step = (high - low) / max(target, 1)
    power = 10 ** math.floor(math.log10(raw_step))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw_step)
    start = math.floor(low / step) * step
    stop = math.ceil(high / step) * step
    count = int(round((stop - start) / step))
    return [round(start + i * step, 10) for i in range(count + 1)]


def _strike_label(strike: float) -> str:
    return f"{strike:,.0f}" if float(strike).is_integer() else f"{strike:,.2f}"


def _slot_centers(n: int, layout: ChartLayout) -> np.ndarray:
    slot = layout.plot_width / max(n, 1)
    return layout.margin_left + (np.arange(n) + 0.5) * slot


def _price_x(price: float, strikes: np.ndarray, centers: np.ndarray) -> tuple[float, bool]:
    """x of a price on the categorical strike axis; (x, inside) where outside means clipped."""
    if strikes.size == 1:
        return float(centers[0]), bool(price == strikes[0])
    inside = bool(strikes[0] <= price <= strikes[-1])
    return float(np.interp(price, strikes, centers)), inside


def bar_panel(strikes: Sequence[float], series: Sequence[BarSeries], *, title: str, y_label: str,
              value_format: Callable[[float], str], unit: str, markers: Sequence[PriceMarker] = (),
              layout: ChartLayout = ChartLayout(), offset_y: float = 0.0, show_x_labels: bool = True,
              x_label: str = "strike (index points)") -> str:
    """One panel of grouped bars per strike, with axes, legend and price markers, as an SVG `<g>`."""
    k = np.asarray(strikes, dtype=np.float64)
    n = k.size
    values = [np.asarray(s.values, dtype=np.float64) for s in series]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = max(0.0, float(finite.max())) if finite.size else 1.0
    ticks = nice_ticks(low, high)
    y_min, y_max = ticks[0], ticks[-1]
    top = offset_y + layout.margin_top
    height = layout.plot_height

    def y_of(value: float) -> float:
        return top + height * (y_max - value) / (y_max - y_min)

    left, right = layout.margin_left, layout.margin_left + layout.plot_width
    centers = _slot_centers(n, layout)
    slot = layout.plot_width / max(n, 1)
    bar_w = slot * layout.bar_fill / max(len(series), 1)
    out: list[str] = [f'<g class="panel" data-title="{escape(title)}">']
    out.append(f'<text class="chart-title" x="{left}" y="{offset_y + 20}" font-size="15" font-weight="600" '
               f'fill="{TEXT_COLOR}">{escape(title)}</text>')
    # y grid, ticks, label
    for tick in ticks:
        y = y_of(tick)
        stroke = AXIS_COLOR if tick == 0 else GRID_COLOR
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{stroke}" stroke-width="1"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="{TEXT_COLOR}">{escape(value_format(tick))}</text>')
    mid_y = top + height / 2
    out.append(f'<text class="y-label" x="16" y="{mid_y:.1f}" transform="rotate(-90 16 {mid_y:.1f})" '
               f'text-anchor="middle" font-size="12" fill="{TEXT_COLOR}">{escape(y_label)}</text>')
    # bars
    zero_y = y_of(0.0)
    for index, (s, v) in enumerate(zip(series, values)):
        for i in range(n):
            value = v[i] if i < v.size else float("nan")
            if not math.isfinite(value):
                continue
            x = centers[i] - slot * layout.bar_fill / 2 + index * bar_w
            y_val = y_of(value)
            y0, h = (y_val, zero_y - y_val) if value >= 0 else (zero_y, y_val - zero_y)
            color = s.negative_color if (value < 0 and s.negative_color) else s.color
            tip = f"{_strike_label(k[i])} {s.name}: {_exact(value, unit)}"
            out.append(f'<rect class="bar {escape(s.css_class)}" data-strike="{k[i]:g}" x="{x:.2f}" '
                       f'y="{y0:.2f}" width="{max(bar_w, 0.5):.2f}" height="{max(h, 0.0):.2f}" fill="{color}">'
                       f'<title>{escape(tip)}</title></rect>')
    # x axis labels (thinned to stay legible)
    bottom = top + height
    out.append(f'<line x1="{left}" x2="{right}" y1="{bottom:.1f}" y2="{bottom:.1f}" stroke="{AXIS_COLOR}"/>')
    if show_x_labels and n:
        step = max(1, math.ceil(n / layout.max_x_labels))
        for i in range(0, n, step):
            x = centers[i]
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom:.1f}" y2="{bottom + 4:.1f}" stroke="{AXIS_COLOR}"/>')
            out.append(f'<text x="{x:.1f}" y="{bottom + 14:.1f}" transform="rotate(-50 {x:.1f} {bottom + 14:.1f})" '
                       f'text-anchor="end" font-size="10" fill="{TEXT_COLOR}">{escape(_strike_label(k[i]))}</text>')
        out.append(f'<text class="x-label" x="{(left + right) / 2:.1f}" y="{bottom + layout.margin_bottom - 6:.1f}" '
                   f'text-anchor="middle" font-size="12" fill="{TEXT_COLOR}">{escape(x_label)}</text>')
    # price markers
    for row, marker in enumerate(markers):
        if not (n and math.isfinite(marker.price)):
            continue
        x, inside = _price_x(marker.price, k, centers)
        dash = ' stroke-dasharray="6 4"' if marker.dashed else ""
        label = f"{marker.name} {_strike_label(marker.price)}" + ("" if inside else " (beyond the strikes shown)")
        out.append(f'<line class="marker {escape(marker.css_class)}" x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" '
                   f'y2="{bottom:.1f}" stroke="{marker.color}" stroke-width="2"{dash}/>')
        anchor = "end" if x > (left + right) / 2 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(f'<text x="{x + dx:.1f}" y="{top + 12 + 14 * row:.1f}" text-anchor="{anchor}" font-size="11" '
                   f'font-weight="600" fill="{marker.color}">{escape(label)}</text>')
    # legend, top right
    legend_x = right
    for s in reversed(series):
        text = escape(s.name)
        width = 16 + 6.5 * len(s.name)
        legend_x -= width + 14
        out.append(f'<rect x="{legend_x:.1f}" y="{offset_y + 10}" width="12" height="12" fill="{s.color}"/>')
        out.append(f'<text x="{legend_x + 16:.1f}" y="{offset_y + 20}" font-size="12" fill="{TEXT_COLOR}">{text}</text>')
        if s.negative_color:
            legend_x -= 18
            out.append(f'<rect x="{legend_x + 2:.1f}" y="{offset_y + 10}" width="12" height="12" fill="{s.negative_color}"/>')
    out.append("</g>")
    return "\n".join(out)
