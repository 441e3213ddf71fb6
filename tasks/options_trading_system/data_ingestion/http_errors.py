"""Turning what a vendor's server did into the project's errors, so retry and failover can act.

| what happened                         | error                      | retried | code          |
|---------------------------------------|----------------------------|---------|---------------|
| connection refused / reset / DNS      | DataSourceError transient  | yes     | CONNECTION    |
| no answer within the timeout          | DataSourceError transient  | yes     | TIMEOUT       |
| body cut short                        | DataSourceError transient  | yes     | TRUNCATED     |
| HTTP 5xx, 408                         | DataSourceError transient  | yes     | HTTP_<status> |
| HTTP 429                              | SourceRateLimitedError     | yes     | RATE_LIMITED  |
| HTTP 401 / 403                        | SourceRefusedError         | no      | AUTH          |
| other 4xx                             | DataSourceError            | no      | HTTP_<status> |
| a body that does not parse            | DataSourceError            | no      | MALFORMED     |

Messages name the source, what happened and, for refusals, the variable that holds the key.
"""
from __future__ import annotations

import email.utils
import re
import time
from typing import Mapping
from urllib.parse import urlsplit

import requests

from ..errors import DataSourceError, SourceRateLimitedError, SourceRefusedError

BODY_EXCERPT_CHARS = 200
_TAG = re.compile(r"<[^>]*>")
_ERRNO = re.compile(r"\[Errno -?\d+\][^)'\"]*")


def http_status_error(source: str, status: int, *, headers: Mapping[str, str] | None = None,
                      detail: str = "", key_env: str | None = None,
                      now: float | None = None) -> DataSourceError:
    """The error for a non-success HTTP status from `source` (see the module table)."""
    detail = _excerpt(detail)
    suffix = f": {detail}" if detail else ""
    if status in (401, 403):
        fix = (f"check {key_env} (set it in the environment or .env) and that the account is entitled "
               f"to this data" if key_env else "the server refuses this client (no login or entitlement)")
        word = "rejected the credentials" if status == 401 else "refused access"
        return SourceRefusedError(f"{source}: HTTP {status}, the server {word}{suffix}; {fix}", code="AUTH")
    if status == 429:
        retry_after = parse_retry_after((headers or {}).get("Retry-After"), now=now)
        wait = f"; it asks to retry after {retry_after:g} s" if retry_after is not None else ""
        return SourceRateLimitedError(f"{source}: HTTP 429, rate limited{wait}{suffix}", retry_after_s=retry_after)
    if status >= 500 or status == 408:
        return DataSourceError(f"{source}: HTTP {status}, server error{suffix}", transient=True,
                               code=f"HTTP_{status}")
    return DataSourceError(f"{source}: HTTP {status}{suffix}", transient=False, code=f"HTTP_{status}")


def connection_error(source: str, exc: BaseException, url: str | None = None) -> DataSourceError:
    """A transient error for a connection that failed (refused, reset, name not resolved).

    The message keeps what a trader can act on: the host and the system's reason
    ("[Errno 111] Connection refused"), not the client library's wrapping of it.
    """
    found = _ERRNO.search(str(exc))
    detail = found.group(0).strip() if found else _short(exc)
    where = f" to {urlsplit(url).netloc}" if url else ""
    return DataSourceError(f"{source}: cannot connect{where} ({detail})", transient=True, code="CONNECTION")


def timeout_error(source: str, timeout_s: float, exc: BaseException | None = None) -> DataSourceError:
    """A transient error for a server that did not answer in time."""
    why = f" ({_short(exc)})" if exc is not None else ""
    return DataSourceError(f"{source}: no answer within {timeout_s:g} s{why}", transient=True, code="TIMEOUT")


def truncated_error(source: str, exc: BaseException) -> DataSourceError:
    """A transient error for a response body cut short (connection dropped mid-body)."""
    return DataSourceError(f"{source}: response cut short ({_short(exc)})", transient=True, code="TRUNCATED")


def malformed_error(source: str, what: str, exc: BaseException | str) -> DataSourceError:
    """A final error for a body that is not what the vendor's protocol says it is."""
    return DataSourceError(f"{source}: malformed {what} ({_short(exc)})", transient=False, code="MALFORMED")


def requests_error(source: str, exc: requests.RequestException, timeout_s: float) -> DataSourceError:
    """The project's error for an exception `requests` raised (order matters: see the comments)."""
    if isinstance(exc, requests.exceptions.JSONDecodeError):  # also a RequestException
        return malformed_error(source, "answer (not JSON)", exc)
    if isinstance(exc, requests.Timeout):  # ConnectTimeout is a ConnectionError too
        return timeout_error(source, timeout_s, exc)
    if isinstance(exc, requests.ConnectionError):
        return connection_error(source, exc, exc.request.url if exc.request is not None else None)
    return truncated_error(source, exc)  # ChunkedEncodingError, ContentDecodingError: body cut short


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: either delta-seconds or an HTTP date; None if absent/bad."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


def _excerpt(text: str) -> str:
    """One line of at most BODY_EXCERPT_CHARS, HTML tags dropped (error pages are often HTML)."""
    text = " ".join(_TAG.sub(" ", str(text)).split())
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "..."


def _short(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return _excerpt(exc)
    message = _excerpt(str(exc)) or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if not message.startswith(type(exc).__name__) else message
