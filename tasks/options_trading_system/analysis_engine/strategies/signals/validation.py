"""The signal validation engine: is this signal worth trading, and does it look like a false positive?

Four criteria, each scored 0..1 over the whole table of an event's signals at once:

1. technical: levels on the right side of the entry (hard), reward/risk, stop size, confidence;
2. market_context: the option's bid-ask spread (or the near-money spread for signals without a
   contract) and how concentrated the interval's option volume is at the signal's strike;
3. time_of_day: in the window's own clock (exchange time, not UTC): not in the opening minutes,
   enough minutes left to reach the target before the session-end exit;
4. history: win rate of the most recent resolved signals of the same source and direction.

A criterion with no data (no quote, no history yet) is left out and the others re-weighted. The
validity score is the weighted mean. A signal is flagged a likely false positive below
`false_positive_below`, when any criterion scores 0 (inside the opening minutes, a spread at the
limit, a source whose recent signals all failed...) or when its levels are wrong; it passes at
`min_score` unless flagged. Every shortfall becomes a reason with the numbers. Pure: tables in,
table out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..shadow_config import ValidationConfig

CRITERIA = ("technical", "market_context", "time_of_day", "history")
DIRECTION_SIGN = {"LONG": 1.0, "SHORT": -1.0}


@dataclass(frozen=True)
class MarketSnapshot:
    """The market a signal was born in: the latest chain (with `interval_volume`) and the window."""

    chain: pd.DataFrame | None
    window_open: pd.Timestamp
    window_close: pd.Timestamp
    timezone: str


def validate_signals(signals: pd.DataFrame, market: MarketSnapshot, history: pd.DataFrame,
                     config: ValidationConfig) -> pd.DataFrame:
    """Score `signals` (columns: source, algorithm, direction, entry_reference, target, stop,
    confidence, contract, strike, sim_time). `history`: resolved past signals (source, direction,
    resolved_at, correct). Returns one row per signal: the four criteria, score, passed,
    false_positive and reasons (a list of strings), on the signals' index."""
    if signals.empty:
        out = pd.DataFrame(index=signals.index)
        for name in (*CRITERIA, "score"):
            out[name] = pd.Series(dtype="float64")
        out["passed"] = pd.Series(dtype="bool")
        out["false_positive"] = pd.Series(dtype="bool")
        out["reasons"] = pd.Series(dtype="object")
        return out
    reasons = [[] for _ in range(len(signals))]
    technical, levels_ok, stop_in_noise = _technical(signals, config, reasons)
    columns = {
        "technical": technical,
        "market_context": _market_context(signals, market, config, reasons),
        "time_of_day": _time_of_day(signals, market, config, reasons),
        "history": _history(signals, history, config, reasons),
    }
    weights = np.array([getattr(config.weights, name) for name in CRITERIA], dtype="float64")
    scores = np.column_stack([np.asarray(columns[name], dtype="float64") for name in CRITERIA])
    present = ~np.isnan(scores)
    weight_sum = (present * weights).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(weight_sum > 0, np.nansum(scores * weights, axis=1) / weight_sum, np.nan)
    any_zero = (present & (scores <= 0.0)).any(axis=1)
    false_positive = (np.nan_to_num(score, nan=0.0) < config.false_positive_below) | any_zero | ~levels_ok \
        | stop_in_noise
    # one frame built at once (a column at a time costs more than the scoring on a few signals)
    return pd.DataFrame({**columns, "score": score, "passed": (score >= config.min_score) & ~false_positive,
                         "false_positive": false_positive, "reasons": reasons}, index=signals.index)


