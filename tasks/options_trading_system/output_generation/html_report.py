"""The daily HTML report: one page (inline CSS; interactive plotly charts drawn by the
`plotly.min.js` written beside it, `plotly_assets`; no internet), rendered from the validated
export document. Without JavaScript the page still reads: every figure is in its tables and text.

jinja2 runs with autoescape on and `StrictUndefined`: every value that comes from data (contract
symbols, source names, reasons, notes) is escaped, and a template that reads a missing key fails
loudly instead of printing nothing. Only the SVG built by `charts` (which escapes its own text)
is inserted as markup, and only the charts built by `report_charts` (which embed their JSON safely).
"""
from __future__ import annotations

import logging
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import jinja2
from markupsafe import Markup

from ..data_ingestion.canonical import number_or_nan
from . import charts, formatting, report_charts
from .ev_view import ev_section
from .plotly_assets import PLOTLY_JS_NAME, script_tag
from .report_view import exchange_time, headline, not_run_reasons

log = logging.getLogger(__name__)

__all__ = ["render_html", "environment", "TEMPLATE_DIR", "TEMPLATE_NAME"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "daily_report.html.j2"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The report's jinja2 environment: autoescape on for every template, strict undefined."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(formatting.FILTERS)
    env.filters["exchange_time"] = exchange_time
    return env


def render_html(document: Mapping[str, Any], *, plotly_src: str = PLOTLY_JS_NAME) -> str:
    """The HTML page for one export document; `plotly_src` is where the page finds plotly.js,
    relative to the page (the daily outputs write it beside the report)."""
    view = headline(document)
    risk = view.risk
    oi_chart = gex_chart = profile_chart = window = None
    if risk.ran:
        spot = number_or_nan(view.underlying_price)
        window = report_charts.chart_window(spot, number_or_nan((risk.get("one_sigma") or {}).get("points")))
        by_strike = risk.get("by_strike") or {}
        strikes = by_strike.get("strike") or []
        if strikes:
            oi_chart = report_charts.open_interest_figure(
                strikes, _floats(by_strike.get("call_oi"), strikes), _floats(by_strike.get("put_oi"), strikes),
                _floats(by_strike.get("call_dollars_at_risk"), strikes),
                _floats(by_strike.get("put_dollars_at_risk"), strikes), underlying=spot, window=window)
            gex = _floats(by_strike.get("gex"), strikes)
            if any(math.isfinite(v) for v in gex):
                gex_chart = report_charts.gex_by_strike_figure(
                    strikes, gex, underlying=spot, zero_gamma=number_or_nan(risk.get("zero_gamma_level")),
                    cumulative_crossing=number_or_nan(risk.get("cumulative_gex_crossing")), window=window)
        profile = risk.get("gex_profile") or {}
        prices = profile.get("price") or []
        totals = _floats(profile.get("total_gex"), prices)
        if any(math.isfinite(v) for v in totals):
            profile_chart = report_charts.gex_profile_figure(
                prices, totals, underlying=spot, zero_gamma=number_or_nan(risk.get("zero_gamma_level")),
                window=window)
    template = environment().get_template(TEMPLATE_NAME)
    return template.render(doc=document, view=view, oi_chart=oi_chart, gex_chart=gex_chart,
                           profile_chart=profile_chart, chart_window=window,
                           plotly_script=script_tag(plotly_src) if (oi_chart or gex_chart or profile_chart) else "",
                           not_run=not_run_reasons(document), chart_colors=_chart_colors(),
                           ev_view=ev_section(document))


def _floats(values: Any, like: list[Any]) -> list[float]:
    """A by-strike array as floats (None -> NaN), padded with NaN to the strikes' length."""
    out = [number_or_nan(v) for v in (values or [])]
    return out + [float("nan")] * (len(like) - len(out))


def _chart_colors() -> dict[str, Markup]:
    return {"call": Markup(charts.CALL_COLOR), "put": Markup(charts.PUT_COLOR),
            "underlying": Markup(charts.UNDERLYING_COLOR), "zero_gamma": Markup(charts.ZERO_GAMMA_COLOR)}
