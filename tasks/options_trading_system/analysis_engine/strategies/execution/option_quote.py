"""Which option a signal trades, and at what price: the paper broker's entry quote for options."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ....data_ingestion.canonical import OptionsChain, number_or_nan
from ... import black76
from ...pipeline import AnalysisContext
from .paper_pricing import EntryQuote


def option_quote(chain: OptionsChain, signal: dict[str, Any], at: pd.Timestamp) -> EntryQuote:
    """The option a signal trades: a call for a LONG, a put for a SHORT, at the signal's own strike
    and expiration when the chain lists them (else the front expiration listing that strike), and
    for a signal without a strike the front-expiration option nearest the entry. Bought at the ask
    (the mark when there is no ask); its IV by Black-76 from the mark, for the model exit mark."""
    frame = chain.frame
    right = "C" if signal["direction"] == "LONG" else "P"
    candidates = frame[frame["right"] == right]
    strike = number_or_nan(signal.get("strike"))
    evidence = json.loads(signal.get("evidence_json") or "{}")
    rows = candidates.iloc[0:0]
    if np.isfinite(strike):
        rows = candidates[candidates["strike"] == strike].sort_values("expiration", kind="stable")
        wanted = evidence.get("expiration")
        if wanted and (rows["expiration"] == pd.Timestamp(wanted)).any():
            rows = rows[rows["expiration"] == pd.Timestamp(wanted)]
    if rows.empty:
        front = candidates[candidates["expiration"] == candidates["expiration"].min()]
        if front.empty:
            return EntryQuote(price=float("nan"))
        nearest = int(np.argmin(np.abs(front["strike"].to_numpy() - float(signal["entry_reference"]))))
        rows = front.iloc[[nearest]]
    row = rows.iloc[0]
    ask = float(row["ask"]) if pd.notna(row["ask"]) and row["ask"] > 0 else float(row["mark"])
    years = float(AnalysisContext.from_chain(chain).years_to(pd.Timestamp(row["expiration"])))
    iv = float(black76.implied_vol(float(row["mark"]), float(signal["entry_reference"]), float(row["strike"]),
                                   years, right == "C"))
    return EntryQuote(price=ask, contract=str(row["contract"]), strike=float(row["strike"]), is_call=right == "C",
                      iv=iv, years=years, expiration=pd.Timestamp(row["expiration"]).date().isoformat())
