"""The daily report's interactive charts (plotly): zoom, pan and hover, opening on the money.

Pure functions, figures in, markup out: each returns a `<div>` plus a `<script>` that draws it
with `Plotly.newPlot` from the page's own copy of plotly.js (`plotly_assets`; no CDN). The figure
is built with plotly's Python objects (validated against plotly.js's schema) and embedded as JSON
with `</` escaped, so nothing in it can close the script early.

Every chart opens on the window a trader looks at: the underlying +/- 3 one-sigma moves to the
expiration read (F x ATM IV x sqrt(T), from the risk summary's `one_sigma`); without an ATM IV it
opens on +/-`FALLBACK_WINDOW` (2%) of the underlying and says so in `ChartWindow.note`. The y axis
opens fitted to the data inside that window; double-click resets to all the data.

- `open_interest_figure`: open interest by strike (calls vs puts) over dollars at risk of the
  out-of-the-money holders, one shared strike axis, underlying marked;
- `gex_by_strike_figure`: dealer GEX per strike (calls +, puts -), underlying, zero-gamma level
  and the per-strike cumulative crossing marked;
- `gex_profile_figure`: total dealer GEX re-priced at each underlying price (the curve whose sign
  change is the zero-gamma level), underlying and level marked.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from markupsafe import Markup, escape

from .charts import CALL_COLOR, NEGATIVE_COLOR, POSITIVE_COLOR, PUT_COLOR, UNDERLYING_COLOR, ZERO_GAMMA_COLOR

__all__ = ["ChartWindow", "chart_window", "figure_markup", "open_interest_figure", "gex_by_strike_figure",
           "gex_profile_figure", "SIGMAS", "FALLBACK_WINDOW"]

SIGMAS = 3.0            # the charts open on the underlying +/- this many one-sigma moves
FALLBACK_WINDOW = 0.02  # ... or +/- this fraction of the underlying when there is no ATM IV
CUMULATIVE_COLOR = "#9ca3af"
_CONFIG = {"responsive": True, "displaylogo": False, "scrollZoom": True,
           "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
_FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12, "color": "#374151"}


@dataclass(frozen=True)
class ChartWindow:
    """The price range (index points) the charts open on, and how it was chosen."""

    low: float
    high: float
    note: str


def chart_window(underlying: float, one_sigma_points: float | None, *, sigmas: float = SIGMAS,
                 fallback: float = FALLBACK_WINDOW) -> ChartWindow:
    """Underlying +/- `sigmas` one-sigma moves, or +/- `fallback` x underlying without a sigma."""
    if not (underlying is not None and math.isfinite(underlying) and underlying > 0):
        return ChartWindow(float("nan"), float("nan"), "no underlying price: the charts show every strike")
    if one_sigma_points is not None and math.isfinite(one_sigma_points) and one_sigma_points > 0:
        reach = sigmas * one_sigma_points
        return ChartWindow(underlying - reach, underlying + reach,
                           f"opens on the underlying +/-{sigmas:g} sigma ({reach:,.0f} points; "
                           f"1 sigma = {one_sigma_points:,.1f} points from the ATM IV and time to expiry)")
    reach = fallback * underlying
    return ChartWindow(underlying - reach, underlying + reach,
                       f"no ATM IV, so no sigma: opens on the underlying +/-{fallback:.0%} ({reach:,.0f} points)")


def figure_markup(figure: Any, element_id: str, label: str, height: int) -> Markup:
    """A div and the script that draws `figure` in it; a note in the div when plotly.js did not load."""
    import plotly.io as pio

    spec = _script_json(pio.to_json(figure, validate=False, pretty=False))
    config = _script_json(json.dumps(_CONFIG))
    return Markup(
        f'<div class="plotly-chart" id="{escape(element_id)}" role="img" aria-label="{escape(label)}" '
        f'style="height:{height}px"><p class="notrun">This chart is drawn by plotly.min.js beside this page '
        f'(JavaScript needed); the tables carry the same figures.</p></div>\n'
        f'<script>(function () {{ var el = document.getElementById({_script_json(json.dumps(element_id))});'
        f' if (typeof Plotly === "undefined") {{ return; }} el.innerHTML = "";'
        f' var spec = {spec}; Plotly.newPlot(el, spec.data, spec.layout, {config}); }})();</script>')


def _script_json(text: str) -> str:
    """JSON safe inside a <script>: `</` (which could close it) and `<!--` written as escapes."""
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


def _finite(values: Sequence[float]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _plain(values: np.ndarray) -> list[float | None]:
    """Numbers as a JSON list, NaN as null (a gap), readable in the page source."""
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _y_range(x: np.ndarray, ys: Sequence[np.ndarray], window: ChartWindow, *, stacked: bool = False
             ) -> list[float] | None:
    """The y range of the data inside the window (0 included, 8% headroom); None = plotly's own."""
    if not math.isfinite(window.low):
        return None
    inside = (x >= window.low) & (x <= window.high)
    if stacked:
        values = np.nansum(np.vstack([np.nan_to_num(y) for y in ys]), axis=0)[inside]
    else:
        values = np.concatenate([y[inside] for y in ys])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
    if low == high:
        return None
    pad = 0.08 * (high - low)
    return [low - (pad if low < 0 else 0.0), high + pad]


