"""The loader's failover: guarded sources are retried, skipped while their breaker is open, refused
or rejected with a recorded reason, and the next source serves; the profile wires it all."""
from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.config_manager import load_profile
from tasks.options_trading_system.data_ingestion.breaker import BreakerBoard, BreakerConfig
from tasks.options_trading_system.data_ingestion.canonical import ChainMeta, OptionsChain, build_chain_frame
from tasks.options_trading_system.data_ingestion.databento.source import DatabentoSource
from tasks.options_trading_system.data_ingestion.polygon.source import PolygonSource
from tasks.options_trading_system.data_ingestion.retry import RetryPolicy
from tasks.options_trading_system.data_ingestion.sources_registry import (
    OUTCOME_FAILED, OUTCOME_REFUSED, OUTCOME_REJECTED, OUTCOME_SERVED, OUTCOME_SKIPPED, OUTCOME_UNAVAILABLE,
    ChainLoader, ChainRequest, DataSource, SourceContext, SourceGuard, build_sources)
from tasks.options_trading_system.errors import (ConfigError, DataBudgetExceededError, DataSourceError, DataUnavailableError,
                                                 SourceNotAvailableError)

REQUEST = ChainRequest(trade_date=date(2025, 6, 2), now=pd.Timestamp("2025-06-02T14:00:00Z"))


def chain(source: str, strikes: tuple[float, ...] = (21400.0, 21500.0)) -> OptionsChain:
    """Calls and puts at `strikes`, priced around an underlying of 21,450, with open interest."""
    rows = [(k, r) for k in strikes for r in ("C", "P")]
    frame = build_chain_frame({
        "contract": [f"{r}{k:g}" for k, r in rows], "root": ["NQ"] * len(rows),
        "expiration": ["2025-06-06"] * len(rows), "strike": [k for k, _ in rows], "right": [r for _, r in rows],
        "bid": [100.0] * len(rows), "ask": [101.0] * len(rows), "open_interest": [50.0] * len(rows)})
    meta = ChainMeta(underlying_symbol="NQM25", source=source, as_of=pd.Timestamp("2025-06-02T14:00:00Z"),
                     multiplier=20.0, underlying_price=21450.0)
    return OptionsChain(frame=frame, meta=meta)


class Scripted(DataSource):
    """A network source that raises the scripted errors in turn, then serves `serves`."""

    network = True

    def __init__(self, name: str, script: list[Exception], serves: OptionsChain | None = None,
                 cost_on_success: float = 0.0) -> None:
        self.name = name  # type: ignore[misc]
        self.script = list(script)
        self.serves = serves or chain(name)
        self.calls = 0
        self.cost_on_success = cost_on_success

    def fetch(self, request: ChainRequest) -> OptionsChain:
        self.calls += 1
        assert request.deadline is not None, "the loader gives a guarded source its deadline"
        if self.script:
            raise self.script.pop(0)
        self.last_cost_usd = self.cost_on_success
        return self.serves


class Static(DataSource):
    name = "saved"

    def fetch(self, request: ChainRequest) -> OptionsChain:
        return chain("saved")


class Wall:
    def __init__(self) -> None:
        self.now = 1_748_872_800.0

    def __call__(self) -> float:
        return self.now


def guard(tmp_path: Path, wall: Wall, *, attempts: int = 3, threshold: int = 2) -> SourceGuard:
    sleeps: list[float] = []
    return SourceGuard(timeout_s=5.0, request_timeout_s=1.0,
                       retry=RetryPolicy(attempts=attempts, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0.0),
                       breakers=BreakerBoard(tmp_path, BreakerConfig(failure_threshold=threshold, reset_after_s=60),
                                             now=wall),
                       sleep=sleeps.append, rng=random.Random(1))


def guarded(source: DataSource, g: SourceGuard) -> DataSource:
    source.guard = g
    return source


