"""The data-cost guards read the same spend ledger the data sources write, all sources together."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.guards import LedgerSpendReader
from tasks.options_trading_system.data_ingestion.data_budget import SpendLedger

from .builders import NOW, bracket, engine, snapshot


def test_every_sources_spend_counts_in_its_utc_day_and_month(tmp_path: Path) -> None:
    ledger = SpendLedger.under(tmp_path)
    ledger.append("databento", 3.0, "statistics", NOW - pd.Timedelta(hours=1))
    ledger.append("polygon", 2.5, "snapshot", NOW)
    ledger.append("databento", 4.0, "definitions", NOW - pd.Timedelta(days=1))
    ledger.append("databento", 9.0, "last month", NOW - pd.Timedelta(days=40))
    totals = LedgerSpendReader.under(tmp_path).totals(NOW)
    assert (totals.day_usd, totals.month_usd) == (5.5, 9.5)


def test_no_spend_file_is_no_spend(tmp_path: Path) -> None:
    totals = LedgerSpendReader.under(tmp_path).totals(NOW)
    assert (totals.day_usd, totals.month_usd) == (0.0, 0.0)


def test_a_damaged_spend_ledger_refuses_entries_instead_of_counting_zero(tmp_path: Path) -> None:
    ledger = SpendLedger.under(tmp_path)
    ledger.append("databento", 1.0, "statistics", NOW)
    with ledger.path.open("r+b") as handle:  # the SQLite header overwritten: not a database any more
        handle.write(b"not a spend ledger" * 8)
    risk = engine(spend=LedgerSpendReader.under(tmp_path))
    refusal = risk.check(bracket(), snapshot()).refusal
    assert refusal is not None and refusal.code == "SPEND_UNKNOWN"
    assert "spend ledger" in refusal.detail
