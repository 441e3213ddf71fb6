"""The Barchart source against a local barchart.com that serves the real recorded page and API
responses and, like the real site, answers 403 without the XSRF header and Referer: the flow, the
page's future quote, the capture (replayed by the saved source), the market-hours cache."""
from __future__ import annotations

import math
import sys
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tasks.options_trading_system.data_ingestion.barchart.client import BarchartClient  # noqa: E402
from tasks.options_trading_system.data_ingestion.barchart.config import BarchartConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.barchart.parsing import page_quote  # noqa: E402
from tasks.options_trading_system.data_ingestion.barchart.source import BarchartSource  # noqa: E402
from tasks.options_trading_system.data_ingestion.canonical import validate_chain  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture  # noqa: E402
from tasks.options_trading_system.data_ingestion.sources_registry import (  # noqa: E402
    OUTCOME_CACHED, OUTCOME_SERVED, ChainLoader, ChainRequest)
from tasks.options_trading_system.errors import DataSourceError, SourceRefusedError  # noqa: E402
from tests.vendor_servers.barchart_server import API_PATH, BarchartStandIn  # noqa: E402
from tests.vendor_servers.base import Fault  # noqa: E402

MARKET_OPEN = ChainRequest(trade_date=date(2025, 6, 2), now=pd.Timestamp("2025-06-02T14:15:00Z"))


@pytest.fixture
def standin(shared_data: Path):
    with BarchartStandIn(shared_data / "barchart") as server:
        yield server


def source(server: BarchartStandIn, output_root: Path, **settings: object) -> BarchartSource:
    return BarchartSource(BarchartConfig(base_url=server.url, **settings), output_root=output_root)  # type: ignore[arg-type]


def test_the_api_refuses_a_client_without_the_xsrf_header_like_the_real_site(standin: BarchartStandIn) -> None:
    assert requests.get(f"{standin.url}{API_PATH}?symbol=MC6M25&list=futures.options&raw=1", timeout=5).status_code == 403


def test_page_then_api_flow_returns_the_recorded_chain_with_the_page_quote(standin: BarchartStandIn,
                                                                          tmp_path: Path) -> None:
    chain = validate_chain(source(standin, tmp_path).fetch(MARKET_OPEN))
    page, api = standin.requests
    assert page.path == "/futures/quotes/NQM25/options/MC6M25"
    cookie = page_cookie = api.headers["Cookie"].split("XSRF-TOKEN=")[1].split(";")[0]
    assert api.headers["X-XSRF-TOKEN"] == unquote(page_cookie) != cookie          # URL-decoded cookie value
    assert api.headers["Referer"] == f"{standin.url}/futures/quotes/NQM25/options/MC6M25"
    assert (api.arg("symbol"), api.arg("list"), api.arg("raw"), api.arg("groupBy")) == \
        ("MC6M25", "futures.options", "1", "optionType")
    assert {"openInterest", "volume", "bidPrice", "askPrice", "tradeTime"} <= set(api.arg("fields").split(","))
    assert len(chain.frame) + len(chain.quarantine) == 576                      # the recording's 576 contracts
    assert set(chain.frame["expiration"]) == {pd.Timestamp("2025-06-02")}
    # the page shows NQM25 bid 21,450.50 / ask 21,451.00: the mid is the underlying price
    assert (chain.meta.underlying_symbol, chain.meta.underlying_price, chain.meta.underlying_price_origin) == \
        ("NQM25", 21450.75, "source")
    assert chain.meta.multiplier == 20.0 and chain.meta.source == "barchart"


def test_missing_volume_stays_missing(standin: BarchartStandIn, tmp_path: Path) -> None:
    chain = source(standin, tmp_path).fetch(MARKET_OPEN)
    row = chain.frame.set_index("contract").loc["Q1AM5 C20675"]   # shown as N/A volume, N/A bid on Barchart
    assert math.isnan(row["volume"]) and math.isnan(row["bid"]) and row["last"] == 859.38


def test_the_capture_is_an_envelope_the_saved_source_reads_back_identically(standin: BarchartStandIn,
                                                                           tmp_path: Path) -> None:
    chain = source(standin, tmp_path).fetch(MARKET_OPEN)
    path = tmp_path / "20250602" / "api_data" / "barchart_api_MC6M25_20250602_141500.json"
    assert chain.raw is not None and path.read_bytes() == chain.raw.content
    replayed = read_capture(path)
    pd.testing.assert_frame_equal(replayed.frame, chain.frame)
    assert replayed.meta == chain.meta


