"""The Databento source through the real `databento.Historical`, pointed (gateway=) at a local HTTPS
stand-in that answers get_cost and serves DBN built with databento_dbn: the chain it builds, every
request priced first, the budget refusing before sending, spend remembered across runs, the cache."""
from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tasks.options_trading_system.data_ingestion.canonical import validate_chain  # noqa: E402
from tasks.options_trading_system.data_ingestion.data_budget import SpendLedger  # noqa: E402
from tasks.options_trading_system.data_ingestion.databento.config import DatabentoConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.databento.source import DatabentoSource  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture  # noqa: E402
from tasks.options_trading_system.data_ingestion.sources_registry import (  # noqa: E402
    OUTCOME_CACHED, OUTCOME_REFUSED, OUTCOME_SERVED, ChainLoader, ChainRequest, SourceGuard)
from tasks.options_trading_system.errors import (DataBudgetExceededError, DataUnavailableError,  # noqa: E402
                                                 SourceRefusedError)
from tests.vendor_servers.databento_server import Contract, DatabentoStandIn, hand_market  # noqa: E402
from tests.vendor_servers.fixtures import tls_pair, trusted_tls  # noqa: E402,F401

KEY = "db-" + "k" * 29
RECORDS_AT = pd.Timestamp("2025-06-02 14:10", tz="UTC")
NOW = pd.Timestamp("2025-06-02 14:30", tz="UTC")
REQUEST = ChainRequest(trade_date=date(2025, 6, 2), now=NOW)
MONDAY_CLOSE = pd.Timestamp("2025-06-02 20:00", tz="UTC")   # 16:00 New York
JUNE_QUARTERLY = pd.Timestamp("2025-06-20 13:30", tz="UTC")
COSTS = {"definition": 0.10, "statistics": 0.20, "trades": 0.30, "bbo-1m": 0.05}
FULL_RUN_COST = 0.10 + 0.20 + 0.30 + 0.05 + 0.05   # definitions, OI, trades, option quotes, future quote


def market() -> list[Contract]:
    """NQM5 and five of its options (a Monday weekly under CME code Q1A, one quarterly), plus three
    the source must leave out: a Micro option, a September option, and an ES option."""
    return [
        Contract(1, "NQM5", "NQ", "F", JUNE_QUARTERLY, bid=21450.50, ask=21451.00),
        Contract(11, "Q1AM5 C21400", "Q1A", "C", MONDAY_CLOSE, "NQM5", 21400.0, open_interest=120,
                 trades=((60.0, 5), (62.5, 3)), bid=61.75, ask=63.25),
        Contract(12, "Q1AM5 P21400", "Q1A", "P", MONDAY_CLOSE, "NQM5", 21400.0, open_interest=95,
                 trades=((12.0, 10),), bid=11.5, ask=12.5),
        Contract(13, "Q1AM5 C21500", "Q1A", "C", MONDAY_CLOSE, "NQM5", 21500.0, open_interest=300, bid=8.0, ask=9.0),
        Contract(14, "Q1AM5 P21500", "Q1A", "P", MONDAY_CLOSE, "NQM5", 21500.0, trades=((57.25, 2),)),
        Contract(21, "NQM5 C21500", "NQ", "C", JUNE_QUARTERLY, "NQM5", 21500.0, open_interest=1000, bid=300.0, ask=302.0),
        Contract(31, "QN1M5 C21500", "QN1", "C", MONDAY_CLOSE, "MNQM5", 21500.0, open_interest=5, multiplier=2.0),
        Contract(41, "NQU5 C22000", "NQ", "C", pd.Timestamp("2025-09-19 13:30", tz="UTC"), "NQU5", 22000.0,
                 open_interest=7),
        Contract(51, "ESM5 C6000", "ES", "C", MONDAY_CLOSE, "ESM5", 6000.0, open_interest=9, multiplier=50.0),
    ]


@pytest.fixture
def standin(trusted_tls: tuple[Path, Path]):
    with DatabentoStandIn(hand_market(market(), record_time=RECORDS_AT), tls=trusted_tls, key=KEY,
                          cost_per_request=COSTS) as server:
        yield server


def source(server: DatabentoStandIn, output_root: Path, **settings: object) -> DatabentoSource:
    """The source on the stand-in; a 21-day horizon takes in the June quarterly (18 days out)."""
    config = DatabentoConfig(gateway=server.url, **{"max_days_to_expiration": 21, **settings})  # type: ignore[arg-type]
    return DatabentoSource(config, env={"DATABENTO_API_KEY": KEY}, output_root=output_root)


