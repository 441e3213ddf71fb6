"""max_daily_loss: today's loss, realised plus open, never past the cap; halt when it is reached.

Rule, pre-trade: the day's worst case if everything stopped out now, i.e. today's realised P&L
(net of commissions) + every open position and working entry taken to its stop (slippage and
exit commission in) + this order taken to its stop (both commissions in), must not be a loss
greater than `max_daily_loss.limit_usd` (default $50). So an entry is refused *before* its stop
could take the day past the cap, and the cap is only crossed by a fill worse than the slippage
allowance (a gap through a stop), which the post-trade rule then halts on.
Refusal: `MAX_DAILY_LOSS: loss=52.30 USD, limit=50.00 USD (realised -20.00, open to stops
-8.00, this order to its stop -24.30)`.

Rule, post-trade (every fill and price update): realised + open at the mark (exit commission in;
an instrument without a mark counts at its stop) reaching the limit halts (`DAILY_LOSS_HIT`);
reaching `reduce_at_fraction` of it (default 0.8: $40) moves to REDUCING (`DAILY_LOSS_REDUCING`).
That REDUCING is today's: the engine lifts it when the next trading day starts (`NEW_TRADING_DAY`);
the halt stays until a person resumes.
"""
from __future__ import annotations

import math

from ..execution.orders import Bracket
from .base import Demand, Figure, usd_text, Guard, Refusal, Request, RiskState, TradingSnapshot
from .exposure import bracket_risk, exposure

#: dollars of float noise tolerated at the cap (a loss of exactly the limit is allowed pre-trade)
EPSILON_USD = 1e-6


class MaxDailyLoss(Guard):
    name = "max_daily_loss"
    resets_daily = True     # today's loss: a REDUCING it demanded lapses with the trading day

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        limit = self.config.max_daily_loss.limit_usd
        realized = float(snapshot.realized_pnl_usd)
        if not math.isfinite(realized):
            return self.refusal("PNL_UNKNOWN", request, Figure("limit", limit, "USD"),
                                detail="today's realised P&L is unknown; cannot tell the loss so far")
        now = exposure(snapshot, self.config)
        order_worst = bracket_risk(request, snapshot, self.config)[1] if isinstance(request, Bracket) else -math.inf
        projected = realized + now.worst_pnl_usd + order_worst
        if -projected > limit + EPSILON_USD:
            return self.refusal(
                "MAX_DAILY_LOSS", request, Figure("loss", -projected, "USD"), Figure("limit", limit, "USD"),
                detail=f"realised {realized:.2f}, open to stops {usd_text(now.worst_pnl_usd)}, "
                       f"this order to its stop {usd_text(order_worst)}")
        return None

    def evaluate(self, snapshot: TradingSnapshot) -> Demand | None:
        settings = self.config.max_daily_loss
        loss = -daily_pnl_at_mark(snapshot, self.config)
        if math.isnan(loss) or loss >= settings.limit_usd - EPSILON_USD:
            return self.demand(RiskState.HALTED, "DAILY_LOSS_HIT", Figure("loss", loss, "USD"),
                               Figure("limit", settings.limit_usd, "USD"))
        threshold = settings.reduce_at_fraction * settings.limit_usd
        if settings.reduce_at_fraction < 1 and loss >= threshold - EPSILON_USD:
            return self.demand(RiskState.REDUCING, "DAILY_LOSS_REDUCING", Figure("loss", loss, "USD"),
                               Figure("threshold", threshold, "USD"), Figure("limit", settings.limit_usd, "USD"))
        return None


def daily_pnl_at_mark(snapshot: TradingSnapshot, config) -> float:
    """Today's realised P&L plus open positions at the mark (at their stops where no mark)."""
    now = exposure(snapshot, config)
    open_pnl = now.open_pnl_usd
    if math.isnan(open_pnl):
        open_pnl = now.worst_pnl_usd
    return float(snapshot.realized_pnl_usd) + open_pnl
