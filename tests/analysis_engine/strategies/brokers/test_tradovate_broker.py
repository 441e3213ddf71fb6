"""TradovateBroker against the stand-in: login, account, contract, brackets filled on the real NQ bars."""
from __future__ import annotations

import time
from typing import Callable

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.brokers import broker_class
from tasks.options_trading_system.analysis_engine.strategies.brokers.tradovate import (TradovateBroker,
                                                                                       front_month)
from tasks.options_trading_system.analysis_engine.strategies.execution.orders import (Bracket, EventKind, Order,
                                                                                      OrderStatus, OrderType,
                                                                                      Purpose, Side)
from tests.vendor_servers.tradovate_server import TradovateStandIn

from .conftest import SESSION_OPEN


def bracket(signal: str, side: Side, stop: float, target: float, quantity: int = 1,
            instrument: str = "NQ") -> Bracket:
    """A market entry protected by a stop and a limit target (the orchestrator's shape)."""
    exit_side = side.opposite
    return Bracket(
        entry=Order(f"{signal}/entry", signal, instrument, side, quantity, OrderType.MARKET, Purpose.ENTRY),
        stop=Order(f"{signal}/stop", signal, instrument, exit_side, quantity, OrderType.STOP, Purpose.STOP,
                   stop_price=stop),
        target=Order(f"{signal}/target", signal, instrument, exit_side, quantity, OrderType.LIMIT, Purpose.TARGET,
                     limit_price=target))


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def expected_exit(bars: pd.DataFrame, after: pd.Timestamp, side: Side, stop: float, target: float
                  ) -> tuple[str, float, pd.Timestamp]:
    """What the bars say: the first bar from `after` on that reaches the stop or the target (the stop
    when one bar reaches both), at the level or the bar's open if it gapped through it."""
    later = bars[bars["time"] >= after]
    long = side is Side.BUY
    hit_stop = later["low"] <= stop if long else later["high"] >= stop
    hit_target = later["high"] >= target if long else later["low"] <= target
    first = later[hit_stop | hit_target].iloc[0]
    if (first["low"] <= stop) if long else (first["high"] >= stop):
        return "stop", (min(stop, first["open"]) if long else max(stop, first["open"])), first["time"]
    return "target", (max(target, first["open"]) if long else min(target, first["open"])), first["time"]


def test_the_registry_names_tradovate() -> None:
    assert broker_class("tradovate") is TradovateBroker


