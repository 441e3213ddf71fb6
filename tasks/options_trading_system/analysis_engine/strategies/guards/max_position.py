"""max_position: contracts open or working, all instruments together, never above the cap.

Rule: |net position| of every instrument plus the quantity of every working entry order, plus
the new order's quantity, must stay at or below `max_position.max_contracts` (default 1, the
limited-live rule: one contract at a time, whatever the instrument). Working entries count at
full size because they can fill at any moment; a reversal therefore needs its exit first.
Refusal: `MAX_POSITION: open=1 contracts, order=1 contracts, limit=1 contracts`. An entry against the direction of a
position or working entry in the same instrument is refused too (`OPPOSITE_SIDE`): the broker nets
positions, so a hedge would turn two protected positions into one whose stops no longer match it.
After a fill, more contracts than the cap at the broker (something we did not approve) halts:
`POSITION_OVER_CAP`.

Both rules model one real account. With `max_position.netting = "per_signal"` (the shadow runs'
default: independent signal sources paper-trading side by side) the snapshot carries each
signal's position on its own, the cap counts them all without netting, and OPPOSITE_SIDE is not
asked: a long of one source and a short of another are two paper positions, not a hedge.
"""
from __future__ import annotations

from ..execution.orders import Bracket, Purpose
from .config import NETTING_ACCOUNT
from .base import Demand, Figure, Guard, Refusal, Request, RiskState, TradingSnapshot
from .exposure import open_contracts


class MaxPosition(Guard):
    name = "max_position"

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        cap = self.config.max_position.max_contracts
        adding = request.entry.quantity if isinstance(request, Bracket) else request.quantity
        current = open_contracts(snapshot)
        entry = request.entry if isinstance(request, Bracket) else request
        held = snapshot.position(entry.instrument)
        against = [o for o in snapshot.working_orders if o.instrument == entry.instrument
                   and o.purpose is Purpose.ENTRY and o.side is not entry.side]
        if self.config.max_position.netting == NETTING_ACCOUNT and (held * entry.side.sign < 0 or against):
            return self.refusal("OPPOSITE_SIDE", request, Figure("position", held, "contracts"),
                                Figure("opposite_entries", sum(o.quantity for o in against), "contracts"),
                                detail=f"{entry.side.value} {entry.instrument} against what is held or working; "
                                       f"exit first")
        if current + adding > cap:
            return self.refusal("MAX_POSITION", request, Figure("open", current, "contracts"),
                                Figure("order", adding, "contracts"), Figure("limit", cap, "contracts"))
        return None

    def evaluate(self, snapshot: TradingSnapshot) -> Demand | None:
        cap = self.config.max_position.max_contracts
        current = open_contracts(snapshot)
        if current > cap:
            return self.demand(RiskState.HALTED, "POSITION_OVER_CAP", Figure("open", current, "contracts"),
                               Figure("limit", cap, "contracts"))
        return None