def _technical(signals: pd.DataFrame, config: ValidationConfig, reasons: list[list[str]]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levels, reward/risk, risk size and confidence; also which stops sit inside ordinary noise
    (closer than `min_risk_pct` of the entry), flagged as likely false positives by the caller."""
    sign = np.array([DIRECTION_SIGN.get(d, np.nan) for d in signals["direction"]], dtype="float64")
    entry = signals["entry_reference"].to_numpy(dtype="float64")
    target = signals["target"].to_numpy(dtype="float64")
    stop = signals["stop"].to_numpy(dtype="float64")
    reward = (target - entry) * sign
    risk = (entry - stop) * sign
    levels_ok = (reward > 0) & (risk > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        reward_risk = np.where(risk > 0, reward / risk, np.nan)
    minimum = np.array([getattr(config.min_confidence, str(a), np.nan) for a in signals["algorithm"]], dtype="float64")
    confidence = signals["confidence"].to_numpy(dtype="float64")
    checks = np.column_stack([
        reward_risk >= config.min_reward_risk,
        risk <= config.max_risk_points,
        confidence >= minimum,
    ]).astype("float64")
    technical = np.where(levels_ok, checks.mean(axis=1), 0.0)
    stop_in_noise = levels_ok & (risk < config.min_risk_pct * entry)
    for i in range(len(signals)):
        side = "above" if sign[i] > 0 else "below"
        if not levels_ok[i]:
            if np.isnan(entry[i]):
                reasons[i].append("no market price at decision time: levels cannot be checked")
            elif not reward[i] > 0:
                reasons[i].append(f"target {target[i]:g} is not {side} the entry {entry[i]:g} "
                                  f"for a {signals['direction'].iat[i]}")
            else:
                reasons[i].append(f"stop {stop[i]:g} is not on the other side of the entry {entry[i]:g}")
            continue
        if not checks[i, 0]:
            reasons[i].append(f"reward/risk {reward_risk[i]:.2f} below {config.min_reward_risk:g}")
        if not checks[i, 1]:
            reasons[i].append(f"stop {risk[i]:g} points away, above the {config.max_risk_points:g}-point limit")
        if not checks[i, 2]:
            shown = "missing" if np.isnan(confidence[i]) else f"{confidence[i]:.2f}"
            reasons[i].append(f"confidence {shown} below {minimum[i]:.2f} for {signals['algorithm'].iat[i]}")
        if stop_in_noise[i]:
            reasons[i].append(f"stop {risk[i]:g} points away, inside ordinary noise (under "
                              f"{config.min_risk_pct:.2%} of the entry, {config.min_risk_pct * entry[i]:.2f} points)")
    return technical, levels_ok, stop_in_noise


def relative_spread(chain: pd.DataFrame) -> np.ndarray:
    """(ask - bid) / mid per contract; NaN without a valid two-sided quote."""
    bid, ask = _floats(chain["bid"]), _floats(chain["ask"])
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = (bid > 0) & (ask > 0) & (ask >= bid)
        return np.where(valid, (ask - bid) / ((bid + ask) / 2.0), np.nan)


def _floats(column: pd.Series) -> np.ndarray:
    """A column as float64 numbers, missing values NaN (nullable dtypes too)."""
    return column.to_numpy(dtype="float64", na_value=np.nan)


def _market_context(signals: pd.DataFrame, market: MarketSnapshot, config: ValidationConfig,
                    reasons: list[list[str]]) -> np.ndarray:
    n = len(signals)
    chain = market.chain
    if chain is None or chain.empty:
        return np.full(n, np.nan)
    spreads = relative_spread(chain)
    contracts = chain["contract"].to_numpy(dtype="object")
    strikes = _floats(chain["strike"])
    entry = signals["entry_reference"].to_numpy(dtype="float64")
    expiration = chain["expiration"]
    front = (expiration == expiration.min()).to_numpy(dtype="bool")
    front_strikes, front_spreads = strikes[front], spreads[front]
    near_money = np.full(n, np.nan)
    for i, e in enumerate(entry):
        if not np.isfinite(e):
            continue
        near = np.abs(front_strikes - e) <= config.near_money_pct * e
        if near.any():
            near_money[i] = float(np.nanmedian(front_spreads[near]))
    contract = signals["contract"].astype("object").where(signals["contract"].notna(), None)
    own = np.array([_first_match(spreads, contracts, str(c)) if c is not None else np.nan for c in contract],
                   dtype="float64")
    spread = np.where(np.isnan(own), near_money, own)
    spread_score = np.clip(1.0 - spread / config.max_spread_pct, 0.0, 1.0)

    volume = _floats(chain["interval_volume"] if "interval_volume" in chain.columns else chain["volume"])
    known = ~np.isnan(volume)
    total = float(volume[known].sum()) if known.any() else np.nan
    strike = signals["strike"].to_numpy(dtype="float64")
    target = signals["target"].to_numpy(dtype="float64")
    at = np.where(np.isnan(strike), target, strike)
    share = np.array([_strike_volume(volume, known, strikes, k) / total if total and total > 0 else np.nan
                      for k in at], dtype="float64")
    low, high = config.volume_concentration_low, config.volume_concentration_high
    concentration_score = np.clip((share - low) / (high - low), 0.0, 1.0)

    both = np.column_stack([spread_score, concentration_score])
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(both)).sum(axis=1)
        score = np.where(counts > 0, np.nansum(both, axis=1) / np.maximum(counts, 1), np.nan)
    for i in range(n):
        if np.isfinite(spread_score[i]) and spread_score[i] < 0.5:
            reasons[i].append(f"bid-ask spread {spread[i]:.1%} of mid (scores 0 at {config.max_spread_pct:.0%})")
        if np.isfinite(concentration_score[i]) and concentration_score[i] < 0.5:
            reasons[i].append(f"only {share[i]:.1%} of the interval's option volume at strike {at[i]:g} "
                              f"(scores 0 at {low:.0%}, 1 at {high:.0%})")
    return score


def _first_match(values: np.ndarray, keys: np.ndarray, key: str) -> float:
    """`values` at the first row whose contract is `key`; NaN when none is."""
    rows = np.flatnonzero(keys == key)
    return float(values[rows[0]]) if len(rows) else np.nan


def _strike_volume(volume: np.ndarray, known: np.ndarray, strikes: np.ndarray, strike: float) -> float:
    """The volume at one strike (NaN when the chain has no such strike or no volume there)."""
    at = strikes == strike
    return float(volume[at & known].sum()) if (at & known).any() else np.nan


def _time_of_day(signals: pd.DataFrame, market: MarketSnapshot, config: ValidationConfig,
                 reasons: list[list[str]]) -> np.ndarray:
    times = pd.to_datetime(signals["sim_time"], utc=True)
    since_open = (times - market.window_open).dt.total_seconds().to_numpy() / 60.0
    left = (market.window_close - times).dt.total_seconds().to_numpy() / 60.0
    early = since_open < config.avoid_open_minutes
    late = left < config.min_minutes_left
    for i in np.flatnonzero(early | late):
        local = times.iat[i].tz_convert(market.timezone).strftime("%H:%M")
        if early[i]:
            reasons[i].append(f"{local} {market.timezone}: {since_open[i]:.0f} min after the open "
                              f"(opening noise: first {config.avoid_open_minutes:g} min)")
        else:
            reasons[i].append(f"{local} {market.timezone}: {left[i]:.0f} min before the close "
                              f"(needs {config.min_minutes_left:g} to reach the target)")
    return np.where(early | late, 0.0, 1.0)


def _history(signals: pd.DataFrame, history: pd.DataFrame, config: ValidationConfig,
             reasons: list[list[str]]) -> np.ndarray:
    out = np.full(len(signals), np.nan)
    if history is None or history.empty:
        return out
    correct = _floats(history["correct"])
    judged = np.flatnonzero(~np.isnan(correct))
    judged = judged[np.argsort(history["resolved_at"].to_numpy(dtype="object")[judged], kind="stable")]
    # the ledger's ISO 8601 texts: said, not guessed again for every event
    resolved = pd.to_datetime(history["resolved_at"].to_numpy(dtype="object")[judged], utc=True, format="ISO8601") \
        .tz_localize(None).to_numpy(dtype="datetime64[ns]")
    sources = history["source"].to_numpy(dtype="object")[judged]
    directions = history["direction"].to_numpy(dtype="object")[judged]
    correct = correct[judged]
    times = pd.to_datetime(signals["sim_time"], utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    for i in range(len(signals)):
        source, direction = signals["source"].iat[i], signals["direction"].iat[i]
        mask = (sources == source) & (directions == direction) & (resolved <= times[i])
        lookback = config.history_lookback  # what `tail` keeps
        recent = correct[mask][-lookback:] if lookback else correct[mask][:0]
        if len(recent) < config.history_min_samples:
            continue
        out[i] = float(recent.mean())
        if out[i] < 0.5:
            reasons[i].append(f"past {len(recent)} {source} {direction} signals: "
                              f"{int(recent.sum())} correct ({out[i]:.0%})")
    return out
