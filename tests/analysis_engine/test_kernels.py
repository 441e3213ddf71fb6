"""The compiled passes give the numpy forms' figures to the last bit.

Each reference below is the numpy code the stage ran before the pass replaced it; every comparison
is exact (NaN equal to NaN, -0.0 told from 0.0), on seeded random inputs with the awkward values
(NaN, zero, ties, strikes exactly at the forward) mixed in.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from scipy.special import erfc

from tasks.options_trading_system.analysis_engine import black76, kernels
from tasks.options_trading_system.analysis_engine.expected_value import (ExpectedValueConfig, Horizon,
                                                                         candidate_pairs, direction_factors,
                                                                         reason_codes, reason_labels, EvRows,
                                                                         target_first_probability)
from tasks.options_trading_system.analysis_engine.gamma_exposure import sign_changes, total_gex
from tasks.options_trading_system.analysis_engine.greeks import (atm_iv_from_smile, atm_per_expiration, risk_reversal,
                                                                 smile_iv, strike_smile, wing_skew)
from tasks.options_trading_system.analysis_engine.pipeline import _factorize_sorted, _years_to_settlement
from tasks.options_trading_system.analysis_engine.risk import strike_table
from tasks.options_trading_system.analysis_engine.stage_tools import (add_columns, empty_rows, fast_frame, group_sum,
                                                                       json_records, letter_masks, select_first,
                                                                       table_records, text_array)
from tasks.options_trading_system.expiry import SECONDS_PER_YEAR

F = 21_500.0
TRIALS = 150


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal to the last bit: the same values, NaN where the other has NaN, the same zero signs (a
    NaN's sign bit is no value: IEEE leaves it to the operations, and no output shows it)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    numbers = ~np.isnan(a)
    return bool(np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers])))


def chain_rows(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Contracts around F: strikes on a 5-point grid (one of them at F), rights, figures with holes."""
    strike = np.sort(rng.choice(np.arange(F - 300, F + 305, 5.0), n))
    right = rng.integers(0, 3, n)  # 0 call, 1 put, 2 neither
    holes = lambda: np.where(rng.random(n) < 0.15, np.nan, rng.uniform(0, 900, n))  # noqa: E731
    return {"strike": strike, "is_call": right == 0, "is_put": right == 1, "oi": holes(), "mark": holes(),
            "volume": holes(), "gamma": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 0.01, n))}


def test_per_strike_sums_are_the_group_sums_of_numpy() -> None:
    rng = np.random.default_rng(1)
    for _ in range(TRIALS):
        r = chain_rows(rng, int(rng.integers(1, 120)))
        got = strike_table(r["strike"], r["is_call"], r["is_put"], r["oi"], r["mark"], r["gamma"], F, 20.0)
        strikes, codes = np.unique(r["strike"], return_inverse=True)
        n = strikes.size
        dollars = r["oi"] * r["mark"] * 20.0
        otm_call, otm_put = r["is_call"] & (r["strike"] > F), r["is_put"] & (r["strike"] < F)
        sign = np.where(r["is_call"], 1.0, np.where(r["is_put"], -1.0, np.nan))
        gex = sign * r["gamma"] * r["oi"] * 20.0 * F ** 2 * 0.01
        otm_calls = np.bincount(codes[otm_call], minlength=n).astype(np.float64)
        otm_puts = np.bincount(codes[otm_put], minlength=n).astype(np.float64)
        assert same(got.strike, strikes) and same(got.otm_calls, otm_calls) and same(got.otm_puts, otm_puts)
        assert same(got.call_oi, group_sum(codes, n, r["oi"], r["is_call"]))
        assert same(got.put_oi, group_sum(codes, n, r["oi"], r["is_put"]))
        assert same(got.call_dollars_at_risk, np.where(otm_calls > 0, group_sum(codes, n, dollars, otm_call), 0.0))
        assert same(got.put_dollars_at_risk, np.where(otm_puts > 0, group_sum(codes, n, dollars, otm_put), 0.0))
        assert same(got.gex, group_sum(codes, n, gex, np.ones(codes.size, dtype=bool)))


