"""The risk engine: guards in order, the ACTIVE -> REDUCING -> HALTED state machine, the actions
it demands of the caller, the person's controls, and every decision recorded."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.execution.orders import (Fill, Order, OrderType,
                                                                                      Position, Purpose, Side)
from tasks.options_trading_system.analysis_engine.strategies.guards import (CancelOrders, EventKind,
                                                                            FlattenPositions, InMemoryRiskStore,
                                                                            RiskConfig, RiskControlError,
                                                                            RiskEngine, RiskState)
from tasks.options_trading_system.errors import ConfigError

from .builders import MARK, NOW, FakeSpend, bracket, config, engine, exit_order, filled, snapshot


def later(seconds: float) -> pd.Timestamp:
    return NOW + pd.Timedelta(seconds=seconds)


def test_an_order_every_guard_passes_is_approved_and_recorded() -> None:
    risk = engine()
    decision = risk.check(bracket(), snapshot())
    assert decision.approved and decision.refusal is None and decision.state is RiskState.ACTIVE
    [event] = risk.store.events()
    assert event.kind is EventKind.APPROVAL and event.client_order_id == "s1/entry"


def test_a_refusal_is_recorded_with_its_guard_code_and_numbers() -> None:
    risk = engine()
    decision = risk.check(bracket(stop_points=30), snapshot())
    assert not decision.approved
    assert decision.refusal.guard == "max_daily_loss"
    [event] = risk.store.events(kinds=(EventKind.REFUSAL,))
    assert (event.guard, event.code) == ("max_daily_loss", "MAX_DAILY_LOSS")
    assert event.message.startswith("MAX_DAILY_LOSS: loss=62.24 USD, limit=50.00 USD")
    assert {f.name: f.value for f in event.figures}["limit"] == 50.0


def test_the_engine_refuses_what_it_cannot_judge() -> None:
    risk = engine()
    assert risk.check(bracket(instrument="ES"), snapshot()).refusal.code == "UNKNOWN_INSTRUMENT"
    assert risk.check(bracket("b"), snapshot(marks={})).refusal.code == "NO_MARK"


def test_a_different_order_under_an_approved_id_is_refused() -> None:
    risk = engine()
    assert risk.check(bracket(stop_points=10), snapshot()).approved
    assert risk.check(bracket(stop_points=12), snapshot()).refusal.code == "DUPLICATE_ORDER_ID"


def test_a_resend_of_an_approved_order_is_not_counted_twice() -> None:
    risk = engine(config(order_rate={"max_orders": 1}))
    order = bracket()
    assert risk.check(order, snapshot()).approved
    assert risk.check(order, snapshot(now=later(1))).approved
    assert not risk.check(bracket("s2"), snapshot(now=later(2))).approved
    assert len(risk.store.events(kinds=(EventKind.APPROVAL,))) == 1


def test_a_loss_at_the_soft_level_moves_to_reducing_and_cancels_working_entries() -> None:
    risk = engine()
    resting = bracket("rest", entry_type=OrderType.LIMIT, entry_price=MARK - 30, stop_points=5)
    update = risk.evaluate(snapshot(realized=-42.0, working=resting.orders))
    assert update.changed and update.state is RiskState.REDUCING
    assert update.actions == (CancelOrders(client_order_ids=("rest/entry",), reason=update.actions[0].reason),)
    assert "DAILY_LOSS_REDUCING" in update.actions[0].reason


def test_reducing_refuses_new_exposure_but_passes_an_exit() -> None:
    risk = engine()
    position, legs = filled(bracket("a", stop_points=10), MARK)
    state = snapshot(positions=[position], working=legs, realized=-41.0)
    risk.evaluate(state)
    assert risk.state is RiskState.REDUCING
    refused = risk.check(bracket("b", stop_points=1), state)
    assert refused.refusal.code == "REDUCING"
    assert risk.check(exit_order("a"), state).approved


def test_an_exit_passes_outside_the_trading_window() -> None:
    risk = engine()
    position, legs = filled(bracket("a"), MARK)
    evening = snapshot(now=pd.Timestamp("2025-06-03 21:00", tz="UTC"), positions=[position], working=legs)
    assert risk.check(bracket("b"), evening).refusal.code == "MAX_POSITION"
    assert risk.check(exit_order("a"), evening).approved
    assert risk.check(exit_order("c", side=Side.BUY), evening).refusal.code == "MAX_POSITION"  # adds, not reduces


def test_a_hard_cap_hit_halts_cancels_and_flattens() -> None:
    risk = engine()
    position, legs = filled(bracket("a", stop_points=30), MARK)
    state = snapshot(positions=[position], working=legs, realized=-20.0)
    update = risk.on_price("MNQ", MARK - 15, state)  # 15 pts * $2 + 0.62 + 20 = 50.62
    assert update.state is RiskState.HALTED and update.previous is RiskState.ACTIVE
    assert [type(a) for a in update.actions] == [CancelOrders, FlattenPositions]
    assert update.actions[0].client_order_ids == ("a/stop", "a/target")
    assert update.actions[1].instruments == ("MNQ",)
    assert risk.status.code == "DAILY_LOSS_HIT" and risk.status.changed_by == "guard:max_daily_loss"
    [change] = risk.store.events(kinds=(EventKind.STATE_CHANGE,))
    assert (change.state_from, change.state_to) == (RiskState.ACTIVE, RiskState.HALTED)


def test_halted_refuses_everything_and_keeps_asking_for_the_flatten() -> None:
    risk = engine()
    risk.halt(by="trader", reason="emergency stop", now=NOW)
    position, legs = filled(bracket("a"), MARK)
    state = snapshot(positions=[position], working=legs)
    decision = risk.check(exit_order("a"), state)
    assert decision.refusal.code == "HALTED" and "emergency stop" in decision.refusal.message
    assert any(isinstance(a, FlattenPositions) for a in decision.actions)
    assert any(isinstance(a, FlattenPositions) for a in risk.on_price("MNQ", MARK, state).actions)
    assert risk.on_price("MNQ", MARK, snapshot()).actions == ()  # nothing open: nothing to do


def test_a_guard_never_lowers_the_state() -> None:
    risk = engine()
    risk.evaluate(snapshot(realized=-60.0))
    assert risk.state is RiskState.HALTED
    risk.evaluate(snapshot(realized=-41.0))
    assert risk.state is RiskState.HALTED
    assert len(risk.store.events(kinds=(EventKind.STATE_CHANGE,))) == 1


def test_a_fill_beyond_the_cap_halts() -> None:
    risk = engine()
    fill = Fill("f1", "x/entry", "MNQ", Side.BUY, 2, MARK, NOW)
    update = risk.on_fill(fill, snapshot(positions=[Position("MNQ", 2, MARK)]))
    assert update.state is RiskState.HALTED and update.demands[0].code in ("POSITION_OVER_CAP",
                                                                          "UNPROTECTED_POSITION")


def test_resume_needs_a_valid_token_and_a_name() -> None:
    risk = engine()
    risk.halt(by="monitor", reason="test", now=NOW)
    with pytest.raises(RiskControlError, match="token"):
        risk.resume(by="trader", token_ok=False, now=later(60))
    with pytest.raises(RiskControlError, match="named"):
        risk.resume(by=" ", token_ok=True, now=later(60))
    assert risk.state is RiskState.HALTED
    assert [e.code for e in risk.store.events(kinds=(EventKind.CONTROL_REFUSED,))] == ["RESUME_REFUSED"] * 2
    update = risk.resume(by="trader", token_ok=True, now=later(120), reason="checked the account")
    assert update.state is RiskState.ACTIVE and risk.status.changed_by == "trader"


def test_a_resume_while_the_cap_is_still_hit_halts_again_and_says_why() -> None:
    risk = engine()
    risk.evaluate(snapshot(realized=-55.0))
    update = risk.resume(by="trader", token_ok=True, now=later(60), snapshot=snapshot(realized=-55.0))
    assert update.state is RiskState.HALTED
    assert update.demands[0].code == "DAILY_LOSS_HIT"


def test_data_spend_is_checked_before_it_is_spent_and_halts_at_the_cap() -> None:
    spend = FakeSpend(day_usd=7.9, month_usd=50.0)
    risk = engine(spend=spend)
    assert risk.check_spend(0.05, "quote", NOW) is None
    refusal = risk.check_spend(0.5, "statistics", NOW)
    assert refusal.code == "DATA_COST_DAILY"
    assert risk.store.events(kinds=(EventKind.REFUSAL,))[0].code == "DATA_COST_DAILY"
    spend.day_usd = 8.0
    assert risk.evaluate(snapshot()).state is RiskState.HALTED


def test_the_spend_guards_need_the_spend_ledger() -> None:
    with pytest.raises(ConfigError, match="LedgerSpendReader"):
        RiskEngine(RiskConfig())
    no_spend = config(data_cost={"enabled": False}, cost_per_signal={"enabled": False})
    assert [g.name for g in RiskEngine(no_spend).guards] == ["max_position", "max_daily_loss", "max_total_risk",
                                                             "order_rate", "trading_window"]


def test_order_rate_survives_a_restart_through_the_store() -> None:
    store = InMemoryRiskStore()
    first = engine(config(order_rate={"max_orders": 2}), store=store)
    assert first.check(exit_order("a"), snapshot(positions=[Position("MNQ", 1, MARK)])).approved
    assert first.check(exit_order("b"), snapshot(positions=[Position("MNQ", 1, MARK)], now=later(5))).approved
    second = engine(config(order_rate={"max_orders": 2}), store=store)
    refused = second.check(exit_order("c"), snapshot(positions=[Position("MNQ", 1, MARK)], now=later(10)))
    assert refused.refusal.code == "ORDER_RATE"
    assert second.check(exit_order("c"), snapshot(positions=[Position("MNQ", 1, MARK)], now=later(61))).approved


def test_cap_usage_reports_every_guarded_quantity_against_its_limit() -> None:
    risk = engine(spend=FakeSpend(day_usd=2.0, month_usd=30.0))
    position, legs = filled(bracket("a", stop_points=10), MARK)
    usage = {(u.guard, u.name): (u.used, u.limit) for u in risk.cap_usage(
        snapshot(positions=[position], working=legs, marks={"MNQ": MARK - 5}, realized=-3.0,
                 commission=0.62, signals=2))}
    assert usage[("max_position", "contracts")] == (1, 1)
    assert usage[("max_daily_loss", "loss")] == pytest.approx((3 + 10 + 0.62, 50))
    assert usage[("max_total_risk", "risk")] == pytest.approx((10.25 * 2, 200))
    assert usage[("data_cost", "month")] == (30.0, 200)
    assert usage[("cost_per_signal", "per_signal")] == pytest.approx(((2 + 0.62) / 2, 5))


def test_a_single_stop_that_protects_a_position_is_reducing() -> None:
    risk = engine()
    risk.reduce(by="trader", reason="calm down", now=NOW)
    stop = Order("a/stop2", "a", "MNQ", Side.SELL, 1, OrderType.STOP, Purpose.STOP, stop_price=MARK - 10)
    assert risk.check(stop, snapshot(positions=[Position("MNQ", 1, MARK)])).approved
