"""Dashboard charts: drawn from the data, names escaped, an empty chart says why."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from tasks.options_trading_system.monitoring.charts import BarSeries, Line, Reference, category_chart, time_chart
from tasks.options_trading_system.monitoring.formatting import signed_usd, usd


def test_daily_pnl_bars_carry_their_values_and_negative_days_are_coloured_apart() -> None:
    svg = str(category_chart(["2023-11-20", "2023-11-21"],
                             [BarSeries("net P&L", [60.25, -12.5], "#16a34a", "bar-pnl", negative_color="#dc2626")],
                             title="Daily P&L", y_label="$", value_format=signed_usd, css_class="chart-daily"))
    bars = re.findall(r'<rect class="bar bar-pnl" data-category="([^"]+)" data-value="([^"]+)"[^>]*fill="([^"]+)"', svg)
    assert bars == [("2023-11-20", "60.25", "#16a34a"), ("2023-11-21", "-12.5", "#dc2626")]
    assert "<title>2023-11-21 net P&amp;L: -$12.50</title>" in svg


def test_equity_line_passes_through_each_closed_trade_and_marks_the_latest_value() -> None:
    times = [pd.Timestamp("2023-11-20T15:30Z"), pd.Timestamp("2023-11-20T16:05Z"), pd.Timestamp("2023-11-21T15:20Z")]
    svg = str(time_chart([Line("net P&L", times, [120.5, 60.25, 105.25], "#16a34a", "line-equity")],
                         title="Equity", y_label="$", value_format=usd, timezone="America/New_York",
                         css_class="chart-equity", references=[Reference("budget", 150.0, "#b91c1c", "budget")]))
    points = re.search(r'class="line line-equity"[^>]*points="([^"]+)"', svg).group(1).split()
    assert len(points) == 3
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] < ys[2] < ys[1]                    # 120.50 highest on screen, 60.25 lowest
    assert 'data-value="105.25"' in svg and "net P&amp;L: $105.25 (latest)" in svg
    assert "budget $150.00" in svg
    assert "time (EST)" in svg                      # November in New York


def test_names_from_data_are_escaped_inside_the_svg() -> None:
    evil = "<script>alert(1)</script>"
    svg = str(category_chart([evil], [BarSeries(evil, [3], "#000", "bar-x")], title="t", y_label="n",
                             value_format=str, css_class="c"))
    assert evil not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def test_a_chart_without_data_says_why_instead_of_drawing_empty_axes() -> None:
    svg = str(time_chart([Line("p95", [], [], "#000", "l")], title="Latency", y_label="ms", value_format=str,
                         timezone="UTC", css_class="chart-latency", empty="no latency samples yet"))
    assert "no latency samples yet" in svg and "<polyline" not in svg
    nan_only = str(category_chart(["a"], [BarSeries("x", [float("nan")], "#000", "b")], title="t", y_label="n",
                                  value_format=str, css_class="c", empty="nothing recorded"))
    assert "nothing recorded" in nan_only and "<rect class=\"bar" not in nan_only


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
