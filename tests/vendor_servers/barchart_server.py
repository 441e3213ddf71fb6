"""A local barchart.com: the futures-options page with its XSRF cookie, and the quotes API behind it.

- `GET /futures/quotes/<future>/options/<root>` -> the real recorded options page
  (`../shared/data/barchart/barchart_options_page_NQM25_20250602.html`) and the cookies
  `XSRF-TOKEN=<URL-encoded token>` and `laravel_session`, like the real site;
- `GET /proxies/core-api/v1/quotes/get?symbol=<root>&list=futures.options&...&raw=1` -> the real
  recorded API response for that root (`barchart_api_<ROOT>_*.json`; `MC6M25` and `MC6M5` are the
  same root), `{"count": 0, "total": 0, "data": []}` for a root it has no recording of.
  Like the real site it answers 403 unless the request carries the session's XSRF cookie, the
  header `X-XSRF-TOKEN` equal to the URL-decoded cookie, and a Referer of the site.
"""
from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from urllib.parse import quote

from .base import Fault, Request, Response, StandInServer

PAGE_PATH = re.compile(r"^/futures/quotes/(?P<future>[A-Z0-9]+)/options/(?P<root>[A-Z0-9]+)$")
API_PATH = "/proxies/core-api/v1/quotes/get"
CAPTURE_NAME = re.compile(r"^barchart_api_(?P<root>[A-Z0-9]+)_\d{8}_\d{6}\.json$")


def canonical_root(root: str) -> str:
    """MC6M25 -> MC6M5: Barchart accepts both year forms; recordings use one digit."""
    match = re.match(r"^(?P<head>[A-Z]{2}\d?[FGHJKMNQUVXZ])(?P<year>\d{1,2})$", root)
    if not match:
        return root
    return match.group("head") + match.group("year")[-1]


class BarchartStandIn(StandInServer):
    vendor = "barchart"

    def __init__(self, folder: Path, *, port: int = 0) -> None:
        super().__init__(port=port)
        folder = Path(folder)
        self.page_html = next(folder.glob("barchart_options_page_*.html")).read_bytes()
        self.captures = {canonical_root(m.group("root")): path for path in sorted(folder.glob("barchart_api_*.json"))
                         if (m := CAPTURE_NAME.match(path.name))}
        self.token = secrets.token_urlsafe(24) + "=="  # '=' so the cookie needs URL-decoding, as on the real site

    def error_body(self, status: int, message: str) -> Response:
        return Response(status, f"<html><body><h1>{status}</h1><p>{message}</p></body></html>".encode(),
                        {"Content-Type": "text/html"})

    def malformed_body(self, request: Request) -> Response:
        if request.path == API_PATH:
            return Response(200, b"<!DOCTYPE html><html><body>Please enable JS and disable any ad blocker</body></html>",
                            {"Content-Type": "text/html"})
        return Response(200, b"<html><body>Checking your browser...</body></html>", {"Content-Type": "text/html"})

    def respond(self, request: Request, mode: Fault | None) -> Response:
        if PAGE_PATH.match(request.path):
            return Response(200, self.page_html, {
                "Content-Type": "text/html; charset=UTF-8",
                "Set-Cookie": f"XSRF-TOKEN={quote(self.token, safe='')}; Path=/; SameSite=Lax",
            })
        if request.path == API_PATH:
            if not self._xsrf_ok(request):
                return self.error_body(403, "Forbidden")
            return Response.json(self._chain(request.arg("symbol", ""), mode))
        return self.error_body(404, "Not Found")

    def _xsrf_ok(self, request: Request) -> bool:
        cookie = request.headers.get("Cookie", "")
        referer = request.headers.get("Referer", "")
        return (f"XSRF-TOKEN={quote(self.token, safe='')}" in cookie
                and request.headers.get("X-XSRF-TOKEN") == self.token
                and referer.startswith(self.url + "/futures/quotes/"))

    def _chain(self, root: str, mode: Fault | None) -> dict:
        path = self.captures.get(canonical_root(root))
        if path is None or mode is Fault.EMPTY:
            return {"count": 0, "total": 0, "data": {"Call": [], "Put": []}}
        document = json.loads(path.read_text())
        if mode is Fault.SCALE_1000:
            for rows in document["data"].values():
                for row in rows:
                    row["raw"]["strike"] = row["raw"]["strike"] * 1000
        return document
