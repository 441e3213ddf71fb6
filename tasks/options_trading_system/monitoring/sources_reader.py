"""Data sources as the monitor sees them: attempts, failovers, circuit breakers, spend vs budget.

Read-only, from what the data layer writes (docs/data_sources.md):
- attempts: the `attempts` of each daily run's export (outputs/YYYYMMDD/analysis_exports/*.json);
- breakers: outputs/YYYYMMDD/state/circuit_breakers.json (`data_ingestion/breaker.py`);
- spend: the machine spend ledger, <state dir>/data_spend.sqlite3 (`data_ingestion/data_budget.py`), one row per paid request,
  against the budgets of the profile named in config/monitoring.json (`budgets_profile`).
The summaries (`summarize_attempts`, `spend_summary`) are pure table-in, figures-out functions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..analysis_engine.strategies.results.metrics import percentiles
from ..config_manager import Profile
from ..data_ingestion.breaker import STATE_FILE as BREAKER_FILE
from ..data_ingestion.breaker import BreakerStore
from ..data_ingestion.data_budget import SpendLedger, budget_periods
from ..data_ingestion.sources_registry import SERVING_OUTCOMES

log = logging.getLogger(__name__)

# Outcomes that count as errors: the source was tried and did not serve a usable chain.
ERROR_OUTCOMES = ("failed", "rejected", "refused")
NOT_ASKED_OUTCOMES = ("skipped", "unavailable")
NOT_ASKED_CODES = ("PAST_DATE",)  # a present-only source declining a past --date asked nobody and failed nothing
DAY_FOLDER_GLOB = "[0-9]" * 8

__all__ = ["Budgets", "ERROR_OUTCOMES", "budgets_from_profile", "read_breakers", "read_spend", "spend_summary",
           "summarize_attempts"]


@dataclass(frozen=True)
class Budgets:
    """Data budgets per paid source (dollars), from a run profile."""

    daily_usd: Mapping[str, float]
    monthly_usd: Mapping[str, float]
    profile: str

    @property
    def total_daily_usd(self) -> float | None:
        return float(sum(self.daily_usd.values())) if self.daily_usd else None

    @property
    def total_monthly_usd(self) -> float | None:
        return float(sum(self.monthly_usd.values())) if self.monthly_usd else None


def budgets_from_profile(profile: Profile) -> Budgets:
    """Every `data_sources.<source>` section with a daily or monthly budget is a paid source."""
    sources = profile.section("data_sources")
    daily = {name: float(section["daily_budget_usd"]) for name, section in sources.items()
             if isinstance(section, Mapping) and section.get("daily_budget_usd") is not None}
    monthly = {name: float(section["monthly_budget_usd"]) for name, section in sources.items()
               if isinstance(section, Mapping) and section.get("monthly_budget_usd") is not None}
    return Budgets(daily_usd=daily, monthly_usd=monthly, profile=profile.name)


def read_spend(outputs_dir: Path) -> pd.DataFrame:
    """The spend ledger as a table (at UTC, source, cost_usd, what); empty when nothing was paid for.

    A damaged line raises the data layer's own error: spend that cannot be counted is not zero."""
    entries = list(SpendLedger.under(outputs_dir).entries())
    if not entries:
        return pd.DataFrame({"at": pd.Series(dtype="datetime64[ns, UTC]"), "source": pd.Series(dtype="object"),
                             "cost_usd": pd.Series(dtype="float64"), "what": pd.Series(dtype="object")})
    frame = pd.DataFrame(entries)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def spend_summary(spend: pd.DataFrame, budgets: Budgets, now: pd.Timestamp) -> dict[str, Any]:
    """Today's and this month's spend (UTC, as the budget counts it) against the budgets, per source too."""
    today, this_month = budget_periods(spend["at"], now)
    day_total = float(spend.loc[today, "cost_usd"].sum())
    month_total = float(spend.loc[this_month, "cost_usd"].sum())
    names = sorted(set(budgets.daily_usd) | set(budgets.monthly_usd) | set(spend["source"]))
    by_source = [{"source": name,
                  "today_usd": float(spend.loc[today & (spend["source"] == name), "cost_usd"].sum()),
                  "month_usd": float(spend.loc[this_month & (spend["source"] == name), "cost_usd"].sum()),
                  "daily_budget_usd": budgets.daily_usd.get(name), "monthly_budget_usd": budgets.monthly_usd.get(name)}
                 for name in names]
    daily_budget, monthly_budget = budgets.total_daily_usd, budgets.total_monthly_usd
    return {
        "today_usd": day_total, "month_usd": month_total,
        "daily_budget_usd": daily_budget, "monthly_budget_usd": monthly_budget,
        "daily_pct": _pct(day_total, daily_budget), "monthly_pct": _pct(month_total, monthly_budget),
        "requests_today": int(today.sum()), "budgets_profile": budgets.profile, "by_source": by_source,
    }


