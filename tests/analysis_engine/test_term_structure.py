"""The ATM IV term structure of a chain snapshot, by the greeks stage: a small hand-made chain
priced with Black-76 at known volatilities per expiration, so the answer is known in advance."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine import black76
from tasks.options_trading_system.analysis_engine.term_structure import term_structure
from tasks.options_trading_system.data_ingestion.canonical import ChainMeta, OptionsChain, build_chain_frame
from tasks.options_trading_system.expiry import years_to_settlement

AS_OF = pd.Timestamp("2025-06-02 14:00", tz="UTC")     # 10:00 New York
FORWARD = 21_500.0
STRIKES = np.arange(21_200.0, 21_801.0, 100.0)


def chain(vols: dict[str, float]) -> OptionsChain:
    """Calls and puts at STRIKES for each expiration, priced (bid = ask) at that expiration's flat vol."""
    rows: dict[str, list] = {k: [] for k in ("contract", "root", "expiration", "strike", "right", "bid", "ask")}
    for expiration, vol in vols.items():
        years = float(np.asarray(years_to_settlement(pd.Series([pd.Timestamp(expiration)]), AS_OF))[0])
        for right in ("C", "P"):
            price = black76.price(FORWARD, STRIKES, max(years, 1e-9), vol, np.full(len(STRIKES), right == "C"))
            for k, p in zip(STRIKES, np.atleast_1d(price)):
                rows["contract"].append(f"NQ{expiration}{right}{k:.0f}")
                rows["root"].append("NQ")
                rows["expiration"].append(expiration)
                rows["strike"].append(k)
                rows["right"].append(right)
                rows["bid"].append(round(float(p), 4))
                rows["ask"].append(round(float(p), 4))
    meta = ChainMeta(underlying_symbol="NQM5", source="test", as_of=AS_OF, multiplier=20.0, underlying_price=FORWARD)
    return OptionsChain(frame=build_chain_frame(rows), meta=meta)


def test_contango_front_below_next() -> None:
    # front weekly at 18%, next at 22%: next - front = +4 vol points, contango
    ts = term_structure(chain({"2025-06-06": 0.18, "2025-06-13": 0.22}))
    assert ts.front_expiration == pd.Timestamp("2025-06-06") and ts.next_expiration == pd.Timestamp("2025-06-13")
    assert ts.front_atm_iv == pytest.approx(0.18, abs=1e-4) and ts.next_atm_iv == pytest.approx(0.22, abs=1e-4)
    assert ts.spread == pytest.approx(0.04, abs=2e-4) and ts.complete
    assert ts.as_of_ns == AS_OF.value                    # stamped with the snapshot's time


def test_backwardation_front_above_next_and_expired_expirations_skipped() -> None:
    # an expiration settled on Friday is not the front; today's (settles 16:00 New York) is
    ts = term_structure(chain({"2025-05-30": 0.50, "2025-06-02": 0.30, "2025-06-06": 0.21, "2025-06-13": 0.19}))
    assert ts.front_expiration == pd.Timestamp("2025-06-02") and ts.next_expiration == pd.Timestamp("2025-06-06")
    assert ts.front_atm_iv == pytest.approx(0.30, abs=1e-3) and ts.next_atm_iv == pytest.approx(0.21, abs=1e-4)
    assert ts.spread == pytest.approx(-0.09, abs=1e-3)   # backwardation: near-term stress


def test_one_expiration_is_no_term_structure_and_says_why() -> None:
    ts = term_structure(chain({"2025-06-06": 0.18}))
    assert not ts.complete and math.isnan(ts.next_atm_iv)
    assert ts.front_atm_iv == pytest.approx(0.18, abs=1e-4) and "needs two" in ts.note
