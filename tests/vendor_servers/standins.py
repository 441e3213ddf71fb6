"""All three vendor stand-ins at once, plus a profile pointing the pipeline at them.

Used by `scripts/serve_vendor_standins.py` (a demo a user can run) and by the end-to-end tests:

- Barchart: the real recorded page and API responses (`../shared/data/barchart/`);
- Databento (HTTPS, a throwaway certificate): the chain of the real Barchart MC6M5 capture of
  2025-06-02, re-encoded as DBN (definitions, open interest, trades, quotes) with the page's NQM25
  quote as the future's quote, so the two sources can be compared;
- Polygon: the recorded responses of polygon's client tests (AAPL only: an `I:NDX` request gets
  Polygon's 404, which the attempts table shows);
- Tradovate (REST + trading WebSocket, `tradovate_server.py`): a demo account trading on the real
  NQ minute bars (`../shared/data/futures/NQ_1min_sample.csv`), its clock moved by
  `POST http://127.0.0.1:<port>/standin/advance {"time": ISO}`; its broker settings are written to `tradovate.json` beside the
  profile and its demo credentials (`TRADOVATE_*`, not real ones) are in `env`.

The profile (`standins.json` in the folder) extends `all_sources` and only changes base URLs and
timeouts; keys are not in it: the stand-ins' demo keys are returned in `env` (with
`REQUESTS_CA_BUNDLE` for the certificate), to be set in the pipeline's environment.
"""
from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.options_trading_system.data_ingestion.barchart.parsing import page_quote

from .barchart_server import BarchartStandIn
from .base import Fault, StandInServer
from .certs import make_self_signed_cert
from .databento_server import DatabentoStandIn, market_from_barchart_capture
from .polygon_server import PolygonStandIn
from .tradovate_server import TradovateFault, TradovateStandIn

DEMO_DATE = "2025-06-02"
DEMO_CAPTURE = "barchart_api_MC6M5_20250602_141553.json"
DEMO_RECORD_TIME = pd.Timestamp("2025-06-02 14:15", tz="UTC")
# the clock a run against the stand-ins reads (`run_pipeline.py --now`): just after the recording, so
# Barchart (present only) serves the demo date and Databento's window ends at its data
DEMO_NOW = "2025-06-02T14:30:00Z"
DATA_PATHS = {"barchart": "/proxies/", "databento": "/v0/timeseries.get_range", "polygon": "/v3/",
              "tradovate": "/v1/"}
TRADOVATE_BARS = "futures/NQ_1min_sample.csv"


@dataclass
class StandIns:
    barchart: BarchartStandIn
    databento: DatabentoStandIn
    polygon: PolygonStandIn
    profile: Path
    env: dict[str, str] = field(default_factory=dict)
    tradovate: TradovateStandIn | None = None
    broker_settings: Path | None = None

    def servers(self) -> dict[str, StandInServer]:
        servers: dict[str, StandInServer] = {"barchart": self.barchart, "databento": self.databento,
                                             "polygon": self.polygon}
        if self.tradovate is not None:
            servers["tradovate"] = self.tradovate
        return servers

    def inject(self, vendor: str, fault: Fault | TradovateFault, times: int = 1_000_000) -> None:
        """Make a vendor misbehave on its data requests (persistently by default); Tradovate's own
        faults go to the requests (or WebSocket connections) they concern."""
        if isinstance(fault, TradovateFault):
            self.servers()[vendor].inject(fault, times=times)
        else:
            self.servers()[vendor].inject(fault, times=times, path_prefix=DATA_PATHS[vendor])

    def kill(self, vendor: str) -> None:
        self.servers()[vendor].stop()

    def stop(self) -> None:
        for server in self.servers().values():
            server.stop()