def read_breakers(outputs_dir: Path) -> dict[str, Any]:
    """The newest day's circuit-breaker file: {day, breakers: [...]}; day None when none was written."""
    files = sorted(Path(outputs_dir).glob(f"{DAY_FOLDER_GLOB}/{BREAKER_FILE.as_posix()}"))
    if not files:
        return {"day": None, "breakers": []}
    newest = files[-1]
    records = BreakerStore(newest).load()
    breakers = [{"source": name, "state": record.state, "consecutive_failures": record.consecutive_failures,
                 "opened_at": None if record.opened_at is None else
                 pd.Timestamp(record.opened_at, unit="s", tz="UTC").isoformat(),
                 "last_reason": record.last_reason} for name, record in sorted(records.items())]
    return {"day": newest.parent.parent.name, "breakers": breakers}


def summarize_attempts(loads: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Figures over a list of chain loads, each the ordered attempts of one load.

    failover: a load served by a source other than the first it tried; error rate: attempts that
    failed, were rejected or refused over attempts that were made (skipped/unavailable ones, and a
    present-only source declining a past date (code PAST_DATE), were not)."""
    rows = [dict(attempt, load=i, position=j) for i, load in enumerate(loads) for j, attempt in enumerate(load)]
    if not rows:
        return {"loads": 0, "attempts": 0, "failures": 0, "error_rate": None, "failovers": 0,
                "latency_ms": percentiles([]), "by_source": []}
    frame = pd.DataFrame(rows)
    codes = frame["code"] if "code" in frame else pd.Series("", index=frame.index)
    frame = frame.assign(asked=~(frame["outcome"].isin(NOT_ASKED_OUTCOMES) | codes.isin(NOT_ASKED_CODES)))
    made = frame["asked"]
    errors = frame["outcome"].isin(ERROR_OUTCOMES) & made
    serving = frame["outcome"].isin(SERVING_OUTCOMES)  # a cache reuse served the run too
    served = frame[serving]
    failovers = int((served["position"] > 0).sum())
    by_source = []
    for name, group in frame.groupby("source", sort=True):
        tried = group[group["asked"]]
        problems = group[~group["outcome"].isin(SERVING_OUTCOMES)]
        lat = percentiles(tried["latency_ms"].astype("float64"))
        by_source.append({
            "source": name, "attempts": len(tried), "served": int(group["outcome"].isin(SERVING_OUTCOMES).sum()),
            "cached": int((group["outcome"] == "cached").sum()),
            "failed": int((group["outcome"].isin(ERROR_OUTCOMES) & group["asked"]).sum()),
            "skipped": int((group["outcome"] == "skipped").sum()),
            "latency_p50_ms": lat["p50"], "latency_p95_ms": lat["p95"],
            "cost_usd": float(pd.to_numeric(group.get("cost_usd", pd.Series(dtype="float64")), errors="coerce").sum()),
            "last_problem": str(problems["reason"].iloc[-1]) if len(problems) else None,
        })
    return {"loads": len(loads), "attempts": int(made.sum()), "failures": int(errors.sum()),
            "error_rate": float(errors.sum()) / float(made.sum()) if made.sum() else None,
            "failovers": failovers,
            "latency_ms": percentiles(frame.loc[made, "latency_ms"].astype("float64")),
            "by_source": by_source}


def _pct(value: float, budget: float | None) -> float | None:
    if budget is None or budget <= 0 or np.isnan(value):
        return None
    return 100.0 * value / budget

