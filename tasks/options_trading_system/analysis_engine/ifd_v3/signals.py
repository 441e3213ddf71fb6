"""Signals: the kernel writes numbers into a buffer; this module turns them into the signal table
(names, tiers, direction, reasons) a trader reads.

A signal is one row: id, time, algorithm 'ifd_v3', the contract (symbol, strike, right,
expiration), the aggressor side and the resulting direction on the underlying (buying calls or
selling puts = LONG; buying puts or selling calls = SHORT), confidence and tier, the five
components, the measurements behind them, the baseline it was compared with (with its data
quality) and a `reasons` sentence list.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from . import market_making
from .config import IFDv3Config
from .confidence import tier_of

# int64 columns
S_TS, S_INST, S_DIRECTION, S_MM = range(4)
N_INT = 4
# float64 columns
(F_CONFIDENCE, F_RAW, F_SIG, F_PER, F_TRE, F_CON, F_ANO, F_BUY, F_SELL, F_UNKNOWN, F_TRADES, F_NOTIONAL,
 F_PRESSURE, F_NET, F_MARKET, F_Z, F_PCT, F_QUALITY, F_BASE_DAYS, F_BASE_MEAN, F_BASE_STD, F_BID, F_ASK,
 F_BID_REST, F_ASK_REST, F_IMBALANCE, F_MM_OWN, F_MM_OTHER, F_PERSIST_HITS) = range(29)
N_FLOAT = 29

SIGNAL_COLUMNS: tuple[str, ...] = (
    "signal_id", "algorithm", "time", "ts", "instrument_id", "contract", "root", "underlying", "expiration",
    "strike", "right", "aggressor", "direction", "confidence", "tier", "raw_confidence", "significance",
    "persistence", "trend", "concentration", "anomaly", "market_making", "buy_volume", "sell_volume",
    "unknown_volume", "trades", "net_volume", "pressure_ratio", "notional", "market_volume", "book_imbalance",
    "bid", "ask", "bid_resting", "ask_resting", "z_score", "percentile", "baseline_days", "baseline_quality",
    "baseline_mean", "baseline_std", "baseline_p90", "baseline_p99", "reasons",
)


class SignalBuffer(NamedTuple):
    ints: np.ndarray     # int64[cap, N_INT]
    floats: np.ndarray   # float64[cap, N_FLOAT]
    n: np.ndarray        # int64[1] rows written


def new_signal_buffer(capacity: int) -> SignalBuffer:
    return SignalBuffer(np.zeros((capacity, N_INT), np.int64), np.zeros((capacity, N_FLOAT)), np.zeros(1, np.int64))


def grown(buffer: SignalBuffer) -> SignalBuffer:
    cap = buffer.ints.shape[0] * 2
    ints = np.zeros((cap, N_INT), np.int64)
    floats = np.zeros((cap, N_FLOAT))
    n = int(buffer.n[0])
    ints[:n] = buffer.ints[:n]
    floats[:n] = buffer.floats[:n]
    return SignalBuffer(ints, floats, buffer.n.copy())


def empty_signals() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in SIGNAL_COLUMNS})


def signal_table(ints: np.ndarray, floats: np.ndarray, instruments: pd.DataFrame, baselines: pd.DataFrame,
                 config: IFDv3Config, window_note: str = "") -> pd.DataFrame:
    """The signal table from buffer rows. `instruments` is indexed by the engine's instrument index
    (columns instrument_id, raw_symbol, root, underlying, expiration, strike, right, underlying_root);
    `baselines` is the baseline table (for the percentiles shown beside z)."""
    if len(ints) == 0:
        return empty_signals()
    info = instruments.loc[ints[:, S_INST]].reset_index(drop=True)
    direction_flow = ints[:, S_DIRECTION]
    is_call = info["right"].to_numpy() == "C"
    aggressor = np.where(direction_flow > 0, "BUY", "SELL")
    long_ = (direction_flow > 0) == is_call
    frame = pd.DataFrame({
        "algorithm": "ifd_v3",
        "time": pd.to_datetime(ints[:, S_TS], unit="ns", utc=True),
        "ts": ints[:, S_TS],
        "instrument_id": info["instrument_id"].to_numpy(np.int64),
        "contract": info["raw_symbol"].to_numpy(),
        "root": info["root"].to_numpy(),
        "underlying": info["underlying"].to_numpy(),
        "expiration": info["expiration"].to_numpy(),
        "strike": info["strike"].to_numpy(float),
        "right": info["right"].to_numpy(),
        "aggressor": aggressor,
        "direction": np.where(long_, "LONG", "SHORT"),
        "confidence": floats[:, F_CONFIDENCE],
        "tier": tier_of(floats[:, F_CONFIDENCE], config.signals.tiers),
        "raw_confidence": floats[:, F_RAW],
        "significance": floats[:, F_SIG],
        "persistence": floats[:, F_PER],
        "trend": floats[:, F_TRE],
        "concentration": floats[:, F_CON],
        "anomaly": floats[:, F_ANO],
        "market_making": ints[:, S_MM].astype(bool),
        "buy_volume": floats[:, F_BUY],
        "sell_volume": floats[:, F_SELL],
        "unknown_volume": floats[:, F_UNKNOWN],
        "trades": floats[:, F_TRADES],
        "net_volume": floats[:, F_NET],
        "pressure_ratio": floats[:, F_PRESSURE],
        "notional": floats[:, F_NOTIONAL],
        "market_volume": floats[:, F_MARKET],
        "book_imbalance": floats[:, F_IMBALANCE],
        "bid": floats[:, F_BID],
        "ask": floats[:, F_ASK],
        "bid_resting": floats[:, F_BID_REST],
        "ask_resting": floats[:, F_ASK_REST],
        "z_score": floats[:, F_Z],
        "percentile": floats[:, F_PCT],
        "baseline_days": floats[:, F_BASE_DAYS],
        "baseline_quality": floats[:, F_QUALITY],
        "baseline_mean": floats[:, F_BASE_MEAN],
        "baseline_std": floats[:, F_BASE_STD],
    })
    keys = info[["underlying_root", "strike", "right"]]
    if not baselines.empty:
        extra = keys.merge(baselines[["underlying_root", "strike", "right", "p90", "p99"]], how="left",
                           on=["underlying_root", "strike", "right"])
        frame["baseline_p90"] = extra["p90"].to_numpy(float)
        frame["baseline_p99"] = extra["p99"].to_numpy(float)
    else:
        frame["baseline_p90"] = np.nan
        frame["baseline_p99"] = np.nan
    frame["signal_id"] = [f"ifd_v3-{ts}-{iid}-{a[0]}" for ts, iid, a in
                          zip(frame["ts"], frame["instrument_id"], frame["aggressor"])]
    frame["reasons"] = [_reasons(row, floats[i], config, window_note) for i, row in enumerate(frame.itertuples(index=False))]
    return frame[list(SIGNAL_COLUMNS)]


def _reasons(row: object, f: np.ndarray, config: IFDv3Config, window_note: str) -> str:
    """One readable sentence per component, from the numbers in the row."""
    c = config.confidence
    window = f"{config.window.window_s} s{window_note}"
    parts = [
        f"{row.aggressor.lower()}-aggressor flow in {row.contract}: buy {row.buy_volume:.0f} vs sell "
        f"{row.sell_volume:.0f} contracts in {window} (pressure ratio {row.pressure_ratio:.2f}, "
        f"${row.notional:,.0f})",
        f"{f[F_PERSIST_HITS]:.0f} of the last {c.persistence_slices} slices of {config.window.slice_s} s went the same way",
        f"{row.trend:.0%} of the net flow arrived in the last {c.trend_slices * config.window.slice_s} s",
        f"{row.buy_volume + row.sell_volume:.0f} of {row.market_volume:.0f} option aggressor contracts "
        f"in the window ({(row.buy_volume + row.sell_volume) / max(row.market_volume, 1):.0%})",
    ]
    if np.isnan(row.z_score):
        parts.append(f"no baseline history for strike {row.strike:g} {row.right}: anomaly scored 0 "
                     f"(data quality 0 of {config.baseline.lookback_days} days)")
    else:
        parts.append(f"|net| {row.net_volume:.0f} is z {row.z_score:.1f} and percentile {row.percentile:.1%} "
                     f"against {row.baseline_days:.0f} days of this strike (mean {row.baseline_mean:.1f}, "
                     f"std {row.baseline_std:.1f}; data quality {row.baseline_quality:.2f})")
    if row.market_making:
        other = "P" if row.right == "C" else "C"
        parts.append(market_making.reason(f[F_MM_OWN], f[F_MM_OTHER], other, row.strike,
                                          config.market_making.interval_s, config.market_making.discount))
    return "; ".join(parts)
