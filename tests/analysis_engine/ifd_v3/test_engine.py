"""The engine end to end on hand-made MBO: each confidence tier fires on an input built to reach
it (numbers worked out in each test), the market-making filter discounts a straddle, directions,
cooldown, and the streaming path giving the same signals as the batch path."""
from __future__ import annotations


import databento_dbn as dbn
import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3.config import CapacityConfig, IFDv3Config, SignalsConfig
from tasks.options_trading_system.analysis_engine.ifd_v3.engine import IFDv3Engine

NS = 1_000_000_000
T0 = 1_748_872_800 * NS  # 2025-06-02 14:00:00 UTC, a whole slice
CALL, PUT, CALL_2 = 501, 502, 503
MBO_DTYPE = np.dtype(dbn.MBOMsg._dtypes)


def definitions() -> pd.DataFrame:
    """NQM5 21500 call and put, 21600 call; $20 a point."""
    return pd.DataFrame({
        "instrument_id": [CALL, PUT, CALL_2], "raw_symbol": ["NQM5 C21500", "NQM5 P21500", "NQM5 C21600"],
        "root": "NQ", "group": "NQ", "security_type": "OOF", "right": ["C", "P", "C"],
        "strike": [21500.0, 21500.0, 21600.0], "expiration": pd.Timestamp("2025-06-20 13:30", tz="UTC"),
        "underlying": "NQM5", "underlying_id": 1, "multiplier": 20.0, "tick_size": 0.25, "currency": "USD"})


def baselines(quality: float, lookback: int = 20) -> pd.DataFrame:
    """History of every contract: 2,000 windows, 100 of them with |net| 2 -> mean 0.1,
    std sqrt(4 * 100 / 2000 - 0.01) = 0.436 (floored to 1 contract)."""
    days = round(quality * lookback)
    return pd.DataFrame({"underlying_root": "NQ", "strike": [21500.0, 21500.0, 21600.0], "right": ["C", "P", "C"],
                         "days": days, "windows": 2000, "mean": 0.1, "std": np.sqrt(0.19), "p50": 0.0, "p90": 0.0,
                         "p99": 2.0, "quality": quality, "values": [np.full(100, 2.0)] * 3})


def trades(rows: list[tuple]) -> np.ndarray:
    """rows: (seconds after T0, instrument, aggressor 'B'/'A', size, price, last-of-packet)."""
    out = np.zeros(len(rows), MBO_DTYPE)
    for i, (second, iid, side, size, price, last) in enumerate(rows):
        ts = T0 + int(second * NS)
        out[i] = (14, 160, 1, iid, ts, 0, int(price * NS), size, dbn.F_LAST if last else 0, 0, b"T",
                  side.encode(), ts, 0, i)
    return out


# six buys of the 21500 call, one per 10 s slice; |net| first reaches 50 (55) on the sixth
CAMPAIGN = [(10 * k, CALL, "B", size, 100.0, True) for k, size in enumerate((5, 5, 5, 5, 5, 30))]


def run(rows: list[tuple], quality: float | None, **signals: object) -> tuple[pd.DataFrame, IFDv3Engine]:
    config = IFDv3Config(signals=SignalsConfig(**signals)) if signals else IFDv3Config()
    engine = IFDv3Engine(config, definitions=definitions(),
                         baselines=baselines(quality) if quality is not None else None)
    engine.process_batch(trades(rows))
    return engine.signals(), engine


def test_extreme_every_component_at_one_scores_exactly_one() -> None:
    """sig: 55 of 55 bought -> 1; persistence: 6 of 6 slices -> 1; trend: all in the last 150 s
    -> 1; concentration: the only contract trading -> 1; anomaly: z = (55 - 0.1) / 1 >= 4 and the
    100th percentile, quality 20/20 -> 1. Confidence 1.0."""
    signals, _ = run(CAMPAIGN, quality=1.0)
    assert len(signals) == 1
    row = signals.iloc[0]
    assert row["tier"] == "EXTREME" and row["confidence"] == pytest.approx(1.0)
    assert [row[c] for c in ("significance", "persistence", "trend", "concentration", "anomaly")] == \
        pytest.approx([1.0, 1.0, 1.0, 1.0, 1.0])
    assert (row["buy_volume"], row["sell_volume"], row["net_volume"], row["trades"]) == (55, 0, 55, 6)
    assert row["notional"] == pytest.approx(55 * 100.0 * 20)
    assert row["time"] == pd.Timestamp(T0 + 50 * NS, unit="ns", tz="UTC")
    assert (row["contract"], row["aggressor"], row["direction"]) == ("NQM5 C21500", "BUY", "LONG")
    assert row["z_score"] == pytest.approx(54.9) and row["percentile"] == 1.0


