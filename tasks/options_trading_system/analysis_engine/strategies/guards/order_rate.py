"""order_rate: at most so many orders per sliding window of simulated time.

Rule: the orders the engine approved within the last `order_rate.per_seconds` (default 60 s),
plus this one, must not exceed `order_rate.max_orders` (default 5). A bracket is one order request
(the broker takes it as one order-sends-order). It also judges orders that reduce exposure: it
guards the broker session (Tradovate answers a flood with a penalty ticket), and the protective
stop of every position already rests at the broker. Time is the `now` of the snapshot, so replays
and tests are deterministic; the engine restores recent approvals from its store after a restart.
Refusal: `ORDER_RATE: recent=5 orders, limit=5 orders, window=60 s`.
"""
from __future__ import annotations

import pandas as pd

from .base import Figure, Guard, Refusal, Request, TradingSnapshot


class OrderRate(Guard):
    name = "order_rate"
    checks_reducing = True

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        settings = self.config.order_rate
        log = self.services.submissions
        if log is None:
            return None
        recent = len(log.times_since(snapshot.now - pd.Timedelta(seconds=settings.per_seconds)))
        if recent + 1 > settings.max_orders:
            return self.refusal("ORDER_RATE", request, Figure("recent", recent, "orders"),
                                Figure("limit", settings.max_orders, "orders"),
                                Figure("window", settings.per_seconds, "s"))
        return None
