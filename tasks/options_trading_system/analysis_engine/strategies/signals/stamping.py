"""From a source's ideas to the ledger's signal rows: level sanity, repeats inside the cooldown,
ids and stamps, and the `signals` / `validations` rows. Pure: frames in, frames or rows out."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from pandas.core.dtypes.cast import maybe_box_native

from ....state.ledger import iso
from ..feeds.market_events import MarketEvent
from .validation import DIRECTION_SIGN


def sensible_levels(signals: pd.DataFrame, price: float) -> tuple[pd.DataFrame, list[str]]:
    """Ideas whose target lies ahead of the price and stop behind it; the rest are not signals."""
    sign = signals["direction"].map(DIRECTION_SIGN).to_numpy(dtype="float64")
    ok = ((signals["target"].to_numpy() - price) * sign > 0) & ((price - signals["stop"].to_numpy()) * sign > 0)
    notes = []
    if (~ok).any():
        by_source = signals.loc[~ok, "source"].value_counts()
        notes.append(f"{int((~ok).sum())} idea(s) not signalled: target or stop already on the wrong side of the "
                     f"price {price:g} ({', '.join(f'{k}: {v}' for k, v in by_source.items())})")
    return signals[ok].reset_index(drop=True), notes


def repeat_keys(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    out = []
    # plain columns, not itertuples: asked of every event's ideas and of the cooldown's signals
    for source, contract, direction, target, stop in zip(frame["source"], frame["contract"], frame["direction"],
                                                         frame["target"], frame["stop"]):
        if isinstance(contract, str) and contract:
            out.append((source, "contract", contract, direction))
        else:
            out.append((source, "levels", direction, float(target), float(stop)))
    return out


SIGNAL_ROW_COLUMNS = ("signal_id", "event_key", "day", "sim_time", "source", "algorithm", "traded_source",
                      "instrument", "contract", "strike", "option_right", "direction", "entry_reference", "target",
                      "stop", "confidence", "tier", "expected_value_points", "evidence")


def _records(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """`frame.to_dict("records")` restricted to `columns`, built a column at a time (the same
    Python values: numpy scalars boxed as Python ones) without pandas' per-row machinery."""
    lists = [[maybe_box_native(v) for v in frame[c].tolist()] for c in columns]
    return [dict(zip(columns, values)) for values in zip(*lists)]


def signal_rows(signals: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for s in _records(signals, SIGNAL_ROW_COLUMNS):
        rows.append({
            "signal_id": s["signal_id"], "event_key": s["event_key"], "day": s["day"], "sim_time": iso(s["sim_time"]),
            "source": s["source"], "algorithm": s["algorithm"], "traded_source": int(s["traded_source"]),
            "instrument": s["instrument"], "contract": s["contract"] if isinstance(s["contract"], str) else None,
            "strike": s["strike"], "option_right": s["option_right"] if isinstance(s["option_right"], str) else None,
            "direction": s["direction"], "entry_reference": s["entry_reference"], "target": s["target"],
            "stop": s["stop"], "confidence": s["confidence"],
            "tier": s["tier"] if isinstance(s["tier"], str) else None,
            "expected_value_points": s["expected_value_points"],
            "evidence_json": json.dumps(s["evidence"] or {}, sort_keys=True, default=json_default)})
    return rows


def validation_rows(signals: pd.DataFrame, validations: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for signal_id, (_, v) in zip(signals["signal_id"], validations.iterrows()):
        rows.append({"signal_id": signal_id, "score": v["score"], "passed": int(bool(v["passed"])),
                     "false_positive": int(bool(v["false_positive"])), "technical": v["technical"],
                     "market_context": v["market_context"], "time_of_day": v["time_of_day"],
                     "history": v["history"], "reasons_json": json.dumps(list(v["reasons"]))})
    return rows


def new_ideas_only(signals: pd.DataFrame, recent: pd.DataFrame) -> pd.DataFrame:
    """`signals` without those already in `recent` (or repeated earlier in `signals` itself)."""
    seen = set(repeat_keys(recent))
    keys = repeat_keys(signals)
    keep = []
    for key in keys:
        keep.append(key not in seen)
        seen.add(key)
    return signals[np.array(keep, dtype=bool)].reset_index(drop=True)


def stamp(event: MarketEvent, signals: pd.DataFrame, price: float, instrument: str) -> pd.DataFrame:
    """Give each signal its id (`<event>/<source>/<n>`), event, day, time, instrument and entry reference."""
    counters: dict[str, int] = {}
    ids = []
    for source in signals["source"]:
        k = counters.get(source, 0)
        counters[source] = k + 1
        ids.append(f"{event.key}/{source}/{k}")
    return signals.assign(signal_id=ids, event_key=event.key, day=event.day, sim_time=event.time,
                          instrument=instrument, entry_reference=price)


def json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)