def test_chain_from_definitions_statistics_trades_and_quotes(standin: DatabentoStandIn, tmp_path: Path) -> None:
    chain = validate_chain(source(standin, tmp_path).fetch(REQUEST))
    frame = chain.frame.set_index("contract")
    # weeklies under Q1A and the quarterly NQ option are in; the Micro, September and ES ones are not
    assert sorted(frame.index) == ["NQM5 C21500", "Q1AM5 C21400", "Q1AM5 C21500", "Q1AM5 P21400", "Q1AM5 P21500"]
    c21400 = frame.loc["Q1AM5 C21400"]
    assert (c21400["volume"], c21400["last"], c21400["bid"], c21400["ask"]) == (8.0, 62.5, 61.75, 63.25)
    assert (c21400["mark"], c21400["open_interest"], c21400["root"]) == (62.5, 120.0, "Q1A")
    assert c21400["expiration"] == pd.Timestamp("2025-06-02")
    p21500 = frame.loc["Q1AM5 P21500"]
    assert np.isnan(p21500["open_interest"]) and np.isnan(p21500["bid"])   # no statistic, no quote: missing
    assert p21500["mark"] == 57.25                                         # so the mark is its last trade
    assert np.isnan(frame.loc["Q1AM5 C21500", "volume"])                    # no trade: missing, not 0
    assert chain.meta.underlying_symbol == "NQM5"
    assert chain.meta.underlying_price == pytest.approx(21450.75)          # NQM5 mid (21450.50 + 21451.00) / 2
    assert chain.meta.multiplier == 20.0 and chain.meta.as_of == NOW


def test_daily_bars_and_mbp1_quotes_give_the_same_numbers(standin: DatabentoStandIn, tmp_path: Path) -> None:
    chain = source(standin, tmp_path, volume_schema="ohlcv-1d", quote_schema="mbp-1").fetch(REQUEST)
    c21400 = chain.frame.set_index("contract").loc["Q1AM5 C21400"]
    # one daily bar of the two trades (5 + 3 lots, closing at 62.5); the MBP-1 top of book 61.75 / 63.25
    assert (c21400["volume"], c21400["last"], c21400["bid"], c21400["ask"]) == (8.0, 62.5, 61.75, 63.25)
    schemas = {r.form()["schema"] for r in standin.requests if r.path == "/v0/timeseries.get_range"}
    assert schemas == {"definition", "statistics", "ohlcv-1d", "mbp-1"}
    assert chain.meta.underlying_price == pytest.approx(21450.75)


def test_options_are_requested_by_parent_including_weekly_codes_and_then_by_instrument_id(
        standin: DatabentoStandIn, tmp_path: Path) -> None:
    source(standin, tmp_path).fetch(REQUEST)
    forms = [r.form() for r in standin.requests if r.path == "/v0/timeseries.get_range"]
    definition = forms[0]
    assert definition["schema"] == "definition" and definition["stype_in"] == "parent"
    assert {"NQ.OPT", "Q1A.OPT", "QN1.OPT", "Q5D.OPT"} <= set(definition["symbols"].split(","))
    assert definition["start"].startswith("2025-06-01T22:00") and definition["end"].startswith("2025-06-02T14:30")
    stats = next(f for f in forms if f["schema"] == "statistics")
    assert stats["stype_in"] == "instrument_id" and sorted(stats["symbols"].split(",")) == ["11", "12", "13", "14", "21"]
    future = [f for f in forms if f["stype_in"] == "raw_symbol"]
    assert [(f["schema"], f["symbols"], f["start"][:16]) for f in future] == [("bbo-1m", "NQM5", "2025-06-02T14:00")]


def test_every_request_is_priced_before_it_is_sent_and_the_spend_is_recorded(standin: DatabentoStandIn,
                                                                            tmp_path: Path) -> None:
    src = source(standin, tmp_path)
    src.guard = SourceGuard(timeout_s=10, request_timeout_s=5)
    attempt = ChainLoader([src]).load(REQUEST).attempts[0]
    assert attempt.outcome == OUTCOME_SERVED and attempt.cost_usd == pytest.approx(FULL_RUN_COST)
    paths = [r.path for r in standin.requests]
    cost_calls = [i for i, p in enumerate(paths) if p == "/v0/metadata.get_cost"]
    range_calls = [i for i, p in enumerate(paths) if p == "/v0/timeseries.get_range"]
    assert len(cost_calls) == len(range_calls) == 5
    assert cost_calls[0] < range_calls[0] and max(cost_calls[1:]) < min(range_calls[1:])  # the plan is priced first
    totals = SpendLedger.under(tmp_path).totals("databento", NOW)
    assert totals.day_usd == pytest.approx(FULL_RUN_COST) and totals.month_usd == pytest.approx(FULL_RUN_COST)


def test_a_plan_that_would_break_the_daily_budget_is_refused_before_it_is_sent(standin: DatabentoStandIn,
                                                                              tmp_path: Path) -> None:
    with pytest.raises(DataBudgetExceededError) as info:
        source(standin, tmp_path, daily_budget_usd=0.50).fetch(REQUEST)
    # definitions ($0.10) were within budget; the rest ($0.60) would make $0.70 > $0.50
    assert "today's spend $0.10 + $0.60 exceeds the daily data budget $0.50" in str(info.value)
    assert "data_sources.databento.daily_budget_usd" in str(info.value)
    assert info.value.cost_usd == pytest.approx(0.10)
    assert standin.count("/v0/timeseries.get_range") == 1      # only the definitions were ever sent


