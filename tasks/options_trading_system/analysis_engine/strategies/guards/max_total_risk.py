"""max_total_risk: dollars at risk to the stops, over everything open or working, under the cap.

Rule: (adverse distance from entry to stop + slippage allowance on each market leg) x multiplier
x quantity, summed over open positions (from their average price to the working stops covering
them), working entries (to their bracket's stop) and the new order, must not exceed
`max_total_risk.limit_usd` (default $200). An entry without a protective stop has no bound and is
refused (`NO_STOP`); orders that only reduce exposure always pass.
Refusal: `MAX_TOTAL_RISK: risk=230.00 USD, limit=200.00 USD (open 180.00, this order 50.00)`.
Post-trade: a position with no stop covering it halts (`UNPROTECTED_POSITION`), and so does risk
above the limit (`TOTAL_RISK_OVER_CAP`, a fill far worse than the slippage allowance).
"""
from __future__ import annotations

import math

from ..execution.orders import Bracket
from .base import Demand, Figure, usd_text, Guard, Refusal, Request, RiskState, TradingSnapshot
from .exposure import bracket_risk, exposure


class MaxTotalRisk(Guard):
    name = "max_total_risk"

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        limit = self.config.max_total_risk.limit_usd
        if not isinstance(request, Bracket):
            return self.refusal("NO_STOP", request, Figure("limit", limit, "USD"),
                                detail="an order that adds exposure must come as a bracket with its stop")
        current = exposure(snapshot, self.config).risk_usd
        order_risk = bracket_risk(request, snapshot, self.config)[0]
        total = current + order_risk
        if not total <= limit + 1e-6:
            return self.refusal("MAX_TOTAL_RISK", request, Figure("risk", total, "USD"), Figure("limit", limit, "USD"),
                                detail=f"open {usd_text(current)}, this order {usd_text(order_risk)}")
        return None

    def evaluate(self, snapshot: TradingSnapshot) -> Demand | None:
        limit = self.config.max_total_risk.limit_usd
        risk = exposure(snapshot, self.config).risk_usd
        if math.isinf(risk):
            return self.demand(RiskState.HALTED, "UNPROTECTED_POSITION", Figure("risk", risk, "USD"),
                               Figure("limit", limit, "USD"), detail="a position has no working stop covering it")
        if risk > limit + 1e-6:
            return self.demand(RiskState.HALTED, "TOTAL_RISK_OVER_CAP", Figure("risk", risk, "USD"),
                               Figure("limit", limit, "USD"))
        return None
