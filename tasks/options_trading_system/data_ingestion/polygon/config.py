"""Settings of the Polygon source (profile: `data_sources.polygon`, schema
`config/schema/source.polygon.schema.json`, which documents each one)."""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://api.polygon.io"


@dataclass(frozen=True, kw_only=True)
class PolygonConfig:
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = "POLYGON_API_KEY"
    underlying: str = "I:NDX"
    max_days_to_expiration: int = 14
    page_limit: int = 250
    max_pages: int = 40
    timeout_s: float | None = None
    request_timeout_s: float | None = None
