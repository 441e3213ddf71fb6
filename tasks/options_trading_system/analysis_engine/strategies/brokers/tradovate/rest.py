"""Tradovate's REST API over `requests`: the login and its token, retries, and one call per endpoint.

- Login: `POST /auth/accesstokenrequest`. A refusal is HTTP 200 with `errorText` (BrokerAuthError);
  a rate-limit penalty answers `p-ticket`/`p-time`: we wait p-time (through the injected `sleep`,
  never hammering) and resend with the ticket, a bounded number of times; `p-captcha` cannot be
  solved by a program and is an auth error.
- The token (90 minutes) is renewed with `GET /auth/renewaccesstoken` `renew_margin_s` before it
  expires (by the injected `clock`) and on a 401; a refused renewal falls back to a fresh login.
- Transient failures (connection refused/reset, timeouts, HTTP 5xx and 429) are retried with
  exponential backoff (tenacity, the injected `sleep`), except where the caller says a resend could
  double something (`retry=False`, order placement): then an `UnansweredError` tells it that the
  request may or may not have been carried out, and the caller looks before resending.
Credentials and tokens never reach a log line or an exception message.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Mapping

import pandas as pd
import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ...execution.broker import BrokerAuthError, BrokerConnectionError, BrokerError
from .config import Credentials, TradovateConfig

log = logging.getLogger(__name__)


class UnansweredError(BrokerConnectionError):
    """A request got no usable answer (timeout, dropped connection, 5xx): it may have been carried out."""


class NotFoundError(BrokerError):
    """Tradovate answered 404: the entity (contract, order) does not exist."""


class _Transient(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TradovateRest:
    """One logged-in REST session. Thread-safe: the token is shared with the WebSocket's thread."""

    def __init__(self, config: TradovateConfig, credentials: Credentials, *,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._credentials = credentials
        self._session = session or requests.Session()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._token = ""
        self._md_token = ""
        self._expires_at = 0.0
        self.user_id: int | None = None
        self.logins = 0
        self.renewals = 0
        self.penalty_waits: list[float] = []

    def __repr__(self) -> str:
        return f"TradovateRest({self.config.rest_base}, token={'set' if self._token else 'none'})"

    # --- auth ---------------------------------------------------------------------------------

    def login(self) -> None:
        """Get an access token (waiting out penalties); BrokerAuthError when refused."""
        with self._lock:
            c = self._credentials
            body: dict[str, Any] = {"name": c.username, "password": c.password, "appId": c.app_id,
                                    "appVersion": self.config.app_version, "cid": c.cid, "sec": c.sec,
                                    "deviceId": c.device_id}
            for _ in range(self.config.max_penalty_waits + 1):
                answer = self._send("POST", "auth/accesstokenrequest", body=body, token=None, retry=True)
                if not isinstance(answer, dict):
                    raise BrokerAuthError("Tradovate login: the answer is not a JSON object")
                if "p-ticket" in answer:
                    wait = _seconds(answer.get("p-time"))
                    if answer.get("p-captcha"):
                        raise BrokerAuthError("Tradovate login is locked behind a captcha after too many attempts: "
                                              "log in once on the Tradovate web site, then retry in an hour")
                    if wait > self.config.max_penalty_wait_s:
                        raise BrokerAuthError(f"Tradovate login penalty of {wait:g} s is longer than "
                                              f"broker.max_penalty_wait_s={self.config.max_penalty_wait_s:g}")
                    log.warning("Tradovate login rate-limited: waiting %.3g s before resending with the ticket", wait)
                    self.penalty_waits.append(wait)
                    self._sleep(wait)
                    body = {**body, "p-ticket": answer["p-ticket"]}
                    continue
                if answer.get("errorText"):
                    raise BrokerAuthError(f"Tradovate refused the login: {self._scrub(str(answer['errorText']))} "
                                          f"(check the TRADOVATE_* variables)")
                if not answer.get("accessToken"):
                    raise BrokerAuthError("Tradovate login: the answer carries no accessToken")
                self._store(answer)
                self.logins += 1
                log.info("Tradovate: logged in (%s), token valid until %s", self.config.environment,
                         pd.Timestamp(self._expires_at, unit="s", tz="UTC").isoformat())
                return
            raise BrokerAuthError(f"Tradovate login still rate-limited after {self.config.max_penalty_waits} waits")

    def renew(self) -> None:
        """Renew the token; a refused renewal logs in again."""
        with self._lock:
            try:
                answer = self._send("GET", "auth/renewaccesstoken", token=self._token, retry=True)
            except (BrokerAuthError, _Unauthorised):
                answer = None
            if isinstance(answer, dict) and answer.get("accessToken") and not answer.get("errorText"):
                self._store(answer)
                self.renewals += 1
                log.info("Tradovate: token renewed, valid until %s",
                         pd.Timestamp(self._expires_at, unit="s", tz="UTC").isoformat())
                return
            log.warning("Tradovate: token renewal refused; logging in again")
            self._token = ""
            self.login()

    def token(self) -> str:
        """A valid access token, renewed first if it expires within `renew_margin_s`."""
        with self._lock:
            if not self._token:
                self.login()
            elif self._clock() >= self._expires_at - self.config.renew_margin_s:
                self.renew()
            return self._token

    def md_token(self) -> str:
        """The market-data token (`mdAccessToken`) of the current login, renewed with the access token."""
        with self._lock:
            self.token()
            return self._md_token

    @property
    def token_expires_at(self) -> float:
        return self._expires_at

    def _store(self, answer: Mapping[str, Any]) -> None:
        self._token = str(answer["accessToken"])
        self._md_token = str(answer.get("mdAccessToken") or self._md_token)
        self.user_id = answer.get("userId", self.user_id)
        expiration = answer.get("expirationTime")
        try:
            self._expires_at = pd.Timestamp(expiration).timestamp() if expiration else \
                self._clock() + self.config.token_lifetime_s
        except (TypeError, ValueError):
            self._expires_at = self._clock() + self.config.token_lifetime_s

    # --- calls --------------------------------------------------------------------------------

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", endpoint, params=params)

    def post(self, endpoint: str, body: Mapping[str, Any], *, retry: bool = True) -> Any:
        return self.call("POST", endpoint, body=body, retry=retry)

    def call(self, method: str, endpoint: str, *, params: Mapping[str, Any] | None = None,
             body: Mapping[str, Any] | None = None, retry: bool = True) -> Any:
        """One authorised call; a 401 renews the token and resends once."""
        token = self.token()
        try:
            return self._send(method, endpoint, params=params, body=body, token=token, retry=retry)
        except _Unauthorised:
            log.warning("Tradovate: %s answered 401; renewing the token", endpoint)
            with self._lock:
                if self._token == token:
                    self.renew()
                token = self._token
            try:
                return self._send(method, endpoint, params=params, body=body, token=token, retry=retry)
            except _Unauthorised:
                raise BrokerAuthError(f"Tradovate refused {endpoint} even with a fresh token (HTTP 401)") from None

    def _send(self, method: str, endpoint: str, *, params: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None, token: str | None, retry: bool) -> Any:
        url = f"{self.config.rest_base}/{endpoint}"
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"

        def attempt() -> Any:
            try:
                response = self._session.request(method, url, params=params, json=body, headers=headers,
                                                 timeout=self.config.request_timeout_s)
            except requests.Timeout:
                raise _Transient(f"no answer within {self.config.request_timeout_s:g} s") from None
            except requests.ConnectionError as exc:
                raise _Transient(f"connection failed ({type(exc).__name__})") from None
            if response.status_code >= 500 or response.status_code == 429:
                raise _Transient(f"HTTP {response.status_code}")
            if response.status_code == 401:
                raise _Unauthorised()
            try:
                document = response.json()
            except ValueError:
                raise BrokerError(f"Tradovate {endpoint}: HTTP {response.status_code} answer is not JSON") from None
            if response.status_code == 404:
                raise NotFoundError(f"Tradovate {endpoint}: not found "
                                    f"({self._scrub(_text(document)) or 'HTTP 404'})")
            if response.status_code >= 400:
                raise BrokerError(f"Tradovate {endpoint}: HTTP {response.status_code}: {self._scrub(_text(document))}")
            return document

        retrying = Retrying(stop=stop_after_attempt(max(1, self.config.retry_attempts) if retry else 1),
                            wait=wait_exponential(multiplier=self.config.retry_wait_s,
                                                  max=self.config.retry_max_wait_s),
                            retry=retry_if_exception_type(_Transient), sleep=self._sleep, reraise=True,
                            before_sleep=lambda state: log.warning(
                                "Tradovate %s: %s; retrying (try %d)", endpoint,
                                state.outcome.exception().message, state.attempt_number + 1))
        try:
            return retrying(attempt)
        except _Transient as exc:
            if not retry:
                raise UnansweredError(f"Tradovate {endpoint}: {exc.message}; it may or may not have been "
                                      f"carried out") from None
            raise BrokerConnectionError(f"Tradovate {endpoint}: {exc.message} after "
                                        f"{self.config.retry_attempts} tries") from None

    def _scrub(self, text: str) -> str:
        return self._credentials.scrub(text, (self._token, self._md_token))


class _Unauthorised(Exception):
    """HTTP 401 (internal: `call` renews the token and resends)."""


def _seconds(value: Any) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0


def _text(document: Any) -> str:
    if isinstance(document, dict):
        return str(document.get("errorText") or document.get("failureText") or "")
    return json.dumps(document)[:200]