def start_standins(folder: Path, shared_data: Path, *, ports: dict[str, int] | None = None,
                   timeout_s: float = 5.0, request_timeout_s: float = 2.0,
                   data_sources: dict[str, Any] | None = None, tradovate: bool = False,
                   tradovate_replay: Path | None = None) -> StandIns:
    """Start the stand-ins on 127.0.0.1 and write `folder/standins.json` (and, with `tradovate`,
    `folder/tradovate.json`: the profile's `broker` section pointing at the Tradovate stand-in).
    `tradovate_replay`: a replay recording whose own price path the Tradovate stand-in trades on
    (so a limited-live replay's broker fills and paper fills compare); default the real NQ bars.

    `data_sources` is merged into the profile's section (e.g. shorter retries, a budget)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ports = ports or {}
    cert, key = make_self_signed_cert(folder / "tls")
    barchart_dir = shared_data / "barchart"
    quote = page_quote(next(barchart_dir.glob("barchart_options_page_*.html")).read_text())
    market = market_from_barchart_capture(barchart_dir / DEMO_CAPTURE, record_time=DEMO_RECORD_TIME,
                                          future_bid=quote.bid, future_ask=quote.ask)
    databento_key = "db-" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(29))
    polygon_key = "standin-" + secrets.token_hex(8)
    standins = StandIns(
        barchart=BarchartStandIn(barchart_dir, port=ports.get("barchart", 0)),
        databento=DatabentoStandIn(market, tls=(cert, key), key=databento_key, port=ports.get("databento", 0)),
        polygon=PolygonStandIn([shared_data / "polygon" / "mocks"], key=polygon_key, port=ports.get("polygon", 0)),
        profile=folder / "standins.json",
        env={"REQUESTS_CA_BUNDLE": str(cert), "DATABENTO_API_KEY": databento_key, "POLYGON_API_KEY": polygon_key})
    if tradovate:
        _add_tradovate(standins, folder, shared_data, ports, tradovate_replay)
    for server in standins.servers().values():
        server.start()
    if standins.tradovate is not None:
        standins.broker_settings.write_text(json.dumps({
            "name": "tradovate", "environment": "demo", "rest_url": standins.tradovate.rest_url,
            "ws_url": standins.tradovate.ws_url}, indent=2) + "\n")
    profile = {
        "description": "All sources pointed at the local vendor stand-ins (scripts/serve_vendor_standins.py)",
        "extends": "all_sources",
        "data_sources": {
            "timeout_s": timeout_s, "request_timeout_s": request_timeout_s,
            "barchart": {"base_url": standins.barchart.url},
            "databento": {"gateway": standins.databento.url},
            "polygon": {"base_url": standins.polygon.url},
        },
    }
    for key, value in (data_sources or {}).items():
        section = profile["data_sources"]
        section[key] = {**section[key], **value} if isinstance(value, dict) and isinstance(section.get(key), dict) \
            else value
    standins.profile.write_text(json.dumps(profile, indent=2) + "\n")
    return standins


def _add_tradovate(standins: StandIns, folder: Path, shared_data: Path, ports: dict[str, int],
                   replay: Path | None = None) -> None:
    """The Tradovate stand-in on the real NQ minute bars (or a replay's own price path), with
    throwaway demo credentials."""
    if replay is not None:
        from tasks.options_trading_system.analysis_engine.strategies.feeds.recording import open_recording
        path = open_recording(Path(replay)).prices(default_timezone="America/New_York", bar_seconds=60)
        if len(path) == 0:
            raise ValueError(f"--tradovate-replay {replay}: the recording has no price path to trade on")
        bars = path.to_frame().rename(columns={"start": "time"})
    else:
        bars = pd.read_csv(shared_data / TRADOVATE_BARS)
        bars["time"] = pd.to_datetime(bars["timestamp"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    credentials = {"name": "standin-" + secrets.token_hex(4), "password": secrets.token_urlsafe(16),
                   "appId": "nq-options-standin", "cid": str(secrets.randbelow(9000) + 1000),
                   "sec": secrets.token_urlsafe(24), "deviceId": secrets.token_hex(16)}
    standins.tradovate = TradovateStandIn(bars[["time", "open", "high", "low", "close"]], credentials=credentials,
                                          port=ports.get("tradovate", 0), ws_port=ports.get("tradovate_ws", 0))
    standins.broker_settings = folder / "tradovate.json"
    standins.env.update({"TRADOVATE_USERNAME": credentials["name"], "TRADOVATE_PASSWORD": credentials["password"],
                         "TRADOVATE_CID": credentials["cid"], "TRADOVATE_SEC": credentials["sec"],
                         "TRADOVATE_APP_ID": credentials["appId"], "TRADOVATE_DEVICE_ID": credentials["deviceId"]})
