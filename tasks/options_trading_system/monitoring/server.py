"""The dashboard's HTTP server: a Starlette (ASGI) app in front of `DashboardApp`, served by uvicorn.

Routes (everything else is 404, as JSON):
- GET  /                      the page, as rendered at the last refresh
- GET  /fragment              the live part of the page (what /events pushes)
- GET  /events                server-sent events: `fragment` with the live part after each refresh
- GET  /static/dashboard.js   the page's script
- GET  /static/plotly.min.js  plotly.js from the pinned pip package (gzip, ETag, cached a year)
- GET  /api/metrics           the latest snapshot and the monitor's recent samples (JSON)
- GET  /api/alerts            open alerts and alert history (JSON)
- GET  /health                is the dashboard up, what health the system is in (JSON)
- POST /api/control/halt      halt the active shadow run (token required)
- POST /api/control/resume    resume it (token required)
- POST /api/control/flatten   emergency stop: halt, cancel every working order, flatten (token required)

Under load: pages come from the state rendered at the last refresh (at most one per
`refresh_s`, whatever the number of requests), on an asyncio server with a 2048-connection
listen backlog; every connection has deadlines: a client must send a whole request within
`request_timeout_s` (a stalled or half-sent request is disconnected: `_DeadlineH11Protocol`),
an idle keep-alive connection closes after `keep_alive_s`, a control request's body must arrive
within `request_timeout_s`, an event stream ends after `events_max_s` (the browser reconnects),
at most `events_max_clients` streams are open, and above `limit_concurrency` open connections
new requests get 503 rather than a queue without end.

It binds 127.0.0.1 unless told otherwise; a non-loopback address is refused unless the caller
says the address was given explicitly (`--host` on the command line), because the page shows
the run's figures and carries halt/resume. On a loopback bind only loopback Host headers are
answered (no DNS rebinding). Every answer carries the security headers below. No answer carries a
secret: pages, fragments and events come masked from `DashboardApp`, and every JSON answer (errors
included) goes through `secrets_mask.mask_document`.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import threading
from http import HTTPStatus
from typing import Any, AsyncIterator, Awaitable, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import ConfigError
from ..secrets_mask import mask_document
from .config import DashboardSettings
from .dashboard import STATIC_DIR, DashboardApp
from .plotly_js import plotly_js, plotly_js_etag, plotly_js_gzip

log = logging.getLogger(__name__)

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
STATIC_CACHE = "public, max-age=31536000, immutable"   # plotly.min.js changes only with the pinned package
EVENTS_POLL_S = 0.2                                     # how often a stream looks for a newer rendered state

__all__ = ["DashboardServer", "build_asgi_app", "is_loopback", "check_bind_address", "SECURITY_HEADERS"]


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


def _host_name(header: str) -> str:
    """The name in a Host header, without the port (IPv6 literals keep their brackets stripped)."""
    host = header.strip().lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.strip("[]")


class _Guard:
    """ASGI middleware: Host check on a loopback bind (421), security headers on every answer."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = dict(message, headers=[*message.get("headers", []),
                                                 *((k, v) for k, v in self.headers if k not in present)])
            await send(message)

        if self.loopback_only:
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            if not is_loopback(_host_name(host)):
                refused = _json({"error": f"this dashboard answers only to loopback host names, not "
                                          f"{host.strip().lower()!r}"}, HTTPStatus.MISDIRECTED_REQUEST)
                await refused(scope, receive, send_secured)
                return
        await self.app(scope, receive, send_secured)


def _json(payload: Any, status: int = HTTPStatus.OK, headers: dict[str, str] | None = None) -> Response:
    """Strict JSON (a NaN is a bug upstream, never sent as a number), secrets masked in every string."""
    return Response(json.dumps(mask_document(payload), allow_nan=False), status_code=status, headers=headers,
                    media_type="application/json")