def test_a_second_run_the_same_day_sees_the_first_runs_spend(standin: DatabentoStandIn, tmp_path: Path) -> None:
    source(standin, tmp_path, daily_budget_usd=1.00).fetch(REQUEST)                  # spends $0.70
    later = ChainRequest(trade_date=REQUEST.trade_date, now=NOW + pd.Timedelta(minutes=10))  # new window: not cached
    src = source(standin, tmp_path, daily_budget_usd=1.00)
    src.guard = SourceGuard(timeout_s=10, request_timeout_s=5)
    sent_before = standin.count("/v0/timeseries.get_range")
    with pytest.raises(DataUnavailableError) as info:
        ChainLoader([src]).load(later)
    attempt = info.value.attempts[0]
    assert (attempt.outcome, attempt.code) == (OUTCOME_REFUSED, "BUDGET")
    assert "today's spend $0.80 + $0.60 exceeds the daily data budget $1.00" in attempt.reason
    assert standin.count("/v0/timeseries.get_range") == sent_before + 1   # its definitions only


def test_the_monthly_budget_counts_earlier_days_of_the_month(standin: DatabentoStandIn, tmp_path: Path) -> None:
    SpendLedger.under(tmp_path).append("databento", 199.50, "earlier runs", pd.Timestamp("2025-06-01 15:00", tz="UTC"))
    SpendLedger.under(tmp_path).append("databento", 50.00, "last month", pd.Timestamp("2025-05-30 15:00", tz="UTC"))
    with pytest.raises(DataBudgetExceededError, match=r"this month's spend \$199.60 \+ \$0.60 exceeds the monthly "
                                                      r"data budget \$200.00"):
        source(standin, tmp_path).fetch(REQUEST)


def test_cached_responses_are_reused_without_asking_or_paying(standin: DatabentoStandIn, tmp_path: Path) -> None:
    first = source(standin, tmp_path)
    first.fetch(REQUEST)
    asked = (standin.count("/v0/metadata.get_cost"), standin.count("/v0/timeseries.get_range"))
    again = source(standin, tmp_path)
    chain = again.fetch(REQUEST)
    assert (standin.count("/v0/metadata.get_cost"), standin.count("/v0/timeseries.get_range")) == asked
    assert again.last_cost_usd == 0.0 and len(chain.frame) == 5
    assert len(list((tmp_path / "databento_cache").glob("*.dbn"))) == 5


def test_a_run_answered_wholly_from_the_cache_is_its_own_outcome(standin: DatabentoStandIn, tmp_path: Path) -> None:
    first = ChainLoader([source(standin, tmp_path)]).load(REQUEST).attempts[0]
    again = ChainLoader([source(standin, tmp_path)]).load(REQUEST).attempts[0]
    assert (first.outcome, first.code) == (OUTCOME_SERVED, "OK")
    assert (again.outcome, again.code, again.cost_usd) == (OUTCOME_CACHED, "CACHE", 0.0)
    assert again.reason.startswith("all 5 requests answered from the DBN cache") and again.contracts == 5


def test_the_capture_is_saved_where_the_saved_source_replays_it(standin: DatabentoStandIn, tmp_path: Path) -> None:
    chain = source(standin, tmp_path).fetch(REQUEST)
    path = tmp_path / "20250602" / "api_data" / "databento_chain_20250602_143000.json"
    assert chain.raw is not None and chain.raw.filename == path.name and path.read_bytes() == chain.raw.content
    replayed = validate_chain(read_capture(path))
    assert replayed.meta.source == "databento" and replayed.meta.underlying_price == pytest.approx(21450.75)
    pd.testing.assert_frame_equal(replayed.frame, validate_chain(chain).frame)


def test_a_rejected_key_is_refused_naming_the_variable_and_not_retried(standin: DatabentoStandIn,
                                                                      tmp_path: Path) -> None:
    src = DatabentoSource(DatabentoConfig(gateway=standin.url), env={"DATABENTO_API_KEY": "db-" + "x" * 29},
                          output_root=tmp_path)
    with pytest.raises(SourceRefusedError, match="HTTP 401.*check DATABENTO_API_KEY") as info:
        src.fetch(REQUEST)
    assert info.value.code == "AUTH" and len(standin.requests) == 1


def test_a_key_of_the_wrong_form_is_refused_without_a_request(standin: DatabentoStandIn, tmp_path: Path) -> None:
    src = DatabentoSource(DatabentoConfig(gateway=standin.url), env={"DATABENTO_API_KEY": "db-short"},
                          output_root=tmp_path)
    with pytest.raises(SourceRefusedError, match="DATABENTO_API_KEY does not look like a Databento key .* 8 characters"):
        src.fetch(REQUEST)
    assert standin.requests == []


def test_spend_ledger_lines_are_json_with_what_was_bought(standin: DatabentoStandIn, tmp_path: Path) -> None:
    source(standin, tmp_path).fetch(REQUEST)
    lines = [json.loads(line) for line in (tmp_path / "state" / "data_spend.jsonl").read_text().splitlines()]
    assert [line["cost_usd"] for line in lines] == [0.10, 0.20, 0.30, 0.05, 0.05]
    assert lines[0]["what"].startswith("definition for 27 parent symbol(s)")
    assert all(line["source"] == "databento" and line["at"] == NOW.isoformat() for line in lines)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