def _x_range(window: ChartWindow) -> list[float] | None:
    return [window.low, window.high] if math.isfinite(window.low) else None


def _marker_shapes(markers: Sequence[tuple[str, float, str, str]], row_domains: Sequence[str] = ("paper",)
                   ) -> tuple[list[dict], list[dict]]:
    """Vertical lines across the plot at prices (name, price, colour, dash), labelled inside the top of the plot."""
    shapes, notes = [], []
    for index, (name, price, color, dash) in enumerate(markers):
        if price is None or not math.isfinite(price):
            continue
        for xref in row_domains:
            shapes.append({"type": "line", "xref": "x" if xref == "paper" else xref, "yref": "paper",
                           "x0": price, "x1": price, "y0": 0, "y1": 1,
                           "line": {"color": color, "width": 2, "dash": dash}})
        notes.append({"x": price, "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "top", "xanchor": "left",
                      "xshift": 3, "yshift": -2 - 16 * index, "showarrow": False, "text": f"{name} {price:,.2f}",
                      "bgcolor": "rgba(255,255,255,0.85)", "font": {"color": color, "size": 11}})
    return shapes, notes


def _layout(title: str, height: int, **extra: Any) -> dict:
    import plotly.graph_objects as go

    layout = dict(template=go.layout.Template(), title={"text": title, "x": 0.01, "font": {"size": 15}},
                  height=height, margin={"l": 80, "r": 20, "t": 80, "b": 50}, font=_FONT,
                  plot_bgcolor="#ffffff", paper_bgcolor="#ffffff", hovermode="x unified",
                  legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12})
    layout.update(extra)
    return layout


