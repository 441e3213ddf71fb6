"""The account as the risk engine sees it, rebuilt from the run's ledger at any simulated moment.

The ledger is the source of truth for what this run holds (the broker is reconciled against it),
so the `TradingSnapshot` the guards judge is built from its open positions: net position per
instrument (as a broker nets them), each position's bracket legs as the working stop and target
(its protection), the mark, and the day's realised P&L, commissions and signal count.

Futures trade under their own symbol (`NQ`, `MNQ`). An option trade is judged on the
underlying's levels under the instrument `option` (its multiplier from the profile): entry at the
signal's reference, stop and target at the signal's levels, i.e. the worst case at delta 1, which
bounds the option's own loss from above.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd

from ....state import queries
from ....state.ledger import Ledger
from ..guards.base import TradingSnapshot
from .orders import Bracket, Order, Position, Side
from .paper_pricing import OPTION
from .signal_orders import signal_bracket


class LedgerRiskView:
    """Builds the risk engine's snapshots and requests from the ledger of one run."""

    def __init__(self, ledger: Ledger, *, instrument: str, quantity: int, net_positions: bool = True) -> None:
        self.ledger = ledger
        self.instrument = instrument        # the execution instrument (NQ, MNQ or option)
        self.quantity = quantity
        # False: each signal's paper position on its own (max_position.netting "per_signal")
        self.net_positions = net_positions

    @property
    def risk_instrument(self) -> str:
        return OPTION if self.instrument == OPTION else self.instrument

    def request(self, signal: Mapping[str, Any]) -> Bracket:
        """The bracket a signal becomes, as the guards judge it (see the module docstring)."""
        side = Side.BUY if signal["direction"] == "LONG" else Side.SELL
        return signal_bracket(str(signal["signal_id"]), instrument=self.risk_instrument, side=side,
                              quantity=self.quantity, stop=float(signal["stop"]), target=float(signal["target"]))

    def snapshot(self, day: str, now: pd.Timestamp, price: float) -> TradingSnapshot:
        """The account at `now`: open positions netted per instrument (or one per signal when
        `net_positions` is False), their legs working, the mark."""
        net: dict[Any, list[float]] = {}
        working: list[Order] = []
        for row in queries.open_position_records(self.ledger):
            instrument = self.risk_instrument
            side = Side.BUY if row["direction"] == "LONG" else Side.SELL
            quantity = int(row["quantity"])
            average = float(row["entry_reference"]) if instrument == OPTION else float(row["entry_price"])
            signed = side.sign * quantity
            book = (instrument, "") if self.net_positions else (instrument, str(row["signal_id"]))
            qty, cost = net.setdefault(book, [0.0, 0.0])
            net[book] = [qty + signed, cost + signed * average]
            bracket = signal_bracket(str(row["signal_id"]), instrument=instrument, side=side, quantity=quantity,
                                     stop=float(row["stop"]), target=float(row["target"]))
            working.extend((bracket.stop, bracket.target))
        positions = tuple(Position(instrument=k, quantity=int(q), average_price=(c / q) if q else None)
                          for (k, _book), (q, c) in sorted(net.items()) if q)
        marks = {self.risk_instrument: float(price)} if math.isfinite(price) else {}
        return TradingSnapshot(now=pd.Timestamp(now), positions=positions, working_orders=tuple(working), marks=marks,
                               realized_pnl_usd=queries.day_realized_pnl_usd(self.ledger, day),
                               commission_usd=queries.day_commissions_usd(self.ledger, day),
                               signals=queries.day_signal_count(self.ledger, day))
