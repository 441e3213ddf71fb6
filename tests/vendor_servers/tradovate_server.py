"""A local Tradovate: the REST API and the trading WebSocket, over a matching engine on real bars.

REST (`<url>/v1/...`, HTTP on 127.0.0.1) answers the way Tradovate's documentation says:
`auth/accesstokenrequest` (a refusal is HTTP 200 with `errorText`; a rate-limit penalty answers
`p-ticket`/`p-time`/`p-captcha` and wants the ticket back), `auth/renewaccesstoken`, `account/list`,
`contract/find`, `position/list`, `order/list`, `order/item`, `fill/list`, `command/list`,
`cashBalance/getcashbalancesnapshot`, `order/placeorder`, `order/placeoso`, `order/cancelorder`,
`order/liquidateposition`; every call but the login needs `Authorization: Bearer <accessToken>`
(401 otherwise). `POST /standin/advance {"time": ISO}` moves the simulated clock (the replay's),
`GET /standin/state` shows it.

The market-data WebSocket (`md_url`) speaks the same frames: `authorize` with the login's
`mdAccessToken` (the trading token is refused there), `md/subscribeQuote {symbol}` (a contract
name the engine knows, NQ or MNQ) answered with the current quote, then one `{e: "md", d: {quotes}}`
event per batch of trades the simulated clock releases from the quote tape (`tradovate_market.py`:
tick arrays given as `ticks`, else a path through the bars), and `md/unsubscribeQuote`. Its faults
are queued with `path_prefix="md/websocket"` (the trading socket's default is `websocket`).

The trading WebSocket (`ws_url`) speaks Tradovate's frames: `o` on open, `h` heartbeats, `a[...]` with
the answers `{s, i, d}` and the events `{e: "props", d: {entityType, eventType, entity}}`, `c` on
close; the client sends `authorize\\n0\\n\\n<token>`, then requests `endpoint\\nid\\nquery\\nbody`
(`user/syncrequest`) and `[]` as its heartbeat.

Faults: the HTTP ones of `base.Fault` (HTTP_500, HANG, ...) plus `TradovateFault`, all queued with
`inject` (`times`, `path_prefix` as in `base`):

| fault              | what the client sees                                                       |
|--------------------|----------------------------------------------------------------------------|
| BAD_LOGIN          | the login answers HTTP 200 `{errorText}`                                    |
| PENALTY            | the login answers `{p-ticket, p-time}`; a resend carrying the ticket passes  |
| TOKEN_EXPIRED      | the token presented is expired early: 401, and renewing it is refused too  |
| REJECT             | placeorder/placeoso answer `{failureReason, failureText}`; the order is Rejected |
| PARTIAL_FILL       | the next order placed fills in two parts (half now, the rest on the next bar) |
| SLOW               | the request is carried out, the answer comes `slow_s` later (a timeout)     |
| DROP_SOCKET        | the next WebSocket message makes the server cut the connection (no `c`)     |
| MISSED_HEARTBEATS  | the next WebSocket connection goes silent after its sync: no `h`, no events  |
"""
from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
from collections import deque
from enum import Enum
from typing import Any, Callable

import pandas as pd
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from .base import HOST, Fault, Request, Response, StandInServer
from .tradovate_engine import MatchingEngine, bars_frame
from .tradovate_market import QuoteTape

log = logging.getLogger(__name__)
_FRAMES = logging.getLogger(f"{__name__}.frames")  # frames carry tokens: never logged at DEBUG
_FRAMES.setLevel(logging.INFO)

API = "/v1"
TOKEN_LIFETIME_S = 90 * 60
WS_FAULTS_PREFIX = "websocket"
MD_FAULTS_PREFIX = "md/websocket"
QUOTES_PER_FRAME = 50


class TradovateFault(str, Enum):
    BAD_LOGIN = "bad_login"
    PENALTY = "penalty"
    TOKEN_EXPIRED = "token_expired"
    REJECT = "reject"
    PARTIAL_FILL = "partial_fill"
    SLOW = "slow"
    DROP_SOCKET = "drop_socket"
    MISSED_HEARTBEATS = "missed_heartbeats"


