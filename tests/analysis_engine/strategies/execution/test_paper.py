"""The paper broker through the Broker interface: brackets placed and held, resends that never
double, stops and targets filled on the price path, flatten, positions and working orders."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine import black76
from tasks.options_trading_system.analysis_engine.strategies.brokers import broker_class
from tasks.options_trading_system.analysis_engine.strategies.execution.broker import Broker, BrokerError
from tasks.options_trading_system.analysis_engine.strategies.execution.orders import (EventKind, OrderStatus,
                                                                                       Position, Side)
from tasks.options_trading_system.analysis_engine.strategies.execution.paper import PaperBroker
from tasks.options_trading_system.analysis_engine.strategies.execution.paper_pricing import EntryQuote
from tasks.options_trading_system.analysis_engine.strategies.execution.signal_orders import signal_bracket
from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import PricePath
from tasks.options_trading_system.analysis_engine.strategies.shadow_config import ExecutionConfig

T0 = pd.Timestamp("2025-06-02 14:30", tz="UTC")  # the first of the `four_bars` (conftest.py)


def _broker(instrument: str = "MNQ") -> PaperBroker:
    broker = PaperBroker(ExecutionConfig(instrument=instrument, slippage_ticks=1))
    broker.connect()
    return broker


def _long(signal: str = "s1", stop: float = 98.0, target: float = 110.0):
    return signal_bracket(signal, instrument="MNQ", side="BUY", quantity=1, stop=stop, target=target)


def test_paper_is_registered_by_name_and_is_a_broker() -> None:
    assert broker_class("paper") is PaperBroker
    assert issubclass(PaperBroker, Broker) and PaperBroker.real_money is False


def test_a_bracket_fills_its_entry_with_slippage_and_works_its_stop_and_target() -> None:
    broker = _broker()
    broker.set_quote(T0, EntryQuote(price=100.0))
    ack = broker.place_bracket(_long())
    assert ack.entry.status is OrderStatus.FILLED and ack.entry.average_price == 100.25
    assert (ack.stop.status, ack.target.status) == (OrderStatus.WORKING, OrderStatus.WORKING)
    assert broker.positions() == [Position("MNQ", 1, 100.25)]
    assert {o.client_order_id for o in broker.working_orders()} == {"s1/stop", "s1/target"}
    fills = broker.fills()
    assert [(f.client_order_id, f.side, f.price, f.commission_usd) for f in fills] == \
        [("s1/entry", Side.BUY, 100.25, 0.62)]


def test_a_resent_bracket_returns_the_same_order_and_never_doubles_the_position() -> None:
    broker = _broker()
    broker.set_quote(T0, EntryQuote(price=100.0))
    first = broker.place_bracket(_long())
    broker.set_quote(T0 + pd.Timedelta(minutes=1), EntryQuote(price=105.0))   # a resend after a timeout
    again = broker.place_bracket(_long())
    assert again == first
    assert len(broker.fills()) == 1 and broker.positions() == [Position("MNQ", 1, 100.25)]


def test_the_target_fills_at_its_level_on_the_price_path_and_cancels_the_stop(four_bars: PricePath) -> None:
    broker = _broker()
    broker.set_quote(T0, EntryQuote(price=100.0))
    broker.place_bracket(_long(stop=98.0, target=110.0))
    broker.events()
    fills = broker.advance(four_bars, T0 + pd.Timedelta(minutes=4))
    assert [(f.client_order_id, f.side, f.price, f.time) for f in fills] == \
        [("s1/target", Side.SELL, 110.0, T0 + pd.Timedelta(minutes=3))]   # a limit: no slippage
    assert broker.positions() == [] and broker.working_orders() == []
    events = broker.events()
    assert any(e.kind is EventKind.ORDER and e.order.client_order_id == "s1/stop"
               and e.order.status is OrderStatus.CANCELLED for e in events)
    assert broker.account().realized_pnl == pytest.approx((110.0 - 100.25) * 2 - 2 * 0.62)


def test_a_gapped_stop_fills_at_the_open_less_slippage_and_a_tie_goes_to_the_stop(four_bars: PricePath) -> None:
    broker = _broker()
    broker.set_quote(T0 + pd.Timedelta(minutes=3), EntryQuote(price=96.0))
    broker.place_bracket(_long("gap", stop=97.0, target=120.0))   # bar 3 opens at 95: through the stop
    broker.set_quote(T0 + pd.Timedelta(minutes=1), EntryQuote(price=101.0))
    broker.place_bracket(_long("tie", stop=100.0, target=104.0))  # bar 1 touches 100 and 104
    fills = {f.client_order_id: f for f in broker.advance(four_bars, T0 + pd.Timedelta(minutes=4))}
    assert fills["gap/stop"].price == 94.75
    assert "tie/stop" in fills and fills["tie/stop"].price == 99.75


def test_nothing_fills_on_bars_that_ended_before_the_entry_or_after_the_time_given(four_bars: PricePath) -> None:
    broker = _broker()
    broker.set_quote(T0, EntryQuote(price=100.0))
    broker.place_bracket(_long(stop=98.0, target=110.0))
    assert broker.advance(four_bars.between(T0, T0 + pd.Timedelta(minutes=2)), T0 + pd.Timedelta(minutes=2)) == []
    assert len(broker.working_orders()) == 2


def test_flatten_exits_at_the_last_close_less_slippage_and_cancels_the_protection(four_bars: PricePath) -> None:
    broker = _broker()
    broker.set_quote(T0, EntryQuote(price=100.0))
    broker.place_bracket(_long(stop=90.0, target=120.0))
    broker.mark(four_bars, T0 + pd.Timedelta(minutes=2))          # last bar ended 14:32: close 103
    states = broker.flatten()
    assert [(s.client_order_id, s.status, s.average_price) for s in states] == \
        [("s1/exit", OrderStatus.FILLED, 102.75)]
    assert broker.positions() == [] and broker.working_orders() == []
    assert broker.cancel("s1/stop").status is OrderStatus.CANCELLED


def test_an_option_bracket_buys_at_the_ask_and_sells_at_the_black76_mark(four_bars: PricePath) -> None:
    broker = _broker("option")
    quote = EntryQuote(price=5.0, contract="P100", strike=100.0, is_call=False, iv=0.3, years=5 / 365,
                       expiration="2025-06-06")
    broker.set_quote(T0, quote)
    ack = broker.place_bracket(signal_bracket("p", instrument="P100", side="BUY", quantity=1, stop=104.0, target=99.0))
    assert ack.entry.average_price == 5.25          # a SHORT idea buys the put at its ask
    fills = broker.advance(four_bars, T0 + pd.Timedelta(minutes=4))
    assert [f.client_order_id for f in fills] == ["p/target"]   # bar 0's low 99 reaches the short's target
    years = (pd.Timestamp("2025-06-06 16:00", tz="America/New_York") - fills[0].time).total_seconds() / (365 * 86400)
    assert fills[0].price == pytest.approx(float(black76.price(99.0, 100.0, years, 0.3, False)) - 0.25, rel=1e-3)


def test_placing_without_a_market_quote_is_an_error_not_a_guess() -> None:
    with pytest.raises(BrokerError, match="no market quote"):
        _broker().place_bracket(_long())


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
