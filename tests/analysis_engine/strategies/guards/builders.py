"""Small builders for the guard tests: brackets, snapshots, a fake spend ledger, an engine."""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.execution.orders import (Bracket, Order, OrderType,
                                                                                      Position, Purpose, Side)
from tasks.options_trading_system.analysis_engine.strategies.guards import (RiskConfig, RiskEngine, SpendTotals,
                                                                            TradingSnapshot)

#: Tuesday 2025-06-03 10:00 in New York: inside the default trading window
NOW = pd.Timestamp("2025-06-03 14:00", tz="UTC")
MARK = 21500.0


def bracket(signal: str = "s1", *, instrument: str = "MNQ", side: Side = Side.BUY, quantity: int = 1,
            stop_points: float = 20.0, target_points: float = 40.0, entry_type: OrderType = OrderType.MARKET,
            entry_price: float | None = None, reference: float = MARK) -> Bracket:
    """A bracket `stop_points` from `reference` (the mark, or `entry_price` for a limit entry)."""
    base = entry_price if entry_price is not None else reference
    stop = base - side.sign * stop_points
    target = base + side.sign * target_points
    entry = Order(client_order_id=f"{signal}/entry", signal_id=signal, instrument=instrument, side=side,
                  quantity=quantity, order_type=entry_type, purpose=Purpose.ENTRY,
                  limit_price=entry_price if entry_type is OrderType.LIMIT else None,
                  stop_price=entry_price if entry_type is OrderType.STOP else None)
    return Bracket(
        entry=entry,
        stop=Order(client_order_id=f"{signal}/stop", signal_id=signal, instrument=instrument, side=side.opposite,
                   quantity=quantity, order_type=OrderType.STOP, purpose=Purpose.STOP, stop_price=stop),
        target=Order(client_order_id=f"{signal}/target", signal_id=signal, instrument=instrument,
                     side=side.opposite, quantity=quantity, order_type=OrderType.LIMIT, purpose=Purpose.TARGET,
                     limit_price=target))


def exit_order(signal: str = "s1", *, instrument: str = "MNQ", side: Side = Side.SELL, quantity: int = 1) -> Order:
    return Order(client_order_id=f"{signal}/exit", signal_id=signal, instrument=instrument, side=side,
                 quantity=quantity, order_type=OrderType.MARKET, purpose=Purpose.EXIT)


def filled(b: Bracket, price: float) -> tuple[Position, tuple[Order, ...]]:
    """The position and working legs after `b`'s entry filled at `price`."""
    signed = b.entry.side.sign * b.entry.quantity
    return Position(b.entry.instrument, signed, price), (b.stop, b.target)


def snapshot(*, now: pd.Timestamp = NOW, positions: Sequence[Position] = (), working: Sequence[Order] = (),
             marks: Mapping[str, float] | None = None, realized: float = 0.0, commission: float = 0.0,
             signals: int = 0) -> TradingSnapshot:
    return TradingSnapshot(now=now, positions=tuple(positions), working_orders=tuple(working),
                           marks=dict(marks) if marks is not None else {"MNQ": MARK, "NQ": MARK},
                           realized_pnl_usd=realized, commission_usd=commission, signals=signals)


class FakeSpend:
    """A spend ledger reader with settable totals (the real one reads data_spend.jsonl)."""

    def __init__(self, day_usd: float = 0.0, month_usd: float = 0.0) -> None:
        self.day_usd = day_usd
        self.month_usd = month_usd

    def totals(self, now: pd.Timestamp) -> SpendTotals:
        return SpendTotals(day_usd=self.day_usd, month_usd=self.month_usd)


def config(**sections: dict) -> RiskConfig:
    return RiskConfig.from_dict(sections, where="test.risk")


def engine(risk: RiskConfig | None = None, *, spend: FakeSpend | None = None, **kwargs) -> RiskEngine:
    return RiskEngine(risk or RiskConfig(), spend=spend if spend is not None else FakeSpend(), **kwargs)
