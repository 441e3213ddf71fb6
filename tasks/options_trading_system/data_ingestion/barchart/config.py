"""Settings of the Barchart source (profile: `data_sources.barchart`, schema
`config/schema/source.barchart.schema.json`, which documents each one)."""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://www.barchart.com"
DEFAULT_FIELDS = ("strike", "openPrice", "highPrice", "lowPrice", "lastPrice", "priceChange", "bidPrice", "askPrice",
                  "volume", "openInterest", "premium", "tradeTime", "longSymbol", "optionType", "symbol",
                  "symbolCode", "symbolType")


@dataclass(frozen=True, kw_only=True)
class BarchartConfig:
    base_url: str = DEFAULT_BASE_URL
    root: str = "auto"
    include_eom: bool = False
    expiry_time: str = "16:00"
    page_path: str = "/futures/quotes/{future}/options/{root}"
    api_path: str = "/proxies/core-api/v1/quotes/get"
    fields: tuple[str, ...] = DEFAULT_FIELDS
    user_agent: str = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/126.0 Safari/537.36")
    cache_ttl_open_s: float = 300.0
    cache_ttl_closed_s: float = 1800.0
    timeout_s: float | None = None
    request_timeout_s: float | None = None
