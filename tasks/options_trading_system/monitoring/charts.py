"""The dashboard's charts as plotly figures (data + layout), drawn in the browser by plotly.js.

Pure: series in, a `Chart` out: a JSON-ready figure, or the reason there is nothing to draw.
The page draws each figure with the plotly.js the dashboard serves itself (`plotly_js.py`, from
the pip package): nothing is fetched from the internet, and every chart zooms, pans and shows
values on hover. Two kinds:
- `time_chart`: lines over time (equity curve, latency, CPU/memory, spend), with optional
  horizontal reference lines (a budget, a target) and step or straight interpolation; times are
  shown in the dashboard's time zone, named on the axis;
- `category_chart`: bars per named category (daily P&L per day, attempts per source), with a
  second colour for negative values.
plotly reads a few HTML tags in names and labels, so every text from data is HTML-escaped here
(shown as typed, never interpreted). NaN and missing values become gaps (JSON null), never 0.
`uirevision` keeps a chart's zoom while the page swaps in newer figures.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from markupsafe import escape

from ..output_generation.charts import GRID_COLOR, TEXT_COLOR

__all__ = ["Bars", "Chart", "Line", "Reference", "ValueFormat", "category_chart", "time_chart",
           "USD", "SIGNED_USD", "COUNT", "MS", "PERCENT"]

HEIGHT_PX = 300
FONT = "system-ui, -apple-system, Segoe UI, sans-serif"


@dataclass(frozen=True)
class ValueFormat:
    """How a value reads on the axis and on hover: a d3 number format and a suffix (' ms', '%')."""

    d3: str
    suffix: str = ""
    whole: bool = False     # counts: axis ticks on whole numbers only


USD = ValueFormat("$,.2f")
SIGNED_USD = ValueFormat("+$,.2f")
COUNT = ValueFormat(",.0f", whole=True)
MS = ValueFormat(",.0f", " ms")
PERCENT = ValueFormat(".1f", "%")
SINGLE_POINT_PAD = pd.Timedelta(minutes=5)   # a lone sample is drawn in a 10-minute window, not a 1-ms one


@dataclass(frozen=True)
class Line:
    """One line: values at times (UTC); NaN leaves a gap. `step` holds each value until the next."""

    name: str
    times: Sequence[Any]
    values: Sequence[float]
    color: str
    step: bool = False


@dataclass(frozen=True)
class Reference:
    """A horizontal line at a value (a budget, a target), labelled."""

    name: str
    value: float
    color: str


@dataclass(frozen=True)
class Bars:
    """One value per category (NaN: no bar); `negative_color` colours bars below zero."""

    name: str
    values: Sequence[float]
    color: str
    negative_color: str | None = None


@dataclass(frozen=True)
class Chart:
    """A dashboard chart: its plotly `figure` ({data, layout}), or `empty` saying why there is none."""

    key: str
    title: str
    figure: dict[str, Any] | None
    empty: str | None = None

    @property
    def figure_json(self) -> str:
        """The figure as strict compact JSON (what the page hands to Plotly.react)."""
        return json.dumps(self.figure, separators=(",", ":"), allow_nan=False)


def time_chart(lines: Sequence[Line], *, key: str, title: str, y_label: str, value_format: ValueFormat,
               timezone: str, references: Sequence[Reference] = (), empty: str = "no data yet",
               include_zero: bool = False) -> Chart:
    """Lines over a shared time axis in `timezone`; hover shows every line's value at a time."""
    traces: list[dict[str, Any]] = []
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    for line in lines:
        times = pd.to_datetime(pd.Series(list(line.times), dtype="object"), utc=True, errors="coerce",
                               format="ISO8601")
        values = np.asarray(line.values, dtype="float64")
        keep = times.notna().to_numpy()
        if not (keep & np.isfinite(values)).any():
            continue
        times, values = times[keep], values[keep]
        first = times.min() if first is None else min(first, times.min())
        last = times.max() if last is None else max(last, times.max())
        traces.append({"type": "scatter", "mode": "lines+markers" if len(values) < 3 else "lines",
                       "name": _text(line.name), "x": _local(times, timezone), "y": _values(values),
                       "line": {"color": line.color, "width": 2, "shape": "hv" if line.step else "linear"},
                       "marker": {"size": 5}, "connectgaps": False,
                       "hovertemplate": f"%{{y:{value_format.d3}}}{value_format.suffix}<extra>{_text(line.name)}</extra>"})
    if not traces or first is None or last is None:
        return Chart(key=key, title=title, figure=None, empty=empty)
    pad = SINGLE_POINT_PAD if first == last else pd.Timedelta(0)
    span = _local(pd.Series([first - pad, last + pad]), timezone)
    for ref in references:
        if math.isfinite(ref.value):
            traces.append({"type": "scatter", "mode": "lines", "name": _text(ref.name), "x": span,
                           "y": [ref.value, ref.value], "line": {"color": ref.color, "width": 1.5, "dash": "dash"},
                           "hovertemplate": f"%{{y:{value_format.d3}}}{value_format.suffix}"
                                            f"<extra>{_text(ref.name)}</extra>"})
    zone = last.tz_convert(timezone).tzname() or timezone
    layout = _layout(key, title, y_label, value_format, include_zero=include_zero)
    layout["xaxis"] = {"type": "date", "title": {"text": f"time ({_text(zone)})", "standoff": 8},
                       "gridcolor": GRID_COLOR, "automargin": True}
    if first == last:
        layout["xaxis"]["range"] = span
    layout["hovermode"] = "x unified"
    return Chart(key=key, title=title, figure={"data": traces, "layout": layout})