def test_login_finds_the_account_and_the_front_month_contract(make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker()
    broker.connect()
    assert broker.account_name == standin.engine.account["name"]
    assert broker.contract_symbol("NQ") == "NQZ3"        # 2023-11-20: December 2023 is the front month
    assert broker.contract_symbol("MNQ") == "MNQZ3"
    snapshot = broker.account()
    assert snapshot.account_id == str(standin.engine.account["id"])
    assert snapshot.cash_balance == standin.engine.starting_cash and snapshot.realized_pnl == 0.0
    assert broker.positions() == [] and broker.working_orders() == []
    assert standin.count("/v1/auth/accesstokenrequest") == 1
    assert broker.socket is not None and broker.socket.synced


@pytest.mark.parametrize("day, expected", [
    ("2023-11-20", "NQZ3"), ("2023-12-06", "NQZ3"), ("2023-12-07", "NQH4"), ("2024-01-15", "NQH4"),
    ("2024-03-06", "NQH4"), ("2024-03-07", "NQM4"), ("2026-12-01", "NQZ6"), ("2026-12-20", "NQH7")])
def test_the_front_month_rolls_eight_days_before_the_third_friday(day: str, expected: str) -> None:
    # noon UTC is the same day in New York, where the exchange's calendar runs
    assert front_month("NQ", pd.Timestamp(f"{day} 12:00", tz="UTC")) == expected


@pytest.mark.parametrize("side, stop_offset, target_offset", [
    (Side.BUY, -12.0, 12.0), (Side.SELL, 12.0, -12.0), (Side.BUY, -6.0, 40.0)])
def test_a_bracket_fills_entry_then_stop_or_target_where_the_bars_say(
        make_broker, standin: TradovateStandIn, nq_bars: pd.DataFrame, side: Side, stop_offset: float,
        target_offset: float) -> None:
    broker = make_broker()
    broker.connect()
    decision = SESSION_OPEN + pd.Timedelta(minutes=30)
    standin.advance_to(decision)
    reference = nq_bars.loc[nq_bars["time"] == decision - pd.Timedelta(minutes=1), "close"].item()
    stop, target = reference + stop_offset, reference + target_offset
    ack = broker.place_bracket(bracket("sig-1", side, stop, target))
    assert ack.entry.status is OrderStatus.FILLED and ack.entry.average_price == reference
    assert ack.stop.status is OrderStatus.WORKING and ack.target.status is OrderStatus.WORKING
    assert broker.positions()[0].quantity == side.sign

    kind, price, bar_time = expected_exit(nq_bars, decision, side, stop, target)
    standin.advance_to(bar_time + pd.Timedelta(minutes=1))

    fills = broker.fills()
    assert [(f.client_order_id, f.side, f.quantity, f.price) for f in fills] == [
        ("sig-1/entry", side, 1, reference), (f"sig-1/{kind}", side.opposite, 1, price)]
    assert fills[1].time == bar_time
    assert broker.positions() == [] and broker.working_orders() == []
    other = "target" if kind == "stop" else "stop"
    assert broker.cancel(f"sig-1/{other}").status is OrderStatus.CANCELLED   # one cancelled the other
    points = (price - reference) * side.sign
    assert broker.account().realized_pnl == pytest.approx(points * 20.0)
    events: list = []   # events() drains: keep what each call returns
    assert wait_for(lambda: (events.extend(broker.events()) or True) and any(
        e.kind is EventKind.FILL and e.fill.client_order_id == f"sig-1/{kind}" for e in events))


def test_a_limit_entry_waits_for_its_price_and_its_brackets_wait_for_the_entry(
        make_broker, standin: TradovateStandIn, nq_bars: pd.DataFrame) -> None:
    broker = make_broker()
    broker.connect()
    decision = SESSION_OPEN + pd.Timedelta(minutes=5)
    standin.advance_to(decision)
    later = nq_bars[nq_bars["time"] >= decision]
    limit = float(later["low"].iloc[:30].min()) + 0.25   # reached within 30 minutes, not at once
    touch = later[later["low"] <= limit].iloc[0]
    order = bracket("sig-2", Side.BUY, limit - 100, limit + 100)
    entry = Order("sig-2/entry", "sig-2", "NQ", Side.BUY, 1, OrderType.LIMIT, Purpose.ENTRY, limit_price=limit)
    ack = broker.place_bracket(Bracket(entry, order.stop, order.target))
    assert ack.entry.status is OrderStatus.WORKING and ack.entry.filled_quantity == 0
    assert broker.positions() == []
    assert {s.client_order_id for s in broker.working_orders()} == {"sig-2/entry", "sig-2/stop", "sig-2/target"}
    standin.advance_to(touch["time"] + pd.Timedelta(minutes=1))
    [fill] = broker.fills()
    assert fill.price == min(limit, touch["open"]) and fill.time == touch["time"]
    assert {s.client_order_id for s in broker.working_orders()} == {"sig-2/stop", "sig-2/target"}


def test_flatten_closes_the_position_and_cancels_its_brackets(make_broker, standin: TradovateStandIn,
                                                              nq_bars: pd.DataFrame) -> None:
    broker = make_broker()
    broker.connect()
    decision = SESSION_OPEN + pd.Timedelta(minutes=10)
    standin.advance_to(decision)
    broker.place_bracket(bracket("sig-3", Side.SELL, 99_999.0, 1.0))
    standin.advance_to(decision + pd.Timedelta(minutes=3))
    states = broker.flatten()
    assert broker.positions() == [] and broker.working_orders() == []
    exit_price = nq_bars.loc[nq_bars["time"] == decision + pd.Timedelta(minutes=2), "close"].item()
    assert broker.fills()[-1].price == exit_price and broker.fills()[-1].side is Side.BUY
    assert any(s.status is OrderStatus.FILLED for s in states)


def test_a_day_of_brackets_streams_exactly_the_standins_fills(make_broker, standin: TradovateStandIn,
                                                              nq_bars: pd.DataFrame) -> None:
    """Six signals over a session, the clock moved minute by minute as a replay does: the event
    stream, the broker's fill list and the stand-in's own fills agree, and every position is
    protected by a working stop at every minute."""
    from .test_tradovate_faults import assert_protected

    broker = make_broker()
    broker.connect()
    events: list = []
    signals = {SESSION_OPEN + pd.Timedelta(minutes=m): (Side.BUY if i % 2 == 0 else Side.SELL)
               for i, m in enumerate((15, 60, 110, 170, 230, 290))}
    minute = SESSION_OPEN
    for _ in range(6 * 60):                         # bounded: one session of minutes
        minute += pd.Timedelta(minutes=1)
        standin.advance_to(minute)
        if minute in signals and not broker.positions():
            side = signals[minute]
            reference = standin.engine.last_close()
            broker.place_bracket(bracket(f"day-{minute:%H%M}", side, reference - 8 * side.sign,
                                         reference + 8 * side.sign))
        assert_protected(standin)
        events.extend(broker.events())
    broker.flatten()
    assert wait_for(lambda: (events.extend(broker.events()) or True) and
                    len({e.fill.fill_id for e in events if e.kind is EventKind.FILL}) == len(standin.engine.fills))
    streamed = sorted((e.fill.fill_id, e.fill.price, e.fill.quantity) for e in events if e.kind is EventKind.FILL)
    listed = sorted((f.fill_id, f.price, f.quantity) for f in broker.fills())
    at_standin = sorted((str(f["id"]), f["price"], f["qty"]) for f in standin.engine.fills)
    assert streamed == listed == at_standin and len(at_standin) >= 8
    assert broker.positions() == []
    realized = broker.account().realized_pnl
    assert realized == pytest.approx(standin.engine.realized_pnl) and realized != 0.0
