"""The canonical chain gate: what is quarantined (and why), what is refused, how mark and the
underlying price are settled. Every expected number is worked out by hand in the test."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.data_ingestion.canonical import (
    CHAIN_COLUMNS, ORIGIN_PARITY, ORIGIN_SOURCE, REASON_CROSSED, REASON_DUPLICATE, REASON_MISSING_KEY,
    REASON_NEGATIVE, REASON_SCALE, ChainMeta, OptionsChain, build_chain_frame, implied_forward, validate_chain)
from tasks.options_trading_system.errors import ChainValidationError

EXP = "2025-06-06"


def make_chain(rows: list[dict], *, underlying: float = float("nan")) -> OptionsChain:
    """A chain from hand-written rows; columns absent from every row are NaN."""
    keys = sorted({k for row in rows for k in row})
    frame = build_chain_frame({k: [row.get(k) for row in rows] for k in keys})
    meta = ChainMeta(underlying_symbol="NQM25", source="test", as_of=pd.Timestamp("2025-06-02T18:30:00Z"),
                     multiplier=20.0, underlying_price=underlying)
    return OptionsChain(frame=frame, meta=meta)


def _good_rows(n: int) -> list[dict]:
    """n sane contracts around 21,500 (calls and puts alternating), each with OI."""
    rows = []
    for i in range(n):
        strike = 21400.0 + 25.0 * (i // 2)
        right = "C" if i % 2 == 0 else "P"
        rows.append({"contract": f"NQ {right}{strike:g}", "expiration": EXP, "strike": strike, "right": right,
                     "bid": 50.0, "ask": 52.0, "last": 51.0, "volume": 10.0, "open_interest": 100.0})
    return rows


def test_each_bad_row_is_quarantined_with_its_reason_and_counted() -> None:
    bad = [
        {"contract": "neg", "expiration": EXP, "strike": 21600.0, "right": "C", "bid": -1.0, "ask": 2.0,
         "open_interest": 5.0},
        {"contract": "crossed", "expiration": EXP, "strike": 21625.0, "right": "C", "bid": 12.0, "ask": 10.0,
         "open_interest": 5.0},
        {"contract": "NQ C21400", "expiration": EXP, "strike": 21400.0, "right": "C", "bid": 50.0, "ask": 52.0,
         "open_interest": 5.0},  # same contract name as the first good row: a duplicate
        {"contract": "x1000", "expiration": EXP, "strike": 21_500_000.0, "right": "P", "bid": 1.0, "ask": 2.0,
         "open_interest": 5.0},
        {"contract": "nostrike", "expiration": EXP, "strike": None, "right": "P", "bid": 1.0, "ask": 2.0,
         "open_interest": 5.0},
    ]
    chain = make_chain(_good_rows(10) + bad, underlying=21500.0)
    valid = validate_chain(chain)
    assert valid.quarantine_counts() == {REASON_NEGATIVE: 1, REASON_CROSSED: 1, REASON_DUPLICATE: 1,
                                         REASON_SCALE: 1, REASON_MISSING_KEY: 1}
    assert len(valid.frame) == 10
    assert set(valid.quarantine["contract"]) == {"neg", "crossed", "NQ C21400", "x1000", "nostrike"}
    assert "NQ C21400" in set(valid.frame["contract"])  # the first occurrence is kept


def test_strike_1000x_off_is_quarantined_when_the_price_comes_from_parity() -> None:
    # No underlying from the source: the gate must first settle it from parity (21,505, see the
    # parity test) and only then can it see that a strike of 21,500,000 is 1000x off.
    rows = _parity_rows() + [{"contract": "x1000", "expiration": EXP, "strike": 21_500_000.0, "right": "C",
                              "bid": 1.0, "ask": 2.0, "open_interest": 3.0}]
    valid = validate_chain(make_chain(rows))
    assert valid.meta.underlying_price_origin == ORIGIN_PARITY
    assert valid.quarantine_counts() == {REASON_SCALE: 1}


def test_chain_with_open_interest_missing_everywhere_is_refused() -> None:
    rows = [dict(r, open_interest=None) for r in _good_rows(6)]
    with pytest.raises(ChainValidationError, match="open interest is missing for every contract"):
        validate_chain(make_chain(rows, underlying=21500.0))


def test_empty_chain_is_refused() -> None:
    with pytest.raises(ChainValidationError, match="no contracts"):
        validate_chain(make_chain([], underlying=21500.0))


def test_chain_with_mostly_bad_rows_is_refused_naming_the_commonest_reason() -> None:
    rows = _good_rows(1) + [{"contract": f"n{i}", "expiration": EXP, "strike": 21500.0 + i, "right": "C",
                             "bid": -1.0, "ask": 1.0, "open_interest": 1.0} for i in range(3)]
    with pytest.raises(ChainValidationError, match=r"3 of 4 contracts failed validation \(most often: negative price\)"):
        validate_chain(make_chain(rows, underlying=21500.0))


def test_half_bad_is_still_accepted() -> None:
    # the limit is "more than half": 2 bad of 4 passes, with both quarantined
    rows = _good_rows(2) + [{"contract": f"n{i}", "expiration": EXP, "strike": 21500.0 + i, "right": "C",
                             "bid": -1.0, "ask": 1.0, "open_interest": 1.0} for i in range(2)]
    valid = validate_chain(make_chain(rows, underlying=21500.0))
    assert valid.quarantine_counts() == {REASON_NEGATIVE: 2}


def test_mark_is_mid_when_two_sided_else_last() -> None:
    frame = build_chain_frame({
        "contract": ["two-sided", "no-bid", "zero-bid", "crossed", "nothing"],
        "bid": [10.0, None, 0.0, 13.0, None],
        "ask": [12.0, 12.0, 0.5, 12.0, None],
        "last": [99.0, 11.5, 0.3, 12.25, None],
    })
    # (10 + 12) / 2 = 11; one side missing -> last 11.5; a zero bid is not a quote -> last 0.3;
    # crossed (13 > 12) -> last 12.25; nothing at all -> NaN (never 0)
    assert frame["mark"].tolist()[:4] == [11.0, 11.5, 0.3, 12.25]
    assert math.isnan(frame["mark"].iloc[4])


def test_missing_values_stay_nan_through_the_gate() -> None:
    rows = _good_rows(4)
    rows[1] = dict(rows[1], volume=None, last=None)
    rows[2] = dict(rows[2], open_interest=None)
    valid = validate_chain(make_chain(rows, underlying=21500.0))
    assert math.isnan(valid.frame.loc[1, "volume"]) and math.isnan(valid.frame.loc[1, "last"])
    assert math.isnan(valid.frame.loc[2, "open_interest"])
    assert (valid.frame["volume"] != 0).all() and valid.frame["iv"].isna().all()
    assert {c: str(t) for c, t in valid.frame.dtypes.items()} == CHAIN_COLUMNS


def _parity_rows() -> list[dict]:
    """Front expiry 2025-06-06 with marks (mid of bid/ask):
        strike  call  put   C - P + K        |C - P|
        21300   230    15   21515            215
        21400   150    40   21510            110
        21500    80    75   21505              5
        21600    35   130   21505             95
    The 3 strikes nearest the money by |C - P| are 21500, 21600, 21400 -> median(21505, 21505,
    21510) = 21505. A later expiry (2025-06-13) with other prices must be ignored."""
    marks = {21300.0: (230.0, 15.0), 21400.0: (150.0, 40.0), 21500.0: (80.0, 75.0), 21600.0: (35.0, 130.0)}
    rows = []
    for strike, (call, put) in marks.items():
        for right, mid in (("C", call), ("P", put)):
            rows.append({"contract": f"F {right}{strike:g}", "expiration": EXP, "strike": strike, "right": right,
                         "bid": mid - 1.0, "ask": mid + 1.0, "open_interest": 10.0})
    rows += [{"contract": "L C21500", "expiration": "2025-06-13", "strike": 21500.0, "right": "C",
              "bid": 299.0, "ask": 301.0, "open_interest": 10.0},
             {"contract": "L P21500", "expiration": "2025-06-13", "strike": 21500.0, "right": "P",
              "bid": 99.0, "ask": 101.0, "open_interest": 10.0}]
    return rows


def test_underlying_from_put_call_parity_when_the_source_gives_none() -> None:
    valid = validate_chain(make_chain(_parity_rows()))
    assert valid.meta.underlying_price == pytest.approx(21505.0)
    assert valid.meta.underlying_price_origin == ORIGIN_PARITY
    assert implied_forward(valid.frame) == pytest.approx(21505.0)


def test_underlying_from_the_source_wins_over_parity() -> None:
    valid = validate_chain(make_chain(_parity_rows(), underlying=21480.0))
    assert valid.meta.underlying_price == 21480.0
    assert valid.meta.underlying_price_origin == ORIGIN_SOURCE


def test_no_source_price_and_no_call_put_pair_is_refused() -> None:
    rows = [r for r in _parity_rows() if r["right"] == "C"]
    with pytest.raises(ChainValidationError, match="put-call parity is impossible"):
        validate_chain(make_chain(rows))


def test_trade_times_of_mixed_precision_all_survive() -> None:
    # snapshots write ISO times as pandas prints them: whole seconds beside nanoseconds
    frame = build_chain_frame({"contract": ["a", "b"], "strike": [100.0, 100.0], "right": ["C", "P"],
                               "source_ts": ["2025-06-02T14:10:00+00:00", "2025-06-02T14:10:00.000000001+00:00"]})
    assert frame["source_ts"].notna().all()
    assert frame["source_ts"].iloc[1] - frame["source_ts"].iloc[0] == pd.Timedelta(1, "ns")


def test_validation_leaves_the_input_chain_untouched() -> None:
    chain = make_chain(_good_rows(4) + [{"contract": "neg", "expiration": EXP, "strike": 21600.0, "right": "C",
                                         "bid": -1.0, "ask": 2.0, "open_interest": 5.0}], underlying=21500.0)
    validate_chain(chain)
    assert len(chain.frame) == 5 and np.isclose(chain.meta.underlying_price, 21500.0)
    assert chain.meta.underlying_price_origin == ""
    assert isinstance(chain.frame["expiration"].iloc[0], pd.Timestamp)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
