"""The real `polygon.RESTClient`, set up so failover can work: timed, unretried, errors mapped.

Three things the stock client does that this source cannot live with, and what is done here:
- it builds its connection pool without a timeout (it stores `connect_timeout`/`read_timeout`
  but never passes them on), so a server that never answers would hang the run: the pool is
  rebuilt with the timeout of this attempt;
- it retries 429/5xx itself inside urllib3, with no Retry-After and outside our deadline: its
  retries are switched off (`retries=False`); the loader retries, with backoff and a deadline;
- it turns every non-200 answer into `BadResponse(body)` without the status, and a body that is
  not JSON into an empty list: a pool that remembers the last response's status and headers
  gives the status back, and a strict JSON decoder raises instead of returning nothing.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterator

import certifi
import urllib3
from polygon import RESTClient
from polygon.exceptions import BadResponse
from polygon.rest.models import OptionContractSnapshot

from ...errors import DataSourceError
from ..http_errors import (connection_error, http_status_error, malformed_error, timeout_error,
                           truncated_error)
from .config import PolygonConfig

log = logging.getLogger(__name__)

SOURCE = "polygon"


class _RecordingPool(urllib3.PoolManager):
    """A pool manager that times each request with `timeout()` (what is left of the deadline)
    and remembers the status and headers of the last response."""

    def __init__(self, *, timeout: Callable[[], float], **kw: Any) -> None:
        super().__init__(**kw)
        self.timeout_fn = timeout
        self.last_timeout_s = 0.0
        self.last_status: int | None = None
        self.last_headers: dict[str, str] = {}
        self.requests = 0

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:  # type: ignore[override]
        self.last_timeout_s = self.timeout_fn()
        kw["timeout"] = urllib3.Timeout(connect=self.last_timeout_s, read=self.last_timeout_s)
        self.requests += 1
        response = super().urlopen(method, url, redirect=redirect, **kw)
        self.last_status = int(response.status)
        self.last_headers = dict(response.headers.items())
        return response


class _StrictJson:
    """`json` for the client, except that a body that is not JSON raises (the client would return [])."""

    @staticmethod
    def loads(text: str | bytes) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise malformed_error(SOURCE, "response (not JSON)", exc) from None

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, **kwargs)


class PolygonClient:
    """Option chain snapshots through `polygon.RESTClient(base=config.base_url)`."""

    def __init__(self, key: str, config: PolygonConfig, *, timeout: Callable[[], float]) -> None:
        self.config = config
        self.rest = RESTClient(key, base=config.base_url.rstrip("/"), retries=0, pagination=True,
                               custom_json=_StrictJson)
        self.pool = _RecordingPool(timeout=timeout, num_pools=2, headers=self.rest.headers, ca_certs=certifi.where(),
                                   cert_reqs="CERT_REQUIRED", retries=False)
        self.rest.client = self.pool

    def close(self) -> None:
        """Close the pool's connections (the source calls it when the chain is read or has failed)."""
        self.pool.clear()

    def snapshot_chain(self, underlying: str, params: dict[str, Any]) -> Iterator[OptionContractSnapshot]:
        """Every contract of the chain snapshot, following `next_url` pages (lazily)."""
        iterator = self.rest.list_snapshot_options_chain(underlying, params=params)
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except BadResponse as exc:
                status = self.pool.last_status or 0
                raise http_status_error(f"{SOURCE} {underlying} snapshot", status, headers=self.pool.last_headers,
                                        detail=_error_detail(str(exc)), key_env=self.config.api_key_env) from exc
            except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass: first
                raise connection_error(f"{SOURCE} {underlying} snapshot", exc, self.config.base_url) from exc
            except urllib3.exceptions.TimeoutError as exc:
                raise timeout_error(f"{SOURCE} {underlying} snapshot", self.pool.last_timeout_s, exc) from exc
            except urllib3.exceptions.ProtocolError as exc:  # body cut short, connection dropped mid-answer
                raise truncated_error(f"{SOURCE} {underlying} snapshot", exc) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise connection_error(f"{SOURCE} {underlying} snapshot", exc, self.config.base_url) from exc
            except DataSourceError:
                raise
            except (TypeError, AttributeError, KeyError) as exc:  # JSON of the wrong shape
                raise malformed_error(SOURCE, f"{underlying} snapshot (unexpected JSON shape)", exc) from exc
            yield item


def _error_detail(body: str) -> str:
    """Polygon's error JSON says why in `error` or `message`; fall back to the body."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict):
        return str(document.get("error") or document.get("message") or document.get("status") or body)
    return body
