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

from tasks.options_trading_system.data_ingestion.canonical import ChainBounds, validate_chain  # noqa: E402
from tasks.options_trading_system.data_ingestion.data_budget import (DataBudget, SpendLedger,  # noqa: E402
                                                                      account_fingerprint)
from tasks.options_trading_system.data_ingestion.databento.config import DatabentoConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.databento.source import DatabentoSource  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture  # noqa: E402
from tasks.options_trading_system.data_ingestion.sources_registry import (  # noqa: E402
    OUTCOME_CACHED, OUTCOME_REFUSED, OUTCOME_SERVED, ChainLoader, ChainRequest, SourceGuard)
from tasks.options_trading_system.errors import (DataBudgetExceededError, DataSourceError,  # noqa: E402
                                                 DataUnavailableError, SourceRefusedError)
from tests.vendor_servers.budget_race import race_budget  # noqa: E402
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
    # the whole plan (definitions + a ceiling of the rest by parent) is priced before anything is bought,
    # then the actual requests by instrument id are priced before they are sent
    assert len(cost_calls) == 9 and len(range_calls) == 5
    assert max(cost_calls[:5]) < range_calls[0] and max(cost_calls[5:]) < min(range_calls[1:])
    totals = SpendLedger.default().totals("databento", NOW)
    assert totals.day_usd == pytest.approx(FULL_RUN_COST) and totals.month_usd == pytest.approx(FULL_RUN_COST)


def test_a_plan_that_would_break_the_daily_budget_is_refused_before_it_is_sent(standin: DatabentoStandIn,
                                                                              tmp_path: Path) -> None:
    with pytest.raises(DataBudgetExceededError) as info:
        source(standin, tmp_path, daily_budget_usd=0.50).fetch(REQUEST)
    # the whole plan, definitions included ($0.10 + $0.60), is priced first: nothing is bought, not even definitions
    assert "today's spend $0.00 + $0.70 exceeds the daily data budget $0.50" in str(info.value)
    assert "data_sources.databento.daily_budget_usd" in str(info.value)
    assert info.value.cost_usd == 0.0
    assert standin.count("/v0/timeseries.get_range") == 0
    assert SpendLedger.default().totals("databento", NOW).day_usd == 0.0


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
    assert "today's spend $0.70 + $0.70 exceeds the daily data budget $1.00" in attempt.reason
    assert standin.count("/v0/timeseries.get_range") == sent_before   # refused before buying anything


