"""A local Polygon REST server fed with recorded responses (`../shared/data/polygon/mocks/`).

Files are looked up the way polygon's own client tests store them: the URL path plus `.json`,
with `?` written `&` and `:` written `;` (`/v3/snapshot/options/AAPL` ->
`v3/snapshot/options/AAPL.json`, the second page -> `v3/reference/options/contracts&cursor=....json`).
Query parameters other than `cursor` are ignored when looking up a file. Several folders can be
given; the first that has the file wins (a test adds its own pages over the recordings).

Like Polygon: the key is a `Bearer` token (401 `{"status": "ERROR", "error": "Unknown API Key"}`
otherwise), a missing file is 404 `NOT_FOUND`, and every `next_url` in an answer is rewritten to
this server's base, so the client's pagination stays here.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

from .base import Fault, Request, Response, StandInServer

_URL_BASE = re.compile(r"^https?://[^/]+")


class PolygonStandIn(StandInServer):
    vendor = "polygon"

    def __init__(self, roots: Sequence[Path], *, key: str | None = None, port: int = 0) -> None:
        super().__init__(port=port)
        self.roots = [Path(r) for r in roots]
        self.key = key

    def error_body(self, status: int, message: str) -> Response:
        status_word = {401: "ERROR", 403: "NOT_AUTHORIZED", 404: "NOT_FOUND", 429: "ERROR"}.get(status, "ERROR")
        return Response.json({"status": status_word, "request_id": "standin", "error": message}, status)

    def malformed_body(self, request: Request) -> Response:
        return Response(200, b'{"results": [{"details": {"strike_price": 1', {"Content-Type": "application/json"})

    def respond(self, request: Request, mode: Fault | None) -> Response:
        if self.key is not None and request.headers.get("Authorization") != f"Bearer {self.key}":
            return self.error_body(401, "Unknown API Key")
        path = self.find(request)
        if path is None:
            return self.error_body(404, f"no recorded response for {request.path}")
        document = json.loads(path.read_text())
        if "next_url" in document:
            document["next_url"] = _URL_BASE.sub(self.url, document["next_url"])
        if mode is Fault.EMPTY:
            document = {"results": [], "status": "OK", "request_id": document.get("request_id", "standin")}
        elif mode is Fault.SCALE_1000:
            for item in document.get("results") or []:
                details = item.get("details") or {}
                if "strike_price" in details:
                    details["strike_price"] = details["strike_price"] * 1000
        return Response.json(document)

    def find(self, request: Request) -> Path | None:
        name = request.path.lstrip("/").replace(":", ";")
        cursor = request.arg("cursor")
        candidates = [f"{name}&cursor={cursor}.json"] if cursor else [f"{name}.json"]
        for root in self.roots:
            for candidate in candidates:
                path = root / candidate
                if path.is_file():
                    return path
        return None


def write_pages(folder: Path, path: str, pages: Sequence[list[dict[str, Any]]], *, base: str = "https://api.polygon.io"
                ) -> None:
    """Write a paged chain snapshot as recorded files: page i links to page i+1 with a cursor."""
    name = path.lstrip("/").replace(":", ";")
    for index, results in enumerate(pages):
        document: dict[str, Any] = {"request_id": f"page{index}", "status": "OK", "results": results}
        if index + 1 < len(pages):
            document["next_url"] = f"{base}/{path.lstrip('/')}?cursor=page{index + 1}"
        file = folder / (f"{name}.json" if index == 0 else f"{name}&cursor=page{index}.json")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(document))
