"""The live MBO feed: databento.Live streaming definitions and MBO into a record sink.

The sink is normally `IFDv3Engine.on_record`, the engine's one-record-at-a-time path, so live and
replay share every line of book, flow and scoring code. The feed:

1. builds `databento.Live` with the configured gateway, port and reconnect policy (the key comes
   from the environment, `live.api_key_env`, never from a file);
2. subscribes to `definition` and to `mbo` with a snapshot, so every (re)connection starts with
   a full book (R clear + snapshot adds) instead of books that silently miss the gap;
3. starts the session and blocks until it closes (or `timeout_s`, then terminates);
4. on every reconnection, records the gap (last event before the drop, start of the new
   session) and tells `on_gap` (the engine's `note_gap`).

Errors raised inside the sink are counted and logged, never allowed to kill the session.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import databento as db
import pandas as pd

from ...errors import ConfigError, DataSourceError
from .events import Gap
from .live_config import LiveConfig

log = logging.getLogger(__name__)

SCHEMAS = ("definition", "mbo")


@dataclass
class LiveRunResult:
    """What one live session did."""

    records: int = 0
    sink_errors: int = 0
    gaps: list[Gap] = field(default_factory=list)
    closed_by_timeout: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "sink_errors": self.sink_errors,
                "gaps": [g.to_dict() for g in self.gaps], "closed_by_timeout": self.closed_by_timeout}


def api_key(config: LiveConfig, env: Mapping[str, str]) -> str:
    """The Databento key from the environment (or .env), named by `live.api_key_env`."""
    key = env.get(config.api_key_env, "")
    if not key:
        raise ConfigError(f"live MBO feed: environment variable {config.api_key_env} is not set "
                          f"(put the Databento key in the environment or .env)")
    return key


class LiveMBOFeed:
    """One live session feeding `sink` with every record. `client_factory` builds the client
    (databento.Live); `clock` (seconds, monotonic) tells whether `timeout_s` ended the session."""

    def __init__(self, config: LiveConfig, *, key: str, sink: Callable[[Any], Any],
                 on_gap: Callable[[pd.Timestamp, pd.Timestamp], None] | None = None,
                 client_factory: Callable[..., Any] = db.Live,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.sink = sink
        self.on_gap = on_gap
        self.result = LiveRunResult()
        self._lock = threading.Lock()
        self._client = client_factory(
            key=key, gateway=config.gateway or None, port=int(config.port),
            reconnect_policy="reconnect" if config.reconnect else "none",
            heartbeat_interval_s=int(config.heartbeat_interval_s))

    def run(self, *, timeout_s: float | None = None) -> LiveRunResult:
        """Subscribe, stream until the gateway closes the session (or `timeout_s`), return figures."""
        client = self._client
        client.add_callback(self._on_record, self._on_sink_error)
        if self.config.reconnect:
            client.add_reconnect_callback(self._on_reconnect)
        symbols = list(self.config.symbols)
        try:
            client.subscribe(dataset=self.config.dataset, schema="definition", symbols=symbols,
                             stype_in=self.config.stype_in)
            client.subscribe(dataset=self.config.dataset, schema="mbo", symbols=symbols,
                             stype_in=self.config.stype_in, snapshot=True)
            client.start()
        except Exception as exc:  # databento raises BentoError / ValueError for refusals
            raise DataSourceError(f"live MBO feed {self._where()}: could not start the session ({exc})",
                                  transient=True) from exc
        started = self.clock()
        try:
            client.block_for_close(timeout=timeout_s)
        except db.BentoError as exc:
            raise DataSourceError(f"live MBO feed {self._where()}: the session ended with an error ({exc})",
                                  transient=True) from exc
        if timeout_s is not None and self.clock() - started >= timeout_s:
            self.result.closed_by_timeout = True
        log.info("live MBO session %s closed: %d records, %d gaps", self._where(), self.result.records,
                 len(self.result.gaps))
        return self.result

    def stop(self) -> None:
        """Ask the gateway to end the session (records already received are still processed)."""
        self._client.stop()

    # -- callbacks (client thread) ------------------------------------------------------

    def _on_record(self, record: Any) -> None:
        with self._lock:
            self.result.records += 1
            self.sink(record)

    def _on_sink_error(self, exc: Exception) -> None:
        with self._lock:
            self.result.sink_errors += 1
        log.error("live MBO feed: the record sink failed (%s: %s); the session continues", type(exc).__name__, exc)

    def _on_reconnect(self, gap_start: pd.Timestamp, gap_end: pd.Timestamp) -> None:
        gap = Gap(pd.Timestamp(gap_start), pd.Timestamp(gap_end))
        with self._lock:
            self.result.gaps.append(gap)
            if self.on_gap is not None:
                self.on_gap(gap.start, gap.end)
        log.warning("live MBO feed %s reconnected after a drop: gap of %.3f s (%s to %s)", self._where(),
                    gap.seconds, gap.start, gap.end)

    def _where(self) -> str:
        return f"{self.config.gateway or 'default gateway'}:{self.config.port} {self.config.dataset}"
