"""Settings of the live MBO feed (`databento.Live`): a data-ingestion concern, read by the IFD v3.0
profile section (`analysis_engine/ifd_v3/config.py`) and by the live client."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class LiveConfig:
    """The live MBO feed (databento.Live). The key is read from `api_key_env`, never stored."""

    api_key_env: str = "DATABENTO_API_KEY"
    gateway: str = ""
    port: int = 13000
    dataset: str = "GLBX.MDP3"
    symbols: tuple[str, ...] = ("NQ.OPT",)
    stype_in: str = "parent"
    reconnect: bool = True
    heartbeat_interval_s: int = 30