def test_transient_failure_is_retried_and_the_same_source_serves(tmp_path: Path) -> None:
    source = guarded(Scripted("barchart", [DataSourceError("HTTP 500", transient=True, code="HTTP_500")]),
                     guard(tmp_path, Wall()))
    result = ChainLoader([source, Static()]).load(REQUEST)
    (attempt,) = result.attempts
    assert (attempt.source, attempt.outcome, attempt.code, attempt.retries, attempt.breaker) == \
        ("barchart", OUTCOME_SERVED, "OK", 1, "closed")
    assert attempt.contracts == 4 and source.calls == 2


def test_each_kind_of_failure_is_recorded_and_the_next_source_serves(tmp_path: Path) -> None:
    wall = Wall()
    sources = [
        guarded(Scripted("databento", [DataBudgetExceededError("daily data budget $8.00 would be broken")]),
                guard(tmp_path, wall)),
        guarded(Scripted("polygon", [DataSourceError("HTTP 503", transient=True, code="HTTP_503")] * 3),
                guard(tmp_path, wall, attempts=3)),
        guarded(Scripted("barchart", [], serves=chain("barchart", strikes=(21.4, 21.5))), guard(tmp_path, wall)),
        Static(),
    ]
    result = ChainLoader(sources).load(REQUEST)
    rows = [(a.source, a.outcome, a.code, a.retries) for a in result.attempts]
    assert rows == [("databento", OUTCOME_REFUSED, "BUDGET", 0),
                    ("polygon", OUTCOME_FAILED, "HTTP_503", 2),
                    ("barchart", OUTCOME_REJECTED, "VALIDATION", 0),
                    ("saved", OUTCOME_SERVED, "OK", 0)]
    assert "daily data budget" in result.attempts[0].reason
    assert "strike scale off" in result.attempts[2].reason
    assert result.chain.meta.source == "saved"


def test_breaker_opens_then_the_source_is_skipped_without_being_called(tmp_path: Path) -> None:
    wall = Wall()
    down = DataSourceError("cannot connect", transient=True, code="CONNECTION")
    source = guarded(Scripted("polygon", [down] * 10), guard(tmp_path, wall, attempts=1, threshold=2))
    loader = ChainLoader([source, Static()])
    outcomes = [loader.load(REQUEST).attempts[0] for _ in range(3)]
    assert [(a.outcome, a.breaker) for a in outcomes] == [(OUTCOME_FAILED, "closed"), (OUTCOME_FAILED, "open"),
                                                          (OUTCOME_SKIPPED, "open")]
    assert outcomes[2].code == "BREAKER_OPEN" and "circuit breaker open after 2 consecutive failures" in outcomes[2].reason
    assert source.calls == 2                     # the third run did not touch it
    wall.now += 61                               # past the reset time: one try is let through
    source.script = []
    half_open = loader.load(REQUEST).attempts[0]
    assert (half_open.outcome, half_open.breaker) == (OUTCOME_SERVED, "closed") and source.calls == 3


def test_a_source_that_is_not_set_up_does_not_trip_its_breaker(tmp_path: Path) -> None:
    wall = Wall()
    source = guarded(Scripted("databento", [SourceNotAvailableError("DATABENTO_API_KEY is not set", code="NO_KEY")] * 5),
                     guard(tmp_path, wall, threshold=1))
    for _ in range(3):
        attempt = ChainLoader([source, Static()]).load(REQUEST).attempts[0]
        assert (attempt.outcome, attempt.code, attempt.breaker) == (OUTCOME_UNAVAILABLE, "NO_KEY", "closed")


def test_a_source_that_crashes_is_recorded_as_failed_and_the_next_source_serves(tmp_path: Path) -> None:
    source = guarded(Scripted("barchart", [KeyError("strike")] * 5), guard(tmp_path, Wall(), threshold=1))
    result = ChainLoader([source, Static()]).load(REQUEST)
    crashed, served = result.attempts
    assert (crashed.outcome, crashed.code, crashed.retries, crashed.breaker) == (OUTCOME_FAILED, "UNEXPECTED", 0, "open")
    assert "unexpected KeyError: 'strike'" in crashed.reason and source.calls == 1   # a bug is not retried
    assert served.outcome == OUTCOME_SERVED and result.chain.meta.source == "saved"


