"""The Databento historical client as this source uses it: priced, cached, timed, errors mapped.

Wraps the real `databento.Historical` (gateway from the profile, so a mirror or a local stand-in
can serve it). Each `RangeRequest` is one `timeseries.get_range` call; its DBN response is cached
under `outputs/<cache_dir>/` by a hash of the request, so asking again costs nothing. Before a
request that is not cached the caller asks `cost()` (`metadata.get_cost`) and checks the budget.

Every failure becomes the project's error (see `http_errors`): timeouts and dropped connections
are transient (retried by the loader), 401/403 name the key's variable, 429 carries Retry-After,
a body that is not DBN is malformed.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import databento
import databento_dbn
import pandas as pd
import requests
from databento.common.error import BentoError, BentoHttpError

from ...errors import DataSourceError
from ...state.atomic import atomic_write_bytes
from ..canonical import as_utc
from ..data_budget import finite_quote
from ..http_errors import http_status_error, malformed_error, requests_error, truncated_error
from .config import DatabentoConfig

log = logging.getLogger(__name__)

SOURCE = "databento"
MAX_SYMBOLS_PER_REQUEST = 2000  # Databento's limit per timeseries request
STREAM_ERROR_PREFIX = "Error streaming response"  # databento's message for a body cut short

T = TypeVar("T")


@dataclass(frozen=True)
class RangeRequest:
    """One `timeseries.get_range` call."""

    schema: str
    symbols: tuple[str, ...]
    stype_in: str
    start: pd.Timestamp
    end: pd.Timestamp

    def key(self, dataset: str) -> str:
        """Stable cache key of the request (same request, same key)."""
        text = json.dumps([dataset, self.schema, sorted(self.symbols), self.stype_in,
                           self.start.isoformat(), self.end.isoformat()])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def describe(self) -> str:
        return (f"{self.schema} for {len(self.symbols)} {self.stype_in} symbol(s) "
                f"{self.start:%Y-%m-%d %H:%M}..{self.end:%H:%M} UTC")


class DbnCache:
    """DBN responses on disk, one file per request key."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str, schema: str) -> Path:
        return self.folder / f"{schema}_{key}.dbn"

    def get(self, key: str, schema: str) -> bytes | None:
        path = self.path(key, schema)
        return path.read_bytes() if path.is_file() else None

    def put(self, key: str, schema: str, content: bytes) -> Path:
        return atomic_write_bytes(self.path(key, schema), content)


class DatabentoClient:
    """Priced, cached, time-limited access to one dataset. `timeout()` gives each request's timeout."""

    def __init__(self, key: str, config: DatabentoConfig, *, cache: DbnCache,
                 timeout: Callable[[], float]) -> None:
        try:
            self.historical = databento.Historical(key, gateway=config.gateway)
        except ValueError as exc:  # the client validates the key's form and the gateway URL
            raise DataSourceError(f"{SOURCE}: cannot set up the client ({exc}); check {config.api_key_env} and "
                                  f"data_sources.databento.gateway", code="CONFIG") from exc
        self.config = config
        self.cache = cache
        self.timeout = timeout

    def dataset_end(self) -> pd.Timestamp | None:
        """Where the dataset's available data ends (free); None when the server does not say."""
        answer = self._call(lambda: self.historical.metadata.get_dataset_range(self.config.dataset),
                            "dataset range", self.historical.metadata)
        end = answer.get("end") if isinstance(answer, dict) else None
        if end is None:
            return None
        try:
            return as_utc(end)
        except (TypeError, ValueError) as exc:
            raise malformed_error(SOURCE, "dataset range", f"end {end!r}: {exc}") from exc

    def is_cached(self, request: RangeRequest) -> bool:
        return self.cache.path(request.key(self.config.dataset), request.schema).is_file()

    def cost(self, request: RangeRequest) -> float:
        """The price in USD Databento quotes for `request` (`metadata.get_cost`)."""
        answer = self._call(lambda: self.historical.metadata.get_cost(
            dataset=self.config.dataset, start=request.start.isoformat(), end=request.end.isoformat(),
            symbols=list(request.symbols), schema=request.schema, stype_in=request.stype_in), f"cost of {request.schema}", self.historical.metadata)
        return finite_quote(answer, request.describe(), source=SOURCE)

    def fetch(self, request: RangeRequest) -> tuple[databento.DBNStore, bool]:
        """The DBN response (from the cache when there) and whether it came from the cache."""
        key = request.key(self.config.dataset)
        cached = self.cache.get(key, request.schema)
        if cached is not None:
            log.info("%s: %s from cache (%s)", SOURCE, request.describe(), self.cache.path(key, request.schema).name)
            return self._decode(cached, request), True
        store = self._call(lambda: self.historical.timeseries.get_range(
            dataset=self.config.dataset, start=request.start.isoformat(), end=request.end.isoformat(),
            symbols=list(request.symbols), schema=request.schema, stype_in=request.stype_in), request.schema, self.historical.timeseries)
        self.cache.put(key, request.schema, store.raw)
        return store, False

    def _decode(self, content: bytes, request: RangeRequest) -> databento.DBNStore:
        try:
            return databento.DBNStore.from_bytes(content)
        except (BentoError, databento_dbn.DBNError, ValueError) as exc:
            raise malformed_error(SOURCE, f"cached {request.schema} response", exc) from exc

    def _call(self, fn: Callable[[], T], what: str, api: Any) -> T:
        """Run one client call with this request's timeout; map every failure to the project's errors."""
        timeout = self.timeout()
        api.TIMEOUT = timeout  # the client's own per-request timeout (connect and read), 100 s by default
        try:
            return fn()
        except BentoHttpError as exc:
            raise http_status_error(f"{SOURCE} {what}", int(exc.http_status), headers=dict(exc.headers or {}),
                                    detail=str(exc.message or ""), key_env=self.config.api_key_env) from exc
        except requests.RequestException as exc:
            raise requests_error(f"{SOURCE} {what}", exc, timeout) from exc
        except BentoError as exc:
            if str(exc).startswith(STREAM_ERROR_PREFIX):
                raise truncated_error(f"{SOURCE} {what}", exc) from exc
            raise malformed_error(SOURCE, f"{what} response (not DBN)", exc) from exc
        except (databento_dbn.DBNError, ValueError) as exc:  # includes JSON decode errors of metadata calls
            raise malformed_error(SOURCE, f"{what} response", exc) from exc
