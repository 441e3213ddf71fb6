"""A closed day's figures, by named query over its ledger rows (what `daily_summaries` stores)."""
from __future__ import annotations

from typing import Any

from ....state import queries
from ....state.ledger import Ledger
from . import metrics


def day_summary(ledger: Ledger, day: str) -> dict[str, Any]:
    """The day's figures, by query over its ledger rows (what `daily_summaries` stores)."""
    signals = queries.day_signal_judgements(ledger, day)
    trades = queries.day_closed_trades(ledger, day)
    costs = queries.day_costs_usd(ledger, day)
    return {"signals": metrics.signal_metrics(signals), "trades": metrics.trade_metrics(trades), "costs_usd": costs}