def test_very_high_with_half_the_history() -> None:
    """Quality 10/20 halves the anomaly: 0.65 + 0.35 * 0.5 = 0.825."""
    signals, _ = run(CAMPAIGN, quality=0.5)
    assert signals["tier"].tolist() == ["VERY_HIGH"]
    assert signals["confidence"].iloc[0] == pytest.approx(0.825)
    assert signals["baseline_quality"].iloc[0] == 0.5 and signals["baseline_days"].iloc[0] == 10


def test_high_with_a_fifth_of_the_history() -> None:
    """Quality 4/20: 0.65 + 0.35 * 0.2 = 0.72."""
    signals, _ = run(CAMPAIGN, quality=0.2)
    assert signals["tier"].tolist() == ["HIGH"]
    assert signals["confidence"].iloc[0] == pytest.approx(0.72)


def test_moderate_without_history_and_it_says_so() -> None:
    """No baseline: anomaly 0, confidence 0.65; z and percentile are missing, not 0."""
    signals, _ = run(CAMPAIGN, quality=None)
    row = signals.iloc[0]
    assert row["tier"] == "MODERATE" and row["confidence"] == pytest.approx(0.65)
    assert np.isnan(row["z_score"]) and np.isnan(row["percentile"]) and row["baseline_quality"] == 0.0
    assert "no baseline history" in row["reasons"]


def test_low_fires_only_when_the_threshold_is_below_moderate() -> None:
    """One print of 55 in one slice, no history: persistence 1/6 -> 0.25 + 0.15/6 + 0.10 + 0.15 =
    0.525: LOW, a signal with a 0.5 threshold, none with the default 0.6."""
    one_print = [(0, CALL, "B", 55, 100.0, True)]
    signals, _ = run(one_print, quality=None, min_confidence=0.5)
    assert signals["tier"].tolist() == ["LOW"]
    assert signals["confidence"].iloc[0] == pytest.approx(0.525)
    assert run(one_print, quality=None)[0].empty


def test_straddle_is_discounted_as_market_making_with_the_reason() -> None:
    """Call and put bought together, 30 + 30 twice: raw 0.25 + 0.15 * 2/6 + 0.10 + 0.15 + 0.35 = 0.9,
    halved to 0.45: no signal at the default 0.6; with a 0.4 threshold it fires, flagged."""
    rows = []
    for second in (0, 10):
        rows += [(second, CALL, "B", 30, 100.0, False), (second, PUT, "B", 30, 100.0, True)]
    signals, engine = run(rows, quality=1.0)
    assert signals.empty
    assert engine.stats()["counts"]["market_making_discounted"] == 2
    signals, _ = run(rows, quality=1.0, min_confidence=0.4)
    assert signals["contract"].tolist() == ["NQM5 C21500", "NQM5 P21500"]
    assert signals["market_making"].all()
    assert signals["raw_confidence"].tolist() == pytest.approx([0.9, 0.9])
    assert signals["confidence"].tolist() == pytest.approx([0.45, 0.45])
    assert "straddle-like" in signals["reasons"].iloc[0]


@pytest.mark.parametrize("iid, side, direction", [(CALL, "B", "LONG"), (CALL, "A", "SHORT"),
                                                  (PUT, "B", "SHORT"), (PUT, "A", "LONG")])
def test_direction_from_right_and_aggressor(iid: int, side: str, direction: str) -> None:
    rows = [(second, iid, side, size, price, last) for second, _, _, size, price, last in CAMPAIGN]
    signals, _ = run(rows, quality=1.0)
    assert signals["direction"].tolist() == [direction]


