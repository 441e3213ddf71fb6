"""trading_window: new entries only inside the daily window of the exchange's local clock.

Rule: an order that adds exposure is refused unless `now`, read in `trading_window.timezone`
(default America/New_York), is Monday to Friday within [`start`, `end`) (default 09:30-16:00,
the shadow window). Orders that reduce exposure always pass (a position must always be closable).
Holidays and early closes are the orchestrator's calendar's business: it does not trade then.
Refusal: `OUTSIDE_WINDOW (16:05 Fri America/New_York; window 09:30-16:00 Mon-Fri)`.
"""
from __future__ import annotations

from .base import Guard, Refusal, Request, TradingSnapshot


class TradingWindow(Guard):
    name = "trading_window"

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        window = self.config.trading_window
        local = snapshot.now.tz_convert(window.timezone)
        inside = local.weekday() < 5 and window.start_time <= local.time() < window.end_time
        if inside:
            return None
        return self.refusal("OUTSIDE_WINDOW", request,
                            detail=f"{local:%H:%M %a} {window.timezone}; window {window.start}-{window.end} Mon-Fri")