def numpy_sign_changes(x: np.ndarray, y: np.ndarray, reference: float) -> tuple[float, tuple[float, ...], str]:
    known = ~np.isnan(y)
    xs, ys = x[known], y[known]
    nonzero = np.flatnonzero(ys != 0)
    signs = np.sign(ys[nonzero])
    flips = np.flatnonzero(signs[:-1] != signs[1:])
    if flips.size == 0:
        stays = "positive" if signs.size and signs[-1] > 0 else "negative" if signs.size else "zero"
        return float("nan"), (), f"y never changes sign (stays {stays})"
    i, j = nonzero[flips], nonzero[flips + 1]
    before, after = ys[i], ys[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        levels = np.where(j == i + 1, xs[i] + (xs[j] - xs[i]) * before / (before - after), xs[np.minimum(i + 1, j)])
    return float(levels[np.argmin(np.abs(levels - reference))]), tuple(float(v) for v in levels), ""


def test_sign_changes_are_numpys_crossings() -> None:
    rng = np.random.default_rng(2)
    for _ in range(TRIALS):
        n = int(rng.integers(0, 40))
        x = np.sort(rng.uniform(0, 100, n))
        y = rng.choice([-2.0, -1.0, 0.0, 0.5, 3.0, np.nan], n) * rng.uniform(0.5, 2, n)
        got = sign_changes(x, y, 50.0, what="y")
        level, crossings, note = numpy_sign_changes(x, y, 50.0)
        assert same(np.array([got.level]), np.array([level])) and got.crossings == crossings and got.note == note


def test_factor_terms_and_pruned_pairs_are_the_numpy_filters() -> None:
    rng = np.random.default_rng(3)
    for trial in range(TRIALS):
        r = chain_rows(rng, int(rng.integers(2, 80)))
        if trial % 9 == 0:
            r["volume"][:] = np.nan  # a factor without data
        rows = EvRows(strike=r["strike"], is_call=r["is_call"], is_put=r["is_put"], open_interest=r["oi"],
                      volume=r["volume"], mark=r["mark"])
        config = ExpectedValueConfig(max_target_sigma=[None, 2.0][trial % 2], min_stop_sigma=[0.0, 0.1][trial % 2],
                                     collapse_duplicates=bool(trial % 3), min_probability=0.5, min_ev_points=5)
        factors = direction_factors(rows, F, config)
        for direction, factor in factors.items():  # the numpy form: clamp(sum v w m / max v, 0, 1)
            strikes, codes = np.unique(rows.strike, return_inverse=True)
            every = np.ones(codes.size, dtype=bool)
            on_side = strikes > F if direction == "LONG" else strikes < F
            modifier = np.where(on_side, 1.0, config.off_side_modifier)
            distance = np.abs(strikes - F) / F
            weights = select_first([distance <= limit for limit, _ in config.distance_bands],
                                   [w for _, w in config.distance_bands], config.far_weight)
            for name, values in (("oi", group_sum(codes, strikes.size, rows.open_interest, every)),
                                 ("volume", group_sum(codes, strikes.size, rows.volume, every))):
                known = ~np.isnan(values)
                want = float("nan") if not known.any() or values[known].max() <= 0 else float(np.clip(
                    (values[known] * weights[known] * modifier[known]).sum() / values[known].max(), 0.0, 1.0))
                assert same(np.array([getattr(factor, name)]), np.array([want]))
        sigma = [float("nan"), float(rng.uniform(20, 200))][trial % 2]
        horizon = Horizon(None, 0.2, 0.01, sigma, "", "")
        strikes = np.unique(rows.strike)
        pruned, counts = candidate_pairs(strikes, F, factors, config, horizon, prune=True)
        every_pair, _ = candidate_pairs(strikes, F, factors, config, horizon, prune=False)
        realism = config.max_target_sigma is not None or config.min_stop_sigma > 0
        checked = np.full(every_pair["long"].size, realism and not np.isnan(sigma))
        code = reason_codes(every_pair, every_pair["long"], checked, np.zeros_like(checked), config)
        labels = reason_labels(config)
        want_counts = {labels[c]: int(n) for c, n in enumerate(np.bincount(code, minlength=len(labels))) if c and n}
        assert counts.keys() == want_counts.keys() and all(counts[k] == want_counts[k] for k in counts)
        keep = np.flatnonzero(code == 0)
        for name, values in pruned.items():
            assert same(values, every_pair[name][keep]), name


def test_strike_smile_atm_and_fill_are_numpys() -> None:
    rng = np.random.default_rng(4)
    days = np.array(["2025-06-02", "2025-06-03", "2025-06-06"], dtype="datetime64[ns]")
    for trial in range(TRIALS):
        r = chain_rows(rng, int(rng.integers(1, 90)))
        expiration = np.sort(rng.choice(days, r["strike"].size))
        if trial % 4 == 0:  # rows out of order: the sort is needed
            order = rng.permutation(expiration.size)
            expiration, r = expiration[order], {k: v[order] for k, v in r.items()}
        iv = np.where(rng.random(expiration.size) < 0.3, np.nan, rng.uniform(0.1, 0.6, expiration.size))
        smile = strike_smile(expiration, r["strike"], iv, r["is_call"], r["is_put"], F)
        want = numpy_strike_smile(expiration, r["strike"], iv, r["is_call"], r["is_put"])
        assert all(same(a, b) for a, b in zip(smile, want))
        expirations = [pd.Timestamp(d) for d in np.unique(expiration)]
        atm = atm_iv_from_smile(smile, F)
        per_code = np.array([atm.get(e, (np.nan, ""))[0] for e in expirations])
        ticks = np.unique(expiration).view(np.int64)
        assert same(atm_per_expiration(smile, F, expirations, ticks), per_code)
        wanted, at = rng.choice(days, 12), rng.choice(np.arange(F - 320, F + 320, 2.5), 12)
        got = kernels.smile_fill(wanted.view(np.int64), at, smile[0].view(np.int64), smile[1], smile[2])
        assert same(got, smile_iv(wanted, at, smile))


def numpy_strike_smile(expiration: np.ndarray, strike: np.ndarray, iv: np.ndarray, call: np.ndarray,
                       put: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    known = ~np.isnan(iv)
    strike, expiration, iv, call, put = strike[known], expiration[known], iv[known], call[known], put[known]
    otm = (call & (strike >= F)) | (put & (strike <= F))
    order = np.lexsort((strike, expiration.view(np.int64)))
    strike, expiration, iv, otm = strike[order], expiration[order], iv[order], otm[order]
    if iv.size == 0:
        return expiration, strike, iv
    first = np.flatnonzero(np.r_[True, (strike[1:] != strike[:-1]) | (expiration[1:] != expiration[:-1])])
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(np.add.reduceat(otm.astype(float), first) > 0,
                         np.add.reduceat(np.where(otm, iv, 0.0), first) / np.add.reduceat(otm.astype(float), first),
                         np.add.reduceat(np.where(otm, 0.0, iv), first) / np.add.reduceat((~otm).astype(float), first))
    return expiration[first], strike[first], value


def test_skew_points_delta_gamma_and_gex_grid_are_numpys() -> None:
    rng = np.random.default_rng(5)
    for trial in range(TRIALS):
        r = chain_rows(rng, int(rng.integers(1, 90)))
        n = r["strike"].size
        years = rng.choice([0.0, 0.002, 0.02, 0.3, np.nan], n)
        iv = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0.05, 0.8, n))
        rate = [0.0, 0.03][trial % 2]
        delta, gamma = black76.delta_gamma(F, r["strike"], years, iv, r["is_call"], rate)
        want_delta, want_gamma = black76.delta_gamma(np.full(n, F), r["strike"], years, iv, r["is_call"], rate)
        assert same(delta, want_delta) and same(gamma, want_gamma)  # an array forward takes the numpy path
        rows = np.arange(n)
        got = wing_skew(kernels.wing_points(rows, r["strike"], iv, delta, r["is_call"], r["is_put"], F), 0.25)
        want = risk_reversal(r["strike"], iv, delta, r["is_call"], r["is_put"], F, 0.25)
        assert same(np.array([got[0]]), np.array([want[0]])) and got[1] == want[1]
        usable = ~np.isnan(iv) & (years > 0) & (r["strike"] > 0)
        if usable.any():
            prices = F * (1 + 0.001 * np.arange(-100, 101))
            signed_oi = rng.uniform(-50, 50, usable.sum())
            args = (r["strike"][usable], years[usable], iv[usable], signed_oi, 20.0)
            # the one sum not to the last bit: per grid price in the contracts' order (numpy's matrix
            # product adds in blocks), and a density below 2.2e-308 counted as 0; within rounding
            # of the terms' magnitude, which the same sum of |terms| gives
            magnitude = numpy_total_gex(prices, *args[:3], np.abs(signed_oi), 20.0)
            assert np.all(np.abs(total_gex(prices, *args) - numpy_total_gex(prices, *args)) <= 1e-13 * magnitude)