def test_one_campaign_one_signal_then_quiet_until_the_cooldown_passes() -> None:
    more = [(60 + 10 * k, CALL, "B", 10, 100.0, True) for k in range(10)]   # keeps buying to 150 s
    later = [(900 + 10 * k, CALL, "B", size, 100.0, True) for k, size in enumerate((5, 5, 5, 5, 5, 30))]
    signals, engine = run(CAMPAIGN + more + later, quality=1.0)
    assert signals["time"].tolist() == [pd.Timestamp(T0 + 50 * NS, unit="ns", tz="UTC"),
                                        pd.Timestamp(T0 + 950 * NS, unit="ns", tz="UTC")]
    assert engine.stats()["counts"]["cooldown_suppressed"] == 10


def test_small_or_cheap_flow_is_not_scored() -> None:
    small = [(0, CALL, "B", 49, 100.0, True)]                    # |net| 49 < 50
    cheap = [(0, CALL, "B", 60, 50.0, True)]                      # 60 x 50 x 20 = $60k < $100k
    for rows in (small, cheap):
        signals, engine = run(rows, quality=1.0)
        assert signals.empty and engine.stats()["counts"]["evaluations"] == 0


def test_undefined_instruments_trade_but_are_never_scored() -> None:
    rows = [(second, 999, side, size, price, last) for second, _, side, size, price, last in CAMPAIGN]
    signals, engine = run(rows, quality=1.0)
    assert signals.empty
    assert engine.stats()["counts"]["undefined_instrument_trades"] == 6


def test_signal_buffer_grows_past_its_capacity() -> None:
    config = IFDv3Config(capacity=CapacityConfig(signals=1))
    engine = IFDv3Engine(config, definitions=definitions(), baselines=baselines(1.0))
    rows = CAMPAIGN + [(second, CALL_2, side, size, price, last) for second, _, side, size, price, last in CAMPAIGN]
    engine.process_batch(np.sort(trades(rows), order="ts_recv", kind="stable"))
    assert engine.signals()["contract"].tolist() == ["NQM5 C21500", "NQM5 C21600"]


def test_one_record_at_a_time_equals_the_batch() -> None:
    rows = CAMPAIGN + [(5 + 10 * k, CALL_2, "A", 12, 80.0, True) for k in range(6)]
    batch = np.sort(trades(rows), order="ts_recv", kind="stable")
    engine = IFDv3Engine(IFDv3Config(), definitions=definitions(), baselines=baselines(1.0))
    for raw in batch:
        record = dbn.MBOMsg(1, int(raw["instrument_id"]), int(raw["ts_event"]), 0, int(raw["price"]),
                            int(raw["size"]), dbn.Action.TRADE, dbn.Side.BID if raw["side"] == b"B" else dbn.Side.ASK,
                            int(raw["ts_recv"]), flags=int(raw["flags"]))
        engine.on_event(record)
    streamed = engine.signals()
    batch_engine = IFDv3Engine(IFDv3Config(), definitions=definitions(), baselines=baselines(1.0))
    batch_engine.process_batch(batch)
    pd.testing.assert_frame_equal(streamed, batch_engine.signals())
    assert len(streamed) == 2


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_trades_of_unscored_instruments_do_not_dilute_concentration() -> None:
    """A future (undefined here, id 999) trading 10,000 contracts in the same window is not option
    flow: the call is still the only scored option trading, so concentration stays 1 and the score
    is the same 1.0 as without it."""
    future = [(5 + 10 * k, 999, "A", 2_000, 21_500.0, True) for k in range(5)]
    rows = sorted(CAMPAIGN + future, key=lambda r: r[0])
    signals, engine = run(rows, quality=1.0)
    assert signals["contract"].tolist() == ["NQM5 C21500"]
    assert signals["concentration"].iloc[0] == pytest.approx(1.0)
    assert signals["market_volume"].iloc[0] == 55
    assert signals["confidence"].iloc[0] == pytest.approx(1.0)
    assert engine.stats()["counts"]["undefined_instrument_trades"] == 5
