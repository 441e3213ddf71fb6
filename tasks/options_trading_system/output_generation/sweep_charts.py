"""The sweep comparison's heatmaps (plotly): one figure by the grid's two settings.

Pure: the document's heatmap table in, markup out (`report_charts.figure_markup`: a div and the
script that draws it from the page's own plotly.min.js, no CDN). The colour scale runs from worse
to better whichever way the figure is better (a drawdown is greener when smaller). A missing cell
stays empty and reads "n/a" on hover, never 0. Setting values from the sweep file are
HTML-escaped (plotly reads a few tags in labels).
"""
from __future__ import annotations

from typing import Any, Mapping

from markupsafe import Markup, escape

from ..analysis_engine.strategies.sweep.variants import setting_labels
from .formatting import MISSING, dollars, percent, ratio
from .report_charts import figure_markup

__all__ = ["heatmap_figure"]

WORSE_TO_BETTER = [[0.0, "#fee2e2"], [0.5, "#fef9c3"], [1.0, "#bbf7d0"]]
HEIGHT_PX = 320


def heatmap_figure(table: Mapping[str, Any], metric: Mapping[str, str], *, element_id: str) -> Markup:
    """`metric` (key, label, better) by the two settings of `table` (the document's `heatmap`)."""
    import plotly.graph_objects as go

    x = [_label(v) for v in table["x_values"]]
    y = [_label(v) for v in table["y_values"]]
    # equal to 12 significant digits is equal (the same P&L summed in another order): one colour
    z = [[None if v is None else float(f"{v:.12g}") for v in row] for row in table["cells"][metric["key"]]]
    x_title, y_title = (str(escape(setting_labels([table["x"], table["y"]])[k])) for k in (table["x"], table["y"]))
    text = [[MISSING if v is None else _number(v, metric["key"]) for v in row] for row in z]
    scale = WORSE_TO_BETTER if metric["better"] == "higher" else \
        list(reversed([[1 - p, c] for p, c in WORSE_TO_BETTER]))
    figure = go.Figure(go.Heatmap(
        z=z, x=x, y=y, text=text, texttemplate="%{text}", colorscale=scale, showscale=False, xgap=2, ygap=2,
        hovertemplate=f"{escape(table['x'])} = %{{x}}<br>{escape(table['y'])} = %{{y}}<br>"
                      f"{escape(metric['label'])}: %{{text}}<extra></extra>"))
    figure.update_layout(
        template=go.layout.Template(), height=HEIGHT_PX, margin={"l": 70, "r": 10, "t": 40, "b": 50},
        title={"text": f"{escape(metric['label'])} ({'higher' if metric['better'] == 'higher' else 'lower'} is better)",
               "x": 0.01, "font": {"size": 14}},
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12, "color": "#374151"},
        xaxis={"title": {"text": x_title}, "type": "category"},
        yaxis={"title": {"text": y_title}, "type": "category"})
    return figure_markup(figure, element_id, f"{metric['label']} by {table['x']} and {table['y']}", HEIGHT_PX)


def _label(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(escape(str(value)))


def _number(value: float, key: str) -> str:
    if key in ("accuracy", "false_positive_rate"):
        return percent(value)
    return dollars(value) if key.endswith("_usd") else ratio(value)
