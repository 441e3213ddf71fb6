"""Exits managed on ticks: where a bracket (with an optional trailing stop) leaves the market.

For each trade, from the first tick at or after its decision time (the entry, a market order that
pays `slippage` points), the ticks are walked in order:
- a trailing stop (`trail` points > 0) follows the best price reached: for a LONG the stop is
  max(stop, best - trail), for a SHORT min(stop, best + trail);
- the stop is hit when a tick trades at or through it: a market exit at that tick's price, paying
  slippage;
- the target is hit when a tick trades at or through it: a resting limit filled at the target;
- neither by the session's end: a market exit at the last tick, paying slippage.
The stop is checked first on each tick (a tick can only be one price, so both can only coincide
when the levels cross, and then the conservative answer is taken). One numba loop; the streaming
path uses the same kernel one tick at a time (`exit_on_tick`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...ifd_v3.jit import kernel

EXIT_STOP, EXIT_TARGET, EXIT_SESSION_END, EXIT_NONE = 0, 1, 2, 3
EXIT_NAMES = {EXIT_STOP: "stop", EXIT_TARGET: "target", EXIT_SESSION_END: "session_end"}

# per-trade state: [sign, stop, target, trail, best]
T_SIGN, T_STOP, T_TARGET, T_TRAIL, T_BEST = range(5)


@dataclass(frozen=True)
class ExitFill:
    exit_reason: str
    exit_ns: int
    exit_price: float
    entry_ns: int
    entry_price: float


@kernel
def exit_on_tick(state: np.ndarray, price: float) -> int:
    """Fold one tick into a live bracket; EXIT_STOP / EXIT_TARGET when it leaves, else EXIT_NONE."""
    sign = state[T_SIGN]
    if state[T_TRAIL] > 0.0:
        if sign > 0:
            if price > state[T_BEST]:
                state[T_BEST] = price
            trailed = state[T_BEST] - state[T_TRAIL]
            if trailed > state[T_STOP]:
                state[T_STOP] = trailed
        else:
            if price < state[T_BEST]:
                state[T_BEST] = price
            trailed = state[T_BEST] + state[T_TRAIL]
            if trailed < state[T_STOP]:
                state[T_STOP] = trailed
    if (price - state[T_STOP]) * sign <= 0.0:
        return EXIT_STOP
    if (price - state[T_TARGET]) * sign >= 0.0:
        return EXIT_TARGET
    return EXIT_NONE


@kernel
def scan_exits(state: np.ndarray, price: np.ndarray, i0: int, i1: int, reason: np.ndarray) -> int:
    """Fold ticks `i0 .. i1 - 1` into a live bracket, one at a time as `exit_on_tick` does; the
    index of the tick it leaves on (its reason in `reason[0]`), or -1 when it is still open."""
    for j in range(i0, i1):
        r = exit_on_tick(state, price[j])
        if r != EXIT_NONE:
            reason[0] = r
            return j
    return -1


def bracket_state(sign: float, stop: float, target: float, trail: float, entry: float) -> np.ndarray:
    """A live bracket's state for `exit_on_tick` / `scan_exits` (the best price starts at the entry)."""
    state = np.empty(5)
    state[T_SIGN], state[T_STOP], state[T_TARGET], state[T_TRAIL], state[T_BEST] = sign, stop, target, trail, entry
    return state


@kernel
def _simulate(ts: np.ndarray, price: np.ndarray, start: np.ndarray, sign: np.ndarray, stop: np.ndarray,
              target: np.ndarray, trail: np.ndarray, slippage: float, out_reason: np.ndarray,
              out_index: np.ndarray, out_price: np.ndarray, out_entry: np.ndarray, state: np.ndarray) -> None:
    n = ts.shape[0]
    for k in range(start.shape[0]):
        i0 = start[k]
        if i0 >= n:
            out_reason[k] = EXIT_NONE
            out_index[k] = -1
            out_price[k] = math.nan
            out_entry[k] = math.nan
            continue
        entry = price[i0] + sign[k] * slippage
        out_entry[k] = entry
        state[T_SIGN] = sign[k]
        state[T_STOP] = stop[k]
        state[T_TARGET] = target[k]
        state[T_TRAIL] = trail[k]
        state[T_BEST] = entry
        reason = EXIT_SESSION_END
        j = i0 + 1
        while j < n:
            r = exit_on_tick(state, price[j])
            if r != EXIT_NONE:
                reason = r
                break
            j += 1
        if reason == EXIT_SESSION_END:
            j = n - 1
        out_reason[k] = reason
        out_index[k] = j
        if reason == EXIT_TARGET:
            out_price[k] = state[T_TARGET]
        else:
            out_price[k] = price[j] - sign[k] * slippage


def simulate_exits(ts_ns: np.ndarray, price: np.ndarray, decision_ns: np.ndarray, sign: np.ndarray,
                   stop: np.ndarray, target: np.ndarray, trail: np.ndarray | None = None,
                   slippage: float = 0.25) -> list[ExitFill | None]:
    """Entry and exit of each bracket decided at `decision_ns` (None when no tick follows it)."""
    ts = np.asarray(ts_ns, np.int64)
    start = np.searchsorted(ts, np.asarray(decision_ns, np.int64), side="left").astype(np.int64)
    k = start.shape[0]
    reason = np.empty(k, np.int64)
    index = np.empty(k, np.int64)
    exit_price = np.empty(k)
    entry_price = np.empty(k)
    _simulate(ts, np.asarray(price, np.float64), start, np.asarray(sign, np.float64), np.asarray(stop, np.float64),
              np.asarray(target, np.float64), np.zeros(k) if trail is None else np.asarray(trail, np.float64),
              float(slippage), reason, index, exit_price, entry_price, np.empty(5))
    out: list[ExitFill | None] = []
    for r, j, px, s, e in zip(reason, index, exit_price, start, entry_price):
        out.append(None if r == EXIT_NONE else ExitFill(EXIT_NAMES[int(r)], int(ts[j]), float(px), int(ts[s]), float(e)))
    return out
