"""Black-76 implied volatility: published and closed-form values, round trips, and honest NaNs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.options_trading_system.analysis_engine import black76
from tasks.options_trading_system.analysis_engine.black76 import (IV_ABOVE_MAX, IV_ARBITRAGE, IV_BAD_INPUT,
                                                                  IV_EXPIRED, IV_NO_PRICE, IV_NO_TIME_VALUE,
                                                                  IV_SOLVED, implied_vol, implied_vol_status)


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_hull_black76_put_example_prices_and_inverts() -> None:
    # Hull, Options, Futures and Other Derivatives: F = K = 20, r = 9%, T = 4 months, sigma = 25%
    # -> European futures put 1.116 (Black's model).
    put = float(black76.price(20.0, 20.0, 4 / 12, 0.25, False, 0.09))
    assert put == pytest.approx(1.116, abs=1e-3)
    assert float(implied_vol(put, 20.0, 20.0, 4 / 12, False, 0.09)) == pytest.approx(0.25, abs=1e-12)
    # the book's rounded 1.116 is a hair under the exact price: a hair under 25%
    assert float(implied_vol(1.116, 20.0, 20.0, 4 / 12, False, 0.09)) == pytest.approx(0.25, abs=2e-3)


def test_at_the_money_closed_form_both_rights() -> None:
    # ATM Black-76: C = P = F e^{-rT} (2 N(sigma sqrt(T) / 2) - 1)
    forward, years, sigma, rate = 21500.0, 30 / 365, 0.18, 0.04
    expected = forward * math.exp(-rate * years) * (2 * normal_cdf(sigma * math.sqrt(years) / 2) - 1)
    assert float(black76.price(forward, forward, years, sigma, True, rate)) == pytest.approx(expected, rel=1e-13)
    ivs = implied_vol([expected, expected], forward, forward, years, [True, False], rate)
    np.testing.assert_allclose(ivs, [sigma, sigma], rtol=0, atol=1e-13)


def test_round_trip_across_moneyness_maturities_and_vols() -> None:
    forward, rate = 20000.0, 0.03
    strikes = forward * np.linspace(0.7, 1.3, 61)
    years = np.array([1 / 365, 7 / 365, 30 / 365, 0.5, 2.0])
    sigmas = np.array([0.08, 0.2, 0.5, 1.2])
    k, t, s, call = (a.ravel() for a in np.meshgrid(strikes, years, sigmas, [True, False], indexing="ij"))
    prices = black76.price(forward, k, t, s, call, rate)
    iv, status = implied_vol_status(prices, forward, k, t, call, rate, min_time_value=1e-3)
    solved = status == IV_SOLVED
    assert solved.sum() > 0.6 * solved.size  # the rest: too little time value to carry information
    back = black76.price(forward, k[solved], t[solved], iv[solved], call[solved], rate)
    assert np.max(np.abs(back - prices[solved])) <= 1e-8
    vega = black76.vega(forward, k[solved], t[solved], s[solved], rate)
    informative = vega > 1.0  # a point of price per unit of vol: the vol itself is well determined
    assert np.max(np.abs(iv[solved][informative] - s[solved][informative])) <= 1e-9


def test_itm_price_gives_the_same_vol_as_the_otm_one() -> None:
    # put-call parity: the ITM call at K = 19000 carries exactly the OTM put's time value
    forward, strike, years, sigma, rate = 20000.0, 19000.0, 0.25, 0.3, 0.05
    call = float(black76.price(forward, strike, years, sigma, True, rate))
    put = float(black76.price(forward, strike, years, sigma, False, rate))
    assert call - put == pytest.approx(math.exp(-rate * years) * (forward - strike), rel=1e-12)
    np.testing.assert_allclose(implied_vol([call, put], forward, strike, years, [True, False], rate),
                               [sigma, sigma], atol=1e-10)


def test_unsolvable_prices_are_nan_with_the_reason() -> None:
    f, t = 20000.0, 0.1
    cases = [  # (price, strike, years, is_call, expected status)
        (float("nan"), 20000.0, t, True, IV_NO_PRICE),
        (0.0, 20000.0, t, True, IV_NO_PRICE),
        (50.0, 20000.0, 0.0, True, IV_EXPIRED),
        (50.0, float("nan"), t, True, IV_BAD_INPUT),
        (1999.0, 18000.0, t, True, IV_ARBITRAGE),        # below intrinsic 2000
        (20000.0, 21000.0, t, True, IV_ARBITRAGE),       # a call worth the whole future
        (2000.03, 18000.0, t, True, IV_NO_TIME_VALUE),   # deep ITM: 0.03 points of time value < 0.05
        (19000.0, 20000.0, t, True, IV_ABOVE_MAX),       # needs sigma ~ 12 (2N(s/2) - 1 = 0.95 -> s = 3.92)
        (800.0, 20000.0, t, True, IV_SOLVED),
    ]
    price, strike, years, is_call, expected = (np.array(c) for c in zip(*cases))
    iv, status = implied_vol_status(price, f, strike, years, is_call, 0.0, 5.0, min_time_value=0.05)
    assert status.tolist() == expected.tolist()
    assert np.isnan(iv[:-1]).all() and 0 < iv[-1] < 5.0


def test_shape_is_kept_and_a_scalar_gives_a_scalar() -> None:
    prices = black76.price(20000.0, np.array([[19500.0, 20500.0], [20000.0, 21000.0]]), 0.1, 0.2, True)
    iv = implied_vol(prices, 20000.0, np.array([[19500.0, 20500.0], [20000.0, 21000.0]]), 0.1, True)
    assert iv.shape == (2, 2)
    np.testing.assert_allclose(iv, 0.2, atol=1e-12)
    assert implied_vol(float(prices[0, 0]), 20000.0, 19500.0, 0.1, True).shape == ()


def test_bisection_fallback_finishes_what_newton_did_not(monkeypatch: pytest.MonkeyPatch) -> None:
    # one Newton step only: every entry goes through the bracketed bisection and still lands exactly
    monkeypatch.setattr(black76, "_NEWTON_ITERATIONS", 1)
    strikes = np.array([16000.0, 19000.0, 20000.0, 21000.0, 26000.0])
    prices = black76.price(20000.0, strikes, 0.2, 0.35, False)
    np.testing.assert_allclose(implied_vol(prices, 20000.0, strikes, 0.2, False), 0.35, atol=1e-12)



def test_a_chain_solved_in_one_call_matches_each_option_solved_alone() -> None:
    # one call starts each option from the last solved one of its expiration (a smile moves little
    # between strikes); that start changes the steps, not the answer
    forward = 21500.0
    strikes = np.arange(19000.0, 24001.0, 50.0)
    years = np.array([2 / 365, 30 / 365, 0.4])
    k, t = (a.ravel() for a in np.meshgrid(strikes, years, indexing="ij"))
    k, t = k[np.argsort(t, kind="stable")], np.sort(t, kind="stable")  # by expiration, then strike
    smile = 0.18 + 0.9 * np.log(k / forward) ** 2 - 0.15 * np.log(k / forward)
    call = np.resize([True, False], k.size)
    prices = black76.price(forward, k, t, smile, call)
    together, status = implied_vol_status(prices, forward, k, t, call, min_time_value=0.05)
    alone = np.array([float(implied_vol_status(np.array([p]), forward, np.array([ki]), np.array([ti]),
                                               np.array([c]), min_time_value=0.05)[0][0])
                      for p, ki, ti, c in zip(prices, k, t, call)])
    solved = status == IV_SOLVED
    assert solved.sum() > 0.75 * solved.size  # the rest: deep ITM or worthless wings
    np.testing.assert_array_equal(np.isnan(together), np.isnan(alone))
    np.testing.assert_allclose(together[solved], alone[solved], rtol=1e-12, atol=0)
    back = black76.price(forward, k[solved], t[solved], together[solved], call[solved])
    assert np.max(np.abs(back - prices[solved])) <= 1e-8


def test_a_neighbour_far_from_the_root_still_lands_exactly() -> None:
    # alternating 5% and 400% volatilities at one expiration: each start is the other's answer
    forward, years = 20000.0, 0.1
    strikes = np.linspace(15000.0, 26000.0, 40)
    sigmas = np.resize([0.05, 4.0], strikes.size)
    prices = black76.price(forward, strikes, years, sigmas, True)
    iv, status = implied_vol_status(prices, forward, strikes, np.full(strikes.size, years),
                                    np.ones(strikes.size, dtype=bool), min_time_value=1e-6)
    solved = status == IV_SOLVED
    assert solved.sum() >= 25  # the 5% wings far from F have no time value
    back = black76.price(forward, strikes[solved], years, iv[solved], True)
    assert np.max(np.abs(back - prices[solved]) / prices[solved]) <= 1e-10



def test_a_neighbour_whose_volatility_prices_this_option_at_zero_still_lands() -> None:
    # at 5% the 30,000 call is worth 0 in floating point (d1 ~ -57): the start gives no Newton
    # step, so the bracket is bisected until Newton can take over
    forward, years = 20000.0, 0.02
    strikes, sigmas = np.array([20000.0, 30000.0]), np.array([0.05, 4.0])
    prices = black76.price(forward, strikes, years, sigmas, True)
    iv, status = implied_vol_status(prices, forward, strikes, np.full(2, years), np.ones(2, dtype=bool),
                                    min_time_value=1e-6)
    assert status.tolist() == [IV_SOLVED, IV_SOLVED]
    np.testing.assert_allclose(iv, sigmas, rtol=1e-10)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
