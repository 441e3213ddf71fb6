"""Incremental indicators for tick execution: O(1) work per tick or bar, exact against batch.

- `bars.py`: ticks -> time bars (1m, 5m, 15m, 30m, 1h...) closed on exchange time, an empty bar
  (no ticks) included;
- `kernels.py`: the update rules (EMA, rolling mean and standard deviation, Wilder RSI and ATR,
  VWAP, realised volatility) as numba kernels over small state arrays, so the streaming path (one
  call per tick) and the replay path (one call per array) run the very same arithmetic;
- `streaming.py`: small classes wrapping a kernel and its state, for strategies to hold.
"""
