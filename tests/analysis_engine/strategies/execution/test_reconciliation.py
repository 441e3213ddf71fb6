"""Reconciling the ledger with the broker: our own brackets are adopted, a leg filled while we were
away is expected flat, anything else halts with a message naming it."""
from __future__ import annotations

import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.execution.orders import (Fill, OrderState, OrderStatus,
                                                                                      Position, Side)
from tasks.options_trading_system.analysis_engine.strategies.execution.reconciliation import (HeldPosition,
                                                                                              reconcile_books,
                                                                                              signal_leg)

AT = pd.Timestamp("2025-06-02 15:00", tz="UTC")


def fill(client_order_id: str, side: Side, price: float, quantity: int = 1, minutes: int = 0) -> Fill:
    return Fill(fill_id=f"f-{client_order_id}-{minutes}", client_order_id=client_order_id, instrument="NQ", side=side,
                quantity=quantity, price=price, time=AT + pd.Timedelta(minutes=minutes))


def working(client_order_id: str) -> OrderState:
    return OrderState(client_order_id, OrderStatus.WORKING, broker_order_id="77")


def test_client_order_ids_name_their_signal_and_leg() -> None:
    assert signal_leg("2025-06-02#00001/ev/0/stop") == ("2025-06-02#00001/ev/0", "stop")
    assert signal_leg("tradovate:12345") is None and signal_leg("manual-order") is None


def test_a_bracket_the_ledger_missed_is_adopted_and_the_books_agree() -> None:
    books = reconcile_books([], signals=["s1"], unentered=["s1"], positions=[Position("NQ", 1, 21500.0)],
                            working=[working("s1/stop"), working("s1/target")],
                            fills=[fill("s1/entry", Side.BUY, 21500.25)])
    assert books.agrees, books.problems
    (adoption,) = books.adoptions
    assert adoption.signal_id == "s1" and adoption.holds and adoption.entry.price == 21500.25


def test_partial_entry_fills_are_adopted_as_one_with_their_average_price() -> None:
    books = reconcile_books([], ["s1"], ["s1"], [Position("NQ", 2)], [working("s1/stop"), working("s1/target")],
                            [fill("s1/entry", Side.BUY, 100.0), fill("s1/entry", Side.BUY, 101.0, minutes=1)])
    assert books.agrees and books.adoptions[0].entry.quantity == 2 and books.adoptions[0].entry.price == 100.5


def test_a_stop_filled_while_we_were_away_is_expected_flat() -> None:
    books = reconcile_books([HeldPosition("s1", 1)], ["s1"], [], positions=[], working=[],
                            fills=[fill("s1/entry", Side.BUY, 100.0), fill("s1/stop", Side.SELL, 90.0, minutes=5)])
    assert books.agrees and books.closed_at_broker == ("s1",)


def test_an_order_not_placed_by_this_run_halts_naming_it() -> None:
    books = reconcile_books([], ["s1"], ["s1"], positions=[Position("NQ", -1)], working=[working("manual-7")],
                            fills=[])
    assert not books.agrees
    text = "; ".join(books.problems)
    assert "net position: ledger +0, broker -1 (NQ -1)" in text
    assert "unknown order at the broker, not placed by this run: manual-7 (broker order 77, working)" in text


def test_a_position_without_its_stop_halts() -> None:
    books = reconcile_books([HeldPosition("s1", 1)], ["s1"], [], [Position("NQ", 1)], [working("s1/target")], [])
    assert books.problems == ("position of s1 has no working stop at the broker",)


def test_a_position_the_broker_liquidated_after_its_entry_is_recorded_at_that_fill() -> None:
    liquidation = Fill(fill_id="9", client_order_id="tradovate:9", instrument="NQ", side=Side.SELL, quantity=1,
                       price=95.0, time=AT + pd.Timedelta(minutes=30))
    earlier = Fill(fill_id="8", client_order_id="tradovate:8", instrument="NQ", side=Side.SELL, quantity=1,
                   price=80.0, time=AT - pd.Timedelta(days=1))
    held = [HeldPosition("s1", 1, AT)]
    books = reconcile_books(held, ["s1"], [], positions=[], working=[], fills=[earlier, liquidation])
    assert books.agrees and books.liquidated == (("s1", liquidation),)
    assert not reconcile_books(held, ["s1"], [], positions=[], working=[], fills=[earlier]).agrees
