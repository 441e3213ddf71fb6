"""Each guard's rule: what passes, what is refused, and the numbers a refusal carries."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.execution.orders import OrderType, Position, Side
from tasks.options_trading_system.analysis_engine.strategies.guards import GuardServices, RiskConfig, RiskState
from tasks.options_trading_system.analysis_engine.strategies.guards.cost_per_signal import CostPerSignal
from tasks.options_trading_system.analysis_engine.strategies.guards.data_cost import DataCost
from tasks.options_trading_system.analysis_engine.strategies.guards.max_daily_loss import MaxDailyLoss
from tasks.options_trading_system.analysis_engine.strategies.guards.max_position import MaxPosition
from tasks.options_trading_system.analysis_engine.strategies.guards.max_total_risk import MaxTotalRisk
from tasks.options_trading_system.analysis_engine.strategies.guards.order_rate import OrderRate
from tasks.options_trading_system.analysis_engine.strategies.guards.trading_window import TradingWindow

from .builders import MARK, NOW, FakeSpend, bracket, config, filled, snapshot

RISK = RiskConfig()


# --- max_position -------------------------------------------------------------------------------

def test_max_position_passes_the_first_contract() -> None:
    assert MaxPosition(RISK).check(bracket(), snapshot()) is None


def test_max_position_counts_a_position_in_another_instrument() -> None:
    position, legs = filled(bracket("a", instrument="NQ"), MARK)
    refusal = MaxPosition(RISK).check(bracket("b"), snapshot(positions=[position], working=legs))
    assert refusal.message == "MAX_POSITION: open=1 contracts, order=1 contracts, limit=1 contracts"
    assert refusal.client_order_id == "b/entry"


def test_max_position_counts_working_entries_at_full_size() -> None:
    resting = bracket("a", entry_type=OrderType.LIMIT, entry_price=MARK - 10)
    refusal = MaxPosition(RISK).check(bracket("b"), snapshot(working=resting.orders))
    assert refusal is not None and refusal.numbers() == {"open": 1, "order": 1, "limit": 1}


def test_max_position_counts_short_positions_by_size() -> None:
    position = Position("MNQ", -1, MARK)
    assert MaxPosition(RISK).check(bracket(side=Side.SELL), snapshot(positions=[position])) is not None


def test_max_position_halts_when_the_broker_holds_more_than_the_cap() -> None:
    demand = MaxPosition(RISK).evaluate(snapshot(positions=[Position("MNQ", 2, MARK)]))
    assert demand.state is RiskState.HALTED and demand.code == "POSITION_OVER_CAP"


# --- max_daily_loss -----------------------------------------------------------------------------

def test_max_daily_loss_refuses_an_entry_whose_stop_would_take_the_day_past_the_cap() -> None:
    # 20 points + 2 ticks of slippage on MNQ ($2/point) = $41.00, plus $1.24 commission round trip
    refusal = MaxDailyLoss(RISK).check(bracket(stop_points=20), snapshot(realized=-10.0))
    assert refusal.code == "MAX_DAILY_LOSS"
    assert str(refusal).startswith("MAX_DAILY_LOSS: loss=52.24 USD, limit=50.00 USD (realised -10.00")
    assert refusal.numbers()["loss"] == pytest.approx(52.24)


def test_max_daily_loss_passes_an_entry_whose_stop_stays_inside_the_cap() -> None:
    assert MaxDailyLoss(RISK).check(bracket(stop_points=20), snapshot(realized=-5.0)) is None


def test_max_daily_loss_counts_open_positions_to_their_stops() -> None:
    loose = config(max_position={"max_contracts": 2})
    position, legs = filled(bracket("a", stop_points=10), MARK + 0.25)
    # open: (10 + 0.25 entry slip + 0.25 stop slip) * 2 + 0.62 exit commission = 21.62; new 20 pts = 42.24
    refusal = MaxDailyLoss(loose).check(bracket("b", stop_points=20), snapshot(positions=[position], working=legs))
    assert refusal.numbers()["loss"] == pytest.approx(21.62 + 42.24)


def test_max_daily_loss_refuses_an_entry_without_a_stop_as_unbounded() -> None:
    refusal = MaxDailyLoss(RISK).check(bracket().entry, snapshot())
    assert refusal.message.startswith("MAX_DAILY_LOSS: loss=unbounded USD, limit=50.00 USD")


def test_max_daily_loss_halts_when_realised_plus_open_at_mark_reaches_the_cap() -> None:
    position, legs = filled(bracket("a", stop_points=30), MARK)
    at_mark = snapshot(positions=[position], working=legs, marks={"MNQ": MARK - 12}, realized=-26.0)
    demand = MaxDailyLoss(RISK).evaluate(at_mark)
    # 12 points * $2 + 0.62 exit commission + 26 realised = 50.62
    assert demand.state is RiskState.HALTED
    assert demand.message == "DAILY_LOSS_HIT: loss=50.62 USD, limit=50.00 USD"


def test_max_daily_loss_moves_to_reducing_at_its_fraction() -> None:
    demand = MaxDailyLoss(RISK).evaluate(snapshot(realized=-41.0))
    assert demand.state is RiskState.REDUCING and demand.code == "DAILY_LOSS_REDUCING"
    assert demand.message == "DAILY_LOSS_REDUCING: loss=41.00 USD, threshold=40.00 USD, limit=50.00 USD"
    assert MaxDailyLoss(RISK).evaluate(snapshot(realized=-39.0)) is None


def test_max_daily_loss_refuses_when_todays_pnl_is_unknown() -> None:
    assert MaxDailyLoss(RISK).check(bracket(), snapshot(realized=float("nan"))).code == "PNL_UNKNOWN"


# --- max_total_risk -----------------------------------------------------------------------------

def test_max_total_risk_refuses_risk_past_the_cap_with_its_parts() -> None:
    refusal = MaxTotalRisk(RISK).check(bracket(instrument="NQ", stop_points=10), snapshot())
    # (10 points + 2 ticks) * $20 = $210
    assert refusal.message == "MAX_TOTAL_RISK: risk=210.00 USD, limit=200.00 USD (open 0.00, this order 210.00)"


def test_max_total_risk_adds_open_positions_to_the_new_order() -> None:
    loose = config(max_position={"max_contracts": 2})
    position, legs = filled(bracket("a", instrument="NQ", stop_points=5), MARK)
    refusal = MaxTotalRisk(loose).check(bracket("b", instrument="NQ", stop_points=6),
                                        snapshot(positions=[position], working=legs))
    assert refusal.numbers()["risk"] == pytest.approx((5 + 0.25) * 20 + (6 + 0.5) * 20)


def test_max_total_risk_refuses_an_entry_without_a_bracket() -> None:
    assert MaxTotalRisk(RISK).check(bracket().entry, snapshot()).code == "NO_STOP"


def test_max_total_risk_halts_on_a_position_no_stop_covers() -> None:
    demand = MaxTotalRisk(RISK).evaluate(snapshot(positions=[Position("MNQ", 1, MARK)]))
    assert demand.state is RiskState.HALTED and demand.code == "UNPROTECTED_POSITION"


# --- data_cost ----------------------------------------------------------------------------------

def test_data_cost_refuses_entries_once_the_daily_cap_is_reached() -> None:
    guard = DataCost(RISK, GuardServices(spend=FakeSpend(day_usd=8.0, month_usd=40.0)))
    assert guard.check(bracket(), snapshot()).message == "DATA_COST_DAILY: spent=8.00 USD, limit=8.00 USD"
    assert guard.evaluate(snapshot()).state is RiskState.HALTED


def test_data_cost_refuses_a_paid_request_before_it_would_pass_the_cap() -> None:
    guard = DataCost(RISK, GuardServices(spend=FakeSpend(day_usd=7.5, month_usd=40.0)))
    refusal = guard.check_spend(0.8, NOW, "statistics 12 symbols")
    assert refusal.message == ("DATA_COST_DAILY: spent=7.50 USD, cost=0.80 USD, limit=8.00 USD "
                               "(statistics 12 symbols)")
    assert guard.check_spend(0.5, NOW) is None


def test_data_cost_watches_the_month_too() -> None:
    guard = DataCost(RISK, GuardServices(spend=FakeSpend(day_usd=1.0, month_usd=200.0)))
    assert guard.check(bracket(), snapshot()).code == "DATA_COST_MONTHLY"


def test_data_cost_never_takes_an_unreadable_ledger_for_zero_spend() -> None:
    class Broken:
        def totals(self, now: pd.Timestamp):
            raise ValueError("line 3 is not a spend record")

    refusal = DataCost(RISK, GuardServices(spend=Broken())).check(bracket(), snapshot())
    assert refusal.code == "SPEND_UNKNOWN" and "line 3" in refusal.detail


# --- cost_per_signal ----------------------------------------------------------------------------

def test_cost_per_signal_refuses_above_target_with_its_numbers() -> None:
    guard = CostPerSignal(RISK, GuardServices(spend=FakeSpend(day_usd=6.0, month_usd=6.0)))
    refusal = guard.check(bracket(), snapshot(commission=24.0, signals=6))
    # (6 data + 24 commission + 1.24 this order) / 6 signals = 5.21
    assert refusal.message == ("COST_PER_SIGNAL: per_signal=5.21 USD, target=5.00 USD, cost=31.24 USD, "
                               "signals=6")


def test_cost_per_signal_waits_for_enough_signals() -> None:
    guard = CostPerSignal(RISK, GuardServices(spend=FakeSpend(day_usd=8.0, month_usd=8.0)))
    assert guard.check(bracket(), snapshot(signals=4)) is None


# --- order_rate ---------------------------------------------------------------------------------

class Submissions:
    def __init__(self, times) -> None:
        self.times = list(times)

    def times_since(self, start):
        return [t for t in self.times if t > start]


def test_order_rate_refuses_the_order_past_the_limit_in_its_window() -> None:
    log = Submissions([NOW - pd.Timedelta(seconds=s) for s in (50, 40, 30, 20, 10)])
    refusal = OrderRate(RISK, GuardServices(submissions=log)).check(bracket(), snapshot())
    assert refusal.message == "ORDER_RATE: recent=5 orders, limit=5 orders, window=60 s"


def test_order_rate_forgets_orders_older_than_its_window() -> None:
    log = Submissions([NOW - pd.Timedelta(seconds=s) for s in (60, 40, 30, 20, 10)])
    assert OrderRate(RISK, GuardServices(submissions=log)).check(bracket(), snapshot()) is None


# --- trading_window -----------------------------------------------------------------------------

@pytest.mark.parametrize("utc, inside", [
    ("2025-06-03 13:30", True),    # 09:30 New York (EDT)
    ("2025-06-03 13:29", False),
    ("2025-06-03 19:59", True),
    ("2025-06-03 20:00", False),   # 16:00: the window is closed at its end
    ("2025-06-07 15:00", False),   # Saturday
    ("2025-01-07 14:30", True),    # 09:30 New York in winter (EST)
])
def test_trading_window_is_read_in_exchange_time(utc: str, inside: bool) -> None:
    refusal = TradingWindow(RISK).check(bracket(), snapshot(now=pd.Timestamp(utc, tz="UTC")))
    assert (refusal is None) is inside


def test_trading_window_refusal_says_when_and_which_window() -> None:
    refusal = TradingWindow(RISK).check(bracket(), snapshot(now=pd.Timestamp("2025-06-06 20:05", tz="UTC")))
    assert refusal.message == "OUTSIDE_WINDOW (16:05 Fri America/New_York; window 09:30-16:00 Mon-Fri)"



def test_max_position_refuses_an_entry_against_the_held_direction() -> None:
    loose = config(max_position={"max_contracts": 3})
    position, legs = filled(bracket("a"), MARK)
    refusal = MaxPosition(loose).check(bracket("b", side=Side.SELL), snapshot(positions=[position], working=legs))
    assert refusal.code == "OPPOSITE_SIDE" and refusal.numbers()["position"] == 1
    assert MaxPosition(loose).check(bracket("c"), snapshot(positions=[position], working=legs)) is None


def test_per_signal_netting_lets_independent_books_hold_opposite_directions() -> None:
    """A shadow run's paper books: a long of one source and a short of another are two positions
    (two contracts against the cap), never an OPPOSITE_SIDE refusal."""
    books = config(max_position={"max_contracts": 2, "netting": "per_signal"})
    long_position, long_legs = filled(bracket("a"), MARK)
    state = snapshot(positions=[long_position], working=long_legs)
    assert MaxPosition(books).check(bracket("b", side=Side.SELL), state) is None
    short_position, short_legs = filled(bracket("b", side=Side.SELL), MARK)
    both = snapshot(positions=[long_position, short_position], working=long_legs + short_legs)
    refusal = MaxPosition(books).check(bracket("c", side=Side.SELL), both)
    assert refusal.message == "MAX_POSITION: open=2 contracts, order=1 contracts, limit=2 contracts"


def test_per_signal_positions_each_take_their_own_stop_for_the_daily_loss() -> None:
    """Two longs held per signal, stops 10 and 30 points away: the loss to the stops counts both
    (40 points + 2 ticks of slippage, MNQ $2/point), not the tighter stop twice."""
    books = config(max_position={"max_contracts": 3, "netting": "per_signal"}, max_daily_loss={"limit_usd": 1000})
    a, a_legs = filled(bracket("a", stop_points=10), MARK)
    b, b_legs = filled(bracket("b", stop_points=30), MARK)
    refusal = MaxDailyLoss(config(max_daily_loss={"limit_usd": 50})).check(
        bracket("c", stop_points=1), snapshot(positions=[a, b], working=a_legs + b_legs))
    assert refusal is not None and "open to stops -82.24" in str(refusal)
    assert MaxPosition(books).check(bracket("c"), snapshot(positions=[a, b], working=a_legs + b_legs)) is None


def test_a_partly_filled_bracket_protects_both_its_fill_and_its_remaining_entry() -> None:
    loose = config(max_position={"max_contracts": 2})
    order = bracket("a", quantity=2, stop_points=10, entry_type=OrderType.LIMIT, entry_price=MARK - 5)
    remaining = dataclasses.replace(order.entry, quantity=1)
    state = snapshot(positions=[Position("MNQ", 1, MARK - 5)], working=[remaining, order.stop, order.target])
    assert MaxTotalRisk(loose).evaluate(state) is None  # not an unprotected position
    # fill: 10 points + 1 tick stop slippage; remaining entry: 10 points + 2 ticks
    assert MaxTotalRisk(loose).check(bracket("b", stop_points=80), state).numbers()["risk"] == pytest.approx(
        10.25 * 2 + 10.5 * 2 + 80.5 * 2)