def numpy_total_gex(prices: np.ndarray, strike: np.ndarray, years: np.ndarray, iv: np.ndarray,
                    signed_oi: np.ndarray, multiplier: float) -> np.ndarray:
    sd = iv * np.sqrt(years)
    weight = signed_oi * np.broadcast_to(1.0, sd.shape) / sd * (1.0 / np.sqrt(2.0 * np.pi))
    d1 = np.subtract.outer(np.log(prices), np.log(strike))
    d1 *= 1.0 / sd
    d1 += 0.5 * sd
    d1 *= d1
    d1 *= -0.5
    np.exp(d1, out=d1)
    return (np.zeros(prices.shape) + d1 @ weight) * prices * (multiplier * 0.01)


def numpy_target_first(entry: float, target: np.ndarray, stop: np.ndarray, sigma: float, years: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The method of images term by term, and which pairs it covers (the others are the Fourier
    branch, the same code as before)."""
    out = np.full(target.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        width, z = np.abs(np.log(target / stop)), np.abs(np.log(entry / stop))
        spread = sigma * np.sqrt(np.maximum(np.full(target.shape, years), 0.0))
        tau = (spread / width) ** 2
    known = ~(np.isnan(width) | np.isnan(z) | np.isnan(spread))
    out[known & (spread == 0)] = 0.0
    small = np.flatnonzero(known & (spread > 0) & (tau < 0.25))
    zs, ws, scale = z[small], width[small], spread[small] * np.sqrt(2.0)
    images, live = np.zeros(small.size), np.arange(small.size)
    for k in range(4):
        odd = 2.0 * k + 1.0
        live = live[(odd * ws[live] - zs[live]) / scale[live] < 8.0]
        if live.size == 0:
            break
        images[live] += erfc((odd * ws[live] - zs[live]) / scale[live]) - erfc((odd * ws[live] + zs[live]) / scale[live])
    out[small] = images
    return out, ~(known & (spread > 0)) | (tau < 0.25)


def test_market_probability_at_short_horizons_is_the_image_series_term_by_term() -> None:
    rng = np.random.default_rng(6)
    for _ in range(TRIALS):
        n = int(rng.integers(1, 30))
        target = F + rng.choice([-1, 1], n) * rng.uniform(1, 900, n)
        stop = F - np.sign(target - F) * rng.uniform(1, 400, n)
        sigma, years = float(rng.choice([0.0, 0.15, 0.4, np.nan])), float(rng.choice([0.0, -0.0, 1e-5, 1e-3, np.nan]))
        want, images = numpy_target_first(F, target, stop, sigma, years)
        got = target_first_probability(F, target, stop, sigma, years)
        assert same(got[images], np.clip(want, 0.0, 1.0)[images])


def test_letters_read_off_the_text_buffers_are_the_string_comparison() -> None:
    rng = np.random.default_rng(7)
    values = np.array(["C", "P", "CC", "", "c", None, "P ", "é"], dtype=object)
    for trial in range(TRIALS):
        text = pd.array(list(rng.choice(values, int(rng.integers(0, 50)))), dtype="str")
        if trial % 3 == 0 and len(text) > 3:
            text = text[1:-1]  # a slice: the buffers start at an offset
        masks = letter_masks(text, ("C", "P"))
        objects = text.to_numpy(dtype=object, na_value=None)
        assert masks is not None and same(masks[0], objects == "C") and same(masks[1], objects == "P")


def test_year_fractions_are_the_datetime_arithmetic() -> None:
    rng = np.random.default_rng(8)
    zone = ZoneInfo("America/New_York")

    class Context:
        as_of: pd.Timestamp

    for _ in range(TRIALS):
        ctx = Context()
        ctx.as_of = pd.Timestamp("2021-01-01", tz="UTC") + pd.Timedelta(microseconds=int(rng.integers(0, 3 * 10 ** 14)))
        expirations = [pd.Timestamp(ctx.as_of.date()) + pd.Timedelta(days=int(d)) for d in rng.integers(-2, 300, 4)]
        start = ctx.as_of.to_pydatetime()
        want = [max((datetime(e.year, e.month, e.day, 16, tzinfo=zone) - start).total_seconds(), 0.0) / SECONDS_PER_YEAR
                for e in expirations]
        assert same(_years_to_settlement(expirations, ctx), np.array(want))


def test_table_helpers_give_the_frames_and_records_of_pandas() -> None:
    columns = {"strike": np.array([1.0, np.nan, 3.0]), "count": np.array([1, 2, 3]), "ok": np.array([True, False, True]),
               "when": np.array(["2025-06-02", "2025-06-02", "2025-06-03"], dtype="datetime64[ns]"),
               "side": pd.Categorical.from_codes([0, 1, 0], categories=["CALL", "PUT"]),
               "note": text_array(["a", "b", "c"]), "risk": np.array([np.inf, 2.0, -0.0])}
    frame = fast_frame(columns)
    pd.testing.assert_frame_equal(frame, pd.DataFrame(columns))
    for limit in (None, 0, 2):
        assert table_records(columns, limit) == json_records(frame, limit)
    pd.testing.assert_frame_equal(empty_rows(frame), frame.iloc[0:0])
    wider = add_columns(frame, {"risk": np.array([4.0, 5.0, 6.0]), "extra": np.array([7.0, 8.0, 9.0])})
    assert wider.columns.tolist() == [*columns, "extra"] and wider["risk"].tolist() == [4.0, 5.0, 6.0]
    wider.loc[0, "strike"] = 99.0  # copy-on-write: the frame it was built from is unchanged
    assert np.isnan(frame["strike"][1]) and frame["strike"][0] == 1.0


@pytest.mark.parametrize("values", [np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 2.0, 5.0]), np.array([1.0, np.nan])])
def test_sorted_unique_is_np_unique_or_declines(values: np.ndarray) -> None:
    listed, uniques, codes = kernels.sorted_unique(values)
    if listed:
        want_uniques, want_codes = np.unique(values, return_inverse=True)
        assert same(uniques, want_uniques) and same(codes, want_codes.astype(np.int64))
    else:
        assert not (np.all(values[1:] >= values[:-1]) and not np.isnan(values).any())


def test_expiration_codes_are_pandas_factorize() -> None:
    rng = np.random.default_rng(9)
    days = np.array(["2025-06-02", "2025-06-03", "2025-06-06", "NaT"], dtype="datetime64[ns]")
    for trial in range(TRIALS):
        values = rng.choice(days[:3] if trial % 3 else days, int(rng.integers(0, 30)))
        if trial % 2:
            values = np.sort(values)  # a chain listed by expiration (NaT sorts last)
        codes, uniques, first = _factorize_sorted(values)
        want_codes, want_uniques = pd.factorize(values, sort=True)
        assert same(codes, want_codes.astype(codes.dtype)) and same(uniques, np.asarray(want_uniques))
        if first is not None:
            listed = np.flatnonzero(codes >= 0)
            assert same(first, listed[np.unique(codes[listed], return_index=True)[1]])