def build_asgi_app(app: DashboardApp, *, loopback_only: bool, stopping: threading.Event | None = None,
                   settings: DashboardSettings | None = None) -> _Guard:
    """The dashboard's ASGI application (Starlette routes inside the Host/header guard)."""
    settings = settings or app.config.dashboard
    stopping = stopping or threading.Event()
    script = (STATIC_DIR / "dashboard.js").read_bytes()
    streams = {"open": 0}

    async def state() -> Any:
        """The rendered state; a refresh (file and database reads) runs in a worker thread, never on the loop."""
        cached = app.fresh()
        return cached if cached is not None else await run_in_threadpool(app.current)

    def html(request: Request, plain: bytes, compressed: bytes) -> Response:
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(compressed, media_type="text/html; charset=utf-8",
                            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Response(plain, media_type="text/html; charset=utf-8", headers={"Vary": "Accept-Encoding"})

    async def page(request: Request) -> Response:
        cached = await state()
        return html(request, cached.page, cached.page_gzip)

    async def fragment(request: Request) -> Response:
        cached = await state()
        return html(request, cached.fragment, cached.fragment_gzip)

    async def dashboard_js(_request: Request) -> Response:
        return Response(script, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})

    async def plotly(request: Request) -> Response:
        etag = plotly_js_etag()
        headers = {"Cache-Control": STATIC_CACHE, "ETag": etag, "Vary": "Accept-Encoding"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=HTTPStatus.NOT_MODIFIED, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = await run_in_threadpool(plotly_js_gzip)
            headers["Content-Encoding"] = "gzip"
        else:
            body = await run_in_threadpool(plotly_js)
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    async def metrics(_request: Request) -> Response:
        await state()
        return _json(app.metrics_payload())

    async def alerts(_request: Request) -> Response:
        await state()
        return _json(app.alerts_payload())

    async def health(_request: Request) -> Response:
        await state()
        return _json(app.health_payload())

    async def events(_request: Request) -> Response:
        if streams["open"] >= settings.events_max_clients:
            return _json({"error": f"{streams['open']} live pages are open (events_max_clients); this page fetches "
                                   f"/fragment instead"}, HTTPStatus.SERVICE_UNAVAILABLE,
                         headers={"Retry-After": str(int(settings.events_max_s))})
        await state()
        return StreamingResponse(_event_stream(app, settings, stopping, streams), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    async def control(request: Request) -> Response:
        action = request.path_params["action"]
        declared = (request.headers.get("content-length") or "0").strip()
        if not declared.isdigit():  # a negative length would read until the client hangs up
            return _json({"error": f"Content-Length {declared!r} is not a byte count"}, HTTPStatus.BAD_REQUEST)
        if int(declared) > MAX_BODY_BYTES:
            return _json({"error": f"request body over {MAX_BODY_BYTES} bytes"}, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        try:
            raw = await asyncio.wait_for(_read_body(request, MAX_BODY_BYTES), settings.request_timeout_s)
        except TimeoutError:
            return _json({"error": f"the request body did not arrive within {settings.request_timeout_s:g} s"},
                         HTTPStatus.REQUEST_TIMEOUT)
        except ValueError as exc:
            return _json({"error": str(exc)}, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _json({"error": "the request body is not JSON"}, HTTPStatus.BAD_REQUEST)
        if not isinstance(body, dict):
            return _json({"error": "the request body must be a JSON object"}, HTTPStatus.BAD_REQUEST)
        client = request.client.host if request.client else "unknown"
        status, payload = await run_in_threadpool(app.control, action, request.headers.get("authorization"), body,
                                                  f"dashboard {client}")
        headers = {"WWW-Authenticate": 'Bearer realm="nq-monitor-control"'} if status == HTTPStatus.UNAUTHORIZED \
            else None
        return _json(payload, status, headers)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else HTTPStatus.NOT_FOUND
        what = "no such page" if status == HTTPStatus.NOT_FOUND else HTTPStatus(status).phrase.lower()
        return _json({"error": f"{what}: {request.method} {request.url.path}"}, status)

    async def failed(request: Request, exc: Exception) -> Response:  # a broken read shows as an error, never stale
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _json({"error": f"{type(exc).__name__}: {exc}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    routes = [
        Route("/", page), Route("/fragment", fragment), Route("/events", events),
        Route("/static/dashboard.js", dashboard_js), Route("/static/plotly.min.js", plotly),
        Route("/api/metrics", metrics), Route("/api/alerts", alerts), Route("/health", health),
        Route("/api/control/{action:str}", control, methods=["POST"]),
    ]
    starlette = Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: failed})
    return _Guard(starlette, loopback_only=loopback_only)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused past `limit` bytes whatever Content-Length said."""
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ValueError(f"request body over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        return b""
    return b"".join(chunks)


async def _event_stream(app: DashboardApp, settings: DashboardSettings, stopping: threading.Event,
                        streams: dict[str, int]) -> AsyncIterator[bytes]:
    """`fragment` events, one per newer rendered state, for at most `events_max_s`; a comment when idle."""
    loop = asyncio.get_running_loop()
    streams["open"] += 1
    try:
        started = last_sent = loop.time()
        sent_version = 0
        yield f"retry: {int(max(1.0, settings.refresh_s) * 1000)}\n\n".encode()
        while not stopping.is_set() and loop.time() - started < settings.events_max_s:
            cached = app.fresh() or await run_in_threadpool(app.current)
            if cached is not None and cached.version != sent_version:
                sent_version = cached.version
                lines = cached.fragment.decode("utf-8").splitlines() or [""]
                yield (f"id: {cached.version}\nevent: fragment\n" + "".join(f"data: {line}\n" for line in lines)
                       + "\n").encode("utf-8")
                last_sent = loop.time()
            elif loop.time() - last_sent >= settings.events_keepalive_s:
                yield b": still here\n\n"
                last_sent = loop.time()
            await asyncio.sleep(EVENTS_POLL_S)
    finally:
        streams["open"] -= 1


class _DeadlineH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request to arrive.

    uvicorn's keep-alive timer starts only after a response and stops at the first byte, so a
    client that connects and sends half a request (or nothing) would hold its connection
    forever. Here a deadline starts when the connection opens and after each response; if no
    complete request has reached the application when it passes, the connection is closed.
    A request being answered (an event stream included) is never cut by it."""

    request_timeout_s: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _arm_deadline(self) -> None:
        self._cancel_deadline()
        if not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.request_timeout_s, self._deadline_passed)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a whole request arrived and is being answered
        if not self.transport.is_closing():
            log.info("closing a connection from %s: no complete request within %g s", self.client,
                     self.request_timeout_s)
            self.transport.close()


class DashboardServer:
    """Serves one `DashboardApp` with uvicorn. `port=0` picks a free port (see `.port`).

    The socket is bound here (so a busy port fails at once, with OSError); `serve_forever`
    serves in the calling thread (the main thread gets Ctrl-C/SIGTERM handling from uvicorn),
    `start` in a background thread; `shutdown` stops either."""

    def __init__(self, app: DashboardApp, host: str, port: int, *, explicit_host: bool = False) -> None:
        check_bind_address(host, explicit=explicit_host)
        self.app = app
        self.loopback_only = is_loopback(host)
        settings = app.config.dashboard
        self.stopping = threading.Event()
        bare = host.strip("[]")
        family = socket.AF_INET6 if ":" in bare else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((bare, port))
            self.socket.listen(settings.backlog)   # connections queue from now on, even before uvicorn runs
        except OSError:
            self.socket.close()
            raise
        self.socket.set_inheritable(True)
        protocol = type("DeadlineH11Protocol", (_DeadlineH11Protocol,),
                        {"request_timeout_s": settings.request_timeout_s})
        config = uvicorn.Config(
            build_asgi_app(app, loopback_only=self.loopback_only, stopping=self.stopping, settings=settings),
            http=protocol, ws="none", lifespan="off", log_config=None, access_log=False, server_header=False,
            timeout_keep_alive=settings.keep_alive_s, limit_concurrency=settings.limit_concurrency,
            backlog=settings.backlog, timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout_s)))
        self.uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._refresher: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.socket.getsockname()[0]
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"

    def start_refresher(self) -> None:
        """Refresh the rendered state (and the static dashboard.html) every `refresh_s`, browser or not."""
        def loop() -> None:
            while not self.stopping.is_set():
                try:
                    self.app.refresh()
                except Exception:  # keep serving the last good view; the log says what broke
                    log.exception("dashboard refresh failed")
                self.stopping.wait(self.app.refresh_s)
        self._refresher = threading.Thread(target=loop, name="dashboard-refresh", daemon=True)
        self._refresher.start()

    def serve_forever(self) -> None:
        """Serve until `shutdown` (or, in the main thread, Ctrl-C/SIGTERM)."""
        try:
            self.uvicorn.run(sockets=[self.socket])
        finally:
            self.stopping.set()

    def start(self, *, timeout_s: float = 30.0) -> None:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.serve_forever, name="dashboard-server", daemon=True)
        self._thread.start()
        waited = 0.0
        while not self.uvicorn.started:
            if not self._thread.is_alive() or waited > timeout_s:
                raise RuntimeError(f"the dashboard server did not start within {timeout_s:g} s")
            threading.Event().wait(0.02)
            waited += 0.02

    def shutdown(self) -> None:
        """Stop serving (event streams end, requests in flight get `shutdown_timeout_s`), stop refreshing."""
        self.stopping.set()
        self.uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.app.config.dashboard.shutdown_timeout_s + 10)
        if self._refresher is not None:
            self._refresher.join(timeout=max(5.0, self.app.refresh_s * 2))

    def server_close(self) -> None:
        self.socket.close()
