"""cost_per_signal: what a signal costs (data + commissions over signals) stays under target.

Rule: (today's data spend, from the spend ledger, + today's commissions + this order's round-trip
commission) / today's signals must not exceed `cost_per_signal.target_usd` (default $5). Judged
only once `min_signals` (default 5) signals have been generated today, so the first signals of a
day are not refused for a division by few. A target, not a hard cap: a new entry is refused while
it is above target; nothing halts, and orders that reduce exposure pass.
Refusal: `COST_PER_SIGNAL: per_signal=5.40 USD, target=5.00 USD, cost=32.40 USD, signals=6`.
"""
from __future__ import annotations

from ..execution.orders import Bracket
from .base import Figure, Guard, Refusal, Request, TradingSnapshot
from .spend import read_spend


class CostPerSignal(Guard):
    name = "cost_per_signal"

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        settings = self.config.cost_per_signal
        if snapshot.signals < settings.min_signals:
            return None
        totals, error = read_spend(self.services, snapshot.now)
        if totals is None:
            return self.refusal("SPEND_UNKNOWN", request, detail=error)
        order = request.entry if isinstance(request, Bracket) else request
        spec = self.config.instrument(order.instrument)
        order_commission = 0.0 if spec is None else 2 * spec.commission_per_side_usd * order.quantity
        cost = totals.day_usd + float(snapshot.commission_usd) + order_commission
        per_signal = cost / snapshot.signals
        if not per_signal <= settings.target_usd + 1e-9:
            return self.refusal("COST_PER_SIGNAL", request, Figure("per_signal", per_signal, "USD"),
                                Figure("target", settings.target_usd, "USD"), Figure("cost", cost, "USD"),
                                Figure("signals", snapshot.signals))
        return None
