"""SVG charts: bars where the data is, markers at the right price, round axis ticks, text escaped."""
from __future__ import annotations

import math

import pytest
from bs4 import BeautifulSoup

from tasks.options_trading_system.output_generation.charts import (ChartLayout, format_count, format_dollars,
                                                                    gamma_exposure_chart, nice_ticks,
                                                                    open_interest_chart)

NAN = float("nan")
# Default layout: plot from x=86 to x=1076 (990 px); 4 strikes -> slots of 247.5 px, centres at
# 86 + 123.75 = 209.75, 457.25, 704.75, 952.25.
STRIKES = [100.0, 200.0, 300.0, 400.0]


def _svg(markup: str) -> BeautifulSoup:
    return BeautifulSoup(str(markup), "html.parser")


def test_gex_chart_has_one_bar_per_strike_coloured_by_sign() -> None:
    soup = _svg(gamma_exposure_chart(STRIKES, [-2e6, -1e6, 5e5, 3e6], zero_gamma_level=250.0,
                                     underlying_price=300.0))
    bars = soup.select("rect.bar-gex")
    assert [b["data-strike"] for b in bars] == ["100", "200", "300", "400"]
    assert [b["fill"] for b in bars] == ["#dc2626", "#dc2626", "#16a34a", "#16a34a"]  # puts red, calls green
    assert bars[3].title.get_text() == "400 calls + / puts -: $3,000,000"


def test_markers_sit_between_strike_slots_by_interpolation() -> None:
    soup = _svg(gamma_exposure_chart(STRIKES, [-2e6, -1e6, 5e5, 3e6], zero_gamma_level=250.0,
                                     underlying_price=300.0))
    zero = soup.select_one("line.marker-zero-gamma")
    price = soup.select_one("line.marker-underlying")
    assert float(zero["x1"]) == pytest.approx((457.25 + 704.75) / 2, abs=0.05)  # 250 is halfway 200..300
    assert float(price["x1"]) == pytest.approx(704.75, abs=0.05)                 # 300 is a strike: its centre
    labels = soup.get_text()
    assert "zero gamma 250" in labels and "underlying 300" in labels


def test_missing_zero_gamma_level_draws_no_marker() -> None:
    soup = _svg(gamma_exposure_chart(STRIKES, [1.0, 2.0, 3.0, 4.0], zero_gamma_level=NAN, underlying_price=250.0))
    assert soup.select("line.marker-zero-gamma") == []
    assert len(soup.select("line.marker-underlying")) == 1


def test_price_beyond_the_strikes_is_clipped_and_said_so() -> None:
    soup = _svg(gamma_exposure_chart(STRIKES, [1.0, 2.0, 3.0, 4.0], zero_gamma_level=NAN, underlying_price=450.0))
    assert float(soup.select_one("line.marker-underlying")["x1"]) == pytest.approx(952.25, abs=0.05)
    assert "underlying 450 (beyond the strikes shown)" in soup.get_text()


def test_open_interest_chart_skips_missing_values_and_draws_zero_height_for_zero() -> None:
    soup = _svg(open_interest_chart(STRIKES, call_oi=[NAN, 10, 20, 30], put_oi=[40, 30, 20, 10],
                                    call_dollars=[0, 0, 5000, 8000], put_dollars=[9000, 4000, 0, 0],
                                    underlying_price=250.0))
    assert [b["data-strike"] for b in soup.select("rect.bar-call-oi")] == ["200", "300", "400"]
    assert len(soup.select("rect.bar-put-oi")) == 4
    zero_bars = [b for b in soup.select("rect.bar-call-dollars") if b["data-strike"] in ("100", "200")]
    assert [float(b["height"]) for b in zero_bars] == [0.0, 0.0]
    assert len(soup.select("line.marker-underlying")) == 2  # marked on both panels


def test_taller_bar_for_the_larger_value() -> None:
    soup = _svg(open_interest_chart(STRIKES, call_oi=[10, 20, 30, 40], put_oi=[1, 1, 1, 1],
                                    call_dollars=[0, 0, 0, 0], put_dollars=[0, 0, 0, 0], underlying_price=250.0))
    heights = [float(b["height"]) for b in soup.select("rect.bar-call-oi")]
    # axis 0..40 (ticks every 10): heights proportional to the values
    assert heights[3] == pytest.approx(2 * heights[1]) and heights[1] == pytest.approx(2 * heights[0])


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
    from tasks.options_trading_system.output_generation.charts import BarSeries, bar_panel

    panel = bar_panel([1.0], [BarSeries("<b>calls</b>", [1.0], "#000", "x")], title="<script>t</script>",
                      y_label="y & z", value_format=str, unit="", layout=ChartLayout())
    assert "<script>" not in panel and "&lt;script&gt;" in panel
    assert "&lt;b&gt;calls&lt;/b&gt;" in panel and "y &amp; z" in panel


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
