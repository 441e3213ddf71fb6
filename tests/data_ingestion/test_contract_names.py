"""One contract, one name, whichever source served it: CME Globex's `<series> <C|P><strike>`.

The same June 2, 2025 Monday weekly (the real Barchart capture MC6M5) read from Barchart and from
Databento (a local stand-in serving that chain as GLBX.MDP3 definitions with the raw symbols CME
gives them) names every contract the same way; real Databento definitions follow the pattern;
Polygon's proxy options follow it with a ticker-and-date series."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import databento
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tasks.options_trading_system.data_ingestion.canonical import validate_chain  # noqa: E402
from tasks.options_trading_system.data_ingestion.contract_names import (NAME_PATTERN, globex_name,  # noqa: E402
                                                                        proxy_name, strike_text)
from tasks.options_trading_system.data_ingestion.databento import parsing  # noqa: E402
from tasks.options_trading_system.data_ingestion.databento.config import DatabentoConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.databento.source import DatabentoSource  # noqa: E402
from tasks.options_trading_system.data_ingestion.polygon.parsing import build_proxy_chain  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.barchart_format import parse_barchart_response  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.barchart_symbols import decode_root  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture  # noqa: E402
from tasks.options_trading_system.data_ingestion.sources_registry import ChainRequest  # noqa: E402
from tasks.options_trading_system.sample_data.chain import generate_chain  # noqa: E402
from tests.vendor_servers.databento_server import DatabentoStandIn, market_from_barchart_capture  # noqa: E402
from tests.vendor_servers.fixtures import tls_pair, trusted_tls  # noqa: E402,F401

CAPTURE = "barchart_api_MC6M5_20250602_141553.json"
KEY = "db-" + "n" * 29
RECORDED = pd.Timestamp("2025-06-02 14:15", tz="UTC")


@pytest.mark.parametrize("barchart_root, globex", [
    ("NQM25", "NQM5"),      # monthly (quarterly) June 2025
    ("MQ1M25", "QN1M5"),    # Friday weekly, week 1
    ("MC6M25", "Q1AM5"),    # Monday weekly, week 1
    ("MC7N5", "Q2AN5"),     # Monday weekly, week 2, July 2025 (one-digit year, as in older captures)
    ("MM1M25", "Q1BM5"),    # Tuesday
    ("MC1M25", "Q1CM5"),    # Wednesday
    ("MM6M25", "Q1DM5"),    # Thursday
    ("MQ6M25", "QNEM5"),    # end of month
])
def test_barchart_roots_map_to_cme_globex_series(barchart_root: str, globex: str) -> None:
    assert decode_root(barchart_root, date(2025, 6, 2)).globex == globex


def test_a_barchart_row_is_named_as_cme_names_it() -> None:
    payload = {"count": 1, "total": 2, "data": {"Call": [
        {"strike": "21,500.00C", "raw": {"strike": 21500, "lastPrice": 80.0, "tradeTime": 1748898060,
                                         "optionType": "Call", "symbol": "MC6M25|21500C"}},
        {"strike": "21,512.50C", "raw": {"strike": 21512.5, "lastPrice": 70.0, "tradeTime": 1748898060,
                                         "optionType": "Call", "symbol": "MC6M25|21512.5C"}}]}}
    frame = parse_barchart_response(payload).frame
    assert list(frame["contract"]) == ["Q1AM5 C21500", "Q1AM5 C21512.5"] and set(frame["root"]) == {"Q1A"}


@pytest.fixture
def databento_standin(trusted_tls: tuple[Path, Path], shared_data: Path):
    market = market_from_barchart_capture(shared_data / "barchart" / CAPTURE, record_time=RECORDED,
                                          future_bid=21450.5, future_ask=21451.0)
    with DatabentoStandIn(market, tls=trusted_tls, key=KEY) as server:
        yield server


def test_the_same_contracts_from_barchart_and_databento_read_the_same(databento_standin: DatabentoStandIn,
                                                                      tmp_path: Path, shared_data: Path) -> None:
    barchart = validate_chain(read_capture(shared_data / "barchart" / CAPTURE)).frame
    source = DatabentoSource(DatabentoConfig(gateway=databento_standin.url), env={"DATABENTO_API_KEY": KEY},
                             output_root=tmp_path)
    request = ChainRequest(trade_date=date(2025, 6, 2), now=pd.Timestamp("2025-06-02 14:30", tz="UTC"))
    databento = validate_chain(source.fetch(request)).frame
    both = barchart.merge(databento, on="contract", suffixes=("_barchart", "_databento"))
    assert len(both) == len(databento) >= 500                   # every Databento contract has its Barchart twin
    for column in ("strike", "right", "expiration", "root"):
        assert (both[f"{column}_barchart"] == both[f"{column}_databento"]).all(), column
    assert "Q1AM5 C21500" in set(both["contract"]) and all(NAME_PATTERN.match(c) for c in both["contract"])


def test_real_databento_definitions_follow_the_pattern(shared_data: Path) -> None:
    folder = shared_data / "databento" / "nautilus"
    names = [str(s) for path in (folder / "options_catalog" / "options_definition.dbn.zst",
                                 folder / "options_exercise" / "options_definition.dbn.zst")
             for s in parsing.definitions(parsing.records_frame(databento.DBNStore.from_file(path).to_ndarray()))
             ["raw_symbol"]]
    assert sorted(names) == ["ESM4 P5230", "ESM4 P5250", "EW2F6 C7000"]
    assert all(NAME_PATTERN.match(name) for name in names)
    assert globex_name("EW2F6", "C", 7000.0) == "EW2F6 C7000"  # built the way CME writes it


def test_polygon_proxy_options_follow_the_pattern_with_ticker_and_date() -> None:
    item = {"details": {"contract_type": "call", "expiration_date": "2025-06-06", "shares_per_contract": 100,
                        "strike_price": 21500.0, "ticker": "O:NDX250606C21500000"},
            "last_quote": {"bid": 60.0, "ask": 61.0}, "open_interest": 410,
            "underlying_asset": {"ticker": "I:NDX", "value": 21480.25}}
    chain = build_proxy_chain([item], underlying="I:NDX", as_of=RECORDED)
    assert list(chain.frame["contract"]) == ["NDX250606 C21500"] and NAME_PATTERN.match("NDX250606 C21500")
    assert proxy_name("I:NDX", "2025-06-06", "P", 21512.5) == "NDX250606 P21512.5"


def test_the_sample_chain_uses_the_same_names() -> None:
    frame = generate_chain(200).frame
    assert frame["contract"].map(lambda c: bool(NAME_PATTERN.match(c))).all()
    assert frame["contract"].is_unique


@pytest.mark.parametrize("strike, text", [(21500.0, "21500"), (21512.5, "21512.5"), (0.25, "0.25")])
def test_strikes_are_written_without_a_trailing_zero(strike: float, text: str) -> None:
    assert strike_text(strike) == text


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
