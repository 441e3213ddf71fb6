"""Paper pricing: what a validated signal would have cost and earned, with nothing faked.

Entries are market orders at the market price at decision time plus slippage (ticks of 0.25
point against us) and commission per contract per side. Futures exits: a target is a resting limit
and fills at the target; a stop and the session-end exit are market orders and pay slippage. The
traded instrument comes from the profile: NQ or MNQ futures (the futures price), or an option (a
call for a LONG, a put for a SHORT), bought at its ask and sold at a Black-76 mark (the option's
implied volatility at entry, the underlying at exit; the chain is only seen at snapshots, so this is
a model mark, and says so). An option has no resting order at the futures level, so every option
exit, a target included, is a market sale that pays slippage (`exit_slippage`).
Position limits are guards: a refusal is a recorded decision with a reason code and the numbers.
The paper broker (`paper.py`) fills brackets with these prices behind the `Broker` interface.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ... import black76
from ..shadow_config import ExecutionConfig

OPTION = "option"
REFUSED_POSITION_LIMIT = "POSITION_LIMIT"
REFUSED_SOURCE_LIMIT = "SOURCE_LIMIT"
REFUSED_NO_PRICE = "NO_PRICE"
EXIT_ORIGIN_MARKET = "price_path"
EXIT_ORIGIN_BLACK76 = "black76_at_entry_iv"


@dataclass(frozen=True)
class EntryQuote:
    """What can be bought at decision time: futures price, or the option's quote and model inputs."""

    price: float                 # futures: last price; option: ask (else mark)
    contract: str | None = None  # the option traded, if any
    strike: float = float("nan")
    is_call: bool = True
    iv: float = float("nan")
    years: float = float("nan")  # to expiry at entry
    expiration: str | None = None  # YYYY-MM-DD of the option


class PaperPricing:
    """Prices entries and exits and applies position limits, from `ExecutionConfig`."""

    def __init__(self, config: ExecutionConfig) -> None:
        self.config = config

    @property
    def trades_options(self) -> bool:
        return self.config.instrument == OPTION

    def refusal(self, open_positions: pd.DataFrame, source: str) -> str:
        """'' when a new position for `source` is allowed, else 'CODE: numbers'."""
        total = len(open_positions)
        if total >= self.config.max_open_positions:
            return f"{REFUSED_POSITION_LIMIT}: open={total}, limit={self.config.max_open_positions}"
        return self.source_refusal(open_positions, source)

    def source_refusal(self, open_positions: pd.DataFrame, source: str) -> str:
        """'' when `source` may open another position, else 'SOURCE_LIMIT: numbers' (an allocation
        rule per source; the account-wide position cap is the risk engine's max_position guard)."""
        total = len(open_positions)
        mine = int((open_positions["source"] == source).sum()) if total else 0
        if mine >= self.config.max_open_per_source:
            return f"{REFUSED_SOURCE_LIMIT}: open={mine} for {source}, limit={self.config.max_open_per_source}"
        return ""

    def entry_price(self, direction: str, quote: EntryQuote) -> float:
        """Fill price of the entry: futures pay slippage in the trade's direction; options are bought."""
        slip = self.config.slippage_points
        if self.trades_options:
            return quote.price + slip
        return quote.price + slip if direction == "LONG" else quote.price - slip

    def exit_is_limit(self, exit_reason: str) -> bool:
        """True when the exit is a resting limit filled at its level: a futures target. Option exits
        and stops / session ends are market orders."""
        return exit_reason == "target" and not self.trades_options

    def exit_slippage(self, exit_reason: str) -> float:
        """Points of slippage the exit pays (what `exit_price` applies and the fill row records)."""
        return 0.0 if self.exit_is_limit(exit_reason) else self.config.slippage_points

    def exit_quote(self, exit_reference: float, *, quote: EntryQuote | None = None,
                   years_at_exit: float = float("nan")) -> float:
        """The traded instrument's price at the exit before slippage: the futures level itself, or
        the option's Black-76 mark there (NaN when the option has no implied volatility)."""
        if not self.trades_options:
            return float(exit_reference)
        if quote is None or not np.isfinite(quote.iv):
            return float("nan")
        return float(black76.price(exit_reference, quote.strike, max(years_at_exit, 0.0), quote.iv, quote.is_call))

    def exit_price(self, direction: str, exit_reason: str, exit_reference: float, *, quote: EntryQuote | None = None,
                   years_at_exit: float = float("nan")) -> tuple[float, str]:
        """(fill price, origin) of the exit: `exit_quote` net of `exit_slippage`."""
        slip = self.exit_slippage(exit_reason)
        price = self.exit_quote(exit_reference, quote=quote, years_at_exit=years_at_exit)
        if self.trades_options:
            return (max(price - slip, 0.0) if np.isfinite(price) else float("nan")), EXIT_ORIGIN_BLACK76
        return (price - slip if direction == "LONG" else price + slip), EXIT_ORIGIN_MARKET

    def pnl(self, direction: str, entry: float, exit: float) -> tuple[float, float, float]:
        """(points, dollars net of both commissions, commissions) of one closed position."""
        qty = self.config.quantity
        sign = 1.0 if (self.trades_options or direction == "LONG") else -1.0
        points = (exit - entry) * sign
        commissions = 2 * self.config.commission * qty
        dollars = points * self.config.multiplier * qty - commissions
        return float(points), float(dollars), float(commissions)

    def order_side(self, direction: str) -> str:
        return "BUY" if (self.trades_options or direction == "LONG") else "SELL"

    def instrument_name(self, quote: EntryQuote) -> str:
        return (quote.contract or OPTION) if self.trades_options else self.config.instrument
