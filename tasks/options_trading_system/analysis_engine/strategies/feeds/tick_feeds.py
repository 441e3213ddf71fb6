"""Tick feeds registered by name, as the profile's `tick_execution.feed.name` picks them.

| name | feed | settings (`tick_execution.feed.<name>`) |
|---|---|---|
| `replay` | `ReplayTickFeed`: the DBN trade files of a folder (`--replay DIR`), one per day | `symbol`, `pattern`, `gap_seconds` |
| `databento_live` | `DatabentoLiveTickFeed`: `databento.Live` trades of the front contract | `DatabentoLiveTickConfig` fields; key from the environment or `.env` |
| `tradovate_quotes` | `TradovateQuoteTickFeed`: Tradovate's market-data socket | `TradovateQuoteConfig` fields; login from the broker section and the `TRADOVATE_*` variables |

Adding one: a builder `(settings, context) -> TickFeed` and a line in `TICK_FEEDS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ....data_ingestion.ticks.feed import ReplayTickFeed, TickFeed
from ....errors import ConfigError

REPLAY = "replay"


@dataclass(frozen=True)
class TickFeedContext:
    """What a feed builder may need besides its settings: the replay folder, the environment,
    the profile's broker section (Tradovate's login), stand-in client factories for tests."""

    replay_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    broker_section: Mapping[str, Any] = field(default_factory=dict)
    client_factory: Callable[..., Any] | None = None   # databento.Live unless a test gives a stand-in
    connect: Callable[..., Any] | None = None          # websockets connect unless a test gives one


def _replay(settings: Mapping[str, Any], context: TickFeedContext) -> TickFeed:
    if context.replay_dir is None:
        raise ConfigError("tick feed `replay` needs a recording folder: give --replay DIR")
    return ReplayTickFeed(context.replay_dir, symbol=settings.get("symbol"), pattern=str(settings.get("pattern", "*.dbn*")),
                          gap_seconds=float(settings.get("gap_seconds", 300.0)))


def _databento_live(settings: Mapping[str, Any], context: TickFeedContext) -> TickFeed:
    from ....data_ingestion.ticks.databento_live import (DatabentoLiveTickConfig, DatabentoLiveTickFeed,
                                                          databento_key)
    config = DatabentoLiveTickConfig.from_mapping(settings)
    extra = {"client_factory": context.client_factory} if context.client_factory is not None else {}
    return DatabentoLiveTickFeed(config, key=databento_key(config, context.env), **extra)


def _tradovate_quotes(settings: Mapping[str, Any], context: TickFeedContext) -> TickFeed:
    from ....data_ingestion.ticks.tradovate_quotes import TradovateQuoteConfig, TradovateQuoteTickFeed
    from ..brokers.tradovate.config import Credentials, TradovateConfig
    from ..brokers.tradovate.rest import TradovateRest
    section = {k: v for k, v in context.broker_section.items() if k != "name"} \
        if context.broker_section.get("name") == "tradovate" else {}
    rest = TradovateRest(TradovateConfig.from_mapping(section), Credentials.from_env(context.env or None))
    extra = {"connect": context.connect} if context.connect is not None else {}
    return TradovateQuoteTickFeed(TradovateQuoteConfig.from_mapping(settings), md_token=rest.md_token,
                                  renew=rest.renew, **extra)


TICK_FEEDS: dict[str, Callable[[Mapping[str, Any], TickFeedContext], TickFeed]] = {
    REPLAY: _replay,
    "databento_live": _databento_live,
    "tradovate_quotes": _tradovate_quotes,
}


def build_tick_feed(name: str, settings: Mapping[str, Any], context: TickFeedContext) -> TickFeed:
    """The feed registered as `name`, built from its settings; unknown names are refused listing the known."""
    if name not in TICK_FEEDS:
        raise ConfigError(f"tick feed {name!r}: expected one of {', '.join(sorted(TICK_FEEDS))}")
    return TICK_FEEDS[name](dict(settings), context)
