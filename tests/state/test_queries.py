"""Named ledger queries over typed trade rows: what is open, what is closed, what a monitor reads."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.options_trading_system.state import queries, report_queries
from tasks.options_trading_system.state.ledger import CONTROL_HALT, CONTROL_RESUME, Ledger, iso
from tasks.options_trading_system.state.reading import open_read_only
from tasks.options_trading_system.state.trade_rows import (CostRow, FillRow, OrderRow, PositionRow, close_position,
                                                           write_cost, write_fill, write_order, write_position)

T = pd.Timestamp("2025-06-02 14:30", tz="UTC")
DAY = "2025-06-02"


def _enter(ledger: Ledger, signal: str, source: str) -> None:
    with ledger.transaction(day=DAY, event_index=1, sim_time=T) as tx:
        tx.insert("signals", {"signal_id": signal, "event_key": "e1", "day": DAY, "sim_time": iso(T), "source": source,
                              "algorithm": source, "traded_source": 1, "instrument": "NQ", "direction": "LONG",
                              "entry_reference": 100.0, "target": 110.0, "stop": 98.0, "evidence_json": "{}"})
        write_order(tx, OrderRow(order_id=f"{signal}/entry", signal_id=signal, day=DAY, sim_time=iso(T),
                                 instrument="MNQ", side="BUY", quantity=1, order_type="market", purpose="entry",
                                 status="filled"))
        write_fill(tx, FillRow(fill_id=f"{signal}/entry/fill", order_id=f"{signal}/entry", day=DAY, sim_time=iso(T),
                               price=100.25, quantity=1, reference_price=100.0, slippage_points=0.25,
                               commission_usd=0.62))
        write_cost(tx, CostRow(cost_id=f"{signal}/entry/commission", day=DAY, sim_time=iso(T), kind="commission",
                               amount_usd=0.62, ref=f"{signal}/entry"))
        write_position(tx, PositionRow(position_id=f"{signal}/position", signal_id=signal, source=source, day=DAY,
                                       instrument="MNQ", contract=None, direction="LONG", quantity=1, multiplier=2.0,
                                       entry_time=iso(T), entry_price=100.25, target=110.0, stop=98.0))


def test_typed_rows_are_written_and_open_positions_are_what_the_limits_count(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    _enter(ledger, "a", "ev")
    _enter(ledger, "b", "ifd_v1")
    assert sorted(queries.open_positions(ledger)["source"]) == ["ev", "ifd_v1"]
    with ledger.transaction(day=DAY, event_index=2, sim_time=T) as tx:
        close_position(tx, "a/position", exit_time=iso(T), exit_price=110.0, exit_reason="target",
                       exit_price_origin="price_path")
    assert list(queries.open_positions(ledger)["source"]) == ["ifd_v1"]
    assert queries.day_costs_usd(ledger, DAY) == 2 * 0.62
    assert ledger.scalar("SELECT exit_price FROM positions WHERE position_id = 'a/position'") == 110.0


def test_the_direct_entry_points_questions_are_answered_with_typed_values(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert queries.order_status(ledger, "a/entry") is None and not queries.signal_recorded(ledger, "a")
    assert (queries.order_count(ledger), queries.refused_order_count(ledger), queries.open_position_count(ledger)) \
        == (0, 0, 0)
    _enter(ledger, "a", "direct")
    _enter(ledger, "b", "direct")
    with ledger.transaction(day=DAY, event_index=None, sim_time=T) as tx:
        tx.insert("signals", {"signal_id": "c", "event_key": "e2", "day": DAY, "sim_time": iso(T), "source": "direct",
                              "algorithm": "direct", "traded_source": 1, "instrument": "NQ", "direction": "LONG",
                              "entry_reference": 100.0, "target": 110.0, "stop": 98.0, "evidence_json": "{}"})
        write_order(tx, OrderRow(order_id="c/entry", signal_id="c", day=DAY, sim_time=iso(T), instrument="MNQ",
                                 side="BUY", quantity=1, order_type="market", purpose="entry", status="refused",
                                 reason="MAX_POSITION: open=1 contracts"))
        close_position(tx, "a/position", exit_time=iso(T), exit_price=110.0, exit_reason="target",
                       exit_price_origin="price_path")
    assert queries.order_status(ledger, "a/entry") == "filled" and queries.signal_recorded(ledger, "a")
    assert queries.order_count(ledger) == 3 and queries.refused_order_count(ledger) == 1
    assert queries.open_position_count(ledger) == 1
    # every open position of the run, whatever its day, with what following it to its exit needs
    held = queries.open_position_followers(ledger)
    assert list(held["signal_id"]) == ["b"]
    assert held.iloc[0][["position_id", "entry_price", "stop", "target", "quantity"]].tolist() == [
        "b/position", 100.25, 98.0, 110.0, 1]


def test_a_halt_is_in_force_until_a_resume_is_applied(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert not queries.halt_in_force(ledger)
    ledger.request_control(CONTROL_HALT, requested_at=T)
    assert [c["command"] for c in queries.pending_controls(ledger)] == [CONTROL_HALT]
    ledger.connection.execute("UPDATE controls SET status = 'applied', applied_at = ?", (iso(T),))
    assert queries.halt_in_force(ledger) and queries.pending_controls(ledger) == []
    ledger.request_control(CONTROL_RESUME, requested_at=T)
    ledger.connection.execute("UPDATE controls SET status = 'applied', applied_at = ? WHERE command = ?",
                              (iso(T), CONTROL_RESUME))
    assert not queries.halt_in_force(ledger)


def test_a_monitor_reads_the_same_answers_through_a_read_only_view(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    _enter(ledger, "a", "ev")
    ledger.request_control(CONTROL_HALT, requested_at=T)
    ledger.flush_perf()
    with open_read_only(ledger.path) as view:
        positions = report_queries.open_positions(view)
        assert list(positions["position_id"]) == ["a/position"] and positions["entry_price"].iloc[0] == 100.25
        assert report_queries.last_control(view)["command"] == CONTROL_HALT
        assert report_queries.halt_or_resume_in_force(view) is None   # requested, not applied
        assert report_queries.costs_by_day_and_kind(view).to_dict("records") == \
            [{"day": DAY, "kind": "commission", "usd": 0.62}]
