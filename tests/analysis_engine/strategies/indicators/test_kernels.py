"""Each incremental indicator equals its batch definition (pandas) on real NQ bars, and the
streaming objects give bit-identical values to the replay kernels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.indicators import kernels as K
from tasks.options_trading_system.analysis_engine.strategies.indicators import streaming as S


@pytest.fixture(scope="module")
def nq_bars(shared_data) -> pd.DataFrame:
    """The first 3,000 real NQ 1-minute bars."""
    return pd.read_csv(shared_data / "futures" / "NQ_1min_sample.csv", nrows=3000)


def _stream(indicator, *columns: np.ndarray) -> np.ndarray:
    return np.array([indicator.update(*values) for values in zip(*columns)], dtype=float)


def test_ema_equals_pandas_ewm_and_replay(nq_bars):
    close = nq_bars["close"].to_numpy(float)
    expected = pd.Series(close).ewm(span=20, adjust=False).mean().to_numpy()
    streamed = _stream(S.EMA(20), close)
    replayed = np.empty_like(close)
    K.ema_batch(K.ema_new(20), close, replayed)
    np.testing.assert_allclose(streamed, expected, rtol=1e-12)
    np.testing.assert_array_equal(streamed, replayed)


def test_rolling_mean_and_std_equal_pandas_rolling(nq_bars):
    close = nq_bars["close"].to_numpy(float)
    stats = S.RollingStats(30)
    got = np.array([stats.update(x) for x in close])
    expected_mean = pd.Series(close).rolling(30).mean().to_numpy()
    expected_std = pd.Series(close).rolling(30).std().to_numpy()
    assert np.isnan(got[:29]).all()
    np.testing.assert_allclose(got[29:, 0], expected_mean[29:], rtol=1e-12)
    np.testing.assert_allclose(got[29:, 1], expected_std[29:], rtol=1e-7, atol=1e-9)


def test_rsi_is_wilder_smoothing_of_gains_and_losses(nq_bars):
    close = pd.Series(nq_bars["close"].to_numpy(float))
    change = close.diff()
    gain = change.clip(lower=0).iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-change).clip(lower=0).iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
    expected = (100 - 100 / (1 + gain / loss)).to_numpy()
    got = _stream(S.RSI(14), close.to_numpy())
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], expected, rtol=1e-10)
    assert ((got[1:] >= 0) & (got[1:] <= 100)).all()


def test_rsi_of_a_rising_series_is_100():
    assert _stream(S.RSI(5), np.arange(1.0, 20.0))[-1] == 100.0


def test_atr_is_wilder_smoothing_of_true_range(nq_bars):
    h, l, c = (nq_bars[k].to_numpy(float) for k in ("high", "low", "close"))
    prev = np.r_[np.nan, c[:-1]]
    tr = np.nanmax(np.vstack([h - l, np.abs(h - prev), np.abs(l - prev)]), axis=0)
    expected = pd.Series(tr).ewm(alpha=1 / 14, adjust=False).mean().to_numpy()
    streamed = _stream(S.ATR(14), h, l, c)
    replayed = np.empty_like(h)
    K.atr_batch(K.atr_new(14), h, l, c, replayed)
    np.testing.assert_allclose(streamed, expected, rtol=1e-12)
    np.testing.assert_array_equal(streamed, replayed)


def test_vwap_is_cumulative_dollar_volume_over_volume_and_resets(nq_bars):
    price, size = nq_bars["close"].to_numpy(float), nq_bars["volume"].to_numpy(float)
    vwap = S.VWAP()
    got = _stream(vwap, price, size)
    np.testing.assert_allclose(got, np.cumsum(price * size) / np.cumsum(size), rtol=1e-12)
    vwap.reset()
    assert vwap.update(101.0, 2.0) == 101.0


def test_realised_vol_is_rolling_std_of_log_returns(nq_bars):
    close = nq_bars["close"].to_numpy(float)
    expected = pd.Series(np.log(close)).diff().rolling(20).std().to_numpy()
    got = _stream(S.RealisedVol(20), close)
    assert np.isnan(got[:20]).all()
    np.testing.assert_allclose(got[20:], expected[20:], rtol=1e-7, atol=1e-12)


def test_rolling_window_forgets_old_values_exactly():
    stats = S.RollingStats(3)
    for x in (1e9, -1e9, 5.0, 6.0, 7.0, 8.0):
        mean, std = stats.update(x)
    assert (mean, std) == (7.0, 1.0)


@pytest.mark.parametrize("make", [lambda: K.ema_new(0), lambda: K.rolling_new(1), lambda: K.rsi_new(0),
                                  lambda: K.atr_new(0)])
def test_nonsense_periods_are_refused(make):
    with pytest.raises(ValueError, match="must be >="):
        make()
