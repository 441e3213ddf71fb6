"""Fault injection for every network source, against its local stand-in: connection refused, a server
that never answers, 500 (retried), 429 with Retry-After, 401/403 (not retried), a truncated body,
a malformed body, an empty chain, strikes 1000x off. Each ends with the next source serving and the
reason recorded; a source failing again and again opens its breaker and is then skipped; a source
killed mid-run fails over."""
from __future__ import annotations

import random
import sys
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tasks.options_trading_system.data_ingestion.barchart.config import BarchartConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.barchart.source import BarchartSource  # noqa: E402
from tasks.options_trading_system.data_ingestion.breaker import BreakerBoard, BreakerConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.canonical import (ChainMeta, OptionsChain,  # noqa: E402
                                                                   build_chain_frame)
from tasks.options_trading_system.data_ingestion.databento.config import DatabentoConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.databento.source import DatabentoSource  # noqa: E402
from tasks.options_trading_system.data_ingestion.polygon.config import PolygonConfig  # noqa: E402
from tasks.options_trading_system.data_ingestion.polygon.source import PolygonSource  # noqa: E402
from tasks.options_trading_system.data_ingestion.retry import RetryPolicy  # noqa: E402
from tasks.options_trading_system.data_ingestion.sources_registry import (  # noqa: E402
    OUTCOME_FAILED, OUTCOME_REFUSED, OUTCOME_REJECTED, OUTCOME_SERVED, OUTCOME_SKIPPED, ChainLoader, ChainRequest,
    DataSource, LoadResult, SourceGuard)
from tests.vendor_servers.barchart_server import BarchartStandIn  # noqa: E402
from tests.vendor_servers.base import Fault, StandInServer, closed_port  # noqa: E402
from tests.vendor_servers.databento_server import Contract, DatabentoStandIn, hand_market  # noqa: E402
from tests.vendor_servers.fixtures import tls_pair  # noqa: E402,F401
from tests.vendor_servers.polygon_server import PolygonStandIn  # noqa: E402

ATTEMPTS = 2
REQUEST_TIMEOUT_S = 0.4
DB_KEY = "db-" + "f" * 29
PG_KEY = "pk_faults"
MONDAY_CLOSE = pd.Timestamp("2025-06-02 20:00", tz="UTC")


class Saved(DataSource):
    """The next source in line: always serves a small valid chain."""

    name = "saved"

    def fetch(self, request: ChainRequest) -> OptionsChain:
        frame = build_chain_frame({"contract": ["C21500", "P21500"], "root": ["NQ", "NQ"],
                                   "expiration": ["2025-06-06"] * 2, "strike": [21500.0, 21500.0],
                                   "right": ["C", "P"], "bid": [90.0, 110.0], "ask": [91.0, 111.0],
                                   "open_interest": [10.0, 12.0]})
        return OptionsChain(frame=frame, meta=ChainMeta(underlying_symbol="NQM25", source="saved",
                                                        as_of=request.now, multiplier=20.0,
                                                        underlying_price=21480.0))


@dataclass
class Vendor:
    """One network source wired to its running stand-in."""

    name: str
    server: StandInServer
    data_path: str                 # where data faults are injected
    request: ChainRequest
    make: Callable[[str, Path], DataSource]   # (base url, output root) -> source

    def source(self, output_root: Path, guard: SourceGuard, base_url: str | None = None) -> DataSource:
        source = self.make(base_url or self.server.url, output_root)
        source.guard = guard
        return source


def databento_market() -> list[Contract]:
    return [Contract(1, "NQM5", "NQ", "F", pd.Timestamp("2025-06-20 13:30", tz="UTC"), bid=21450.5, ask=21451.0),
            Contract(11, "Q1AM5 C21400", "Q1A", "C", MONDAY_CLOSE, "NQM5", 21400.0, open_interest=120,
                     trades=((62.5, 3),), bid=61.75, ask=63.25),
            Contract(12, "Q1AM5 P21400", "Q1A", "P", MONDAY_CLOSE, "NQM5", 21400.0, open_interest=95,
                     trades=((12.0, 10),), bid=11.5, ask=12.5)]


