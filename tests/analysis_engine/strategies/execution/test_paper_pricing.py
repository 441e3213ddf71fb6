"""Paper fills: slippage in ticks against the trade, commissions per side, limits as recorded refusals."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine import black76
from tasks.options_trading_system.analysis_engine.strategies.execution.paper_pricing import EntryQuote, PaperPricing
from tasks.options_trading_system.analysis_engine.strategies.shadow_config import ExecutionConfig

MNQ = PaperPricing(ExecutionConfig(instrument="MNQ", slippage_ticks=1, max_open_positions=3, max_open_per_source=2))


def test_entries_pay_one_tick_against_the_trade() -> None:
    assert MNQ.entry_price("LONG", EntryQuote(price=21000.0)) == 21000.25
    assert MNQ.entry_price("SHORT", EntryQuote(price=21000.0)) == 20999.75


def test_targets_fill_at_the_level_stops_and_session_end_pay_slippage() -> None:
    assert MNQ.exit_price("LONG", "target", 21050.0) == (21050.0, "price_path")
    assert MNQ.exit_price("LONG", "stop", 20980.0)[0] == 20979.75
    assert MNQ.exit_price("SHORT", "session_end", 20980.0)[0] == 20980.25


def test_pnl_in_points_and_dollars_with_the_right_multiplier() -> None:
    # MNQ $2/point: 49.75 points x 2 = 99.50, minus 2 sides x $0.62 = 98.26
    points, dollars, commissions = MNQ.pnl("LONG", 21000.25, 21050.0)
    assert (points, dollars, commissions) == (pytest.approx(49.75), pytest.approx(98.26), pytest.approx(1.24))
    nq = PaperPricing(ExecutionConfig(instrument="NQ"))
    # NQ $20/point: a short from 21000 covered at 21010 loses 10 x 20 = 200 plus 2 x 2.25
    assert nq.pnl("SHORT", 21000.0, 21010.0)[1] == pytest.approx(-204.5)


def test_position_limits_refuse_with_the_numbers() -> None:
    three = pd.DataFrame({"source": ["ifd_v1", "ev", "ev"]})
    assert MNQ.refusal(three, "ifd_v3") == "POSITION_LIMIT: open=3, limit=3"
    two_ev = pd.DataFrame({"source": ["ev", "ev"]})
    assert MNQ.refusal(two_ev, "ev") == "SOURCE_LIMIT: open=2 for ev, limit=2"
    assert MNQ.refusal(two_ev, "ifd_v1") == ""
    assert MNQ.refusal(pd.DataFrame({"source": []}), "ev") == ""


def test_options_are_bought_at_the_ask_and_marked_with_black76_at_exit() -> None:
    broker = PaperPricing(ExecutionConfig(instrument="option", slippage_ticks=1))
    quote = EntryQuote(price=50.0, contract="C21100", strike=21100.0, is_call=True, iv=0.2, years=5 / 365)
    assert broker.entry_price("LONG", quote) == 50.25
    assert broker.order_side("SHORT") == "BUY"   # a SHORT idea buys the put
    price, origin = broker.exit_price("LONG", "target", 21150.0, quote=quote, years_at_exit=4 / 365)
    expected = float(black76.price(21150.0, 21100.0, 4 / 365, 0.2, True)) - 0.25
    assert origin == "black76_at_entry_iv" and price == pytest.approx(expected)
    # an option with no implied volatility cannot be marked: missing, not 0
    assert pd.isna(broker.exit_price("LONG", "stop", 21000.0, quote=EntryQuote(price=5.0, contract="x"))[0])


def test_the_slippage_an_exit_records_is_the_slippage_its_price_paid() -> None:
    # futures: a target is a resting limit (no slippage); a stop is a market order (one tick)
    assert (MNQ.exit_is_limit("target"), MNQ.exit_slippage("target")) == (True, 0.0)
    assert (MNQ.exit_is_limit("stop"), MNQ.exit_slippage("stop")) == (False, 0.25)
    # an option has no resting order at the futures target: even its target exit is a market sale
    broker = PaperPricing(ExecutionConfig(instrument="option", slippage_ticks=2))
    quote = EntryQuote(price=50.0, contract="C21100", strike=21100.0, is_call=True, iv=0.2, years=5 / 365)
    assert (broker.exit_is_limit("target"), broker.exit_slippage("target")) == (False, 0.5)
    price, _ = broker.exit_price("LONG", "target", 21150.0, quote=quote, years_at_exit=4 / 365)
    mark = float(black76.price(21150.0, 21100.0, 4 / 365, 0.2, True))
    assert price == pytest.approx(mark - broker.exit_slippage("target"))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
