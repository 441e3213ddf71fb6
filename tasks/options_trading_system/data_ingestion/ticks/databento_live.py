"""Live ticks from Databento: `databento.Live` trades of the front NQ/MNQ contract.

The feed
1. builds `databento.Live` with the configured gateway, port, heartbeat and reconnect policy (the
   key comes from the environment or `.env`, named by `api_key_env`, and is never logged);
2. subscribes to `trades` of `symbol` (default `NQ.v.0`, the contract trading the most volume, in
   Databento's continuous symbology, so the feed follows the roll) on `dataset` (GLBX.MDP3);
3. receives every record through a callback registered before the session starts (none is lost
   to a race with the first records) into a queue the iteration reads, turning each `TradeMsg`
   into a `Tick` at its exchange time `ts_event`; symbol mappings say which contract the ticks are
   of (`contract`), system and error messages are logged; `backlog` is the most records that
   waited at once for the consumer;
4. on a dropped connection, the library reconnects and subscribes again (no replay: what traded
   meanwhile is lost); the feed records a `FeedGap` from the last exchange time before the drop to
   the start of the new session, and a `Reconnect` at the feed's clock.
Iteration ends when the gateway ends the session, when reconnecting fails, or on `close()`.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import databento as db
import databento_dbn as dbn
import pandas as pd
from dotenv import dotenv_values

from ...errors import ConfigError, DataSourceError
from .dbn_ticks import PRICE_UNITS, UNDEF_PRICE
from .feed import FeedGap, Reconnect, Tick, TickFeed

log = logging.getLogger(__name__)
_END = object()  # the session is over


@dataclass(frozen=True)
class DatabentoLiveTickConfig:
    """Where the live trades come from (every field a setting with its default)."""

    dataset: str = "GLBX.MDP3"
    symbol: str = "NQ.v.0"           # the front contract by volume; `MNQ.v.0`, or a raw `NQZ6`
    stype_in: str = "continuous"     # `raw_symbol` for a named contract
    gateway: str = ""                # default: the dataset's gateway (glbx-mdp3.lsg.databento.com)
    port: int = 13000
    reconnect: bool = True
    heartbeat_interval_s: int = 30
    api_key_env: str = "DATABENTO_API_KEY"

    def __post_init__(self) -> None:
        if not self.symbol.strip():
            raise ConfigError("databento live ticks: `symbol` is empty; name the contract (e.g. NQ.v.0)")
        if not 0 < int(self.port) < 65536:
            raise ConfigError(f"databento live ticks: `port` must be 1-65535, got {self.port}")
        if self.heartbeat_interval_s < 5:
            raise ConfigError(f"databento live ticks: `heartbeat_interval_s` must be at least 5, "
                              f"got {self.heartbeat_interval_s}")

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> "DatabentoLiveTickConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"databento live ticks: unknown setting(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**dict(section))


def databento_key(config: DatabentoLiveTickConfig, env: Mapping[str, str],
                  env_file: Path | None = Path(".env")) -> str:
    """The key from `env` (the environment), else from `env_file`; a ConfigError naming the
    variable (never a value) when neither has it."""
    key = env.get(config.api_key_env, "")
    if not key and env_file is not None and Path(env_file).is_file():
        key = dotenv_values(env_file).get(config.api_key_env) or ""
    if not key.strip():
        raise ConfigError(f"databento live ticks: environment variable {config.api_key_env} is not set "
                          f"(put the Databento key in the environment or .env)")
    return key.strip()


class DatabentoLiveTickFeed(TickFeed):
    """Trades of one future from `databento.Live`, as ticks. `client_factory` builds the client
    (databento.Live); `clock` (ns UTC) dates the reconnects."""

    name = "databento_live"

    def __init__(self, config: DatabentoLiveTickConfig, *, key: str,
                 client_factory: Callable[..., Any] = db.Live,
                 clock: Callable[[], int] = time.time_ns) -> None:
        super().__init__()
        self.config = config
        self.clock = clock
        self.contract: str | None = None
        self.records = 0
        self.backlog = 0                 # most records waiting for the consumer at once
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: Exception | None = None
        self._started = False
        self._closed = False
        self._client = client_factory(
            key=key, gateway=config.gateway or None, port=int(config.port),
            reconnect_policy="reconnect" if config.reconnect else "none",
            heartbeat_interval_s=int(config.heartbeat_interval_s))

    def __iter__(self) -> Iterator[Tick]:
        if self._started:
            raise DataSourceError(f"{self._where()}: a live feed is iterated once")
        self._started = True
        client = self._client
        client.add_callback(self._queue.put, self._on_callback_error)
        if self.config.reconnect:
            client.add_reconnect_callback(self._on_reconnect)
        try:
            client.subscribe(dataset=self.config.dataset, schema="trades", symbols=[self.config.symbol],
                             stype_in=self.config.stype_in)
            client.start()
        except Exception as exc:  # databento raises BentoError / ValueError for refusals
            raise DataSourceError(f"{self._where()}: could not start the session ({exc})", transient=True) from exc
        threading.Thread(target=self._watch, name="databento-live-ticks-close", daemon=True).start()
        try:
            while True:
                try:
                    record = self._queue.get(timeout=1.0)
                except queue.Empty:
                    continue
                if record is _END:
                    break
                self.records += 1
                self.backlog = max(self.backlog, self._queue.qsize())
                if isinstance(record, dbn.TradeMsg):
                    tick = self._tick(record)
                    if tick is not None:
                        yield tick
                else:
                    self._note(record)
        except GeneratorExit:  # the consumer stopped iterating: end the session too
            self.close()
            raise
        if self._error is not None:
            raise DataSourceError(f"{self._where()}: the session ended with an error ({self._error})",
                                  transient=True)
        log.info("%s: session over, %d ticks, %d quarantined, %d gaps", self._where(), self.delivered,
                 self.quarantined, len(self.gaps))

    @property
    def connected(self) -> bool:
        """The session is connected to the gateway now."""
        return bool(self._client.is_connected())

    def close(self) -> None:
        """End the session; the iteration stops after the records already received."""
        self._closed = True
        try:
            self._client.stop()
        except (ValueError, db.BentoError):  # never started, or already over
            pass
        if not self._started:
            self._queue.put(_END)

    def _watch(self) -> None:
        """The client's thread delivers records in order; once the session is over (the gateway
        closed it, reconnecting failed, or `close`), the end marker follows the last record."""
        try:
            self._client.block_for_close()
        except db.BentoError as exc:
            self._error = exc
        finally:
            self._queue.put(_END)

    def _on_callback_error(self, exc: Exception) -> None:
        log.error("%s: could not queue a record (%s)", self._where(), exc)

    def _tick(self, record: Any) -> Tick | None:
        price = record.price
        value = price / PRICE_UNITS if price != UNDEF_PRICE else float("nan")
        side = record.side
        return self._accept(int(record.ts_event), value, float(record.size),
                            side.value if hasattr(side, "value") else str(side))

    def _note(self, record: Any) -> None:
        if isinstance(record, dbn.SymbolMappingMsg):
            self.contract = record.stype_out_symbol
            log.info("%s: %s is %s", self._where(), record.stype_in_symbol, self.contract)
        elif isinstance(record, dbn.ErrorMsg):
            log.error("%s: the gateway reports an error: %s", self._where(), record.err)
        elif isinstance(record, dbn.SystemMsg) and not record.is_heartbeat():
            log.info("%s: %s", self._where(), record.msg)

    def _on_reconnect(self, gap_start: pd.Timestamp, gap_end: pd.Timestamp) -> None:
        gap = FeedGap(pd.Timestamp(gap_start).value, pd.Timestamp(gap_end).value,
                      "connection lost; reconnected and subscribed again (no replay)")
        self.gaps.append(gap)
        self.reconnects.append(Reconnect(self.clock(), "connection lost"))
        log.warning("%s reconnected after a drop: no ticks for %.3f s of exchange time", self._where(), gap.seconds)

    def _where(self) -> str:
        return (f"databento live ticks {self.config.gateway or 'default gateway'}:{self.config.port} "
                f"{self.config.dataset} {self.config.symbol}")