@pytest.fixture(params=["barchart", "databento", "polygon"])
def vendor(request: pytest.FixtureRequest, shared_data: Path, tls_pair: tuple[Path, Path],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Vendor]:
    name = request.param
    if name == "barchart":
        server: StandInServer = BarchartStandIn(shared_data / "barchart")
        vendor = Vendor(name, server, "/proxies/", ChainRequest(date(2025, 6, 2), pd.Timestamp("2025-06-02T14:15Z")),
                        lambda url, out: BarchartSource(BarchartConfig(base_url=url), output_root=out))
    elif name == "databento":
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_pair[0]))
        server = DatabentoStandIn(hand_market(databento_market(), record_time=pd.Timestamp("2025-06-02 14:10", tz="UTC")),
                                  tls=tls_pair, key=DB_KEY)
        vendor = Vendor(name, server, "/v0/timeseries.get_range",
                        ChainRequest(date(2025, 6, 2), pd.Timestamp("2025-06-02T14:30Z")),
                        lambda url, out: DatabentoSource(DatabentoConfig(gateway=url), env={"DATABENTO_API_KEY": DB_KEY},
                                                         output_root=out))
    else:
        server = PolygonStandIn([shared_data / "polygon" / "mocks"], key=PG_KEY)
        vendor = Vendor(name, server, "/v3/snapshot/", ChainRequest(date(2023, 6, 1), pd.Timestamp("2023-06-01T14:30Z")),
                        lambda url, out: PolygonSource(PolygonConfig(base_url=url, underlying="AAPL"),
                                                       env={"POLYGON_API_KEY": PG_KEY}, output_root=out))
    with server:
        yield vendor


class Wall:
    def __init__(self) -> None:
        self.now = 1_748_872_800.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def wall() -> Wall:
    return Wall()


def make_guard(tmp_path: Path, wall: Wall, sleeps: list[float], *, timeout_s: float = 5.0,
               request_timeout_s: float = REQUEST_TIMEOUT_S, threshold: int = 3) -> SourceGuard:
    """Short timeouts, two tries, no real sleeping (the waits are recorded)."""
    return SourceGuard(timeout_s=timeout_s, request_timeout_s=request_timeout_s,
                       retry=RetryPolicy(attempts=ATTEMPTS, initial_wait_s=0.05, max_wait_s=0.1, jitter_s=0.0,
                                         max_retry_after_s=5.0),
                       breakers=BreakerBoard(tmp_path, BreakerConfig(failure_threshold=threshold, reset_after_s=60),
                                             now=wall),
                       sleep=sleeps.append, rng=random.Random(0))


def load(vendor: Vendor, tmp_path: Path, guard: SourceGuard, base_url: str | None = None) -> LoadResult:
    return ChainLoader([vendor.source(tmp_path, guard, base_url), Saved()]).load(vendor.request)


# data requests of one complete try: Barchart's API call, Databento's definitions + statistics +
# trades + option quotes + future quote, Polygon's one snapshot page
DATA_REQUESTS_PER_TRY = {"barchart": 1, "databento": 5, "polygon": 1}

# fault -> (outcome, code, retried?)
PERSISTENT_FAULTS = {
    Fault.HANG: (OUTCOME_FAILED, "TIMEOUT", True),
    Fault.HTTP_500: (OUTCOME_FAILED, "HTTP_500", True),
    Fault.HTTP_429: (OUTCOME_FAILED, "RATE_LIMITED", True),
    Fault.HTTP_401: (OUTCOME_REFUSED, "AUTH", False),
    Fault.HTTP_403: (OUTCOME_REFUSED, "AUTH", False),
    Fault.TRUNCATE: (OUTCOME_FAILED, "TRUNCATED", True),
    Fault.MALFORMED: (OUTCOME_FAILED, "MALFORMED", False),
    Fault.EMPTY: (OUTCOME_FAILED, "EMPTY", False),
    Fault.SCALE_1000: (OUTCOME_REJECTED, "VALIDATION", False),
}


@pytest.mark.parametrize("fault", list(PERSISTENT_FAULTS), ids=lambda f: f.value)
def test_a_faulty_source_fails_over_to_the_next_with_the_reason(vendor: Vendor, fault: Fault, tmp_path: Path,
                                                                wall: Wall, sleeps: list[float]) -> None:
    outcome, code, retried = PERSISTENT_FAULTS[fault]
    vendor.server.inject(fault, times=10, path_prefix=vendor.data_path, retry_after=0.2)
    result = load(vendor, tmp_path, make_guard(tmp_path, wall, sleeps))
    first, second = result.attempts
    assert (first.source, first.outcome, first.code) == (vendor.name, outcome, code), first.reason
    assert (second.source, second.outcome) == ("saved", OUTCOME_SERVED) and result.chain.meta.source == "saved"
    assert first.reason and first.contracts == 0
    assert first.retries == (ATTEMPTS - 1 if retried else 0)
    # a fault stops a try at its first data request, except 1000x strikes, which only the gate catches
    one_try = DATA_REQUESTS_PER_TRY[vendor.name] if fault is Fault.SCALE_1000 else 1
    assert vendor.server.count(vendor.data_path) == (ATTEMPTS if retried else one_try)
    if fault is Fault.HTTP_429:
        assert sleeps == [0.2]                      # the server's Retry-After, not the backoff


