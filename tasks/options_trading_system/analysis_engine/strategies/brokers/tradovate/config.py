"""Tradovate settings (frozen, from the profile's `broker` section) and credentials (environment only).

Credentials come only from the environment or a `.env` file (`TRADOVATE_USERNAME`,
`TRADOVATE_PASSWORD`, `TRADOVATE_CID`, `TRADOVATE_SEC`, `TRADOVATE_APP_ID`,
`TRADOVATE_DEVICE_ID`); they are never part of a profile, and their repr and every message that
could carry them are masked (`Credentials.scrub`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from dotenv import dotenv_values

from ...execution.broker import BrokerAuthError
from .....errors import ConfigError

ENVIRONMENTS = {
    "demo": ("https://demo.tradovateapi.com/v1", "wss://demo.tradovateapi.com/v1/websocket"),
    "live": ("https://live.tradovateapi.com/v1", "wss://live.tradovateapi.com/v1/websocket"),
}
#: credential field -> the environment variable it is read from (the name, never a value)
ENV_VARS = {field: f"TRADOVATE_{field.upper()}" for field in ("username", "password", "cid", "sec", "app_id",
                                                               "device_id")}
MASK = "***"
#: CME equity-index futures: quarterly contracts, month codes
QUARTER_CODES = {3: "H", 6: "M", 9: "U", 12: "Z"}


@dataclass(frozen=True)
class TradovateConfig:
    """Where Tradovate is and how patiently to talk to it (every field a profile setting)."""

    environment: str = "demo"             # demo | live (live also needs confirm_live from the CLI)
    rest_url: str = ""                    # default: the environment's REST base
    ws_url: str = ""                      # default: the environment's trading WebSocket
    app_version: str = "1.0"
    account_name: str = ""                # which account of the user (default: the first active one)
    request_timeout_s: float = 10.0       # a slower answer is a timeout
    retry_attempts: int = 4               # tries of a transient failure (connection, 5xx, timeout)
    retry_wait_s: float = 0.5             # first backoff wait, doubled each try
    retry_max_wait_s: float = 8.0
    renew_margin_s: float = 600.0         # renew the 90-minute token this long before it expires
    token_lifetime_s: float = 90 * 60     # used when the answer carries no expirationTime
    max_penalty_waits: int = 3            # p-ticket rounds before giving up
    max_penalty_wait_s: float = 600.0     # a longer p-time is not waited out (an auth error instead)
    heartbeat_s: float = 2.5              # the client's `[]` heartbeat
    server_timeout_s: float = 10.0        # no frame from the server this long = a dead socket
    reconnect_wait_s: float = 0.5         # first reconnect wait, doubled each failure
    reconnect_max_wait_s: float = 30.0
    reconnect_attempts: int = 20          # consecutive failed reconnects before giving up
    lookup_attempts: int = 4              # order lookups by clOrdId after an unanswered placement
    roll_days_before_expiry: int = 8      # the front month rolls this many days before expiry

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ConfigError(f"broker.environment: expected one of {', '.join(ENVIRONMENTS)}, "
                              f"got {self.environment!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"broker.{f.name}: must not be negative, got {value}")

    @property
    def rest_base(self) -> str:
        return (self.rest_url or ENVIRONMENTS[self.environment][0]).rstrip("/")

    @property
    def ws_base(self) -> str:
        return self.ws_url or ENVIRONMENTS[self.environment][1]

    @property
    def is_live(self) -> bool:
        return self.environment == "live"

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> "TradovateConfig":
        """From the profile's `broker` section (its `name` key is the registry's, ignored here)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known - {"name"})
        if unknown:
            raise ConfigError(f"broker: unknown Tradovate setting(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**{k: v for k, v in section.items() if k in known})


@dataclass(frozen=True, repr=False)
class Credentials:
    """The API login. Never printed: repr and str show only which fields are set."""

    username: str
    password: str
    cid: str
    sec: str
    app_id: str
    device_id: str

    def __repr__(self) -> str:
        return "Credentials(" + ", ".join(f"{f.name}={MASK}" for f in fields(self)) + ")"

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
                 ) -> "Credentials":
        """From the environment, falling back to `env_file` (the environment wins); a missing
        variable is a BrokerAuthError naming it (never its value)."""
        environ = os.environ if environ is None else environ
        from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None} \
            if env_file is not None and Path(env_file).is_file() else {}
        values = {field: environ.get(var) or from_file.get(var) or "" for field, var in ENV_VARS.items()}
        missing = [ENV_VARS[field] for field, value in values.items() if not value.strip()]
        if missing:
            raise BrokerAuthError(f"Tradovate credentials missing: set {', '.join(missing)} in the environment "
                                  f"or .env (see docs/limited_live.md)")
        return cls(**{k: v.strip() for k, v in values.items()})

    def secrets(self) -> list[str]:
        return [value for value in (self.password, self.sec, self.username, self.cid) if value]

    def scrub(self, text: str, extra: tuple[str, ...] = ()) -> str:
        """`text` with every credential (and `extra` secrets such as tokens) replaced by ***."""
        for secret in sorted([*self.secrets(), *(e for e in extra if e)], key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, MASK)
        return text


def front_month(root: str, when: pd.Timestamp, roll_days_before_expiry: int = 8) -> str:
    """The front quarterly contract of `root` (NQ, MNQ) on `when`: e.g. `NQZ3` on 2023-11-20.

    CME equity-index futures expire on the third Friday of March, June, September and December;
    trading moves to the next contract `roll_days_before_expiry` days before that."""
    when = pd.Timestamp(when)
    day = (when.tz_convert("America/New_York") if when.tzinfo else when).normalize().tz_localize(None)
    year, month = day.year, day.month
    for _ in range(5):
        quarter_month = next(m for m in sorted(QUARTER_CODES) if m >= month)
        expiry = _third_friday(year, quarter_month)
        if day < expiry - pd.Timedelta(days=roll_days_before_expiry):
            return f"{root}{QUARTER_CODES[quarter_month]}{year % 10}"
        month = quarter_month + 1
        if month > 12:
            year, month = year + 1, 1
    raise AssertionError("unreachable: a quarter always follows")


def _third_friday(year: int, month: int) -> pd.Timestamp:
    first = pd.Timestamp(year=year, month=month, day=1)
    return first + pd.Timedelta(days=(4 - first.weekday()) % 7 + 14)
