"""Settings of the Databento source (profile: `data_sources.databento`, schema
`config/schema/source.databento.schema.json`, which documents each one)."""
from __future__ import annotations

import re
from dataclasses import dataclass

KEY_FORMAT = re.compile(r"^db-[A-Za-z0-9]{29}$")  # what Databento issues: "db-" and 29 letters/digits
DEFAULT_GATEWAY = "https://hist.databento.com"
NQ_OPTION_PARENTS = (
    "NQ.OPT", "QN1.OPT", "QN2.OPT", "QN3.OPT", "QN4.OPT", "QN5.OPT", "QNE.OPT",
    "Q1A.OPT", "Q2A.OPT", "Q3A.OPT", "Q4A.OPT", "Q5A.OPT", "Q1B.OPT", "Q2B.OPT", "Q3B.OPT", "Q4B.OPT", "Q5B.OPT",
    "Q1C.OPT", "Q2C.OPT", "Q3C.OPT", "Q4C.OPT", "Q5C.OPT", "Q1D.OPT", "Q2D.OPT", "Q3D.OPT", "Q4D.OPT", "Q5D.OPT",
)


@dataclass(frozen=True, kw_only=True)
class DatabentoConfig:
    gateway: str = DEFAULT_GATEWAY
    api_key_env: str = "DATABENTO_API_KEY"
    dataset: str = "GLBX.MDP3"
    option_parents: tuple[str, ...] = NQ_OPTION_PARENTS
    underlying_pattern: str = r"^NQ[FGHJKMNQUVXZ][0-9]{1,2}$"
    future_parent: str = "NQ.FUT"
    max_days_to_expiration: int = 14
    volume_schema: str = "trades"
    quote_schema: str = "bbo-1m"
    quote_window_minutes: int = 30
    end_granularity_minutes: int = 5
    daily_budget_usd: float = 8.0
    monthly_budget_usd: float = 200.0
    cache_dir: str = "databento_cache"
    timeout_s: float | None = None
    request_timeout_s: float | None = None
