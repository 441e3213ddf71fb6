"""Moving a Tradovate stand-in's market clock with a replay's simulated time.

A replay trades through a broker whose market must be the replay's: only the local stand-in
(`tests/vendor_servers/tradovate_server.py`) can follow a simulated clock, at
`POST <rest host>/standin/advance {"time": ISO}`; a real Tradovate environment cannot, so a replay
against it is refused before anything is sent.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pandas as pd
import requests

from .....errors import ConfigError
from ...execution.broker import BrokerConnectionError

log = logging.getLogger(__name__)


class StandInClock:
    """`advance(ts)`: the stand-in's matching engine moves to `ts` (bars ended by then are matched)."""

    def __init__(self, rest_url: str, *, timeout_s: float = 10.0) -> None:
        parts = urlsplit(rest_url or "")
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"a replay through Tradovate needs the local stand-in (broker.rest_url on 127.0.0.1), "
                              f"got {rest_url or 'the real Tradovate servers'}: their market is live, not the replay's")
        self.url = f"{parts.scheme}://{parts.netloc}/standin/advance"
        self.timeout_s = timeout_s
        self.now: pd.Timestamp | None = None

    def advance(self, ts: pd.Timestamp) -> None:
        ts = pd.Timestamp(ts)
        try:
            answer = requests.post(self.url, json={"time": ts.isoformat()}, timeout=self.timeout_s)
            answer.raise_for_status()
        except requests.RequestException as exc:
            raise BrokerConnectionError(f"the Tradovate stand-in's clock could not be moved to {ts}: {exc}") from exc
        self.now = ts

    def market_time(self) -> pd.Timestamp:
        return self.now if self.now is not None else pd.Timestamp.now(tz="UTC")
