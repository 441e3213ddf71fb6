"""Barchart's page-then-API flow over `requests`, as a browser does it.

1. GET the futures-options page (`page_path`): the site answers with the page and sets the
   `XSRF-TOKEN` cookie (URL-encoded); the page also shows the underlying future's quote;
2. GET the JSON API (`api_path`) with `symbol=<root>`, `list=futures.options`, the fields,
   `groupBy=optionType`, `orderBy=strike`, `orderDir=asc`, `raw=1`, the header `X-XSRF-TOKEN`
   set to the URL-decoded cookie and a `Referer` of the page; without them the site answers 403.

Each request waits at most `timeout()` (what is left of the source's deadline, capped per
request). Failures become the project's errors (`http_errors`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import unquote, urlencode

import requests

from ...errors import DataSourceError
from ..http_errors import http_status_error, malformed_error, requests_error
from .config import BarchartConfig

log = logging.getLogger(__name__)

SOURCE = "barchart"
XSRF_COOKIE = "XSRF-TOKEN"


@dataclass(frozen=True)
class BarchartAnswer:
    """What one page + API round trip brought back."""

    page_url: str
    page_html: str
    api_url: str
    payload: Any
    content: bytes


class BarchartClient:
    """One session (cookies) per fetch; `timeout()` gives each request's timeout in seconds.

    `close()` releases the session's connections when the client made the session itself."""

    def __init__(self, config: BarchartConfig, *, timeout: Callable[[], float],
                 session: requests.Session | None = None) -> None:
        self.config = config
        self.timeout = timeout
        self._owns_session = session is None
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": config.user_agent, "Accept-Language": "en-US,en;q=0.9"})

    def fetch(self, root: str, future: str) -> BarchartAnswer:
        base = self.config.base_url.rstrip("/")
        page_url = base + self.config.page_path.format(future=future, root=root)
        page = self._get(page_url, "options page", headers={"Accept": "text/html,application/xhtml+xml"})
        token = self.session.cookies.get(XSRF_COOKIE)
        if not token:
            raise DataSourceError(f"{SOURCE}: the options page {page_url} set no {XSRF_COOKIE} cookie (the site "
                                  f"changed, or something else answered); cannot call the API", code="MALFORMED")
        params = {"symbol": root, "list": "futures.options", "fields": ",".join(self.config.fields),
                  "meta": "field.shortName,field.type,field.description", "groupBy": "optionType",
                  "orderBy": "strike", "orderDir": "asc", "raw": "1"}
        api_url = f"{base}{self.config.api_path}?{urlencode(params)}"
        answer = self._get(api_url, "quotes API", headers={"Accept": "application/json", "Referer": page_url,
                                                             "X-XSRF-TOKEN": unquote(token)})
        try:
            payload = answer.json()
        except ValueError as exc:
            raise malformed_error(SOURCE, f"quotes API answer for {root} (not JSON)", exc) from exc
        return BarchartAnswer(page_url=page_url, page_html=page.text, api_url=api_url, payload=payload,
                              content=answer.content)

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def _get(self, url: str, what: str, headers: dict[str, str]) -> requests.Response:
        timeout = self.timeout()
        try:
            response = self.session.get(url, headers=headers, timeout=(timeout, timeout))
            content = response.content  # read the whole body inside the try: a cut body raises here
        except requests.RequestException as exc:
            raise requests_error(f"{SOURCE} {what}", exc, timeout) from exc
        if response.status_code != 200:
            raise http_status_error(f"{SOURCE} {what}", response.status_code, headers=dict(response.headers),
                                    detail=content[:300].decode("utf-8", errors="replace"))
        log.debug("%s %s: %d bytes", SOURCE, what, len(content))
        return response
