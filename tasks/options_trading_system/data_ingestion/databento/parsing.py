"""Databento DBN records into the canonical chain: pure, vectorized, table in and table out.

DBN facts applied here (checked against the real files in `../shared/data/databento/`):
- prices are int64 in units of 1e-9 (`FIXED_PRICE_SCALE`); `UNDEF_PRICE` (i64 max) is "no
  price" and becomes NaN, never a number;
- statistics quantities are "undefined" at the maximum of their integer type (i32 in DBN v1/v2,
  i64 in v3): NaN;
- open interest is the `statistics` record with `stat_type == OPEN_INTEREST` (9); the last one
  per instrument wins;
- the contract size is the definition's `unit_of_measure_qty` (20 for NQ, 50 for ES, a 1e-9
  fixed-point value); `contract_multiplier` is undefined for CME options;
- definitions are selected by *underlying* (the NQ future), because CME lists weekly and daily
  NQ options under product codes other than NQ (an ES weekly has asset `EW2`, underlying `ESH6`).
"""
from __future__ import annotations

import re
from datetime import date, timedelta

import databento_dbn
import numpy as np
import pandas as pd

from ...errors import DataSourceError
from ..canonical import ChainMeta, OptionsChain, RawCapture, build_chain_frame

FIXED_PRICE_SCALE = float(databento_dbn.FIXED_PRICE_SCALE)
UNDEF_PRICE = int(databento_dbn.UNDEF_PRICE)
UNDEF_TIMESTAMP = int(databento_dbn.UNDEF_TIMESTAMP)
OPEN_INTEREST = int(databento_dbn.StatType.OPEN_INTEREST.value)
EXPIRATION_TZ = "America/New_York"
DELETED = "D"
RIGHTS = ("C", "P")
SOURCE = "databento"


def records_frame(array: np.ndarray) -> pd.DataFrame:
    """A DBN structured array (`DBNStore.to_ndarray()`) as a DataFrame; byte strings decoded."""
    flat = np.asarray(array).reshape(-1)
    if flat.dtype.names is None:
        return pd.DataFrame()
    columns = {}
    for name in flat.dtype.names:
        values = flat[name]
        if values.dtype.kind == "S":
            values = np.char.decode(values, "utf-8", errors="replace")
        columns[name] = values
    return pd.DataFrame(columns)


def scale_price(values: pd.Series | np.ndarray) -> np.ndarray:
    """Fixed-point prices (1e-9 units) as floats; UNDEF_PRICE is NaN."""
    raw = np.asarray(values, dtype="int64")
    return np.where(raw == UNDEF_PRICE, np.nan, raw / FIXED_PRICE_SCALE)


def undefined_quantity_to_nan(values: pd.Series | np.ndarray) -> np.ndarray:
    """Integer quantities as floats; the type's maximum (DBN's "undefined") is NaN."""
    raw = np.asarray(values)
    if raw.dtype.kind not in "iu":
        return raw.astype("float64")
    undefined = np.iinfo(raw.dtype).max
    return np.where(raw == undefined, np.nan, raw.astype("float64"))


def timestamps(values: pd.Series | np.ndarray) -> pd.Series:
    """Nanosecond epochs as UTC timestamps; UNDEF_TIMESTAMP (u64 max) is NaT."""
    raw = np.asarray(values, dtype="uint64")
    valid = raw != np.uint64(UNDEF_TIMESTAMP)
    out = pd.Series(pd.NaT, index=range(len(raw)), dtype="datetime64[ns, UTC]")
    if valid.any():
        out[valid] = pd.to_datetime(raw[valid].astype("int64"), unit="ns", utc=True)
    return out


