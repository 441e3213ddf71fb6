"""`PolygonSource`: the NDX (or QQQ) option chain snapshot, a flagged proxy for NQ.

`fetch` refuses a past trade date (code PAST_DATE: a snapshot is the present, always), reads the key from the variable named by `api_key_env` (absent: "not set up", no
request), asks `list_snapshot_options_chain` for the expirations within the horizon, follows the
`next_url` pages up to `max_pages` (more is refused as incomplete rather than analysed half),
maps the items to the canonical chain with `is_proxy=True`, and saves it as a canonical snapshot
under `outputs/YYYYMMDD/api_data/` so the saved source can replay it.
"""
from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Callable, Mapping

from ...errors import DataSourceError, SourceNotAvailableError
from ..canonical import OptionsChain
from ..saved.snapshot_format import save_snapshot_capture
from ..sources_registry import ChainRequest, DataSource, SourceContext, capture_folder, refuse_past_date
from ..vendor_config import config_from_section
from .client import PolygonClient
from .config import PolygonConfig
from .parsing import build_proxy_chain

log = logging.getLogger(__name__)

ClientFactory = Callable[..., PolygonClient]


class PolygonSource(DataSource):
    """Index/ETF options standing in for NQ options (Polygon has none on futures)."""

    name = "polygon"
    network = True

    def __init__(self, config: PolygonConfig, *, env: Mapping[str, str], output_root: Path,
                 calendar_name: str = "CMES", client_factory: ClientFactory = PolygonClient) -> None:
        self.config = config
        self.env = env
        self.output_root = Path(output_root)
        self.calendar_name = calendar_name
        self.client_factory = client_factory

    @classmethod
    def from_context(cls, context: SourceContext) -> "PolygonSource":
        config = config_from_section(PolygonConfig, context.profile.section("data_sources", "polygon"),
                                     where="data_sources.polygon")
        calendar = str(context.profile.section("instrument").get("exchange_calendar", "CMES"))
        return cls(config, env=context.env, output_root=context.output_root, calendar_name=calendar)

    def fetch(self, request: ChainRequest) -> OptionsChain:
        refuse_past_date(self.name, request, self.calendar_name,
                         "Polygon's chain snapshot is always the present one")
        key = self.env.get(self.config.api_key_env, "")
        if not key:
            raise SourceNotAvailableError(
                f"polygon: {self.config.api_key_env} is not set; put your Polygon API key in the environment or .env "
                f"to use this source", code="NO_KEY")
        cfg = self.config
        params = {"expiration_date.gte": request.trade_date.isoformat(),
                  "expiration_date.lte": (request.trade_date + timedelta(days=cfg.max_days_to_expiration)).isoformat(),
                  "limit": cfg.page_limit}
        items = []
        with contextlib.closing(self.client_factory(key, cfg, timeout=request.request_timeout)) as client:
            for item in client.snapshot_chain(cfg.underlying, params):
                items.append(item)
                if client.pool.requests > cfg.max_pages:
                    raise DataSourceError(
                        f"polygon: the {cfg.underlying} chain needs more than {cfg.max_pages} pages of "
                        f"{cfg.page_limit} (data_sources.polygon.max_pages); refusing an incomplete chain",
                        code="TOO_LARGE")
            pages = client.pool.requests
        log.info("polygon: %d contracts of %s in %d page(s)", len(items), cfg.underlying, pages)
        chain = build_proxy_chain(items, underlying=cfg.underlying, as_of=request.now)
        return self._save(chain, request)

    def _save(self, chain: OptionsChain, request: ChainRequest) -> OptionsChain:
        """Save the chain as a canonical snapshot in the day's api_data/ (the saved source replays it)."""
        symbol = self.config.underlying.replace(":", "")
        return save_snapshot_capture(chain, capture_folder(self.output_root, request.trade_date),
                                     f"polygon_{symbol}_chain_{request.now:%Y%m%d_%H%M%S}.json")
