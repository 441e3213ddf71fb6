"""The Polygon source through the real `polygon.RESTClient`, pointed (base=) at a local server that
serves the recorded responses in ../shared/data/polygon/mocks (and pages a test adds): mapping to the
canonical chain, pagination, the proxy flag, refusals."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from polygon import RESTClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tasks.options_trading_system.data_ingestion.canonical import validate_chain  # noqa: E402
from tasks.options_trading_system.data_ingestion.polygon.client import PolygonClient  # noqa: E402
from tasks.options_trading_system.data_ingestion.polygon.config import PolygonConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.polygon.source import PolygonSource  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture  # noqa: E402
from tasks.options_trading_system.data_ingestion.sources_registry import ChainRequest  # noqa: E402
from tasks.options_trading_system.errors import DataSourceError, SourceRefusedError  # noqa: E402
from tests.vendor_servers.polygon_server import PolygonStandIn, write_pages  # noqa: E402

KEY = "pk_test_key"
REQUEST = ChainRequest(trade_date=date(2025, 6, 2), now=pd.Timestamp("2025-06-02T14:30:00Z"))


def ndx_item(strike: float, right: str, bid: float, ask: float, oi: int, volume: int | None) -> dict:
    """One contract of an NDX snapshot page, shaped like Polygon's (index underlying has `value`)."""
    kind = "call" if right == "C" else "put"
    item = {"details": {"contract_type": kind, "exercise_style": "european", "expiration_date": "2025-06-06",
                        "shares_per_contract": 100, "strike_price": strike,
                        "ticker": f"O:NDX250606{right}{int(strike * 1000):08d}"},
            "last_quote": {"bid": bid, "ask": ask, "last_updated": 1748874600000000000},
            "open_interest": oi, "implied_volatility": 0.18, "greeks": {"delta": 0.5, "gamma": 0.001},
            "underlying_asset": {"ticker": "I:NDX", "value": 21480.25, "last_updated": 1748874600000000000}}
    if volume is not None:
        item["day"] = {"volume": volume, "close": (bid + ask) / 2}
    return item


@pytest.fixture
def ndx_pages(tmp_path: Path) -> Path:
    """A two-page I:NDX chain (21,500 then 21,600), stored the way the recordings are."""
    folder = tmp_path / "pages"
    write_pages(folder, "/v3/snapshot/options/I:NDX", [
        [ndx_item(21500, "C", 60.0, 61.0, 410, 95), ndx_item(21500, "P", 78.5, 80.5, 350, None)],
        [ndx_item(21600, "C", 22.0, 23.0, 120, 40), ndx_item(21600, "P", 140.0, 142.0, 90, 3)],
    ])
    return folder


@pytest.fixture
def standin(shared_data: Path, ndx_pages: Path):
    with PolygonStandIn([ndx_pages, shared_data / "polygon" / "mocks"], key=KEY) as server:
        yield server


def source(server: PolygonStandIn, output_root: Path, **settings: object) -> PolygonSource:
    return PolygonSource(PolygonConfig(base_url=server.url, **settings),  # type: ignore[arg-type]
                         env={"POLYGON_API_KEY": KEY}, output_root=output_root)


def test_the_real_client_follows_the_recorded_cursor_page(standin: PolygonStandIn) -> None:
    contracts = list(RESTClient(KEY, base=standin.url).list_options_contracts())
    assert len(contracts) == 20                                  # 10 on each recorded page
    assert [r.arg("cursor") for r in standin.requests] == [None, "YXA9JTdCJTIySUQlMjIlM0ElMjIy"]


def test_recorded_aapl_snapshot_maps_to_the_canonical_chain(standin: PolygonStandIn, tmp_path: Path) -> None:
    chain = validate_chain(source(standin, tmp_path, underlying="AAPL").fetch(REQUEST))
    row = chain.frame.iloc[0]
    assert (row["contract"], row["root"], row["right"], row["strike"]) == ("AAPL230616 C150", "AAPL", "C", 150.0)
    assert row["expiration"] == pd.Timestamp("2023-06-16")
    assert (row["bid"], row["ask"], row["mark"], row["last"]) == (28.9, 29.25, pytest.approx(29.075), 29.25)
    assert (row["volume"], row["open_interest"]) == (8.0, 8133.0)
    assert row["iv"] == pytest.approx(0.3570277203465058) and row["delta"] == pytest.approx(0.6436614934293701)
    assert row["source_ts"] == pd.Timestamp(1678718527714665700, unit="ns", tz="UTC")   # last trade time
    assert (chain.meta.multiplier, chain.meta.underlying_price) == (100.0, 159.9606)
    assert chain.meta.is_proxy and chain.meta.underlying_symbol == "AAPL"
    assert "PROXY" in chain.meta.notes[0] and "not the NQ future" in chain.meta.notes[0]