def definitions(frame: pd.DataFrame) -> pd.DataFrame:
    """Option and future definitions: one row per instrument (its latest, deletions dropped).

    Columns: instrument_id, raw_symbol, asset, instrument_class, strike, expiration (UTC),
    underlying, multiplier.
    """
    if frame.empty:
        return pd.DataFrame({"instrument_id": pd.Series(dtype="int64"), "raw_symbol": pd.Series(dtype="str"),
                             "asset": pd.Series(dtype="str"), "instrument_class": pd.Series(dtype="str"),
                             "strike": pd.Series(dtype="float64"),
                             "expiration": pd.Series(dtype="datetime64[ns, UTC]"),
                             "underlying": pd.Series(dtype="str"), "multiplier": pd.Series(dtype="float64")})
    latest = frame.sort_values("ts_recv", kind="stable").drop_duplicates("instrument_id", keep="last")
    if "security_update_action" in latest:
        latest = latest[latest["security_update_action"] != DELETED]
    latest = latest.reset_index(drop=True)
    return pd.DataFrame({
        "instrument_id": latest["instrument_id"].astype("int64"),
        "raw_symbol": latest["raw_symbol"].astype("str"),
        "asset": latest["asset"].astype("str"),
        "instrument_class": latest["instrument_class"].astype("str"),
        "strike": scale_price(latest["strike_price"]),
        "expiration": timestamps(latest["expiration"]),
        "underlying": latest["underlying"].astype("str"),
        "multiplier": scale_price(latest["unit_of_measure_qty"]),
    })


def select_options(defs: pd.DataFrame, *, underlying_pattern: str, trade_date: date,
                   max_days_to_expiration: int) -> pd.DataFrame:
    """Options on the front NQ future expiring within the horizon.

    Keeps calls and puts whose underlying matches `underlying_pattern` and whose expiration date
    (New York) lies in [trade_date, trade_date + max_days]; then only those on the underlying of
    the nearest expiration, so the chain has one forward. Adds `expiration_date` (a date).
    """
    pattern = re.compile(underlying_pattern)
    if defs.empty:
        return defs.assign(expiration_date=pd.Series(dtype="object"))
    options = defs[defs["instrument_class"].isin(RIGHTS)
                   & defs["underlying"].map(lambda u: bool(pattern.match(u)))
                   & defs["strike"].notna() & defs["expiration"].notna()].copy()
    options["expiration_date"] = options["expiration"].dt.tz_convert(EXPIRATION_TZ).dt.date
    horizon = trade_date + timedelta(days=int(max_days_to_expiration))
    options = options[(options["expiration_date"] >= trade_date) & (options["expiration_date"] <= horizon)]
    if options.empty:
        return options.reset_index(drop=True)
    front = options.sort_values(["expiration", "underlying"], kind="stable").iloc[0]["underlying"]
    return options[options["underlying"] == front].reset_index(drop=True)


def open_interest(frame: pd.DataFrame) -> pd.Series:
    """Open interest per instrument_id: the last OPEN_INTEREST statistic of each (NaN if undefined)."""
    if frame.empty:
        return pd.Series(dtype="float64", name="open_interest")
    stats = frame[frame["stat_type"] == OPEN_INTEREST].assign(value=lambda f: undefined_quantity_to_nan(f["quantity"]))
    stats = stats.sort_values(["ts_recv", "ts_event"], kind="stable").dropna(subset=["value"])
    return stats.groupby("instrument_id")["value"].last().rename("open_interest").astype("float64")


def volume_and_last(frame: pd.DataFrame, schema: str) -> pd.DataFrame:
    """Per instrument_id: volume, last price and the time of the last trade (or bar).

    `trades`: volume = sum of sizes, last = price of the latest trade. `ohlcv-1d`: volume = sum of
    the bars' volumes, last = close of the latest bar.
    """
    columns = ["volume", "last", "source_ts"]
    if frame.empty:
        return pd.DataFrame(columns=columns, dtype="float64").rename_axis("instrument_id")
    ordered = frame.sort_values("ts_event", kind="stable")
    if schema == "trades":
        priced = ordered.assign(px=scale_price(ordered["price"]), qty=ordered["size"].astype("float64"))
    elif schema.startswith("ohlcv"):
        priced = ordered.assign(px=scale_price(ordered["close"]), qty=ordered["volume"].astype("float64"))
    else:
        raise ValueError(f"volume_and_last: unsupported schema {schema!r}")
    grouped = priced.groupby("instrument_id")
    return pd.DataFrame({"volume": grouped["qty"].sum(),
                         "last": grouped["px"].last(),
                         "source_ts": pd.to_datetime(grouped["ts_event"].last().astype("int64"), unit="ns", utc=True)})


