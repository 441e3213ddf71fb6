"""SVG charts: bars where the data is, markers at the right price, round axis ticks, text escaped."""
from __future__ import annotations

import math

import pytest
from bs4 import BeautifulSoup

from tasks.options_trading_system.output_generation.charts import (BarSeries, ChartLayout, PriceMarker, bar_panel,
                                                                    format_count, format_dollars, nice_ticks)
from tasks.options_trading_system.output_generation.report_charts import (FALLBACK_WINDOW, chart_window,
                                                                           gex_profile_figure)

NAN = float("nan")
# Default layout: plot from x=86 to x=1076 (990 px); 4 strikes -> slots of 247.5 px, centres at
# 86 + 123.75 = 209.75, 457.25, 704.75, 952.25.
STRIKES = [100.0, 200.0, 300.0, 400.0]


def _panel(values: list[float], *markers: PriceMarker) -> BeautifulSoup:
    return BeautifulSoup(bar_panel(STRIKES, [BarSeries("gex", values, "#0a0", "bar-gex", negative_color="#a00")],
                                   title="t", y_label="y", value_format=format_dollars, unit="$",
                                   markers=markers), "html.parser")


def test_bar_panel_has_one_bar_per_known_value_coloured_by_sign() -> None:
    soup = _panel([-2e6, NAN, 5e5, 3e6])
    bars = soup.select("rect.bar-gex")
    assert [b["data-strike"] for b in bars] == ["100", "300", "400"]  # missing is no bar, not a zero bar
    assert [b["fill"] for b in bars] == ["#a00", "#0a0", "#0a0"]
    assert bars[2].title.get_text() == "400 gex: $3,000,000"


def test_markers_sit_between_strike_slots_by_interpolation_and_say_when_clipped() -> None:
    soup = _panel([1.0] * 4, PriceMarker("zero gamma", 250.0, "#70f", "marker-zero"),
                  PriceMarker("underlying", 450.0, "#000", "marker-underlying"))
    assert float(soup.select_one("line.marker-zero")["x1"]) == pytest.approx((457.25 + 704.75) / 2, abs=0.05)
    assert float(soup.select_one("line.marker-underlying")["x1"]) == pytest.approx(952.25, abs=0.05)
    assert "underlying 450 (beyond the strikes shown)" in soup.get_text()


def test_report_charts_open_on_three_sigma_or_say_which_fallback_they_use() -> None:
    window = chart_window(20000.0, 100.0)
    assert (window.low, window.high) == (19700.0, 20300.0) and "+/-3 sigma" in window.note
    fallback = chart_window(20000.0, None)
    assert (fallback.low, fallback.high) == (20000 * (1 - FALLBACK_WINDOW), 20000 * (1 + FALLBACK_WINDOW))
    assert fallback.note.startswith("no ATM IV, so no sigma: opens on the underlying +/-2%")


def test_report_chart_json_cannot_close_its_script() -> None:
    markup = str(gex_profile_figure([19900.0, 20000.0, 20100.0], [-1.0, 0.5, 2.0], underlying=20000.0,
                                    zero_gamma=19966.0, window=chart_window(20000.0, 30.0),
                                    element_id="</script><script>x"))
    soup = BeautifulSoup(markup, "html.parser")
    assert len(soup.find_all("script")) == 1 and soup.div["id"] == "</script><script>x"
    assert "y-axis" not in markup and '"range":[19910.0,20090.0]' in markup.replace(" ", "")


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 1234) == [0, 250, 500, 750, 1000, 1250]
    assert nice_ticks(-3.2e6, 4.1e6) == [-4e6, -2e6, 0, 2e6, 4e6, 6e6]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(NAN, 1) == [0.0]


def test_axis_formats() -> None:
    assert format_dollars(1_234_567) == "$1.23M"
    assert format_dollars(-450_000) == "-$450k"
    assert format_dollars(0) == "$0"
    assert format_count(12_345) == "12.3k"
    assert format_count(math.inf) == "n/a"


def test_text_in_charts_is_escaped() -> None:
    panel = bar_panel([1.0], [BarSeries("<b>calls</b>", [1.0], "#000", "x")], title="<script>t</script>",
                      y_label="y & z", value_format=str, unit="", layout=ChartLayout())
    assert "<script>" not in panel and "&lt;script&gt;" in panel
    assert "&lt;b&gt;calls&lt;/b&gt;" in panel and "y &amp; z" in panel


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
