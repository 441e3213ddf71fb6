#!/usr/bin/env python3
"""Pipeline benchmark: the four analysis stages on sample chains of 1,000 / 10,000 / 50,000 contracts,
against a straightforward per-row Python implementation of the same numbers.

For each size it prints the time of each stage and of the whole pipeline (best of `--repeat` runs),
contracts per second, the per-row reference's time and the speed-up, and it asserts that the
vectorized stages and the per-row reference agree (IV, delta, gamma per contract; dollars at risk,
verdict, zones, GEX per strike and the zero-gamma level; the EV setups with their probabilities
and market view; the volume spikes and the day bias). Then the IV solver's throughput at 1,000,000
contracts (the 50,000-contract chain repeated).

Goals on the 2-core reference machine: 10,000 contracts through all stages in < 0.2 s; IV >= 1M
contracts/s. Chains come from the project's seeded sample generator
(tasks/options_trading_system/sample_data/chain.py), priced on a skewed smile, with N/A volumes and
planted spikes. The profile is `testing` (all four stages, default thresholds).

    python3 scripts/benchmarks/bench_pipeline.py [--sizes 1000 10000 50000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # runnable from a plain checkout, without an install
    sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tasks.options_trading_system.analysis_engine import black76  # noqa: E402
from tasks.options_trading_system.analysis_engine.pipeline import (AnalysisContext, Pipeline,  # noqa: E402
                                                                   PipelineResult)
from tasks.options_trading_system.config_manager import load_profile  # noqa: E402
from tasks.options_trading_system.sample_data.chain import generate_chain  # noqa: E402

GOAL_PIPELINE_SIZE, GOAL_PIPELINE_SECONDS = 10_000, 0.2
GOAL_IV_RATE, IV_CONTRACTS = 1_000_000, 1_000_000
YEAR_SECONDS = 365.0 * 24 * 3600
NEW_YORK = ZoneInfo("America/New_York")


# --- the per-row reference: plain Python, one contract (or pair) at a time ---------------------

def n_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def n_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def ref_price(f: float, k: float, t: float, sigma: float, call: bool, r: float) -> float:
    sd = sigma * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    df = math.exp(-r * t)
    return df * (f * n_cdf(d1) - k * n_cdf(d2)) if call else df * (k * n_cdf(-d2) - f * n_cdf(-d1))


def ref_implied_vol(price: float, f: float, k: float, t: float, call: bool, r: float,
                    max_iv: float, min_time_value: float) -> float:
    """Scalar Newton on the OTM price in sigma, kept inside a shrinking bracket (bisection when a
    step leaves it); NaN for the same reasons as the vectorized solver."""
    if not (math.isfinite(price) and price > 0 and math.isfinite(t) and t > 0):
        return math.nan
    df = math.exp(-r * t)
    time_value = price - df * max((f - k) if call else (k - f), 0.0)
    call_side = k >= f
    q = time_value / df
    noise = 64 * sys.float_info.epsilon * max(abs(price), df * max(f, k))
    if time_value < -noise or q >= (f if call_side else k):
        return math.nan
    if not (time_value > 0 and time_value >= min_time_value):
        return math.nan
    otm = lambda s: ref_price(f, k, t, s, call_side, 0.0)  # noqa: E731  undiscounted OTM price
    if otm(max_iv) <= q:
        return math.nan
    lo, hi, sigma = 0.0, max_iv, min(max(math.sqrt(2 * abs(math.log(f / k)) / t), 0.05), max_iv)
    for _ in range(200):
        diff = otm(sigma) - q
        if diff == 0:
            return sigma
        if diff > 0:
            hi = sigma
        else:
            lo = sigma
        sd = sigma * math.sqrt(t)
        vega = f * n_pdf((math.log(f / k) + 0.5 * sd * sd) / sd) * math.sqrt(t)
        step = sigma - diff / vega if vega > 0 else math.nan
        if not lo < step < hi:
            step = 0.5 * (lo + hi)
        if abs(step - sigma) <= 1e-15 * step:
            return step
        sigma = step
    return sigma


def ref_years(as_of: pd.Timestamp, expiration: pd.Timestamp) -> float:
    settle = datetime(expiration.year, expiration.month, expiration.day, 16, tzinfo=NEW_YORK)
    return max((settle - as_of.to_pydatetime()).total_seconds(), 0.0) / YEAR_SECONDS


def reference(rows: list[dict[str, Any]], ctx: AnalysisContext, cfg: dict[str, Any]) -> dict[str, Any]:
    """All four analyses, row by row, with the same definitions as the stages."""
    f, mult = ctx.underlying_price, ctx.multiplier
    g, rk, ev, vs = cfg["greeks"], cfg["risk"], cfg["expected_value"], cfg["volume_spike"]
    # greeks
    for row in rows:
        t = ref_years(ctx.as_of, row["expiration"])
        iv = ref_implied_vol(row["mark"], f, row["strike"], t, row["right"] == "C", g.risk_free_rate,
                             g.max_iv, g.min_time_value)
        row["iv"] = iv
        if math.isnan(iv):
            row["delta"] = row["gamma"] = math.nan
        else:
            sd = iv * math.sqrt(t)
            d1 = (math.log(f / row["strike"]) + 0.5 * sd * sd) / sd
            df = math.exp(-g.risk_free_rate * t)
            row["delta"] = df * n_cdf(d1) if row["right"] == "C" else -df * n_cdf(-d1)
            row["gamma"] = df * n_pdf(d1) / (f * sd)
        row["years"] = t
    front = min(row["expiration"] for row in rows)
    front_rows = [row for row in rows if row["expiration"] == front]
    # risk (front expiration)
    call_total = put_total = 0.0
    dollars: dict[float, float] = defaultdict(float)
    gex: dict[float, float] = {}
    for row in front_rows:
        k, oi, mark = row["strike"], row["open_interest"], row["mark"]
        otm = (row["right"] == "C" and k > f) or (row["right"] == "P" and k < f)
        if otm and not math.isnan(oi) and not math.isnan(mark):
            dollars[k] += oi * mark * mult
            if row["right"] == "C":
                call_total += oi * mark * mult
            else:
                put_total += oi * mark * mult
        if not math.isnan(row["gamma"]) and not math.isnan(oi):
            sign = 1.0 if row["right"] == "C" else -1.0
            gex[k] = gex.get(k, 0.0) + sign * row["gamma"] * oi * mult * f * f * 0.01
    ratio = call_total / put_total if put_total else math.inf
    verdict = ("STRONG_CALL_DOMINANCE (upward pressure)" if ratio > rk.strong_call_ratio else
               "STRONG_PUT_DOMINANCE (downward pressure)" if ratio < rk.strong_put_ratio else "BALANCED")
    zones = []
    for k, d in dollars.items():
        if d <= 0 or d < rk.min_dollars_at_risk:
            continue
        dist = abs(k - f)
        z, u = rk.zone_distances, rk.urgency
        urgency = u.immediate if dist <= z.immediate else u.near if dist <= z.near else \
            u.medium if dist <= z.medium else u.distant
        zones.append((-d * urgency, dist, k))
    zones.sort()
    levels, cumulative, previous = [], 0.0, None
    for k in sorted(gex):
        before, cumulative = cumulative, cumulative + gex[k]
        if previous is not None and before != 0 and cumulative != 0 and (before > 0) != (cumulative > 0):
            levels.append(previous + (k - previous) * before / (before - cumulative))
        previous = k
    zero_gamma = min(levels, key=lambda level: abs(level - f)) if levels else math.nan
    # expected value (front expiration)
    oi_by: dict[float, float] = {}
    vol_by: dict[float, float] = {}
    call_money = put_money = 0.0
    for row in front_rows:
        k = row["strike"]
        if not math.isnan(row["open_interest"]):
            oi_by[k] = oi_by.get(k, 0.0) + row["open_interest"]
        if not math.isnan(row["volume"]):
            vol_by[k] = vol_by.get(k, 0.0) + row["volume"]
        if not math.isnan(row["mark"]) and not math.isnan(row["open_interest"]):
            if row["right"] == "C":
                call_money += row["mark"] * row["open_interest"]
            else:
                put_money += row["mark"] * row["open_interest"]

    def weight(k: float) -> float:
        for limit, w in ev.distance_bands:
            if abs(k - f) / f <= limit:
                return w
        return ev.far_weight

    def share(values: dict[float, float], long: bool) -> float:
        if not values or max(values.values()) <= 0:
            return math.nan
        total = sum(v * weight(k) * (1.0 if (k > f if long else k < f) else ev.off_side_modifier)
                    for k, v in values.items())
        return min(max(total / max(values.values()), 0.0), 1.0)

    balance = (call_money - put_money) / (call_money + put_money)
    atm = ref_atm_iv(front_rows, f)
    years = ref_years(ctx.as_of, front)
    strikes = sorted({row["strike"] for row in front_rows})
    setups = []
    w = ev.weights
    for long in (True, False):
        factors = [(w.oi, share(oi_by, long)), (w.volume, share(vol_by, long)),
                   (w.premium, ((1.0 if long else -1.0) * balance + 1.0) / 2.0)]
        present = [(weight_, value) for weight_, value in factors if not math.isnan(value)]
        scale = (w.oi + w.volume + w.premium + w.distance) / (sum(x for x, _ in present) + w.distance)
        for target in strikes:
            for stop in strikes:
                if not ((target > f > stop) if long else (target < f < stop)):
                    continue
                reward, risk = abs(target - f), abs(f - stop)
                distance = min(max(1.0 - abs(f - target) / f, 0.0), 1.0)
                p = (sum(x * v for x, v in present) + w.distance * distance) * scale
                p = min(max(p, ev.probability_floor), ev.probability_cap)
                value = p * reward - (1 - p) * risk
                if risk > ev.max_risk_points or reward / risk < ev.min_reward_risk or value < ev.min_ev_points \
                        or p < ev.min_probability:
                    continue
                market = ref_first_passage(f, target, stop, atm, years)
                setups.append((-value, -p, risk, target, stop, p, value, market))
    setups.sort()
    setups = setups[:ev.top_n]
    # volume spikes (whole chain)
    spikes = []
    call_dollars = put_dollars = 0.0
    for row in rows:
        volume, oi, last = row["volume"], row["open_interest"], row["last"]
        if not oi > 0 or not volume > 0 or volume / oi < vs.min_vol_oi or volume < vs.min_volume \
                or math.isnan(last) or volume * last * mult < vs.min_notional:
            continue
        notional = volume * last * mult
        spikes.append((-notional, -volume / oi, row["contract"]))
        if row["right"] == "C":
            call_dollars += notional
        else:
            put_dollars += notional
    spikes.sort()
    share_calls = call_dollars / (call_dollars + put_dollars) if spikes else math.nan
    bias = "NO_SPIKES" if not spikes else "BULLISH" if share_calls > vs.bullish_share else \
        "BEARISH" if share_calls < vs.bearish_share else "MIXED"
    return {"iv": [r["iv"] for r in rows], "delta": [r["delta"] for r in rows], "gamma": [r["gamma"] for r in rows],
            "call_dollars": call_total, "put_dollars": put_total, "verdict": verdict,
            "zones": [z[2] for z in zones], "gex": gex, "zero_gamma": zero_gamma,
            "setups": [(s[3], s[4], s[5], s[6], s[7]) for s in setups],
            "spikes": [s[2] for s in spikes], "bias": bias}


def ref_atm_iv(rows: list[dict[str, Any]], f: float) -> float:
    by_strike: dict[float, tuple[list[float], list[float]]] = {}
    for row in rows:
        if math.isnan(row["iv"]):
            continue
        k = row["strike"]
        otm = (row["right"] == "C" and k >= f) or (row["right"] == "P" and k <= f)
        by_strike.setdefault(k, ([], []))[0 if otm else 1].append(row["iv"])
    smile = sorted((k, sum(a) / len(a) if a else sum(b) / len(b)) for k, (a, b) in by_strike.items())
    for (k0, v0), (k1, v1) in zip(smile, smile[1:]):
        if k0 == f:
            return v0
        if k0 < f < k1:
            return v0 + (v1 - v0) * (f - k0) / (k1 - k0)
    return smile[-1][1] if smile and smile[-1][0] == f else math.nan


def ref_first_passage(entry: float, target: float, stop: float, sigma: float, years: float) -> float:
    """Fourier series with as many terms as it takes (bounded), images when time is short."""
    if math.isnan(sigma):
        return math.nan
    width, z = abs(math.log(target / stop)), abs(math.log(entry / stop))
    spread = sigma * math.sqrt(years)
    if spread == 0:
        return 0.0
    tau = (spread / width) ** 2
    if tau < 0.25:
        return min(max(sum(math.erfc(((2 * k + 1) * width - z) / (spread * math.sqrt(2)))
                           - math.erfc(((2 * k + 1) * width + z) / (spread * math.sqrt(2))) for k in range(20)), 0.0), 1.0)
    total = z / width
    for n in range(1, 200):
        total += 2 * (-1) ** n / (n * math.pi) * math.sin(n * math.pi * z / width) * math.exp(-(n * math.pi) ** 2 * tau / 2)
    return min(max(total, 0.0), 1.0)


# --- comparison ---------------------------------------------------------------------------------

def check_agreement(result: PipelineResult, ref: dict[str, Any]) -> None:
    chain = result.chain
    for column, tolerance in (("iv", 1e-9), ("delta", 1e-8), ("gamma", 1e-9)):
        ours, theirs = chain[column].to_numpy(), np.array(ref[column])
        assert np.array_equal(np.isnan(ours), np.isnan(theirs)), f"{column}: NaN pattern differs"
        known = ~np.isnan(ours)
        scale = np.maximum(np.abs(theirs[known]), 1e-12) if column == "gamma" else 1.0
        worst = float(np.max(np.abs(ours[known] - theirs[known]) / scale)) if known.any() else 0.0
        assert worst <= tolerance, f"{column}: vectorized and per-row differ by {worst:g}"
    risk = result.stage("risk")
    assert risk is not None
    assert math.isclose(risk.summary["call_dollars_at_risk"], ref["call_dollars"], rel_tol=1e-12)
    assert math.isclose(risk.summary["put_dollars_at_risk"], ref["put_dollars"], rel_tol=1e-12)
    assert risk.summary["verdict"] == ref["verdict"]
    assert risk.opportunities["strike"].tolist() == ref["zones"], "zone order differs"
    by_strike = risk.summary["by_strike"]
    ours_gex = {k: v for k, v in zip(by_strike["strike"], by_strike["gex"]) if v is not None}
    assert ours_gex.keys() == ref["gex"].keys()
    assert all(math.isclose(ours_gex[k], ref["gex"][k], rel_tol=1e-7, abs_tol=1e-3) for k in ours_gex)
    level = risk.summary["cumulative_gex_crossing"]
    assert (level is None and math.isnan(ref["zero_gamma"])) or math.isclose(level, ref["zero_gamma"], abs_tol=1e-6)
    ev = result.stage("expected_value")
    assert ev is not None
    ours_setups = ev.opportunities[["target", "stop", "probability", "ev_points", "market_probability"]]
    assert len(ours_setups) == len(ref["setups"]), "EV setup count differs"
    for got, want in zip(ours_setups.itertuples(index=False), ref["setups"]):
        assert (got.target, got.stop) == want[:2], f"EV setup differs: {got} vs {want}"
        assert math.isclose(got.probability, want[2], abs_tol=1e-12) and math.isclose(got.ev_points, want[3], abs_tol=1e-9)
        assert (math.isnan(got.market_probability) and math.isnan(want[4])) or \
            math.isclose(got.market_probability, want[4], abs_tol=1e-9)
    spikes = result.stage("volume_spike")
    assert spikes is not None
    assert spikes.opportunities["contract"].tolist() == ref["spikes"]
    assert spikes.summary["day_bias"] == ref["bias"]


# --- timing -------------------------------------------------------------------------------------

def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - started)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is reported")
    args = parser.parse_args(argv)
    profile = load_profile("testing", env={})
    pipeline = Pipeline.from_profile(profile)
    configs = {stage.name: stage.config for stage in pipeline.stages}
    print(f"pipeline: {' -> '.join(configs)} (profile {profile.name}); best of {args.repeat} runs")
    print(f"{'contracts':>10} {'greeks':>8} {'risk':>8} {'ev':>8} {'spike':>8} {'total s':>8} "
          f"{'contracts/s':>12} {'per-row s':>10} {'speed-up':>9}")
    goal_seconds = None
    biggest = None
    for size in args.sizes:
        chain = generate_chain(size)
        ctx = AnalysisContext.from_chain(chain)
        stage_best: dict[str, float] = defaultdict(lambda: math.inf)

        def run_once() -> PipelineResult:
            result = pipeline.run(chain.frame, ctx)
            for stage in result.stages:
                stage_best[stage.name] = min(stage_best[stage.name], stage.trace.seconds)
            return result

        pipeline.run(chain.frame, ctx)  # warm-up: imports, caches
        total, result = best_of(args.repeat, run_once)
        rows = chain.frame.to_dict("records")
        ref_seconds, ref = best_of(1, lambda: reference(rows, ctx, configs))
        check_agreement(result, ref)
        print(f"{size:>10,} {stage_best['greeks']:>8.4f} {stage_best['risk']:>8.4f} "
              f"{stage_best['expected_value']:>8.4f} {stage_best['volume_spike']:>8.4f} {total:>8.4f} "
              f"{size / total:>12,.0f} {ref_seconds:>10.3f} {ref_seconds / total:>8.1f}x")
        if size == GOAL_PIPELINE_SIZE:
            goal_seconds = total
        biggest = chain
    print("vectorized and per-row results agree at every size (IV, greeks, risk, EV, spikes)")
    if goal_seconds is not None:
        verdict = "met" if goal_seconds < GOAL_PIPELINE_SECONDS else "MISSED"
        print(f"goal {GOAL_PIPELINE_SIZE:,} contracts < {GOAL_PIPELINE_SECONDS} s: {goal_seconds:.4f} s ({verdict})")
    if biggest is not None:
        frame = biggest.frame
        ctx = AnalysisContext.from_chain(biggest)
        reps = -(-IV_CONTRACTS // len(frame))
        years = np.tile(np.asarray(ctx.years_to(frame["expiration"]), dtype=np.float64), reps)[:IV_CONTRACTS]
        mark = np.tile(frame["mark"].to_numpy(), reps)[:IV_CONTRACTS]
        strike = np.tile(frame["strike"].to_numpy(), reps)[:IV_CONTRACTS]
        call = np.tile((frame["right"] == "C").to_numpy(), reps)[:IV_CONTRACTS]
        g = configs["greeks"]
        seconds, (iv, status) = best_of(args.repeat, lambda: black76.implied_vol_status(
            mark, ctx.underlying_price, strike, years, call, g.risk_free_rate, g.max_iv,
            min_time_value=g.min_time_value))
        rate = IV_CONTRACTS / seconds
        verdict = "met" if rate >= GOAL_IV_RATE else "MISSED"
        print(f"IV solver: {IV_CONTRACTS:,} contracts in {seconds:.3f} s = {rate:,.0f} contracts/s "
              f"({int((status == black76.IV_SOLVED).sum()):,} solved, the rest NaN with a reason); "
              f"goal >= {GOAL_IV_RATE:,}/s ({verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
