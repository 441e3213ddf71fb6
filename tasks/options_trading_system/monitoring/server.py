"""The dashboard's HTTP server: a small stdlib ThreadingHTTPServer in front of `DashboardApp`.

Routes (everything else is 404):
- GET  /                      the page (refreshes its figures by itself)
- GET  /fragment              the live part of the page, swapped in every `refresh_s`
- GET  /static/dashboard.js   the page's only script
- GET  /api/metrics           the latest snapshot and the monitor's recent samples (JSON)
- GET  /api/alerts            open alerts and alert history (JSON)
- GET  /health                is the dashboard up, what health the system is in (JSON)
- POST /api/control/halt      halt the active shadow run (token required)
- POST /api/control/resume    resume it (token required)
- POST /api/control/flatten   emergency stop: halt, cancel every working order, flatten (token required)

It binds 127.0.0.1 unless told otherwise; a non-loopback address is refused unless the caller
says the address was given explicitly (`--host` on the command line), because the page shows
the run's figures and carries halt/resume.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .dashboard import DashboardApp

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 16 * 1024
# The page needs nothing from the internet: scripts and everything else only from this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

__all__ = ["DashboardServer", "is_loopback", "check_bind_address"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_address(host: str, *, explicit: bool) -> None:
    """Refuse a non-loopback address unless it was asked for explicitly (`--host`)."""
    if not is_loopback(host) and not explicit:
        raise ConfigError(
            f"dashboard host {host!r} is not a loopback address: anyone who can reach it would see the run and its "
            f"halt/resume control; pass --host {host} on the command line to bind it anyway, or use 127.0.0.1")


class DashboardServer(ThreadingHTTPServer):
    """Serves one `DashboardApp`. `port=0` picks a free port (see `.port`)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: DashboardApp, host: str, port: int, *, explicit_host: bool = False) -> None:
        check_bind_address(host, explicit=explicit_host)
        self.app = app
        self.loopback_only = is_loopback(host)
        if ":" in host.strip("[]"):
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), _Handler)
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"

    def start_refresher(self) -> None:
        """Refresh the snapshot (and the static dashboard.html) every `refresh_s`, browser or not."""
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.app.refresh()
                except Exception:  # keep serving the last good view; the log says what broke
                    log.exception("dashboard refresh failed")
                self._stop.wait(self.app.refresh_s)
        self._refresher = threading.Thread(target=loop, name="dashboard-refresh", daemon=True)
        self._refresher.start()

    def shutdown(self) -> None:
        self._stop.set()
        super().shutdown()
        if self._refresher is not None:
            self._refresher.join(timeout=max(5.0, self.app.refresh_s * 2))


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "NQMonitor/1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s %s", self.address_string(), format % args)

    def _host_ok(self) -> bool:
        """On a loopback bind, only loopback Host headers: a page elsewhere cannot reach us by DNS rebinding."""
        if not self.server.loopback_only:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if is_loopback(name.strip("[]")):
            return True
        self._json(HTTPStatus.MISDIRECTED_REQUEST, {"error": f"this dashboard answers only to loopback host names, "
                                                             f"not {host!r}"})
        return False

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        if not self._host_ok():
            return
        app = self.server.app
        path = self.path.split("?", 1)[0]
        try:
            if path == "/":
                self._send(HTTPStatus.OK, app.page_html().encode(), "text/html; charset=utf-8")
            elif path == "/fragment":
                self._send(HTTPStatus.OK, app.fragment_html().encode(), "text/html; charset=utf-8")
            elif path == "/static/dashboard.js":
                self._send(HTTPStatus.OK, (STATIC_DIR / "dashboard.js").read_bytes(), "text/javascript; charset=utf-8")
            elif path == "/api/metrics":
                self._json(HTTPStatus.OK, app.metrics_payload())
            elif path == "/api/alerts":
                self._json(HTTPStatus.OK, app.alerts_payload())
            elif path == "/health":
                self._json(HTTPStatus.OK, app.health_payload())
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})
        except Exception as exc:  # a broken read must show as an error, never as stale figures
            log.exception("GET %s failed", path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return
        path = self.path.split("?", 1)[0]
        prefix = "/api/control/"
        if not path.startswith(prefix):
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})
            return
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit():  # a negative length would read until the client hangs up
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"Content-Length {declared!r} is not a byte count"})
            return
        length = int(declared)
        if length > MAX_BODY_BYTES:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"request body over {MAX_BODY_BYTES} bytes"})
            return
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the request body is not JSON"})
            return
        if not isinstance(body, dict):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the request body must be a JSON object"})
            return
        status, payload = self.server.app.control(path[len(prefix):], self.headers.get("Authorization"), body,
                                                  client=f"dashboard {self.client_address[0]}")
        self._json(status, payload)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, allow_nan=False).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="nq-monitor-control"')
        self.end_headers()
        self.wfile.write(body)