def test_a_young_capture_is_reused_in_market_hours_and_an_old_one_is_not(standin: BarchartStandIn,
                                                                        tmp_path: Path) -> None:
    src = source(standin, tmp_path)
    src.fetch(MARKET_OPEN)
    for minutes, expected_requests in ((4, 2), (6, 4)):   # 5-minute lifetime while CME trades
        later = ChainRequest(trade_date=MARKET_OPEN.trade_date, now=MARKET_OPEN.now + pd.Timedelta(minutes=minutes))
        src.fetch(later)
        assert len(standin.requests) == expected_requests


def test_a_reused_capture_shows_as_cached_in_the_attempts_not_as_ok(standin: BarchartStandIn, tmp_path: Path) -> None:
    loader = ChainLoader([source(standin, tmp_path)])
    first = loader.load(MARKET_OPEN).attempts[0]
    later = ChainRequest(trade_date=MARKET_OPEN.trade_date, now=MARKET_OPEN.now + pd.Timedelta(minutes=4))
    again = loader.load(later).attempts[0]
    assert (first.outcome, first.code, first.reason) == (OUTCOME_SERVED, "OK", "ok")
    assert (again.outcome, again.code) == (OUTCOME_CACHED, "CACHE") and again.contracts == first.contracts
    assert again.reason == "reused barchart_api_MC6M25_20250602_141500.json (240 s old, cache lifetime 300 s)"
    assert len(standin.requests) == 2                                  # the second load asked nothing


def test_outside_market_hours_the_capture_lives_thirty_minutes(standin: BarchartStandIn, tmp_path: Path) -> None:
    saturday = ChainRequest(trade_date=date(2025, 6, 7), now=pd.Timestamp("2025-06-07T15:00:00Z"))
    src = source(standin, tmp_path, root="MC6M25")
    src.fetch(saturday)
    for minutes, expected_requests in ((25, 2), (31, 4)):
        src.fetch(ChainRequest(trade_date=saturday.trade_date, now=saturday.now + pd.Timedelta(minutes=minutes)))
        assert len(standin.requests) == expected_requests


def test_a_page_without_the_xsrf_cookie_fails_with_a_reason(standin: BarchartStandIn, tmp_path: Path) -> None:
    standin.inject(Fault.MALFORMED, path_prefix="/futures/")
    with pytest.raises(DataSourceError, match="set no XSRF-TOKEN cookie") as info:
        source(standin, tmp_path).fetch(MARKET_OPEN)
    assert info.value.code == "MALFORMED"


class RecordingClient(BarchartClient):
    """The real client, remembering whether its session was closed."""

    made: list["RecordingClient"] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.closed = False
        RecordingClient.made.append(self)

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.mark.parametrize("fault", [None, Fault.HTTP_500])
def test_the_session_is_closed_after_a_fetch_that_served_or_failed(standin: BarchartStandIn, tmp_path: Path,
                                                                   fault: Fault | None) -> None:
    RecordingClient.made = []
    if fault is not None:
        standin.inject(fault, path_prefix="/proxies/")
    src = BarchartSource(BarchartConfig(base_url=standin.url), output_root=tmp_path, client_factory=RecordingClient)
    if fault is None:
        src.fetch(MARKET_OPEN)
    else:
        with pytest.raises(DataSourceError):
            src.fetch(MARKET_OPEN)
    (client,) = RecordingClient.made
    assert client.closed


def test_page_quote_falls_back_to_last_then_to_missing() -> None:
    one_sided = ('<div data-ng-controller="symbolHeaderCtrl" data-ng-init=\'init({"symbol":"NQU25",'
                 '"lastPrice":"21,500.25","bidPrice":"N/A","askPrice":"21,501.00"})\'></div>')
    assert page_quote(one_sided).price == 21500.25 and page_quote(one_sided).basis == "last"
    nothing = page_quote("<html><body>no quote here</body></html>")
    assert math.isnan(nothing.price) and nothing.basis == "missing"


def test_a_past_date_is_refused_without_asking_the_site(standin: BarchartStandIn, tmp_path: Path) -> None:
    three_days_later = ChainRequest(trade_date=date(2025, 6, 2), now=pd.Timestamp("2025-06-05T14:15:00Z"))
    with pytest.raises(SourceRefusedError) as refused:
        source(standin, tmp_path).fetch(three_days_later)
    assert refused.value.code == "PAST_DATE" and not standin.requests
    assert "cannot serve the past date 2025-06-02 (the present session is 2025-06-05)" in str(refused.value)


def test_on_a_weekend_the_last_sessions_date_is_the_present(standin: BarchartStandIn, tmp_path: Path) -> None:
    saturday = ChainRequest(trade_date=date(2025, 5, 30), now=pd.Timestamp("2025-05-31T15:00:00Z"))
    chain = source(standin, tmp_path, root="MC6M25").fetch(saturday)  # Friday's session is Saturday's present
    assert standin.requests and len(chain.frame) + len(chain.quarantine) == 576

if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
