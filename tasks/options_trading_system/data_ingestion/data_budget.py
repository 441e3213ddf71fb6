"""Data spend: what paid sources have spent, and the budget check made before every paid request.

Spend is an append-only ledger of JSON lines under the output root
(`outputs/state/data_spend.jsonl`), one line per request that was paid for:
`{"at": ISO-8601 UTC, "source": "databento", "cost_usd": 0.42, "what": "statistics 12 symbols"}`.
A second run the same day reads it, so a restart never resets the day's spend.

`DataBudget.check(cost)` is called with the price the vendor quoted *before* the request is
sent; it refuses (`DataBudgetExceededError`, never retried) when the day's or the month's spend
(UTC) plus that price would exceed the profile's budget. `record` is called once the data has
arrived. Days and months are those of the `now` passed in, so replays and tests are deterministic.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd

from ..errors import DataBudgetExceededError
from .canonical import as_utc

log = logging.getLogger(__name__)

SPEND_FILE = Path("state") / "data_spend.jsonl"


@dataclass(frozen=True)
class SpendTotals:
    day_usd: float
    month_usd: float


class SpendLedger:
    """The JSON-lines spend file. Appends are one `write` of one line (atomic for small lines)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def under(cls, output_root: Path) -> "SpendLedger":
        return cls(Path(output_root) / SPEND_FILE)

    def entries(self) -> Iterator[dict]:
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    entry["at"] = pd.Timestamp(entry["at"])
                    entry["cost_usd"] = float(entry["cost_usd"])
                except (ValueError, KeyError, TypeError) as exc:
                    # A damaged line must not hide spend: stop and say where, the user fixes the file.
                    raise DataBudgetExceededError(
                        f"{self.path}: line {number} is not a spend record ({exc}); cannot tell the spend "
                        f"so far, refusing paid requests until the line is fixed") from exc
                yield entry

    def totals(self, source: str, now: pd.Timestamp) -> SpendTotals:
        entries = [entry for entry in self.entries() if entry.get("source") == source]
        if not entries:
            return SpendTotals(day_usd=0.0, month_usd=0.0)
        frame = pd.DataFrame(entries)
        today, this_month = budget_periods(frame["at"], now)
        return SpendTotals(day_usd=float(frame.loc[today, "cost_usd"].sum()),
                           month_usd=float(frame.loc[this_month, "cost_usd"].sum()))

    def append(self, source: str, cost_usd: float, what: str, at: pd.Timestamp) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": as_utc(at).isoformat(), "source": source, "cost_usd": round(float(cost_usd), 6),
                           "what": what}) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def budget_periods(at: pd.Series, now: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Which spend times fall in `now`'s budget day and budget month: (today, this_month) masks.

    Budgets count UTC days and months. This is the one place that says so: the budget check and
    the monitor's spend figures both use it, so they cannot disagree."""
    now = as_utc(now)
    at = pd.to_datetime(at, utc=True)
    this_month = (at.dt.year == now.year) & (at.dt.month == now.month)
    return this_month & (at.dt.day == now.day), this_month


class DataBudget:
    """The daily and monthly budget of one paid source, checked before each request."""

    def __init__(self, source: str, *, daily_usd: float, monthly_usd: float, ledger: SpendLedger,
                 now: pd.Timestamp, setting_prefix: str) -> None:
        self.source = source
        self.daily_usd = float(daily_usd)
        self.monthly_usd = float(monthly_usd)
        self.ledger = ledger
        self.now = as_utc(now)
        self.setting_prefix = setting_prefix  # e.g. data_sources.databento, named in refusals
        self.spent_this_run = 0.0

    def check(self, cost_usd: float, what: str) -> None:
        """Refuse (before sending) a request quoted at `cost_usd` that would break a budget."""
        totals = self.ledger.totals(self.source, self.now)
        cost = float(cost_usd)
        if totals.day_usd + cost > self.daily_usd + 1e-9:
            raise DataBudgetExceededError(
                f"{self.source}: {what} would cost ${cost:.2f}; today's spend ${totals.day_usd:.2f} + ${cost:.2f} "
                f"exceeds the daily data budget ${self.daily_usd:.2f} ({self.setting_prefix}.daily_budget_usd); "
                f"refused before sending", cost_usd=self.spent_this_run)
        if totals.month_usd + cost > self.monthly_usd + 1e-9:
            raise DataBudgetExceededError(
                f"{self.source}: {what} would cost ${cost:.2f}; this month's spend ${totals.month_usd:.2f} + "
                f"${cost:.2f} exceeds the monthly data budget ${self.monthly_usd:.2f} "
                f"({self.setting_prefix}.monthly_budget_usd); refused before sending", cost_usd=self.spent_this_run)
        log.info("%s: %s quoted at $%.4f (today $%.2f of $%.2f, month $%.2f of $%.2f)", self.source, what, cost,
                 totals.day_usd, self.daily_usd, totals.month_usd, self.monthly_usd)

    def record(self, cost_usd: float, what: str) -> None:
        """Count a request that was paid for."""
        if cost_usd <= 0:
            return
        self.ledger.append(self.source, cost_usd, what, self.now)
        self.spent_this_run += float(cost_usd)
