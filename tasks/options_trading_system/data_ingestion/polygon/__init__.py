"""Polygon source: the NDX (or QQQ) option chain as a flagged proxy for NQ."""
