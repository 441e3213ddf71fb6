"""Reading the data sources' spend ledger for the data_cost and cost_per_signal guards.

`LedgerSpendReader` sums every paid source's rows of the machine's spend ledger
(`data_ingestion/data_budget.SpendLedger`: SQLite in the state directory, reservations counted as
spent), over the budget day and month that `budget_periods` defines (UTC), so the guards and the
sources' own budgets never disagree. Sources write under the ledger's own transaction lock; this
reader only reads. A ledger that cannot be read is never taken as zero spend. Tests pass a fake
with the same `totals(now)`.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ....data_ingestion.data_budget import SpendLedger, budget_periods
from ....errors import OptionsSystemError
from .base import GuardServices, SpendTotals


class LedgerSpendReader:
    """Every source's data spend in `now`'s UTC day and month, from the spend ledger file."""

    def __init__(self, ledger: SpendLedger) -> None:
        self.ledger = ledger

    @classmethod
    def under(cls, output_root: Path) -> "LedgerSpendReader":
        return cls(SpendLedger.under(output_root))

    def totals(self, now: pd.Timestamp) -> SpendTotals:
        entries = list(self.ledger.entries())
        if not entries:
            return SpendTotals(day_usd=0.0, month_usd=0.0)
        frame = pd.DataFrame(entries)
        today, this_month = budget_periods(frame["at"], now)
        return SpendTotals(day_usd=float(frame.loc[today, "cost_usd"].sum()),
                           month_usd=float(frame.loc[this_month, "cost_usd"].sum()))


def read_spend(services: GuardServices, now: pd.Timestamp) -> tuple[SpendTotals | None, str]:
    """The spend totals, or None and why they cannot be known (spend is never assumed 0)."""
    reader = services.spend
    if reader is None:
        return None, "no spend ledger reader was given to the risk engine"
    try:
        return reader.totals(now), ""
    except (OptionsSystemError, OSError, ValueError) as exc:
        return None, f"the spend ledger cannot be read: {exc}"
