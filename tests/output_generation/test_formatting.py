"""Display formats shared by every report: missing reads n/a, never 0; signs and units explicit."""
from __future__ import annotations

import math

import pytest

from tasks.options_trading_system.output_generation import formatting as fmt


@pytest.mark.parametrize("formatter", list(fmt.FILTERS.values()))
def test_missing_reads_na_never_zero(formatter) -> None:
    assert formatter(None) == "n/a"
    if formatter is not fmt.text:
        assert formatter(math.nan) == "n/a"


def test_figures_read_as_a_trader_expects() -> None:
    assert fmt.points(21503.25) == "21,503.25"
    assert fmt.strike(21500.0) == "21,500" and fmt.strike(21512.5) == "21,512.50"
    assert fmt.dollars(-5000) == "-$5,000" and fmt.dollars(1_428_000) == "$1,428,000"
    # data costs keep their cents: a $0.05 Databento request must not read as free
    assert fmt.cost(0.05) == "$0.05" and fmt.cost(0.0012) == "$0.0012" and fmt.cost(0) == "$0.00"
    assert fmt.cost(None) == fmt.MISSING
    assert fmt.dollars_compact(-23_674_505) == "-$23.7M"
    assert fmt.probability(0.6654) == "66.5%"
    assert fmt.signed_probability(0.0416) == "+4.2 pp" and fmt.signed_probability(-0.03) == "-3.0 pp"
    assert fmt.ratio(1_428_000 / 3_992_000) == "0.36"
    assert fmt.millis(812.5) == "812 ms" and fmt.seconds(0.0123) == "0.012 s"
    assert fmt.count(0) == "0"  # a real zero stays zero


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