def test_ndx_chain_is_read_across_pages_with_the_horizon_asked(standin: PolygonStandIn, tmp_path: Path) -> None:
    chain = validate_chain(source(standin, tmp_path).fetch(REQUEST))
    assert sorted(zip(chain.frame["strike"], chain.frame["right"])) == [
        (21500.0, "C"), (21500.0, "P"), (21600.0, "C"), (21600.0, "P")]
    first, second = standin.requests
    assert first.path == "/v3/snapshot/options/I:NDX" and second.arg("cursor") == "page1"
    assert (first.arg("expiration_date.gte"), first.arg("expiration_date.lte"), first.arg("limit")) == \
        ("2025-06-02", "2025-06-16", "250")
    put = chain.frame[(chain.frame["strike"] == 21500) & (chain.frame["right"] == "P")].iloc[0]
    assert pd.isna(put["volume"]) and put["mark"] == 79.5          # no day bar: volume missing; mid of 78.5/80.5
    assert chain.meta.underlying_price == 21480.25                 # an index reports `value`
    assert chain.meta.underlying_symbol == "I:NDX" and set(chain.frame["root"]) == {"NDX"}
    assert chain.meta.is_proxy and chain.meta.multiplier == 100.0


def test_more_pages_than_allowed_is_refused_not_analysed_half(standin: PolygonStandIn, tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="more than 1 pages") as info:
        source(standin, tmp_path, max_pages=1).fetch(REQUEST)
    assert info.value.code == "TOO_LARGE"


def test_the_connection_pool_is_closed_even_when_the_chain_is_refused(standin: PolygonStandIn,
                                                                     tmp_path: Path) -> None:
    made: list[PolygonClient] = []

    def factory(*args: object, **kwargs: object) -> PolygonClient:
        made.append(PolygonClient(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    src = PolygonSource(PolygonConfig(base_url=standin.url, max_pages=1), env={"POLYGON_API_KEY": KEY},
                        output_root=tmp_path, client_factory=factory)
    with pytest.raises(DataSourceError, match="more than 1 pages"):
        src.fetch(REQUEST)
    (client,) = made
    assert client.pool.requests == 2 and len(client.pool.pools) == 0   # pages read, then every pool closed


def test_a_rejected_key_is_refused_naming_the_variable(standin: PolygonStandIn, tmp_path: Path) -> None:
    wrong = PolygonSource(PolygonConfig(base_url=standin.url), env={"POLYGON_API_KEY": "nope"}, output_root=tmp_path)
    with pytest.raises(SourceRefusedError, match="HTTP 401.*Unknown API Key.*check POLYGON_API_KEY"):
        wrong.fetch(REQUEST)


def test_the_capture_is_saved_for_replay_and_stays_flagged_as_proxy(standin: PolygonStandIn, tmp_path: Path) -> None:
    chain = source(standin, tmp_path).fetch(REQUEST)
    path = tmp_path / "20250602" / "api_data" / "polygon_INDX_chain_20250602_143000.json"
    assert chain.raw is not None and path.read_bytes() == chain.raw.content
    replayed = read_capture(path)
    assert replayed.meta.is_proxy and replayed.meta.source == "polygon" and len(replayed.frame) == 4


def test_a_past_date_is_refused_without_a_request(standin: PolygonStandIn, tmp_path: Path) -> None:
    next_week = ChainRequest(trade_date=date(2025, 6, 2), now=pd.Timestamp("2025-06-09T14:30:00Z"))
    with pytest.raises(SourceRefusedError) as refused:
        source(standin, tmp_path).fetch(next_week)
    assert refused.value.code == "PAST_DATE" and not standin.requests
    assert "snapshot is always the present one" in str(refused.value)

if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