def last_quotes(frame: pd.DataFrame) -> pd.DataFrame:
    """Per instrument_id: the top of book of the latest quote record (bbo-1m / mbp-1); NaN sides stay NaN."""
    if frame.empty:
        return pd.DataFrame(columns=["bid", "ask"], dtype="float64").rename_axis("instrument_id")
    latest = frame.sort_values(["ts_recv", "ts_event"], kind="stable").groupby("instrument_id").last()
    return pd.DataFrame({"bid": scale_price(latest["bid_px_00"]), "ask": scale_price(latest["ask_px_00"])},
                        index=latest.index)


def underlying_mid(frame: pd.DataFrame) -> float:
    """The future's mid from its latest two-sided, uncrossed quote; NaN when there is none."""
    quotes = last_quotes(frame)
    two_sided = quotes[(quotes["bid"] > 0) & (quotes["ask"] >= quotes["bid"])]
    if two_sided.empty:
        return float("nan")
    row = two_sided.iloc[-1]
    return float((row["bid"] + row["ask"]) / 2.0)


def build_chain(options: pd.DataFrame, oi: pd.Series, trades: pd.DataFrame, quotes: pd.DataFrame, *,
                underlying_symbol: str, underlying_price: float, as_of: pd.Timestamp,
                fallback_multiplier: float, raw: RawCapture | None = None) -> OptionsChain:
    """The canonical (unvalidated) chain of the selected options and their market data."""
    if options.empty:
        raise DataSourceError(f"{SOURCE}: no option definitions to build a chain from", code="EMPTY")
    ids = options["instrument_id"]
    joined = options.set_index("instrument_id").join(oi, how="left").join(trades, how="left") \
        .join(quotes, how="left").reindex(ids)
    notes: list[str] = []
    multipliers = options["multiplier"].dropna()
    if multipliers.empty:
        multiplier = float(fallback_multiplier)
        notes.append(f"definitions state no contract size; using the profile's multiplier {multiplier:g}")
    else:
        multiplier = float(multipliers.mode().iloc[0])
        if multipliers.nunique() > 1:
            notes.append(f"definitions state several contract sizes {sorted(multipliers.unique())}; using {multiplier:g}")
    def column(name: str) -> np.ndarray:
        return joined[name].to_numpy(dtype="float64") if name in joined else np.full(len(joined), np.nan)

    source_ts = joined["source_ts"].reset_index(drop=True) if "source_ts" in joined \
        else pd.Series(pd.NaT, index=range(len(joined)), dtype="datetime64[ns, UTC]")
    frame = build_chain_frame({
        "contract": joined["raw_symbol"].to_numpy(),
        "root": joined["asset"].to_numpy(),
        "expiration": pd.to_datetime(pd.Series(joined["expiration_date"].to_numpy())),
        "strike": joined["strike"].to_numpy(),
        "right": joined["instrument_class"].to_numpy(),
        "bid": column("bid"), "ask": column("ask"), "last": column("last"),
        "volume": column("volume"), "open_interest": column("open_interest"),
        "source_ts": source_ts,
    })
    meta = ChainMeta(underlying_symbol=underlying_symbol, source=SOURCE, as_of=as_of, multiplier=multiplier,
                     underlying_price=underlying_price, notes=tuple(notes))
    return OptionsChain(frame=frame, meta=meta, raw=raw)
