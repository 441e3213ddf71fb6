"""Reconciliation's ledger side: the books of a run against its broker, and adopted brackets recorded.

Both orchestrators (the shadow loop's limited live and the documented `LimitedLiveTradingOrchestrator`)
reconcile the same way: `ledger_books` reads the run's open positions and signals and the broker's
positions, working orders and fills, and `reconciliation.reconcile_books` says what to adopt and
what halts; `record_adoption` writes an adopted bracket's entry into the ledger, inside the
caller's transaction.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ....state import queries
from ....state.ledger import Ledger, iso
from ....state.trade_rows import CostRow, FillRow, OrderRow, PositionRow, write_cost, write_fill, write_order, \
    write_position
from .broker import Broker
from .orders import OrderState
from .reconciliation import Adoption, HeldPosition, Reconciliation, reconcile_books


def ledger_books(ledger: Ledger, broker: Broker) -> Reconciliation:
    """The run's ledger against `broker` now (see `reconciliation.reconcile_books`)."""
    held = queries.open_position_rows(ledger)
    return reconcile_books(
        [HeldPosition(r["signal_id"], (1 if r["direction"] == "LONG" else -1) * int(r["quantity"]),
                      pd.Timestamp(r["entry_time"]) if r["entry_time"] else None)
         for r in held.to_dict("records")],
        queries.signal_ids(ledger), queries.signals_without_position(ledger),
        broker.positions(), broker.working_orders(), broker.fills())


def record_adoption(tx: Any, signal: Mapping[str, Any], adoption: Adoption, *, broker: str, instrument: str,
                    side: str, quantity: int, multiplier: float, commission: float,
                    cancelled: OrderState | None) -> str:
    """Write an adopted bracket's entry inside `tx`: the order (`quantity` asked) marked ADOPTED and,
    with its fill, the fill, commission (`commission` per contract unless the broker charged one)
    and open position; `cancelled` is the broker's answer to cancelling what of the entry still
    worked. Returns the order row's note."""
    order_id = f"{adoption.signal_id}/entry"
    note = f"ADOPTED: placed before a restart, found at {broker} by its client order id {order_id}"
    if cancelled is not None:
        note += f"; {'the rest' if adoption.entry is not None else 'unfilled'}, still working, cancelled " \
                f"({cancelled.status.value})"
    status = "filled" if adoption.entry is not None else "cancelled"
    fill = adoption.entry
    if tx.execute("SELECT 1 FROM orders WHERE order_id = ?", (order_id,)).fetchone():
        # recorded as not filled before the restart (e.g. an unanswered placement): corrected, with what it was
        tx.execute("UPDATE orders SET status = ?, reason = ? || ' (recorded before as ' || status || "
                   "COALESCE(': ' || NULLIF(reason, ''), '') || ')' WHERE order_id = ?", (status, note, order_id))
    else:
        write_order(tx, OrderRow(order_id=order_id, signal_id=adoption.signal_id, day=signal["day"],
                                 sim_time=signal["sim_time"], instrument=instrument, side=side,
                                 quantity=quantity, order_type="market", purpose="entry", status=status,
                                 reason=note))
    if fill is None:
        return note
    fee = fill.commission_usd or commission * fill.quantity
    reference = float(signal["entry_reference"])
    write_fill(tx, FillRow(fill_id=f"{order_id}/fill", order_id=order_id, day=signal["day"], sim_time=iso(fill.time),
                           price=fill.price, quantity=fill.quantity, reference_price=reference,
                           slippage_points=(fill.price - reference) * (1 if side == "BUY" else -1),
                           commission_usd=fee))
    write_cost(tx, CostRow(cost_id=f"{order_id}/commission", day=signal["day"], sim_time=iso(fill.time),
                           kind="commission", amount_usd=fee, ref=order_id))
    write_position(tx, PositionRow(
        position_id=f"{adoption.signal_id}/position", signal_id=adoption.signal_id, source=signal["source"],
        day=signal["day"], instrument=instrument, contract=None, direction=signal["direction"],
        quantity=fill.quantity, multiplier=multiplier, entry_time=iso(fill.time), entry_price=fill.price,
        target=signal["target"], stop=signal["stop"]))
    return note
