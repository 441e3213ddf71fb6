"""data_cost: paid data spend of every source together, under its daily and monthly caps.

Rule: the spend the data sources recorded in their spend ledger (`outputs/state/data_spend.jsonl`,
read through the `SpendReader` passed in; UTC day and month of the simulated `now`) must stay
below `data_cost.daily_usd` (default $8) and `data_cost.monthly_usd` (default $200).
- before a paid request (`RiskEngine.check_spend`): refused when spend + its price would pass a
  cap (`DATA_COST_DAILY: spent=7.50 USD, cost=0.80 USD, limit=8.00 USD`), so costs are checked
  before they are spent;
- pre-trade: an entry is refused once a cap is reached;
- post-trade: a cap reached halts (automatic shutoff), until a person resumes.
A spend ledger that cannot be read refuses entries (`SPEND_UNKNOWN`): spend is never assumed 0.
"""
from __future__ import annotations

import pandas as pd

from .base import Demand, Figure, Guard, Refusal, Request, RiskState, SpendTotals, TradingSnapshot
from .spend import read_spend

EPSILON_USD = 1e-9


class DataCost(Guard):
    name = "data_cost"

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        totals, error = self._totals(snapshot.now)
        if totals is None:
            return self.refusal("SPEND_UNKNOWN", request, detail=error)
        breach = self._breach(totals, 0.0)
        if breach is not None:
            code, figures = breach
            return self.refusal(code, request, *figures)
        return None

    def check_spend(self, cost_usd: float, now: pd.Timestamp, what: str = "") -> Refusal | None:
        """Before a paid request quoted at `cost_usd`: refuse when it would pass a cap."""
        totals, error = self._totals(now)
        if totals is None:
            return Refusal(guard=self.name, code="SPEND_UNKNOWN", detail=error)
        breach = self._breach(totals, float(cost_usd))
        if breach is not None:
            code, figures = breach
            return Refusal(guard=self.name, code=code, figures=figures, detail=what)
        return None

    def evaluate(self, snapshot: TradingSnapshot) -> Demand | None:
        totals, _error = self._totals(snapshot.now)
        if totals is None:
            return None  # unknown spend refuses entries (check) but does not halt on its own
        breach = self._breach(totals, 0.0)
        if breach is not None:
            code, figures = breach
            return self.demand(RiskState.HALTED, code, *figures)
        return None

    def _breach(self, totals: SpendTotals, cost: float) -> tuple[str, tuple[Figure, ...]] | None:
        settings = self.config.data_cost
        for code, spent, limit in (("DATA_COST_DAILY", totals.day_usd, settings.daily_usd),
                                   ("DATA_COST_MONTHLY", totals.month_usd, settings.monthly_usd)):
            if cost > 0 and spent + cost > limit + EPSILON_USD:
                return code, (Figure("spent", spent, "USD"), Figure("cost", cost, "USD"), Figure("limit", limit, "USD"))
            if cost <= 0 and not spent < limit - EPSILON_USD:
                return code, (Figure("spent", spent, "USD"), Figure("limit", limit, "USD"))
        return None

    def _totals(self, now: pd.Timestamp) -> tuple[SpendTotals | None, str]:
        return read_spend(self.services, now)
