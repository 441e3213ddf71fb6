"""A small daily run built by hand: a 6-strike chain through the real pipeline of a real profile.

The chain (as of 2025-06-02 14:00 UTC, expiring 2025-06-06, underlying 21,500 quoted by the
source) has marks = Black-76 prices at 20% volatility rounded to whole points, so every IV solves:

    strike   call mark  call OI   put mark  put OI
    21350        -         -        119       300     (no call listed at 21350)
    21400      239       100        139       600
    21450      211       200        161       500
    21500      185       300        185       400
    21550      161       400        211       300
    21600      140        50        240       200     (call volume 1,000: vol/OI 20, a spike)

Hand-worked risk figures (multiplier 20; OTM calls above 21,500, OTM puts below):
    calls: 21550 400 x 161 x 20 = 1,288,000; 21600 50 x 140 x 20 = 140,000 -> 1,428,000
    puts:  21350 300 x 119 x 20 = 714,000; 21400 600 x 139 x 20 = 1,668,000;
           21450 500 x 161 x 20 = 1,610,000 -> 3,992,000
    ratio 1,428,000 / 3,992,000 = 0.3577 < 0.5 -> strong put dominance.
The spike: 1,000 x 140 (last) x 20 = $2,800,000 notional, tier HIGH (20 <= 20 < 30).
"""
from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext, Pipeline
from tasks.options_trading_system.config_manager import Profile, load_profile
from tasks.options_trading_system.daily_run import DailyRunResult
from tasks.options_trading_system.data_ingestion.canonical import RawCapture, validate_chain
from tasks.options_trading_system.data_ingestion.sources_registry import SourceAttempt
from tests.conftest import make_chain

EXPIRY = "2025-06-06"
# (strike, right, mark, open interest, volume)
ROWS = [
    (21350, "P", 119, 300, 40),
    (21400, "C", 239, 100, 10), (21400, "P", 139, 600, 90),
    (21450, "C", 211, 200, 20), (21450, "P", 161, 500, 70),
    (21500, "C", 185, 300, 60), (21500, "P", 185, 400, 50),
    (21550, "C", 161, 400, 80), (21550, "P", 211, 300, 30),
    (21600, "C", 140, 50, 1000), (21600, "P", 240, 200, 20),
]
SPIKE_CONTRACT = "NQM25 C21600"


def chain_rows(contract_names: dict[tuple[float, str], str] | None = None) -> list[dict]:
    names = contract_names or {}
    rows = []
    for strike, right, mark, oi, volume in ROWS:
        default = SPIKE_CONTRACT if (strike, right) == (21600, "C") else f"NQM25 {right}{strike}"
        rows.append({"contract": names.get((strike, right), default), "expiration": EXPIRY,
                     "strike": strike, "right": right, "bid": mark - 0.5, "ask": mark + 0.5, "last": mark,
                     "open_interest": oi, "volume": volume})
    return rows


def build_result(profile: Profile, *, source: str = "barchart", is_sample: bool = False, is_proxy: bool = False,
                 contract_names: dict[tuple[float, str], str] | None = None,
                 raw: RawCapture | None = None) -> DailyRunResult:
    """A DailyRunResult of the hand-written chain through `profile`'s real pipeline."""
    chain = make_chain(chain_rows(contract_names), underlying=21500.0, source=source,
                       as_of="2025-06-02T14:00:00Z")
    chain = dataclasses.replace(chain, raw=raw,
                                meta=dataclasses.replace(chain.meta, is_sample=is_sample, is_proxy=is_proxy))
    chain = validate_chain(chain)
    pipeline = Pipeline.from_profile(profile)
    result = pipeline.run(chain.frame, AnalysisContext.from_chain(chain))
    attempts = (SourceAttempt(source="databento", outcome="failed", reason="HTTP 503 from the gateway",
                              latency_ms=812.5, cost_usd=0.0, contracts=0),
                SourceAttempt(source=source, outcome="served", reason="ok", latency_ms=231.0, contracts=len(chain.frame)))
    return DailyRunResult(profile=profile, run_date=date(2025, 6, 2), started_at=pd.Timestamp("2025-06-02T18:45:07Z"),
                          chain=chain, attempts=attempts, pipeline=result, load_seconds=1.25,
                          warnings=("underlying quoted by the source",), run_stamp="144507-4242")


@pytest.fixture(scope="session")
def testing_profile() -> Profile:
    return load_profile("testing", env={})


@pytest.fixture
def make_profile(tmp_path: Path) -> Callable[[str, str], Profile]:
    """Write a profile JSON (it may extend `testing`) into tmp_path and load it."""
    def make(name: str, body: str) -> Profile:
        path = tmp_path / "profiles" / f"{name}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(body, encoding="utf-8")
        return load_profile(path, env={})
    return make


@pytest.fixture
def make_result(testing_profile: Profile) -> Callable[..., DailyRunResult]:
    """`make_result(profile=None, source=..., is_sample=..., is_proxy=..., contract_names=..., raw=...)`."""
    def make(profile: Profile | None = None, **kwargs) -> DailyRunResult:
        return build_result(profile or testing_profile, **kwargs)
    return make
