"""Polygon option-chain snapshots into the canonical chain, flagged as a proxy for NQ.

Polygon has no options on futures. Its NDX (index) or QQQ (ETF) chain is the nearest stand-in:
same index family, but a different underlying (cash index or ETF, no futures basis), a
different contract size (`details.shares_per_contract`, 100) and, for QQQ, a different scale.
So every chain built here has `is_proxy=True`, the proxy's own symbol and multiplier, and a note
saying so; nothing is rescaled to look like NQ.

Field mapping (checked against the real recorded response in
`../shared/data/polygon/mocks/v3/snapshot/options/AAPL.json`): strike, right, expiration and
size from `details`; bid/ask from `last_quote`; last from `last_trade.price`, else the day's
close; volume from `day.volume`; open interest, IV, delta, gamma as given; `source_ts` from the
last trade (else quote) time in ns; the underlying price from `underlying_asset.price` (indices
report `value`). A missing field is NaN, never 0.

Contract names follow the project's convention (`contract_names`): NDX is no CME product, so the
series is the ticker and the expiration, `O:NDX250606C21500000` -> `NDX250606 C21500`; a row
whose strike, right or expiration is missing keeps Polygon's ticker.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ...errors import DataSourceError
from ..canonical import ChainMeta, OptionsChain, RawCapture, build_chain_frame, number_or_nan
from ..contract_names import proxy_name

SOURCE = "polygon"
RIGHTS = {"call": "C", "put": "P"}


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def snapshot_columns(snapshots: Sequence[Any]) -> dict[str, list[Any]]:
    """Canonical columns from Polygon snapshot items (`OptionContractSnapshot` or the same as dicts)."""
    columns: dict[str, list[Any]] = {name: [] for name in (
        "contract", "expiration", "strike", "right", "bid", "ask", "last", "volume", "open_interest",
        "iv", "delta", "gamma", "source_ts")}
    for item in snapshots:
        columns["contract"].append(_get(item, "details", "ticker"))
        columns["expiration"].append(_get(item, "details", "expiration_date"))
        columns["strike"].append(number_or_nan(_get(item, "details", "strike_price")))
        columns["right"].append(RIGHTS.get(str(_get(item, "details", "contract_type")).lower()))
        columns["bid"].append(number_or_nan(_get(item, "last_quote", "bid")))
        columns["ask"].append(number_or_nan(_get(item, "last_quote", "ask")))
        last = number_or_nan(_get(item, "last_trade", "price"))
        columns["last"].append(last if not np.isnan(last) else number_or_nan(_get(item, "day", "close")))
        columns["volume"].append(number_or_nan(_get(item, "day", "volume")))
        columns["open_interest"].append(number_or_nan(_get(item, "open_interest")))
        columns["iv"].append(number_or_nan(_get(item, "implied_volatility")))
        columns["delta"].append(number_or_nan(_get(item, "greeks", "delta")))
        columns["gamma"].append(number_or_nan(_get(item, "greeks", "gamma")))
        ns = _get(item, "last_trade", "sip_timestamp") or _get(item, "last_quote", "last_updated")
        columns["source_ts"].append(pd.Timestamp(int(ns), unit="ns", tz="UTC") if ns else pd.NaT)
    return columns


def _name(root: str, ticker: Any, expiration: Any, right: Any, strike: float) -> Any:
    """The contract's name in the project's convention, Polygon's ticker when a part is missing."""
    if not expiration or right not in ("C", "P") or not np.isfinite(strike) or strike < 0:
        return ticker
    try:
        return proxy_name(root, expiration, right, strike)
    except (TypeError, ValueError):  # an expiration that is not a date
        return ticker


def underlying_facts(snapshots: Iterable[Any]) -> tuple[float, pd.Timestamp | None]:
    """The underlying's price (price, or value for an index) and its time, from the first item that has one."""
    for item in snapshots:
        price = number_or_nan(_get(item, "underlying_asset", "price"))
        if np.isnan(price):
            price = number_or_nan(_get(item, "underlying_asset", "value"))
        if not np.isnan(price):
            ns = _get(item, "underlying_asset", "last_updated")
            return price, (pd.Timestamp(int(ns), unit="ns", tz="UTC") if ns else None)
    return float("nan"), None


def build_proxy_chain(snapshots: Sequence[Any], *, underlying: str, as_of: pd.Timestamp,
                      raw: RawCapture | None = None) -> OptionsChain:
    """The canonical (unvalidated) proxy chain of one underlying's snapshot items."""
    if not snapshots:
        raise DataSourceError(f"{SOURCE}: the {underlying} chain snapshot has no contracts", code="EMPTY")
    columns = snapshot_columns(snapshots)
    root = underlying.split(":", 1)[-1]
    columns["root"] = [root] * len(snapshots)
    columns["contract"] = [_name(root, ticker, expiration, right, strike) for ticker, expiration, right, strike
                           in zip(columns["contract"], columns["expiration"], columns["right"], columns["strike"])]
    columns["source_ts"] = pd.Series(pd.to_datetime(columns["source_ts"], utc=True))
    sizes = pd.Series([number_or_nan(_get(s, "details", "shares_per_contract")) for s in snapshots]).dropna()
    if sizes.empty:
        raise DataSourceError(f"{SOURCE}: the {underlying} snapshot states no contract size "
                              f"(details.shares_per_contract); cannot value it", code="MALFORMED")
    multiplier = float(sizes.mode().iloc[0])
    price, price_time = underlying_facts(snapshots)
    note = (f"PROXY: Polygon {underlying} options stand in for NQ (Polygon has no options on futures): "
            f"{root} is not the NQ future (no futures basis), each contract is {multiplier:g} x the {root} level, "
            f"not $20 x NQ")
    meta = ChainMeta(underlying_symbol=underlying, source=SOURCE, as_of=price_time or as_of, multiplier=multiplier,
                     underlying_price=price, is_proxy=True, notes=(note,))
    return OptionsChain(frame=build_chain_frame(columns), meta=meta, raw=raw)
