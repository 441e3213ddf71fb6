"""max_position: contracts open or working, all instruments together, never above the cap.

Rule: |net position| of every instrument plus the quantity of every working entry order, plus
the new order's quantity, must stay at or below `max_position.max_contracts` (default 1, the
limited-live rule: one contract at a time, whatever the instrument). Working entries count at
full size because they can fill at any moment; a reversal therefore needs its exit first.
Refusal: `MAX_POSITION: contracts=1, order=1, limit=1`. After a fill, more contracts than the cap
at the broker (something we did not approve) halts: `POSITION_OVER_CAP`.
"""
from __future__ import annotations

from ..execution.orders import Bracket
from .base import Demand, Figure, Guard, Refusal, Request, RiskState, TradingSnapshot
from .exposure import open_contracts


class MaxPosition(Guard):
    name = "max_position"

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        cap = self.config.max_position.max_contracts
        adding = request.entry.quantity if isinstance(request, Bracket) else request.quantity
        current = open_contracts(snapshot)
        if current + adding > cap:
            return self.refusal("MAX_POSITION", request, Figure("contracts", current, "contracts"),
                                Figure("order", adding, "contracts"), Figure("limit", cap, "contracts"))
        return None

    def evaluate(self, snapshot: TradingSnapshot) -> Demand | None:
        cap = self.config.max_position.max_contracts
        current = open_contracts(snapshot)
        if current > cap:
            return self.demand(RiskState.HALTED, "POSITION_OVER_CAP", Figure("contracts", current, "contracts"),
                               Figure("limit", cap, "contracts"))
        return None
