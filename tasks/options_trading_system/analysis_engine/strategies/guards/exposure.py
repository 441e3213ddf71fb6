"""Exposure arithmetic the guards share: contracts, dollars at risk to the stops, worst-case P&L.

Pure functions of a `TradingSnapshot` and the `RiskConfig`. Dollar figures are per the contract
specification of each instrument (multiplier, tick size, commission per side) and add the
configured slippage allowance to every market leg: a long stopped at `s` is taken to fill at
`s - slippage`. An amount that cannot be bounded (a position without a covering stop, an
instrument without a specification, a market entry without a mark) is `inf`, never 0, so a guard
refuses rather than guesses.

Which working order protects what:
- a working ENTRY order is protected by the STOP leg of the same signal (its bracket);
- a position is protected by the working stop orders on its opposite side: the stop legs of
  filled brackets, stops placed on their own, and the part of a partly filled bracket's stop leg
  beyond its entry's remaining quantity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..execution.orders import Bracket, Order, OrderType, Purpose, Side
from .base import Request, TradingSnapshot
from .config import RiskConfig

INF = math.inf


@dataclass(frozen=True)
class Exposure:
    """The account's exposure figures at one moment (dollars are positive amounts at risk)."""

    contracts: int            # sum of |net position| over instruments + working entry quantities
    risk_usd: float           # dollars lost if every position and working entry hit its stop (no commission)
    worst_pnl_usd: float      # P&L of open positions and working entries if all stop out (commissions in)
    open_pnl_usd: float       # P&L of open positions at the marks, exit commission in (NaN: no mark)


def entry_reference(order: Order, snapshot: TradingSnapshot) -> float:
    """The price an entry is expected at: its limit or stop price, else the instrument's mark."""
    if order.order_type is OrderType.LIMIT and order.limit_price is not None:
        return float(order.limit_price)
    if order.order_type is OrderType.STOP and order.stop_price is not None:
        return float(order.stop_price)
    return float(snapshot.marks.get(order.instrument, math.nan))


def stop_distance_points(side: Side, entry: float, stop: float) -> float:
    """Adverse points from entry to stop (0 when the stop sits beyond the entry in profit)."""
    return max(side.sign * (entry - stop), 0.0)


def bracket_risk(bracket: Bracket, snapshot: TradingSnapshot, config: RiskConfig) -> tuple[float, float]:
    """(dollars at risk to the stop, worst-case P&L incl. both commissions) of a new bracket."""
    return _entry_risk(bracket.entry, bracket.stop, snapshot, config)


def is_reducing(request: Request, snapshot: TradingSnapshot) -> bool:
    """True when `request` can only reduce exposure: a single non-entry order on the opposite side
    of the instrument's position, no larger than it. A bracket always adds exposure."""
    if isinstance(request, Bracket) or request.purpose is Purpose.ENTRY:
        return False
    position = snapshot.position(request.instrument)
    return position != 0 and request.side.sign == -_sign(position) and request.quantity <= abs(position)


def open_contracts(snapshot: TradingSnapshot) -> int:
    """|net position| summed over instruments plus the quantity of every working entry order."""
    return (sum(abs(p.quantity) for p in snapshot.positions)
            + sum(o.quantity for o in snapshot.working_orders if o.purpose is Purpose.ENTRY))


def exposure(snapshot: TradingSnapshot, config: RiskConfig) -> Exposure:
    """Contracts, dollars at risk, worst-case P&L and open P&L of everything open or working."""
    working_entries = [o for o in snapshot.working_orders if o.purpose is Purpose.ENTRY]
    # a bracket's stop leg protects its working entry first; what it covers beyond the entry's
    # remaining quantity (a partly filled entry) protects the position
    spare: dict[str, int] = {}
    contracts = open_contracts(snapshot)
    risk = 0.0
    worst = 0.0
    open_pnl = 0.0
    for entry in working_entries:
        stop = next((o for o in snapshot.working_orders
                     if o.signal_id == entry.signal_id and o.purpose is Purpose.STOP), None)
        if stop is not None:
            spare[stop.client_order_id] = spare.get(stop.client_order_id, stop.quantity) - entry.quantity
        entry_risk, entry_worst = _entry_risk(entry, stop, snapshot, config)
        risk += entry_risk
        worst += entry_worst
    for position in snapshot.positions:
        if position.quantity == 0:
            continue
        spec = config.instrument(position.instrument)
        if spec is None:
            return Exposure(contracts, INF, -INF, math.nan)
        side = Side.BUY if position.quantity > 0 else Side.SELL
        mark = snapshot.marks.get(position.instrument, math.nan)
        average = position.average_price if position.average_price is not None else mark
        slip = config.slippage_points(position.instrument)
        remaining = abs(position.quantity)
        stops = sorted((o for o in snapshot.working_orders
                        if o.instrument == position.instrument and o.side is side.opposite
                        and o.order_type is OrderType.STOP and spare.get(o.client_order_id, o.quantity) > 0),
                       key=lambda o: side.sign * -(o.stop_price or 0.0))  # the tighter stops first
        for stop in stops:
            if remaining <= 0:
                break
            covered = min(remaining, spare.get(stop.client_order_id, stop.quantity))
            pnl_points = side.sign * (float(stop.stop_price) - average) - slip if math.isfinite(average) else -INF
            risk += max(-pnl_points, 0.0) * spec.multiplier * covered
            worst += pnl_points * spec.multiplier * covered - spec.commission_per_side_usd * covered
            remaining -= covered
            # a stop protects one position once (positions held per signal each take their own)
            spare[stop.client_order_id] = spare.get(stop.client_order_id, stop.quantity) - covered
        if remaining > 0:  # no stop covers these contracts: nothing bounds their loss
            risk, worst = INF, -INF
        open_pnl += (side.sign * (mark - average) * spec.multiplier * abs(position.quantity)
                     - spec.commission_per_side_usd * abs(position.quantity))
    return Exposure(contracts=contracts, risk_usd=risk, worst_pnl_usd=worst, open_pnl_usd=open_pnl)


def _entry_risk(entry: Order, stop: Order | None, snapshot: TradingSnapshot, config: RiskConfig
                ) -> tuple[float, float]:
    spec = config.instrument(entry.instrument)
    if spec is None or stop is None or stop.stop_price is None:
        return INF, -INF
    reference = entry_reference(entry, snapshot)
    if not math.isfinite(reference):
        return INF, -INF
    slip = config.slippage_points(entry.instrument)
    points = stop_distance_points(entry.side, reference, float(stop.stop_price)) + 2 * slip
    risk = points * spec.multiplier * entry.quantity
    return risk, -risk - 2 * spec.commission_per_side_usd * entry.quantity


def _sign(value: float) -> int:
    return 1 if value > 0 else (-1 if value < 0 else 0)
