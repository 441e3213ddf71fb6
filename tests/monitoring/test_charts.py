"""Dashboard charts (plotly figures): drawn from the data, names escaped, gaps kept, an empty chart says why."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from tasks.options_trading_system.monitoring.charts import (COUNT, SIGNED_USD, USD, Bars, Line, Reference, category_chart,
                                                            time_chart)


def test_daily_pnl_bars_carry_their_values_and_negative_days_are_coloured_apart() -> None:
    chart = category_chart(["2023-11-20", "2023-11-21"],
                           [Bars("net P&L", [60.25, -12.5], "#16a34a", negative_color="#dc2626")],
                           key="daily-pnl", title="Daily P&L", y_label="$", value_format=SIGNED_USD)
    bars = chart.figure["data"][0]
    assert (bars["type"], bars["x"], bars["y"]) == ("bar", ["2023-11-20", "2023-11-21"], [60.25, -12.5])
    assert bars["marker"]["color"] == ["#16a34a", "#dc2626"]
    assert "%{y:+$,.2f}" in bars["hovertemplate"]                  # hover reads +$60.25 / -$12.50
    assert chart.figure["layout"]["xaxis"]["type"] == "category"   # the days as labelled, not a date axis


def test_equity_line_passes_through_each_closed_trade_in_the_dashboards_time_zone() -> None:
    times = [pd.Timestamp("2023-11-20T15:30Z"), pd.Timestamp("2023-11-20T16:05Z"), pd.Timestamp("2023-11-21T15:20Z")]
    chart = time_chart([Line("net P&L", times, [120.5, 60.25, 105.25], "#16a34a", step=True)], key="equity",
                       title="Equity", y_label="$", value_format=USD, timezone="America/New_York",
                       references=[Reference("budget", 150.0, "#b91c1c")])
    line, budget = chart.figure["data"]
    assert line["y"] == [120.5, 60.25, 105.25]
    assert line["x"] == ["2023-11-20 10:30:00", "2023-11-20 11:05:00", "2023-11-21 10:20:00"]   # EST wall clock
    assert line["line"]["shape"] == "hv"                          # held until the next trade
    assert (budget["name"], budget["y"], budget["x"]) == ("budget", [150.0, 150.0], [line["x"][0], line["x"][-1]])
    layout = chart.figure["layout"]
    assert layout["xaxis"]["title"]["text"] == "time (EST)"       # November in New York
    assert layout["uirevision"] == "equity"                        # zoom survives updates
    json.loads(chart.figure_json)                                  # strict JSON for the page


def test_a_missing_value_is_a_gap_never_zero() -> None:
    times = ["2025-06-02T14:00:00+00:00", "2025-06-02T14:01:00+00:00", "2025-06-02T14:02:00+00:00"]
    chart = time_chart([Line("p95", times, [40.0, float("nan"), 50.0], "#000")], key="latency", title="Latency",
                       y_label="ms", value_format=USD, timezone="UTC")
    assert chart.figure["data"][0]["y"] == [40.0, None, 50.0]
    assert chart.figure["data"][0]["connectgaps"] is False


def test_a_lone_sample_is_drawn_in_a_readable_window_and_counts_tick_on_whole_numbers() -> None:
    lone = time_chart([Line("CPU", ["2025-06-02T14:00:00+00:00"], [12.5], "#000")], key="system", title="CPU",
                      y_label="%", value_format=USD, timezone="UTC")
    assert lone.figure["layout"]["xaxis"]["range"] == ["2025-06-02 13:55:00", "2025-06-02 14:05:00"]
    counts = category_chart(["barchart", "databento"], [Bars("served", [0, 1], "#000"), Bars("failed", [1, 0], "#f00")],
                            key="sources", title="Sources", y_label="attempts", value_format=COUNT)
    assert counts.figure["layout"]["yaxis"]["dtick"] == 1          # 0, 1: never 0.2 attempts


def test_names_from_data_are_escaped_so_plotly_shows_them_as_text() -> None:
    evil = "<script>alert(1)</script>"
    chart = category_chart([evil], [Bars(evil, [3], "#000")], key="c", title="t", y_label="n", value_format=USD)
    bars = chart.figure["data"][0]
    assert bars["x"] == ["&lt;script&gt;alert(1)&lt;/script&gt;"] and bars["name"] == bars["x"][0]
    assert evil not in chart.figure_json


def test_a_chart_without_data_says_why_instead_of_drawing_empty_axes() -> None:
    empty = time_chart([Line("p95", [], [], "#000")], key="latency", title="Latency", y_label="ms", value_format=USD,
                       timezone="UTC", empty="no latency samples yet")
    assert empty.figure is None and empty.empty == "no latency samples yet"
    nan_only = category_chart(["a"], [Bars("x", [float("nan")], "#000")], key="c", title="t", y_label="n",
                              value_format=USD, empty="nothing recorded")
    assert nan_only.figure is None and nan_only.empty == "nothing recorded"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
