"""Reading Barchart's futures-options page: the underlying future's quote (the chain is not in it).

The page's header element (`data-ng-controller="symbolHeaderCtrl"`) carries the quote as JSON
in its `data-ng-init="init({...})"` attribute: `symbol`, `lastPrice`, `bidPrice`, `askPrice` as
display strings ("21,451.00", "N/A", "-"). The price used is the mid of a two-sided, uncrossed
quote, else the last price; NaN when the page has neither (the chain gate then derives the
price from put-call parity). The chain itself comes from the JSON API and is parsed by
`saved/barchart_format` (one parser for one format).
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass

from bs4 import BeautifulSoup

log = logging.getLogger(__name__)

HEADER_CONTROLLER = "symbolHeaderCtrl"
_INIT = re.compile(r"^\s*init\((?P<json>.*)\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class PageQuote:
    """The underlying future's quote as the page shows it."""

    symbol: str | None
    price: float
    basis: str  # "mid" / "last" / "missing": how `price` was obtained
    bid: float = float("nan")
    ask: float = float("nan")


def display_number(text: object) -> float:
    """A Barchart display number ("21,451.00", "2,965.62s") as a float; NaN for N/A, "-", blanks."""
    if text is None:
        return float("nan")
    cleaned = re.sub(r"[^0-9.\-]", "", str(text).replace(",", ""))
    if cleaned in ("", "-", ".", "-."):
        return float("nan")
    try:
        return float(cleaned)
    except ValueError:
        return float("nan")


def page_quote(html: str) -> PageQuote:
    """The underlying quote of an options page (NaN price when the page has none)."""
    soup = BeautifulSoup(html, "html.parser")
    header = soup.find(attrs={"data-ng-controller": HEADER_CONTROLLER})
    init = header.get("data-ng-init") if header is not None else None
    match = _INIT.match(init) if isinstance(init, str) else None
    if match is None:
        log.info("barchart page: no %s quote block; the underlying price will come from parity", HEADER_CONTROLLER)
        return PageQuote(symbol=None, price=float("nan"), basis="missing")
    try:
        data = json.loads(match.group("json"))
    except ValueError:
        log.warning("barchart page: the %s quote block is not JSON; ignoring it", HEADER_CONTROLLER)
        return PageQuote(symbol=None, price=float("nan"), basis="missing")
    bid, ask, last = (display_number(data.get(k)) for k in ("bidPrice", "askPrice", "lastPrice"))
    symbol = data.get("symbol") if isinstance(data.get("symbol"), str) else None
    if bid > 0 and ask >= bid:
        return PageQuote(symbol=symbol, price=(bid + ask) / 2.0, basis="mid", bid=bid, ask=ask)
    if last > 0 and not math.isnan(last):
        return PageQuote(symbol=symbol, price=last, basis="last", bid=bid, ask=ask)
    return PageQuote(symbol=symbol, price=float("nan"), basis="missing", bid=bid, ask=ask)
