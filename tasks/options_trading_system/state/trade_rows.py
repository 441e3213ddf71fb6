"""The ledger's order, fill, position and cost rows as typed records, written by named functions.

What used to be inline dicts in the orchestrator: one frozen dataclass per table row, so a row
cannot be half-filled or changed after it was decided, and `write_*` inserts it inside the
caller's transaction (every step of the shadow trader commits one transaction).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    signal_id: str
    day: str
    sim_time: str | None
    instrument: str
    side: str
    quantity: int
    order_type: str
    purpose: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class FillRow:
    fill_id: str
    order_id: str
    day: str
    sim_time: str | None
    price: float
    quantity: int
    reference_price: float
    slippage_points: float
    commission_usd: float


@dataclass(frozen=True)
class CostRow:
    cost_id: str
    day: str
    sim_time: str | None
    kind: str          # commission | data
    amount_usd: float
    ref: str
    note: str = ""


@dataclass(frozen=True)
class PositionRow:
    position_id: str
    signal_id: str
    source: str
    day: str
    instrument: str
    contract: str | None
    direction: str
    quantity: int
    multiplier: float
    entry_time: str | None
    entry_price: float
    target: float
    stop: float
    option_strike: float | None = None
    option_right: str | None = None
    option_iv: float | None = None
    option_expiration: str | None = None
    status: str = "open"
    exit_time: str | None = None
    exit_price: float | None = None
    exit_reason: str | None = None
    exit_price_origin: str | None = None


def write_order(tx: Any, row: OrderRow) -> None:
    tx.insert("orders", asdict(row))


def write_fill(tx: Any, row: FillRow) -> None:
    tx.insert("fills", asdict(row))


def write_cost(tx: Any, row: CostRow) -> None:
    tx.insert("costs", asdict(row))


def write_position(tx: Any, row: PositionRow) -> None:
    tx.insert("positions", asdict(row))


def close_position(tx: Any, position_id: str, *, exit_time: str | None, exit_price: float, exit_reason: str,
                   exit_price_origin: str) -> None:
    """Mark an open position closed at its exit."""
    tx.execute("UPDATE positions SET status = 'closed', exit_time = ?, exit_price = ?, exit_reason = ?, "
               "exit_price_origin = ? WHERE position_id = ?",
               (exit_time, exit_price, exit_reason, exit_price_origin, position_id))