def category_chart(categories: Sequence[str], series: Sequence[Bars], *, key: str, title: str, y_label: str,
                   value_format: ValueFormat, empty: str = "no data yet") -> Chart:
    """Grouped bars per named category; a series with `negative_color` colours its negative bars with it."""
    traces = []
    labels = [_text(c) for c in categories]
    for bars in series:
        values = np.asarray(list(bars.values) + [math.nan] * (len(labels) - len(bars.values)), dtype="float64")
        if not np.isfinite(values).any():
            continue
        colors = [bars.negative_color if (bars.negative_color and v < 0) else bars.color for v in values]
        traces.append({"type": "bar", "name": _text(bars.name), "x": labels, "y": _values(values),
                       "marker": {"color": colors},
                       "hovertemplate": f"%{{x}}: %{{y:{value_format.d3}}}{value_format.suffix}"
                                        f"<extra>{_text(bars.name)}</extra>"})
    if not labels or not traces:
        return Chart(key=key, title=title, figure=None, empty=empty)
    layout = _layout(key, title, y_label, value_format, include_zero=True)
    layout["xaxis"] = {"type": "category", "automargin": True}
    if value_format.whole:
        top = max((abs(v) for t in traces for v in t["y"] if v is not None), default=1.0)
        layout["yaxis"]["dtick"] = max(1, math.ceil(top / 5))
    layout["barmode"] = "group"
    return Chart(key=key, title=title, figure={"data": traces, "layout": layout})


def _layout(key: str, title: str, y_label: str, value_format: ValueFormat, *, include_zero: bool) -> dict[str, Any]:
    return {"title": {"text": _text(title), "x": 0.01, "xanchor": "left", "font": {"size": 14}},
            "height": HEIGHT_PX, "margin": {"l": 70, "r": 20, "t": 60, "b": 40},
            "font": {"family": FONT, "size": 12, "color": TEXT_COLOR},
            "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
            "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
            "yaxis": {"title": {"text": _text(y_label)}, "tickformat": value_format.d3,
                      "ticksuffix": value_format.suffix, "gridcolor": GRID_COLOR, "automargin": True,
                      "rangemode": "tozero" if include_zero else "normal", "zerolinecolor": "#9ca3af"},
            "uirevision": key}


def _local(times: pd.Series, timezone: str) -> list[str]:
    """UTC times as wall-clock strings in `timezone` (plotly draws date strings as given)."""
    return [t.strftime("%Y-%m-%d %H:%M:%S") for t in pd.DatetimeIndex(times).tz_convert(timezone)]


def _values(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def _text(value: Any) -> str:
    """A text from data, escaped so plotly shows it as typed instead of reading tags in it."""
    return str(escape(str(value)))