def test_the_monthly_budget_counts_earlier_days_of_the_month(standin: DatabentoStandIn, tmp_path: Path) -> None:
    account = account_fingerprint(KEY)
    SpendLedger.default().append("databento", 199.50, "earlier runs", pd.Timestamp("2025-06-01 15:00", tz="UTC"),
                                 account=account)
    SpendLedger.default().append("databento", 50.00, "last month", pd.Timestamp("2025-05-30 15:00", tz="UTC"),
                                 account=account)
    with pytest.raises(DataBudgetExceededError, match=r"this month's spend \$199.50 \+ \$0.70 exceeds the monthly "
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


def test_spend_rows_say_what_was_bought_under_an_account_fingerprint_never_the_key(
        standin: DatabentoStandIn, tmp_path: Path, private_state_dir: Path) -> None:
    source(standin, tmp_path).fetch(REQUEST)
    rows = list(SpendLedger.default().entries())
    assert [row["cost_usd"] for row in rows] == [0.10, 0.20, 0.30, 0.05, 0.05]   # no reservation left behind
    assert {row["status"] for row in rows} == {"spent"}
    assert rows[0]["what"].startswith("definition for 27 parent symbol(s)")
    assert all(row["source"] == "databento" and row["at"] == NOW for row in rows)
    assert {row["account"] for row in rows} == {account_fingerprint(KEY)}
    ledger_file = private_state_dir / "data_spend.sqlite3"
    assert ledger_file.is_file() and KEY.encode() not in ledger_file.read_bytes()
    assert not (tmp_path / "state").exists()    # nothing under the output folder


def test_a_new_output_folder_does_not_reset_the_daily_budget(standin: DatabentoStandIn, tmp_path: Path) -> None:
    source(standin, tmp_path / "first", daily_budget_usd=1.00).fetch(REQUEST)           # spends $0.70
    with pytest.raises(DataBudgetExceededError, match=r"today's spend \$0.70 \+ \$0.70"):
        source(standin, tmp_path / "second", daily_budget_usd=1.00).fetch(REQUEST)
    assert standin.count("/v0/timeseries.get_range") == 5                             # the first run's only


@pytest.mark.parametrize("quote", [float("nan"), float("inf"), -0.5, "free"])
def test_a_quote_that_is_not_a_finite_non_negative_price_is_refused_before_buying(
        trusted_tls: tuple[Path, Path], tmp_path: Path, quote: object) -> None:
    with DatabentoStandIn(hand_market(market(), record_time=RECORDS_AT), tls=trusted_tls, key=KEY,
                          cost_per_request={**COSTS, "statistics": quote}) as server:
        with pytest.raises(DataSourceError) as info:
            source(server, tmp_path).fetch(REQUEST)
        # our check says "bad quote"; with simplejson installed, requests already refuses NaN as not JSON
        assert info.value.code in ("BAD_QUOTE", "MALFORMED") and not info.value.transient
        assert server.count("/v0/timeseries.get_range") == 0                          # a NaN is not $0
    assert list(SpendLedger.default().entries()) == []


@pytest.mark.parametrize("quote", [float("nan"), float("inf"), -1.0, True, None])
def test_the_budget_refuses_a_bad_quote_before_reserving_anything(quote: object) -> None:
    budget = DataBudget("databento", daily_usd=8, monthly_usd=200, ledger=SpendLedger.default(), now=NOW,
                        setting_prefix="data_sources.databento", account="acct-x")
    with pytest.raises(DataSourceError, match="bad quote") as info:
        budget.reserve(quote, "statistics")  # type: ignore[arg-type]
    assert info.value.code == "BAD_QUOTE" and list(SpendLedger.default().entries()) == []


@pytest.mark.parametrize("budget_usd", [float("nan"), float("inf"), -1.0])
def test_a_budget_that_is_not_a_finite_amount_refuses_every_paid_request(budget_usd: float) -> None:
    with pytest.raises(DataBudgetExceededError, match="not a finite non-negative amount"):
        DataBudget("databento", daily_usd=budget_usd, monthly_usd=200, ledger=SpendLedger.default(), now=NOW,
                   setting_prefix="data_sources.databento")


def test_a_chain_above_max_contracts_is_refused_before_the_rest_is_bought(standin: DatabentoStandIn,
                                                                          tmp_path: Path) -> None:
    src = source(standin, tmp_path)
    src.bounds = ChainBounds(max_contracts=3)
    with pytest.raises(DataSourceError, match=r"5 contracts \(options selected from the definitions\) is more than "
                                              r"max_contracts 3") as info:
        src.fetch(REQUEST)
    assert info.value.code == "TOO_LARGE" and info.value.cost_usd == pytest.approx(0.10)   # the definitions only
    assert standin.count("/v0/timeseries.get_range") == 1
    assert SpendLedger.default().totals("databento", NOW).day_usd == pytest.approx(0.10)  # the rest released


def test_runs_racing_a_small_budget_from_several_processes_never_exceed_it(
        standin: DatabentoStandIn, tmp_path: Path, private_state_dir: Path) -> None:
    # three runs started together used to be billed $15 against an $8 cap: check, purchase and record
    # were not one locked step. Four processes, a $1.50 budget, a $0.70 plan each: two fit, two must be refused.
    outcomes = race_budget(standin.url, tmp_path, processes=4, daily_budget_usd=1.50)
    assert sorted(outcome["outcome"] for outcome in outcomes) == ["refused", "refused", "served", "served"]
    assert all(o["code"] == "BUDGET" for o in outcomes if o["outcome"] == "refused")
    spent = SpendLedger.default().totals("databento", NOW)
    assert spent.day_usd == pytest.approx(1.40) and spent.day_usd <= 1.50
    assert standin.count("/v0/timeseries.get_range") == 10                            # two full runs, no more


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