def test_a_config_error_inside_a_source_stops_the_run(tmp_path: Path) -> None:
    source = guarded(Scripted("barchart", [ConfigError("data_sources.barchart.root: 'XX' is not an NQ option root")]),
                     guard(tmp_path, Wall()))
    with pytest.raises(ConfigError, match="is not an NQ option root"):
        ChainLoader([source, Static()]).load(REQUEST)


def test_cost_of_failed_tries_and_of_the_serving_try_add_up(tmp_path: Path) -> None:
    source = guarded(Scripted("databento", [DataSourceError("timeout", transient=True, cost_usd=0.30)],
                              cost_on_success=0.45), guard(tmp_path, Wall()))
    attempt = ChainLoader([source]).load(REQUEST).attempts[0]
    assert attempt.cost_usd == pytest.approx(0.75)


def test_when_everything_fails_the_error_lists_every_attempt(tmp_path: Path) -> None:
    source = guarded(Scripted("barchart", [DataSourceError("HTTP 404", code="HTTP_404")]), guard(tmp_path, Wall()))
    with pytest.raises(DataUnavailableError) as info:
        ChainLoader([source]).load(REQUEST)
    assert [(a.source, a.code) for a in info.value.attempts] == [("barchart", "HTTP_404")]
    assert "barchart: HTTP 404" in str(info.value)


def test_build_sources_guards_network_sources_with_the_profile_settings(tmp_path: Path) -> None:
    profile = load_profile("all_sources", env={}, overrides={"data_sources": {
        "timeout_s": 12, "request_timeout_s": 4, "retry": {"attempts": 5},
        "breaker": {"failure_threshold": 7, "reset_after_s": 90}, "polygon": {"timeout_s": 3}}})
    sources = build_sources(profile.section("data_sources")["priority"],
                            SourceContext(profile=profile, output_root=tmp_path, env={}))
    assert [s.name for s in sources] == ["barchart", "databento", "polygon", "saved"]
    by_name = {s.name: s for s in sources}
    assert by_name["barchart"].guard.timeout_s == 12 and by_name["barchart"].guard.request_timeout_s == 4
    assert by_name["polygon"].guard.timeout_s == 3                       # the vendor's own limit wins
    assert by_name["databento"].guard.retry.attempts == 5
    assert by_name["databento"].guard.breakers.config.failure_threshold == 7
    assert by_name["saved"].guard is None                                # saved data is never skipped
    scoped = by_name["polygon"].guard.scoped(REQUEST)
    assert scoped.timeout_s == 3 and scoped.request_timeout_s == 3 and scoped.deadline.seconds == 3


def test_the_runs_request_takes_instrument_and_time_limits_from_the_profile() -> None:
    profile = load_profile("all_sources", env={}, overrides={
        "instrument": {"symbol": "MNQ", "multiplier": 2}, "data_sources": {"timeout_s": 12, "request_timeout_s": 4}})
    request = ChainRequest.from_profile(profile, trade_date=REQUEST.trade_date, now=REQUEST.now)
    assert (request.symbol, request.multiplier, request.timeout_s, request.request_timeout_s) == ("MNQ", 2.0, 12.0, 4.0)
    assert (request.trade_date, request.now, request.deadline) == (REQUEST.trade_date, REQUEST.now, None)


@pytest.mark.parametrize("cls, variable", [(DatabentoSource, "DATABENTO_API_KEY"), (PolygonSource, "POLYGON_API_KEY")])
def test_a_keyed_source_without_its_key_says_which_variable_to_set(tmp_path: Path, cls: type, variable: str) -> None:
    profile = load_profile("all_sources", env={})
    source = cls.from_context(SourceContext(profile=profile, output_root=tmp_path, env={}))
    with pytest.raises(SourceNotAvailableError, match=f"{variable} is not set"):
        source.fetch(REQUEST)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