def open_interest_figure(strikes: Sequence[float], call_oi: Sequence[float], put_oi: Sequence[float],
                         call_dollars: Sequence[float], put_dollars: Sequence[float], *, underlying: float,
                         window: ChartWindow, element_id: str = "chart-open-interest") -> Markup:
    """Open interest (calls vs puts) over OTM dollars at risk, by strike, one shared strike axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    x = _finite(strikes)
    c_oi, p_oi, c_d, p_d = (_finite(v) for v in (call_oi, put_oi, call_dollars, put_dollars))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Open interest by strike (contracts)",
                                        "Dollars at risk of out-of-the-money holders (OI x mark x multiplier)"))
    fig.add_trace(go.Bar(x=_plain(x), y=_plain(c_oi), name="call OI", marker_color=CALL_COLOR,
                         hovertemplate="%{y:,.0f} contracts<extra>call OI</extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=_plain(x), y=_plain(p_oi), name="put OI", marker_color=PUT_COLOR,
                         hovertemplate="%{y:,.0f} contracts<extra>put OI</extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=_plain(x), y=_plain(c_d), name="OTM calls $ (above price)", marker_color=CALL_COLOR, opacity=0.75,
                         hovertemplate="$%{y:,.0f}<extra>OTM calls at risk</extra>"), row=2, col=1)
    fig.add_trace(go.Bar(x=_plain(x), y=_plain(p_d), name="OTM puts $ (below price)", marker_color=PUT_COLOR, opacity=0.75,
                         hovertemplate="$%{y:,.0f}<extra>OTM puts at risk</extra>"), row=2, col=1)
    shapes, notes = _marker_shapes([("underlying", underlying, UNDERLYING_COLOR, "dash")], ("x", "x2"))
    fig.update_layout(**_layout("Open interest and dollars at risk", 620, barmode="group", bargap=0.15))
    for title in fig.layout.annotations:  # panel titles to the left: the price labels sit above the middle
        title.update(x=0, xanchor="left", font={"size": 13})
    fig.update_layout(shapes=shapes, annotations=list(fig.layout.annotations) + notes)
    fig.update_xaxes(range=_x_range(window), title_text="strike (index points)", row=2, col=1, showgrid=True,
                     gridcolor="#e5e7eb")
    fig.update_xaxes(range=_x_range(window), row=1, col=1, showgrid=True, gridcolor="#e5e7eb")
    fig.update_yaxes(range=_y_range(x, [c_oi, p_oi], window), title_text="contracts", row=1, col=1,
                     gridcolor="#e5e7eb", zerolinecolor="#9ca3af")
    fig.update_yaxes(range=_y_range(x, [c_d, p_d], window), title_text="$ at risk", tickprefix="$", row=2, col=1,
                     gridcolor="#e5e7eb", zerolinecolor="#9ca3af")
    return figure_markup(fig, element_id, "Open interest and dollars at risk by strike", 620)


def gex_by_strike_figure(strikes: Sequence[float], gex: Sequence[float], *, underlying: float, zero_gamma: float,
                         cumulative_crossing: float, window: ChartWindow,
                         element_id: str = "chart-gex-by-strike") -> Markup:
    """Dealer GEX per strike (dollars per 1% move), green above zero and red below."""
    import plotly.graph_objects as go

    x, y = _finite(strikes), _finite(gex)
    colors = [NEGATIVE_COLOR if v < 0 else POSITIVE_COLOR for v in np.nan_to_num(y)]
    fig = go.Figure(go.Bar(x=_plain(x), y=_plain(y), name="GEX (calls + / puts -)", marker_color=colors,
                           hovertemplate="strike %{x:,.2f}: $%{y:,.0f} per 1%<extra></extra>"))
    shapes, notes = _marker_shapes([("underlying", underlying, UNDERLYING_COLOR, "dash"),
                                    ("zero gamma", zero_gamma, ZERO_GAMMA_COLOR, "solid"),
                                    ("cumulative crossing", cumulative_crossing, CUMULATIVE_COLOR, "dot")])
    fig.update_layout(**_layout("Dealer gamma exposure by strike (gamma x OI x multiplier x F² x 1%)", 420,
                                shapes=shapes, annotations=notes, hovermode="closest", bargap=0.15))
    fig.update_xaxes(range=_x_range(window), title_text="strike (index points)", gridcolor="#e5e7eb")
    fig.update_yaxes(range=_y_range(x, [y], window), title_text="GEX ($ per 1% move)", tickprefix="$",
                     gridcolor="#e5e7eb", zerolinecolor="#9ca3af")
    return figure_markup(fig, element_id, "Dealer gamma exposure by strike", 420)


def gex_profile_figure(prices: Sequence[float], total_gex: Sequence[float], *, underlying: float,
                       zero_gamma: float, window: ChartWindow, element_id: str = "chart-gex-profile") -> Markup:
    """Total dealer GEX re-priced at each hypothetical underlying price; where it crosses zero is the level."""
    import plotly.graph_objects as go

    x, y = _finite(prices), _finite(total_gex)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=_plain(x), y=_plain(np.where(y >= 0, y, np.nan)), mode="lines", name="dealers long gamma",
                             line={"color": POSITIVE_COLOR, "width": 2}, fill="tozeroy", connectgaps=False,
                             hovertemplate="at %{x:,.2f}: $%{y:,.0f} per 1%<extra></extra>"))
    fig.add_trace(go.Scatter(x=_plain(x), y=_plain(np.where(y < 0, y, np.nan)), mode="lines", name="dealers short gamma",
                             line={"color": NEGATIVE_COLOR, "width": 2}, fill="tozeroy", connectgaps=False,
                             hovertemplate="at %{x:,.2f}: $%{y:,.0f} per 1%<extra></extra>"))
    shapes, notes = _marker_shapes([("underlying", underlying, UNDERLYING_COLOR, "dash"),
                                    ("zero gamma", zero_gamma, ZERO_GAMMA_COLOR, "solid")])
    low, high = (float(np.nanmin(x)), float(np.nanmax(x))) if x.size else (window.low, window.high)
    clipped = ChartWindow(max(window.low, low), min(window.high, high), window.note) \
        if math.isfinite(window.low) else window
    fig.update_layout(**_layout("Total dealer gamma exposure against the underlying price (re-priced)", 420,
                                shapes=shapes, annotations=notes, hovermode="closest"))
    fig.update_xaxes(range=_x_range(clipped), title_text="underlying price (index points)", gridcolor="#e5e7eb")
    fig.update_yaxes(range=_y_range(x, [y], clipped), title_text="total GEX ($ per 1% move)", tickprefix="$",
                     gridcolor="#e5e7eb", zerolinecolor="#111827", zerolinewidth=1)
    return figure_markup(fig, element_id, "Total dealer gamma exposure by underlying price", 420)
