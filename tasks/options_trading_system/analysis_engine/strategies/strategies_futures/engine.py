"""The tick decision engine: ticks in, sized trade decisions out (before the risk engine).

For each tick of a session, in order (`on_tick`):
1. every bar period the strategies read closes the bars this tick ends (`indicators.bars`), in
   order of (bar end, period length); each closed bar goes to the strategies listening to that
   period with the session VWAP as of the bar's end (the trades before this tick);
2. the strategies' intents of one bar end go to the aggregator (agreement, conflict, cool-down);
3. a taken intent is sized by the sizer (contracts; 0 = skip) and becomes a `Decision`;
4. the tick updates the session VWAP.
`end_session` closes the bars still open at the session's end. `replay` does the same over whole
arrays: bars and VWAP come from the batch kernels (the same update rules), then the same bar
sequence drives the same strategy objects, so a replay and a stream of the same ticks make the
same decisions (tested), the replay at millions of ticks per second.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..indicators import bars as B
from ..indicators import kernels as K
from ..indicators.streaming import ATR, VWAP, BarBuilder
from ..sizing import SizeDecision, Sizer, SizingContext
from .aggregator import SignalAggregator, Verdict
from .base import Bar, FuturesStrategy, Intent, MarketState


@dataclass(frozen=True)
class Decision:
    """What the engine decided at one bar end: the intent taken (or None), every intent's verdict,
    the size asked for, and what that size was computed from (so a caller that knows more, e.g.
    the ledger's realised outcomes, can size the same intent again at the same moment)."""

    time_ns: int
    intent: Intent | None
    verdicts: tuple[Verdict, ...]
    size: SizeDecision | None
    sizing: SizingContext | None = None


@dataclass(frozen=True)
class SizingInputs:
    equity_usd: float
    multiplier: float


class TickDecisionEngine:
    def __init__(self, strategies: Sequence[FuturesStrategy], aggregator: SignalAggregator, sizer: Sizer, *,
                 sizing: SizingInputs, atr_period: int = 14, atr_bar: str = "5m",
                 term_structure: Callable[[int], MarketState] | None = None) -> None:
        self.strategies = list(strategies)
        self.aggregator = aggregator
        self.sizer = sizer
        self.sizing = sizing
        self.term_structure = term_structure
        periods = {p for s in self.strategies for p in s.periods} | {atr_bar}
        self.periods = sorted(periods, key=B.period_seconds)
        self.atr_bar = atr_bar
        self._atr = ATR(atr_period)  # for volatility-targeted sizing
        self._listeners = {p: [s for s in self.strategies if p in s.periods] for p in self.periods}
        self._builders: dict[str, BarBuilder] = {}
        self._vwap = VWAP()
        self.new_session()

    # --- streaming ------------------------------------------------------------------------

    def new_session(self) -> None:
        """A new trading session: fresh bars and VWAP; strategies and their indicators go on."""
        self._builders = {p: BarBuilder(B.period_seconds(p)) for p in self.periods}
        self._vwap.reset()

    def on_tick(self, ts_ns: int, price: float, size: float) -> list[Decision]:
        closed = [(row, p) for p in self.periods for row in self._builders[p].on_tick(ts_ns, price, size)]
        decisions = self._on_bars(closed) if closed else []
        self._vwap.update(price, size)
        return decisions

    def end_session(self, end_ns: int) -> list[Decision]:
        closed = [(row, p) for p in self.periods for row in self._builders[p].close_until(end_ns)]
        return self._on_bars(closed)

    # --- replay ---------------------------------------------------------------------------

    def replay(self, ts_ns: np.ndarray, price: np.ndarray, size: np.ndarray, end_ns: int) -> list[Decision]:
        """One session's ticks at once (same decisions as `on_tick` for each, then `end_session`)."""
        self.new_session()
        ts = np.asarray(ts_ns, np.int64)
        vwap = np.empty(ts.shape[0])
        K.vwap_batch(self._vwap.state, np.asarray(price, np.float64), np.asarray(size, np.float64), vwap)
        rows, labels = [], []
        for p in self.periods:
            frame = B.bars_from_ticks(ts, price, size, B.period_seconds(p), until_ns=end_ns)
            rows.append(frame.to_numpy())
            labels.extend([p] * len(frame))
        if not labels:
            return []
        table = np.vstack(rows)
        seconds = np.array([B.period_seconds(p) for p in labels])
        order = np.lexsort((seconds, table[:, B.B_END]))
        # the VWAP a bar sees: of the trades before the tick that closed it (ts < bar end)
        before = np.searchsorted(ts, table[:, B.B_END].astype(np.int64), side="left") - 1
        decisions: list[Decision] = []
        i = 0
        while i < len(order):
            j = i
            end = table[order[i], B.B_END]
            while j < len(order) and table[order[j], B.B_END] == end:
                j += 1
            group = [(table[k], labels[k]) for k in order[i:j]]
            k_last = before[order[i]]
            decisions.extend(self._on_bars(group, vwap=float(vwap[k_last]) if k_last >= 0 else math.nan))
            i = j
        return decisions

    # --- shared ---------------------------------------------------------------------------

    def _on_bars(self, closed: list[tuple[np.ndarray, str]], vwap: float | None = None) -> list[Decision]:
        closed.sort(key=lambda item: (item[0][B.B_END], B.period_seconds(item[1])))
        decisions = []
        at = 0
        while at < len(closed):
            end = closed[at][0][B.B_END]
            intents: list[Intent] = []
            while at < len(closed) and closed[at][0][B.B_END] == end:
                row, period = closed[at]
                bar = Bar(period, int(row[B.B_END]), float(row[B.B_OPEN]), float(row[B.B_HIGH]),
                          float(row[B.B_LOW]), float(row[B.B_CLOSE]), float(row[B.B_VOLUME]), int(row[B.B_TRADES]))
                if period == self.atr_bar:
                    self._atr.update(bar.high, bar.low, bar.close)
                market = self._market(bar.end_ns, vwap)
                for strategy in self._listeners[period]:
                    intent = strategy.on_bar(bar, market)
                    if intent is not None:
                        intents.append(intent)
                at += 1
            if intents:
                decisions.append(self._decide(int(end), intents))
        return decisions

    def _market(self, end_ns: int, vwap: float | None) -> MarketState:
        value = self._vwap.value if vwap is None else vwap
        if self.term_structure is None:
            return MarketState(vwap=value)
        ts = self.term_structure(end_ns)
        return MarketState(vwap=value, front_atm_iv=ts.front_atm_iv, next_atm_iv=ts.next_atm_iv,
                           term_structure_time_ns=ts.term_structure_time_ns)

    def _decide(self, end_ns: int, intents: list[Intent]) -> Decision:
        taken, verdicts = self.aggregator.decide(intents)
        size = context = None
        if taken is not None:
            context = SizingContext(equity_usd=self.sizing.equity_usd, multiplier=self.sizing.multiplier,
                                    entry=taken.entry_reference, stop=taken.stop, atr_points=self._atr.value)
            size = self.sizer.size(context)
        return Decision(end_ns, taken, tuple(verdicts), size, context)
