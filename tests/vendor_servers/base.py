"""A local stand-in for a vendor's HTTP(S) server, with fault injection, for tests and demos.

`StandInServer` listens on 127.0.0.1 (port 0 = a free one) in a background thread; a subclass
answers requests in `respond(request, mode)` the way the vendor does. Faults are queued with
`inject` and consumed by the next matching requests, so a test can say "the next API call
answers 500, then behave" and watch the client retry:

| fault        | what the client sees                                                      |
|--------------|---------------------------------------------------------------------------|
| HANG         | the connection is accepted and never answered (until the server stops)    |
| HTTP_500     | HTTP 500 with a JSON error body                                           |
| HTTP_429     | HTTP 429 with `Retry-After: <retry_after>`                                |
| HTTP_401/403 | HTTP 401/403 with the vendor's error body                                 |
| TRUNCATE     | the real answer's headers, half of its body, then the connection closes   |
| MALFORMED    | HTTP 200 with a body that is not what the protocol says (HTML, garbage)   |
| EMPTY        | a well-formed answer with no contracts (vendor-specific, via `mode`)       |
| SCALE_1000   | a well-formed answer with every strike 1000x too large (via `mode`)        |

"Connection refused" needs no server: `closed_port()` gives a port nothing listens on, and
`stop()` turns a running stand-in into one (a source killed mid-run).
Every request is logged in `requests` for assertions. Every wait is bounded.
"""
from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

HANG_LIMIT_S = 30.0  # a hanging answer is released at the latest after this (or at stop())
HOST = "127.0.0.1"


class Fault(str, Enum):
    HANG = "hang"
    HTTP_500 = "http_500"
    HTTP_429 = "http_429"
    HTTP_401 = "http_401"
    HTTP_403 = "http_403"
    TRUNCATE = "truncate"
    MALFORMED = "malformed"
    EMPTY = "empty"
    SCALE_1000 = "scale_1000"


DATA_FAULTS = (Fault.EMPTY, Fault.SCALE_1000)  # passed to `respond` as the mode


@dataclass(frozen=True)
class Request:
    """One request as the stand-in saw it."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        """The body as an HTML form (what databento's client POSTs)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", errors="replace")).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> "Response":
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass
class _Injected:
    fault: Fault
    remaining: int
    path_prefix: str
    retry_after: float | None


class StandInServer:
    """Base of the vendor stand-ins. Subclasses implement `respond` and the vendor's error bodies."""

    vendor = "vendor"

    def __init__(self, *, port: int = 0, tls: tuple[Path, Path] | None = None) -> None:
        self._faults: deque[_Injected] = deque()
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._tls = tls
        self._httpd = _Server((HOST, port), _handler_for(self))
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile=str(tls[0]), keyfile=str(tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None
        self.on_request: Callable[[Request], None] | None = None  # e.g. kill the server after the page

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{HOST}:{self.port}"

    def start(self) -> "StandInServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.vendor}-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering: hanging requests are released, the port is closed (connections refused).

        Safe to call twice, and from a request handler (a source killed mid-run)."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> "StandInServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults -----------------------------------------------------------------------------

    def inject(self, fault: Fault, *, times: int = 1, path_prefix: str = "", retry_after: float | None = None) -> None:
        """Make the next `times` requests whose path starts with `path_prefix` misbehave."""
        with self._lock:
            self._faults.append(_Injected(fault, times, path_prefix, retry_after))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> _Injected | None:
        with self._lock:
            for injected in self._faults:
                if path.startswith(injected.path_prefix) and injected.remaining > 0:
                    injected.remaining -= 1
                    if injected.remaining == 0:
                        self._faults.remove(injected)
                    return injected
        return None

    def count(self, path_prefix: str = "") -> int:
        """Requests seen whose path starts with `path_prefix`."""
        return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    # --- what subclasses provide ------------------------------------------------------------

    def respond(self, request: Request, mode: Fault | None) -> Response:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Response:
        return Response.json({"error": message}, status)

    def malformed_body(self, request: Request) -> Response:
        return Response(200, b"<html><body>Service temporarily unavailable", {"Content-Type": "text/html"})

    # --- dispatch ---------------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(method, split.path, parse_qs(split.query, keep_blank_values=True),
                          {k: v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.requests.append(request)
        if self.on_request is not None:
            self.on_request(request)
        injected = self._take_fault(split.path)
        fault = injected.fault if injected else None
        if fault is Fault.HANG:
            self.stopping.wait(HANG_LIMIT_S)
            handler.close_connection = True
            return
        if fault in (Fault.HTTP_500, Fault.HTTP_401, Fault.HTTP_403):
            status = int(fault.value.split("_")[1])
            return self._send(handler, self.error_body(status, {500: "internal server error", 401: "unknown API key",
                                                                 403: "not entitled to this data"}[status]))
        if fault is Fault.HTTP_429:
            response = self.error_body(429, "too many requests")
            if injected and injected.retry_after is not None:
                response.headers["Retry-After"] = f"{injected.retry_after:g}"
            return self._send(handler, response)
        if fault is Fault.MALFORMED:
            return self._send(handler, self.malformed_body(request))
        try:
            response = self.respond(request, fault if fault in DATA_FAULTS else None)
        except Exception as exc:  # a bug in the stand-in shows up as a 500 with the reason
            log.exception("%s stand-in failed on %s", self.vendor, handler.path)
            response = self.error_body(500, f"stand-in error: {exc}")
        if fault is Fault.TRUNCATE:
            return self._send(handler, response, truncate=True)
        self._send(handler, response)

    def _send(self, handler: BaseHTTPRequestHandler, response: Response, truncate: bool = False) -> None:
        try:
            handler.send_response(response.status)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(response.body[: len(response.body) // 2] if truncate else response.body)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (timeout): nothing to do
        handler.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def _handler_for(server: StandInServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            server._dispatch(self, "GET")

        def do_POST(self) -> None:  # noqa: N802
            server._dispatch(self, "POST")

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read server.requests
            log.debug("%s stand-in: " + format, server.vendor, *args)

    return Handler


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])