def test_connection_refused_is_retried_then_the_next_source_serves(vendor: Vendor, tmp_path: Path, wall: Wall,
                                                                   sleeps: list[float]) -> None:
    scheme = "https" if vendor.name == "databento" else "http"
    result = load(vendor, tmp_path, make_guard(tmp_path, wall, sleeps), base_url=f"{scheme}://127.0.0.1:{closed_port()}")
    first, second = result.attempts
    assert (first.outcome, first.code, first.retries) == (OUTCOME_FAILED, "CONNECTION", ATTEMPTS - 1)
    assert "cannot connect" in first.reason and second.outcome == OUTCOME_SERVED
    assert sleeps == [0.05]                         # the first backoff


@pytest.mark.parametrize("fault", [Fault.HTTP_500, Fault.HTTP_429, Fault.TRUNCATE, Fault.HANG], ids=lambda f: f.value)
def test_one_transient_failure_is_retried_and_the_source_still_serves(vendor: Vendor, fault: Fault, tmp_path: Path,
                                                                      wall: Wall, sleeps: list[float]) -> None:
    vendor.server.inject(fault, times=1, path_prefix=vendor.data_path, retry_after=0.3)
    result = load(vendor, tmp_path, make_guard(tmp_path, wall, sleeps))
    (attempt,) = result.attempts
    assert (attempt.source, attempt.outcome, attempt.retries, attempt.breaker) == (vendor.name, OUTCOME_SERVED, 1, "closed")
    assert result.chain.meta.source == vendor.name and attempt.contracts == len(result.chain.frame) > 0
    assert sleeps == ([0.3] if fault is Fault.HTTP_429 else [0.05])


def test_the_breaker_opens_and_the_dead_source_is_skipped_without_a_request(vendor: Vendor, tmp_path: Path,
                                                                            wall: Wall, sleeps: list[float]) -> None:
    vendor.server.inject(Fault.HTTP_500, times=100, path_prefix=vendor.data_path)
    guard = make_guard(tmp_path, wall, sleeps, threshold=2)
    runs = [load(vendor, tmp_path, guard).attempts[0] for _ in range(2)]
    assert [(a.outcome, a.breaker) for a in runs] == [(OUTCOME_FAILED, "closed"), (OUTCOME_FAILED, "open")]
    seen = len(vendor.server.requests)
    skipped = load(vendor, tmp_path, guard)
    assert (skipped.attempts[0].outcome, skipped.attempts[0].code) == (OUTCOME_SKIPPED, "BREAKER_OPEN")
    assert skipped.chain.meta.source == "saved" and len(vendor.server.requests) == seen   # not even tried
    vendor.server.clear_faults()
    wall.now += 61                                   # reset time passed: half-open, one try, which works
    recovered = load(vendor, tmp_path, guard).attempts[0]
    assert (recovered.outcome, recovered.breaker) == (OUTCOME_SERVED, "closed")


def test_a_server_that_never_answers_is_cut_at_the_sources_time_limit(vendor: Vendor, tmp_path: Path, wall: Wall,
                                                                     sleeps: list[float]) -> None:
    """Per-request cap 30 s, source limit 1 s: the hanging request is given what is left of the 1 s,
    so the attempt ends as a timeout within the limit, with no time left for a retry."""
    vendor.server.inject(Fault.HANG, times=10, path_prefix=vendor.data_path)
    guard = make_guard(tmp_path, wall, sleeps, timeout_s=1.0, request_timeout_s=30.0)
    first, second = load(vendor, tmp_path, guard).attempts
    assert (first.outcome, first.code, first.retries) == (OUTCOME_FAILED, "TIMEOUT", 0)
    waited = float(first.reason.split("no answer within ")[1].split(" s")[0])
    assert 0 < waited <= 1.0 and second.outcome == OUTCOME_SERVED


def test_barchart_killed_between_page_and_api_fails_over(shared_data: Path, tmp_path: Path, wall: Wall,
                                                        sleeps: list[float]) -> None:
    server = BarchartStandIn(shared_data / "barchart")
    vendor = Vendor("barchart", server, "/proxies/", ChainRequest(date(2025, 6, 2), pd.Timestamp("2025-06-02T14:15Z")),
                    lambda url, out: BarchartSource(BarchartConfig(base_url=url), output_root=out))

    def kill_after_page(request) -> None:
        if request.path.startswith("/futures/"):
            threading.Thread(target=server.stop, daemon=True).start()

    server.on_request = kill_after_page
    with server:
        first, second = load(vendor, tmp_path, make_guard(tmp_path, wall, sleeps)).attempts
    assert (first.outcome, first.code) == (OUTCOME_FAILED, "CONNECTION") and second.outcome == OUTCOME_SERVED
    assert server.count("/proxies/") == 0 and server.count("/futures/") == 1


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
