"""`DatabentoSource`: the NQ options chain from Databento's historical API (GLBX.MDP3).

`fetch` does, inside the time limit the loader gives it:

1. read the key from the variable named by `api_key_env` (absent: "not set up", no request);
2. pick the window: the trade date's CME session (exchange calendar) from its open to the
   earliest of its close, the run's `now` and the end of the dataset's available data, rounded
   down to `end_granularity_minutes` so runs in the same slot reuse the cache;
3. price the whole plan before buying anything: the `definition` records of the NQ option
   products (parent symbology) and a ceiling of the rest (statistics, volume and quotes of the
   same parents, the NQ futures' quotes), and reserve that total in the machine's spend ledger
   under its lock (`data_budget`): a plan that would break the daily or monthly budget is
   refused before a single request is sent, and concurrent runs cannot both spend the headroom;
4. buy the definitions, keep options whose underlying is an NQ future and that expire within
   the horizon (`parsing`); price the actual requests (by instrument id), growing the
   reservation under the lock if they cost more than the ceiling;
5. fetch them (cached responses cost nothing), build the canonical chain, save it as a canonical
   snapshot under `outputs/YYYYMMDD/api_data/` so the saved source can replay it. When every
   request came from the DBN cache, `last_cache_reason` says so (outcome `cached`).

Spend is recorded per paid request in the machine's ledger (`<state dir>/data_spend.sqlite3`,
keyed by a fingerprint of the key); the attempt's cost is `last_cost_usd` on success and the
error's `cost_usd` on failure. A quote that is not a finite non-negative number is a bad quote.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Mapping, Sequence

import databento
import pandas as pd

from ...errors import DataSourceError, SourceNotAvailableError, SourceRefusedError
from ..canonical import DEFAULT_BOUNDS, ChainBounds, OptionsChain, as_utc
from ..data_budget import DataBudget, Reservation, SpendLedger, account_fingerprint
from ..market_hours import session_for
from ..saved.snapshot_format import save_snapshot_capture
from ..sources_registry import ChainRequest, DataSource, SourceContext, capture_folder
from ..vendor_config import config_from_section
from . import parsing
from .client import MAX_SYMBOLS_PER_REQUEST, DatabentoClient, DbnCache, RangeRequest
from .config import KEY_FORMAT, DatabentoConfig

log = logging.getLogger(__name__)

ClientFactory = Callable[..., DatabentoClient]


class DatabentoSource(DataSource):
    """CME Globex options on NQ futures, priced and budgeted request by request."""

    name = "databento"
    network = True

    def __init__(self, config: DatabentoConfig, *, env: Mapping[str, str], output_root: Path,
                 calendar_name: str = "CMES", client_factory: ClientFactory = DatabentoClient,
                 state_dir: str | Path | None = None, bounds: ChainBounds = DEFAULT_BOUNDS) -> None:
        self.config = config
        self.bounds = bounds
        self.state_dir = state_dir
        self.env = env
        self.output_root = Path(output_root)
        self.calendar_name = calendar_name
        self.client_factory = client_factory
        self._answered = {"cache": 0, "vendor": 0}  # requests of the current fetch, by who answered

    @classmethod
    def from_context(cls, context: SourceContext) -> "DatabentoSource":
        config = config_from_section(DatabentoConfig, context.profile.section("data_sources", "databento"),
                                     where="data_sources.databento")
        calendar = str(context.profile.section("instrument").get("exchange_calendar", "CMES"))
        return cls(config, env=context.env, output_root=context.output_root, calendar_name=calendar,
                   state_dir=context.profile.data.get("state_dir"),
                   bounds=ChainBounds.from_section(context.profile.section("data_sources", "validation")))

    def fetch(self, request: ChainRequest) -> OptionsChain:
        key = self.env.get(self.config.api_key_env, "")
        if not key:
            raise SourceNotAvailableError(
                f"databento: {self.config.api_key_env} is not set; put your Databento API key (db- followed by "
                f"29 characters) in the environment or .env to use this source", code="NO_KEY")
        if not KEY_FORMAT.match(key):
            raise SourceRefusedError(
                f"databento: {self.config.api_key_env} does not look like a Databento key (db- followed by 29 letters "
                f"or digits, {len(key)} characters given); copy it again from databento.com/portal/keys", code="AUTH")
        budget = DataBudget(self.name, daily_usd=self.config.daily_budget_usd,
                            monthly_usd=self.config.monthly_budget_usd, ledger=SpendLedger.default(self.state_dir),
                            now=request.now, setting_prefix="data_sources.databento",
                            account=account_fingerprint(key))
        self._answered = {"cache": 0, "vendor": 0}
        try:
            client = self.client_factory(key, self.config, cache=DbnCache(self.output_root / self.config.cache_dir),
                                         timeout=request.request_timeout)
            chain = self._fetch(client, budget, request)
        except DataSourceError as exc:
            exc.cost_usd = budget.spent_this_run
            raise
        self.last_cost_usd = budget.spent_this_run
        if self._answered["cache"] and not self._answered["vendor"]:
            self.last_cache_reason = (f"all {self._answered['cache']} requests answered from the DBN cache "
                                      f"{self.output_root / self.config.cache_dir} (nothing sent, nothing paid)")
        return chain

    # --- steps ------------------------------------------------------------------------------

    def _fetch(self, client: DatabentoClient, budget: DataBudget, request: ChainRequest) -> OptionsChain:
        start, end = self._window(client, request)
        cfg = self.config
        quote_start = max(start, end - pd.Timedelta(minutes=cfg.quote_window_minutes))
        parents = tuple(cfg.option_parents)
        definition_request = RangeRequest("definition", parents, "parent", start, end)
        ceiling = [] if client.is_cached(definition_request) else [  # cached: the actual plan is known for free
            definition_request,
            RangeRequest("statistics", parents, "parent", start, end),
            RangeRequest(cfg.volume_schema, parents, "parent", start, end),
            RangeRequest(cfg.quote_schema, parents, "parent", quote_start, end),
            RangeRequest(cfg.quote_schema, (cfg.future_parent,), "parent", quote_start, end)]
        ceiling_prices = self._prices(client, ceiling)
        total = sum(ceiling_prices.values())
        with budget.reserve(total, f"{len(ceiling_prices)} request(s) priced as one plan") as reservation:
            return self._fetch_reserved(client, reservation, request, start, end, quote_start, definition_request,
                                        ceiling_prices)

    def _fetch_reserved(self, client: DatabentoClient, reservation: Reservation, request: ChainRequest,
                        start: pd.Timestamp, end: pd.Timestamp, quote_start: pd.Timestamp,
                        definition_request: RangeRequest, ceiling_prices: dict[RangeRequest, float]) -> OptionsChain:
        cfg = self.config
        definition_price = {definition_request: ceiling_prices[definition_request]} \
            if definition_request in ceiling_prices else {}
        defs = parsing.definitions(_frame(self._get(client, reservation, [definition_request], definition_price)[0]))
        options = parsing.select_options(defs, underlying_pattern=cfg.underlying_pattern,
                                         trade_date=request.trade_date,
                                         max_days_to_expiration=cfg.max_days_to_expiration)
        if options.empty:
            on_nq = int(defs["underlying"].str.match(cfg.underlying_pattern).sum()) if not defs.empty else 0
            raise DataSourceError(
                f"databento: no NQ options expiring within {cfg.max_days_to_expiration} days of {request.trade_date} "
                f"among {len(defs)} definitions ({on_nq} on NQ futures) for {start:%Y-%m-%d %H:%M}..{end:%H:%M} UTC",
                code="EMPTY")
        # a chain too large is refused before its statistics, trades and quotes are bought or parsed
        self.bounds.refuse_too_many(len(options), "databento", "options selected from the definitions")
        underlying = str(options["underlying"].iloc[0])
        ids = tuple(str(i) for i in options["instrument_id"])
        chunks = [ids[i:i + MAX_SYMBOLS_PER_REQUEST] for i in range(0, len(ids), MAX_SYMBOLS_PER_REQUEST)]
        plan = ([RangeRequest("statistics", chunk, "instrument_id", start, end) for chunk in chunks]
                + [RangeRequest(cfg.volume_schema, chunk, "instrument_id", start, end) for chunk in chunks]
                + [RangeRequest(cfg.quote_schema, chunk, "instrument_id", quote_start, end) for chunk in chunks]
                + [RangeRequest(cfg.quote_schema, (underlying,), "raw_symbol", quote_start, end)])
        prices = self._prices(client, plan)
        reservation.ensure(sum(prices.values()), f"{len(prices)} request(s) ({', '.join(sorted({r.schema for r in prices}))})")
        stores = self._get(client, reservation, plan, prices)
        n = len(chunks)
        stats = pd.concat([_frame(s) for s in stores[:n]], ignore_index=True)
        volume = pd.concat([_frame(s) for s in stores[n:2 * n]], ignore_index=True)
        quotes = pd.concat([_frame(s) for s in stores[2 * n:3 * n]], ignore_index=True)
        future_quotes = _frame(stores[-1])
        price = parsing.underlying_mid(future_quotes)
        if pd.isna(price):
            log.info("databento: no two-sided quote for %s in the quote window; the price will come from parity",
                     underlying)
        chain = parsing.build_chain(options, parsing.open_interest(stats),
                                    parsing.volume_and_last(volume, cfg.volume_schema), parsing.last_quotes(quotes),
                                    underlying_symbol=underlying, underlying_price=price, as_of=end,
                                    fallback_multiplier=request.multiplier)
        return self._save(chain, request, end)

    def _window(self, client: DatabentoClient, request: ChainRequest) -> tuple[pd.Timestamp, pd.Timestamp]:
        session = session_for(self.calendar_name, request.trade_date)
        candidates = [session.close, as_utc(request.now)]
        available = client.dataset_end()
        if available is not None:
            candidates.append(available)
        end = min(candidates).floor(f"{self.config.end_granularity_minutes}min")
        if end <= session.open:
            raise DataSourceError(
                f"databento: no data yet for the {session.session} session (opens {session.open:%Y-%m-%d %H:%M} UTC; "
                f"available until {min(candidates):%Y-%m-%d %H:%M} UTC)", code="EMPTY")
        return session.open, end

    @staticmethod
    def _prices(client: DatabentoClient, requests: Sequence[RangeRequest]) -> dict[RangeRequest, float]:
        """The vendor's quote of every request that is not cached (a bad quote refuses the lot)."""
        return {r: client.cost(r) for r in requests if not client.is_cached(r)}

    def _get(self, client: DatabentoClient, reservation: Reservation, requests: Sequence[RangeRequest],
             prices: Mapping[RangeRequest, float]) -> list[databento.DBNStore]:
        """Fetch priced (and reserved) requests in order, moving each price from reserved to spent."""
        stores = []
        for r in requests:
            store, from_cache = client.fetch(r)
            self._answered["cache" if from_cache else "vendor"] += 1
            if not from_cache:
                reservation.spend(prices.get(r, 0.0), r.describe())
            stores.append(store)
        return stores

    def _save(self, chain: OptionsChain, request: ChainRequest, end: pd.Timestamp) -> OptionsChain:
        """Save the chain as a canonical snapshot in the day's api_data/ (the saved source replays it)."""
        return save_snapshot_capture(chain, capture_folder(self.output_root, request.trade_date),
                                     f"databento_chain_{end:%Y%m%d_%H%M%S}.json")


def _frame(store: databento.DBNStore) -> pd.DataFrame:
    return parsing.records_frame(store.to_ndarray())
