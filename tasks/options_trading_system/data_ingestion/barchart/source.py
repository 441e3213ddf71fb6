"""`BarchartSource`: the NQ options chain from Barchart's site (free, no key).

`fetch` does:

0. refuse a past trade date (code PAST_DATE): the site shows only the present chain;
1. choose the option root for the trade date (`roots.choose_root`: the profile's, or the front
   series) and the future it exercises into;
2. reuse a capture of that root saved in the day's `api_data/` when it is younger than the cache
   lifetime: `cache_ttl_open_s` while the exchange trades, `cache_ttl_closed_s` otherwise
   (hours from the exchange calendar), saying so in `last_cache_reason` (outcome `cached`);
3. else run the page-then-API flow (`client`), read the future's quote from the page (bs4),
   wrap the raw API response in the project's capture envelope (capture time, expiration,
   future and its price) and save it as `api_data/barchart_api_<ROOT>_<YYYYMMDD_HHMMSS>.json`;
4. parse it with the saved source's Barchart parser (one parser for the format), so what the
   saved source replays later is read exactly as it was read live.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from ...errors import DataSourceError
from ...state.atomic import atomic_write_bytes
from ..canonical import OptionsChain, RawCapture, as_utc
from ..market_hours import is_market_open
from ..saved.barchart_format import barchart_capture_document, is_barchart_capture, parse_barchart_capture
from ..sources_registry import ChainRequest, DataSource, SourceContext, capture_folder, refuse_past_date
from ..vendor_config import config_from_section
from .client import BarchartAnswer, BarchartClient
from .config import BarchartConfig
from .parsing import page_quote
from .roots import RootChoice, choose_root

log = logging.getLogger(__name__)

CAPTURE_NAME = re.compile(r"^barchart_api_(?P<root>[A-Z0-9]+)_(?P<stamp>\d{8}_\d{6})\.json$")

ClientFactory = Callable[..., BarchartClient]


class BarchartSource(DataSource):
    """Barchart's chain of one NQ option root, with the page's future quote."""

    name = "barchart"
    network = True

    def __init__(self, config: BarchartConfig, *, output_root: Path, calendar_name: str = "CMES",
                 client_factory: ClientFactory = BarchartClient) -> None:
        self.config = config
        self.output_root = Path(output_root)
        self.calendar_name = calendar_name
        self.client_factory = client_factory

    @classmethod
    def from_context(cls, context: SourceContext) -> "BarchartSource":
        config = config_from_section(BarchartConfig, context.profile.section("data_sources", "barchart"),
                                     where="data_sources.barchart")
        calendar = str(context.profile.section("instrument").get("exchange_calendar", "CMES"))
        return cls(config, output_root=context.output_root, calendar_name=calendar)

    def fetch(self, request: ChainRequest) -> OptionsChain:
        refuse_past_date(self.name, request, self.calendar_name, "Barchart's site shows only the present chain")
        choice = choose_root(root=self.config.root, trade_date=request.trade_date, now=request.now,
                             expiry_time=self.config.expiry_time, include_eom=self.config.include_eom,
                             calendar_name=self.calendar_name)
        log.info("barchart: %s", choice.reason)
        cached = self._cached(choice, request)
        if cached is not None:
            return cached
        with contextlib.closing(self.client_factory(self.config, timeout=request.request_timeout)) as client:
            answer = client.fetch(choice.root, choice.series.underlying_symbol)
        return self._capture(answer, choice, request)

    # --- steps ------------------------------------------------------------------------------

    def _capture(self, answer: BarchartAnswer, choice: RootChoice, request: ChainRequest) -> OptionsChain:
        payload = answer.payload
        if not isinstance(payload, Mapping) or "data" not in payload:
            raise DataSourceError(f"barchart: the quotes API answered for {choice.root} without \"data\" "
                                  f"(keys: {sorted(payload)[:6] if isinstance(payload, Mapping) else type(payload).__name__})",
                                  code="MALFORMED")
        if not _has_rows(payload["data"]):
            raise DataSourceError(f"barchart: no contracts for root {choice.root} ({choice.series.kind}, expiring "
                                  f"{choice.series.expiration}); the series may not be listed yet or has expired",
                                  code="EMPTY")
        quote = page_quote(answer.page_html)
        captured_at = as_utc(request.now)
        document = barchart_capture_document(
            payload, captured_at=captured_at, expiration=choice.series.expiration,
            underlying_symbol=quote.symbol or choice.series.underlying_symbol,
            underlying_price=quote.price, multiplier=request.multiplier,
            request={"root": choice.root, "page": answer.page_url, "api": answer.api_url,
                     "underlying_price_basis": quote.basis})
        filename = f"barchart_api_{choice.root}_{captured_at:%Y%m%d_%H%M%S}.json"
        content = json.dumps(document, separators=(",", ":")).encode("utf-8")
        path = self._api_data(request) / filename
        atomic_write_bytes(path, content)
        log.info("barchart: saved the %s capture to %s (future %s at %s, %s)", choice.root, path,
                 document.get("underlying_symbol"), document.get("underlying_price", "no quote"), quote.basis)
        return self._parse(document, RawCapture(content=content, filename=filename))

    def _cached(self, choice: RootChoice, request: ChainRequest) -> OptionsChain | None:
        """The newest capture of this root in the day's api_data/ if it is young enough, else None."""
        folder = self._api_data(request)
        if not folder.is_dir():
            return None
        now = as_utc(request.now)
        ttl = self.config.cache_ttl_open_s if is_market_open(self.calendar_name, now) else self.config.cache_ttl_closed_s
        captures = sorted((p for p in folder.glob(f"barchart_api_{choice.root}_*.json") if CAPTURE_NAME.match(p.name)),
                          reverse=True)
        for path in captures:
            try:
                content = path.read_bytes()
                document = json.loads(content)
            except (OSError, ValueError) as exc:
                log.warning("barchart: ignoring unreadable cached capture %s (%s)", path, exc)
                continue
            if not is_barchart_capture(document):
                continue
            age = (now - as_utc(document["captured_at"])).total_seconds()
            if 0 <= age <= ttl:
                self.last_cache_reason = f"reused {path.name} ({age:.0f} s old, cache lifetime {ttl:.0f} s)"
                log.info("barchart: %s", self.last_cache_reason)
                return self._parse(document, RawCapture(content=content, filename=path.name))
            return None  # the newest one is too old: ask again
        return None

    def _parse(self, document: Mapping[str, Any], raw: RawCapture) -> OptionsChain:
        try:
            return parse_barchart_capture(document, raw, label=f"barchart {raw.filename}")
        except DataSourceError as exc:
            exc.code = exc.code or "MALFORMED"
            raise

    def _api_data(self, request: ChainRequest) -> Path:
        return capture_folder(self.output_root, request.trade_date)


def _has_rows(data: Any) -> bool:
    if isinstance(data, Mapping):
        return any(isinstance(rows, list) and rows for rows in data.values())
    return isinstance(data, list) and bool(data)