_DEFAULT_PREFIX = {
    TradovateFault.BAD_LOGIN: f"{API}/auth/accesstokenrequest",
    TradovateFault.PENALTY: f"{API}/auth/accesstokenrequest",
    TradovateFault.REJECT: f"{API}/order/place",
    TradovateFault.PARTIAL_FILL: f"{API}/order/place",
    TradovateFault.TOKEN_EXPIRED: f"{API}/",
    TradovateFault.SLOW: f"{API}/",
    TradovateFault.DROP_SOCKET: WS_FAULTS_PREFIX,
    TradovateFault.MISSED_HEARTBEATS: WS_FAULTS_PREFIX,
}


class TradovateStandIn(StandInServer):
    """Tradovate's REST API and trading WebSocket on 127.0.0.1, trading on `engine`'s price path."""

    vendor = "tradovate"

    def __init__(self, bars: pd.DataFrame, *, credentials: dict[str, str], start: pd.Timestamp | None = None,
                 port: int = 0, ws_port: int = 0, heartbeat_s: float = 2.5, slow_s: float = 3.0,
                 penalty_s: float = 5.0, token_lifetime_s: float = TOKEN_LIFETIME_S,
                 clock: Callable[[], float] = time.time, ticks: QuoteTape | None = None, md_port: int = 0) -> None:
        super().__init__(port=port)
        self.credentials = dict(credentials)  # name, password, appId, cid, sec, deviceId
        self.heartbeat_s = heartbeat_s
        self.slow_s = slow_s
        self.penalty_s = penalty_s
        self.token_lifetime_s = token_lifetime_s
        self.clock = clock
        self.engine = MatchingEngine(bars, start=start, listener=self._broadcast)
        self.tokens: dict[str, float] = {}       # access token -> expiry (epoch s)
        self.md_tokens: dict[str, float] = {}    # market-data token -> expiry (epoch s)
        self.tape = ticks if ticks is not None else QuoteTape.from_bars(bars_frame(bars))
        self.tape.release(self.engine.now.value - 1)  # trades before the clock's start are history
        self.tickets: set[str] = set()
        self._own_faults: deque[list[Any]] = deque()  # [fault, remaining, prefix]
        self._sockets: list[_Session] = []
        self._ws_requested_port = ws_port
        self._ws: Server | None = None
        self._ws_thread: threading.Thread | None = None
        self.ws_connections = 0
        self._md_requested_port = md_port
        self._md: Server | None = None
        self._md_thread: threading.Thread | None = None
        self.md_connections = 0
        self.md_subscriptions: list[str] = []   # every md/subscribeQuote symbol, in order

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"{self.url}{API}"

    @property
    def ws_url(self) -> str:
        if self._ws is None:
            raise RuntimeError("the Tradovate stand-in is not started")
        return f"ws://{HOST}:{self._ws.socket.getsockname()[1]}{API}/websocket"

    @property
    def md_url(self) -> str:
        if self._md is None:
            raise RuntimeError("the Tradovate stand-in is not started")
        return f"ws://{HOST}:{self._md.socket.getsockname()[1]}{API}/websocket"

    def start(self) -> "TradovateStandIn":
        self._ws = serve(self._ws_session, HOST, self._ws_requested_port, ping_interval=None, compression=None,
                         open_timeout=5, close_timeout=1, logger=_FRAMES)
        self._ws_thread = threading.Thread(target=self._ws.serve_forever, name="tradovate-standin-ws", daemon=True)
        self._ws_thread.start()
        self._md = serve(self._md_session, HOST, self._md_requested_port, ping_interval=None, compression=None,
                         open_timeout=5, close_timeout=1, logger=_FRAMES)
        self._md_thread = threading.Thread(target=self._md.serve_forever, name="tradovate-standin-md", daemon=True)
        self._md_thread.start()
        super().start()
        return self

    def stop(self) -> None:
        if self.stopping.is_set():
            return
        super().stop()
        for session in list(self._sockets):
            session.cut()
        for server, thread in ((self._ws, self._ws_thread), (self._md, self._md_thread)):
            if server is not None:
                server.shutdown()
            if thread is not None:
                thread.join(timeout=5)

    def advance_to(self, ts: pd.Timestamp) -> int:
        """Move the simulated clock (see `MatchingEngine.advance_to`); events go out on the sockets,
        and the trades of the tape up to `ts` go out as quotes to the market-data subscribers."""
        matched = self.engine.advance_to(ts)
        first, last = self.tape.release(pd.Timestamp(ts).value)
        if last > first:
            for session in list(self._sockets):
                session.push_quotes(first, last)
        return matched

    # --- faults -----------------------------------------------------------------------------

    def inject(self, fault: Fault | TradovateFault, *, times: int = 1, path_prefix: str = "",
               retry_after: float | None = None) -> None:
        if isinstance(fault, Fault):
            return super().inject(fault, times=times, path_prefix=path_prefix, retry_after=retry_after)
        with self._lock:
            self._own_faults.append([fault, times, path_prefix or _DEFAULT_PREFIX[fault]])

    def clear_faults(self) -> None:
        super().clear_faults()
        with self._lock:
            self._own_faults.clear()

    def _take(self, fault: TradovateFault, path: str) -> bool:
        with self._lock:
            for entry in self._own_faults:
                if entry[0] is fault and path.startswith(entry[2]) and entry[1] > 0:
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._own_faults.remove(entry)
                    return True
        return False

    # --- REST -------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Response:
        return Response.json({"errorText": message}, status)

    def respond(self, request: Request, mode: Fault | None) -> Response:
        slow = self._take(TradovateFault.SLOW, request.path)
        response = self._answer(request)
        if slow:
            self.stopping.wait(self.slow_s)  # carried out, answered too late
        return response

    def _answer(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/standin/"):
            return self._control(request)
        if not path.startswith(API + "/"):
            return self.error_body(404, f"no such endpoint {path}")
        endpoint = path[len(API) + 1:]
        body = _json(request.body)
        if endpoint == "auth/accesstokenrequest" and request.method == "POST":
            return self._login(request, body)
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if self._take(TradovateFault.TOKEN_EXPIRED, path):
            with self._lock:
                self.tokens[token] = 0.0
        if not self._valid(token):
            return self.error_body(401, "Access is denied")
        if endpoint == "auth/renewaccesstoken":
            return Response.json(self._issue())
        engine = self.engine
        with engine.lock:
            if endpoint == "account/list":
                return Response.json([engine.account])
            if endpoint == "contract/find":
                contract = engine.find_contract(request.arg("name", ""))
                return Response.json(contract) if contract else self.error_body(404, "Contract not found")
            if endpoint == "contract/item":
                contract = engine.contracts.get(int(request.arg("id", "0")))
                return Response.json(contract) if contract else self.error_body(404, "Contract not found")
            if endpoint == "position/list":
                return Response.json([p.entity() for p in engine.positions.values()])
            if endpoint == "order/list":
                return Response.json([o.entity() for o in engine.orders.values()])
            if endpoint == "order/item":
                order = engine.orders.get(int(request.arg("id", "0")))
                return Response.json(order.entity()) if order else self.error_body(404, "Order not found")
            if endpoint == "fill/list":
                return Response.json(list(engine.fills))
            if endpoint == "command/list":
                return Response.json(list(engine.commands))
            if endpoint == "cashBalance/getcashbalancesnapshot":
                return Response.json(engine.cash_snapshot())
            if endpoint in ("order/placeorder", "order/placeoso"):
                return Response.json(self._place(request, body, oso=endpoint.endswith("oso")))
            if endpoint == "order/cancelorder":
                return Response.json(engine.cancel(int(body.get("orderId") or 0)))
            if endpoint == "order/liquidateposition":
                if int(body.get("accountId") or 0) != engine.account["id"]:
                    return Response.json({"failureReason": "UnknownReason", "failureText": "unknown account"})
                return Response.json(engine.liquidate(int(body.get("contractId") or 0)))
        return self.error_body(404, f"no such endpoint {path}")

    def _login(self, request: Request, body: dict[str, Any]) -> Response:
        if self._take(TradovateFault.BAD_LOGIN, request.path):
            return Response.json({"errorText": "Incorrect username or password. Please try again."})
        if self._take(TradovateFault.PENALTY, request.path):
            ticket = secrets.token_urlsafe(24)
            with self._lock:
                self.tickets.add(ticket)
            return Response.json({"p-ticket": ticket, "p-time": self.penalty_s, "p-captcha": False})
        ticket = body.get("p-ticket")
        if ticket is not None:
            with self._lock:
                if ticket not in self.tickets:
                    return Response.json({"errorText": "Invalid p-ticket"})
                self.tickets.discard(ticket)
        expected = {"name": "name", "password": "password", "appId": "appId", "cid": "cid", "sec": "sec",
                    "deviceId": "deviceId"}
        for field_name in expected:
            if str(body.get(field_name)) != str(self.credentials.get(field_name)):
                return Response.json({"errorText": "Incorrect username or password. Please try again."})
        return Response.json(self._issue())

    def _issue(self) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        expires = self.clock() + self.token_lifetime_s
        with self._lock:
            self.tokens[token] = expires
        expiration = pd.Timestamp(expires, unit="s", tz="UTC")
        md_token = secrets.token_urlsafe(32)
        with self._lock:
            self.md_tokens[md_token] = expires
        return {"accessToken": token, "mdAccessToken": md_token,
                "expirationTime": expiration.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "userStatus": "Active", "userId": self.engine.account["userId"],
                "name": self.credentials.get("name"), "hasLive": False}

    def _valid(self, token: str, *, market_data: bool = False) -> bool:
        with self._lock:
            return bool(token) and (self.md_tokens if market_data else self.tokens).get(token, 0.0) > self.clock()

    def _place(self, request: Request, body: dict[str, Any], *, oso: bool) -> dict[str, Any]:
        engine = self.engine
        if int(body.get("accountId") or 0) != engine.account["id"]:
            return {"failureReason": "UnknownReason", "failureText": f"unknown account {body.get('accountId')}"}
        contract = engine.find_contract(str(body.get("symbol") or ""))
        if contract is None:
            return {"failureReason": "InvalidContract", "failureText": f"unknown symbol {body.get('symbol')!r}"}
        reject = "MaxPosLimitReached: the account's position limit is reached" \
            if self._take(TradovateFault.REJECT, request.path) else None
        if not body.get("isAutomated"):
            reject = reject or "UnknownReason: isAutomated must be true for an automated order"
        brackets = [body[k] for k in ("bracket1", "bracket2") if oso and isinstance(body.get(k), dict)]
        return engine.place(contract_id=contract["id"], action=body.get("action"), qty=int(body.get("orderQty") or 0),
                            order_type=body.get("orderType"), price=body.get("price"),
                            stop_price=body.get("stopPrice"), cl_ord_id=body.get("clOrdId"), brackets=brackets,
                            reject=reject, partial=self._take(TradovateFault.PARTIAL_FILL, request.path))

    def _control(self, request: Request) -> Response:
        if request.path == "/standin/advance" and request.method == "POST":
            body = _json(request.body)
            try:
                ts = pd.Timestamp(body.get("time"))
                matched = self.advance_to(ts if ts.tzinfo else ts.tz_localize("UTC"))
            except (TypeError, ValueError) as exc:
                return self.error_body(400, f"advance: expected {{\"time\": ISO timestamp}}: {exc}")
            return Response.json({"now": self.engine.now.isoformat(), "bars": matched})
        if request.path == "/standin/state":
            return Response.json({"now": self.engine.now.isoformat(), "last_close": self.engine.last_close()})
        return self.error_body(404, f"no such control {request.path}")

    # --- WebSocket --------------------------------------------------------------------------

    def _ws_session(self, connection: ServerConnection, *, market_data: bool = False) -> None:
        prefix = MD_FAULTS_PREFIX if market_data else WS_FAULTS_PREFIX
        session = _Session(self, connection, silent=self._take(TradovateFault.MISSED_HEARTBEATS, prefix),
                           market_data=market_data)
        with self._lock:
            if market_data:
                self.md_connections += 1
            else:
                self.ws_connections += 1
            self._sockets.append(session)
        try:
            session.run()
        finally:
            with self._lock:
                self._sockets.remove(session)

    def _md_session(self, connection: ServerConnection) -> None:
        self._ws_session(connection, market_data=True)

    def _broadcast(self, entity_type: str, event_type: str, entity: dict[str, Any]) -> None:
        if entity_type == "command":
            return
        for session in list(self._sockets):
            session.push({"e": "props", "d": {"entityType": entity_type, "eventType": event_type, "entity": entity}})

    def cut_websockets(self, *, market_data: bool | None = None) -> int:
        """Cut every open WebSocket now (no close frame; only the market-data or only the trading
        ones when `market_data` says); how many were cut."""
        sessions = [s for s in self._sockets if market_data is None or s.market_data == market_data]
        for session in sessions:
            session.cut()
        return len(sessions)


class _Session:
    """One WebSocket client: authorize, sync, heartbeats, then the account's events; or, on the
    market-data socket, authorize, subscribe to quotes, heartbeats, then the quotes."""

    def __init__(self, server: TradovateStandIn, connection: ServerConnection, *, silent: bool,
                 market_data: bool = False) -> None:
        self.server = server
        self.connection = connection
        self.silent = silent
        self.market_data = market_data
        self.synced = False         # trading: synced; market data: subscribed to quotes
        self.authorized = False
        self.quote_contract: int | None = None
        self._send_lock = threading.Lock()

    def run(self) -> None:
        self._send("o")
        deadline_limit = 3600.0  # a session never outlives an hour of test time
        started = time.monotonic()
        while not self.server.stopping.is_set() and time.monotonic() - started < deadline_limit:
            try:
                message = self.connection.recv(timeout=self.server.heartbeat_s)
            except TimeoutError:
                if not (self.silent and self.synced):
                    self._send("h")
                continue
            except ConnectionClosed:
                return
            if self.server._take(TradovateFault.DROP_SOCKET, MD_FAULTS_PREFIX if self.market_data else WS_FAULTS_PREFIX):
                self.cut()
                return
            if self.silent and self.synced:
                continue  # gone quiet: answers nothing, sends nothing
            self._handle(str(message))

    def _handle(self, message: str) -> None:
        if message == "[]":
            return
        endpoint, _, rest = message.partition("\n")
        request_id, _, rest = rest.partition("\n")
        _query, _, body = rest.partition("\n")
        try:
            rid = int(request_id)
        except ValueError:
            return self._send('a[{"s":400,"d":"bad request id"}]')
        if endpoint == "authorize":
            self.authorized = self.server._valid(body.strip(), market_data=self.market_data)
            return self._answer(rid, 200 if self.authorized else 401, None if self.authorized else "Access is denied")
        if not self.authorized:
            return self._answer(rid, 401, "Access is denied")
        if self.market_data:
            return self._market_data(endpoint, rid, _json(body.encode()))
        if endpoint == "user/syncrequest":
            self._answer(rid, 200, self.server.engine.sync())
            self.synced = True
            return
        self._answer(rid, 404, f"unknown endpoint {endpoint}")

    def _market_data(self, endpoint: str, rid: int, body: dict[str, Any]) -> None:
        if endpoint not in ("md/subscribeQuote", "md/unsubscribeQuote"):
            return self._answer(rid, 404, f"unknown endpoint {endpoint}")
        contract = self.server.engine.find_contract(str(body.get("symbol") or ""))
        if contract is None:
            return self._answer(rid, 400, f"Unknown symbol {body.get('symbol')!r}")
        if endpoint == "md/unsubscribeQuote":
            self.synced, self.quote_contract = False, None
            return self._answer(rid, 200, {})
        with self.server._lock:
            self.server.md_subscriptions.append(contract["name"])
        self._answer(rid, 200, {})
        self.quote_contract = contract["id"]
        self.synced = True
        snapshot = self.server.tape.snapshot(contract["id"], self.server.engine.now.value)
        self._send("a" + json.dumps([{"e": "md", "d": {"quotes": [snapshot]}}]))

    def push_quotes(self, first: int, last: int) -> None:
        """The tape's trades `first`..`last` as quote events, a batch per frame."""
        if not (self.market_data and self.synced and not self.silent) or self.quote_contract is None:
            return
        tape, contract = self.server.tape, self.quote_contract
        for start in range(first, last, QUOTES_PER_FRAME):
            quotes = [tape.quote(i, contract) for i in range(start, min(last, start + QUOTES_PER_FRAME))]
            self._send("a" + json.dumps([{"e": "md", "d": {"quotes": quotes}}]))

    def _answer(self, rid: int, status: int, data: Any) -> None:
        item: dict[str, Any] = {"s": status, "i": rid}
        if data is not None:
            item["d"] = data
        self._send("a" + json.dumps([item]))

    def push(self, event: dict[str, Any]) -> None:
        if self.synced and not self.silent and not self.market_data:
            self._send("a" + json.dumps([event]))

    def _send(self, text: str) -> None:
        try:
            with self._send_lock:
                self.connection.send(text)
        except (ConnectionClosed, OSError):
            pass

    def cut(self) -> None:
        """Drop the TCP connection without a close frame (a network failure)."""
        try:
            self.connection.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
