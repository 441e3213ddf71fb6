"""Retention: keep the last N days of a time series, drop the rest.

Pure: a list of records with an ISO-8601 `ts` in, the records young enough out (order kept).
A record whose `ts` cannot be read is dropped and counted, never kept forever by accident.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import pandas as pd

from ..data_ingestion.canonical import as_utc

log = logging.getLogger(__name__)

__all__ = ["prune_older_than", "young_mask"]


def prune_older_than(records: Sequence[Mapping[str, Any]], now: pd.Timestamp, days: float,
                     *, key: str = "ts") -> list[Mapping[str, Any]]:
    """Records with `key` at or after `now - days`; unreadable timestamps are dropped with a warning."""
    return [record for record, kept in zip(records, young_mask(records, now, days, key=key)) if kept]


def young_mask(records: Sequence[Mapping[str, Any]], now: pd.Timestamp, days: float,
               *, key: str = "ts") -> list[bool]:
    """Per record, True when `prune_older_than` keeps it (so a caller can filter a parallel list too)."""
    if not records:
        return []
    cutoff = as_utc(now) - pd.Timedelta(days=days)
    stamps = pd.to_datetime(pd.Series([r.get(key) for r in records], dtype="object"), utc=True, errors="coerce",
                            format="ISO8601")
    unreadable = int(stamps.isna().sum())
    if unreadable:
        log.warning("dropped %d record(s) whose %r is not an ISO-8601 time", unreadable, key)
    return (stamps >= cutoff).tolist()
