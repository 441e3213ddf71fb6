"""Tradovate's WebSocket protocol in a background thread (the `websockets` sync client).

The protocol: the server opens with `o`, sends `h` heartbeats and `a[...]` JSON arrays (answers
`{s, i, d}` and events `{e, d}`), and `c` when it closes. The client sends
`authorize\\n0\\n\\n<token>` first, then requests as `endpoint\\nid\\nquery\\nbody`, and `[]` as its own
heartbeat every `heartbeat_s`. The trading socket and the market-data socket speak it alike; what
follows the authorization differs (`opened`: a sync, a quote subscription) and so do the events
(`dispatch`).

A dropped connection, a `c` frame, or no frame from the server for `server_timeout_s` (missed
heartbeats) ends the session; the thread reconnects with exponential backoff, authorizes and
opens again, and reports each step through `on_connection(note)`. After `reconnect_attempts`
consecutive failures it stops and says so (`failed`), so a dead server is noticed instead of
retried for ever; a refusal no retry can cure (`SessionRefused`) stops it at once.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect as ws_connect

log = logging.getLogger(__name__)
#: the websockets library's own logger for our connections: frames carry the access token, so it
#: never logs at DEBUG (where websockets writes every frame), whatever the root level is
FRAMES = logging.getLogger(f"{__name__}.frames")
FRAMES.setLevel(logging.INFO)


@dataclass(frozen=True)
class SocketSettings:
    """Where the socket is and how patiently to keep it."""

    url: str
    heartbeat_s: float = 2.5              # the client's `[]` heartbeat
    server_timeout_s: float = 10.0        # no frame from the server this long = a dead socket
    reconnect_wait_s: float = 0.5         # first reconnect wait, doubled each failure
    reconnect_max_wait_s: float = 30.0
    reconnect_attempts: int = 20          # consecutive failed reconnects before giving up


class SessionEnded(Exception):
    """The session is over (closed, silent, refused for now): reconnect."""


class SessionRefused(Exception):
    """The server refused something no reconnect can cure (an unknown symbol): stop."""


def request(endpoint: str, request_id: int, body: Any = None, query: str = "") -> str:
    """One request frame: `endpoint\\nid\\nquery\\nbody` (the body as JSON, empty when None)."""
    return f"{endpoint}\n{request_id}\n{query}\n{'' if body is None else json.dumps(body)}"


def parse_frame(frame: Any) -> list[dict[str, Any]]:
    """The items of one server frame (`o`/`h` carry none); a `c` frame raises SessionEnded."""
    text = frame.decode() if isinstance(frame, bytes) else str(frame)
    if text in ("h", "o"):
        return []
    if text.startswith("c"):
        raise SessionEnded(f"the server closed the session {text[1:200]}".strip())
    if not text.startswith("a"):
        log.debug("Tradovate WebSocket: ignoring a frame starting %r", text[:1])
        return []
    items = json.loads(text[1:])
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


class TradovateSession:
    """Authorize, open (subclass), keep alive, deliver items; reconnect when the socket dies.

    Subclasses implement `opened(ws)` (what to ask right after the authorization, waiting for the
    answers with `await_answer`; what it returns goes to `established`), `established(result,
    reconnect=...)` (the session counts in `sessions`; take the answers in) and `dispatch(item)`
    (an event, or an answer nobody waits for). `ready` is set while an established session runs;
    after a reconnect, `on_connection(reconnected_note)` says so. `failures` (the errors of a lower layer, e.g. a
    failed token renewal) end a session the way a dropped connection does."""

    name = "Tradovate WebSocket"
    reconnected_note = "reconnected"

    def __init__(self, settings: SocketSettings, *, token: Callable[[], str], renew: Callable[[], None],
                 on_connection: Callable[[str], None], connect: Callable[..., Any] = ws_connect,
                 failures: tuple[type[BaseException], ...] = ()) -> None:
        self.settings = settings
        self._token = token
        self._renew = renew
        self._on_connection = on_connection
        self._connect = connect
        self._failures = failures
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: Any = None
        self.sessions = 0
        self.failed = False
        self.refusal: str | None = None
        self._was_ready = False   # the session that just ended had opened: the failure count restarts

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.failed = False
        self._thread = threading.Thread(target=self._run, name=self.name.lower().replace(" ", "-"), daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close()
            except Exception:  # closing a broken socket: nothing left to do
                pass
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- for subclasses -------------------------------------------------------------------------

    def opened(self, ws: Any) -> Any:
        """Right after the authorization: ask what the session is for (SessionEnded if refused)."""
        return None

    def established(self, result: Any, *, reconnect: bool) -> None:
        """The session is open (counted in `sessions`): take in what `opened` returned."""

    def dispatch(self, item: dict[str, Any]) -> None:
        """One item that is not the answer awaited: an event, or an answer nobody waits for."""

    def await_answer(self, ws: Any, request_id: int) -> tuple[int, Any]:
        """The status and data of the answer to `request_id` (items met meanwhile are dispatched)."""
        deadline = time.monotonic() + self.settings.server_timeout_s
        while time.monotonic() < deadline and not self._stop.is_set():
            frame = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            for item in parse_frame(frame):
                if item.get("i") == request_id and "e" not in item:
                    return int(item.get("s", 0)), item.get("d")
                self._dispatch(item)
        raise SessionEnded(f"no answer to request {request_id} within {self.settings.server_timeout_s:g} s")

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._session(reconnect=self.sessions > 0)
            except SessionRefused as exc:
                self.ready.clear()
                self._ws = None
                # logged first: once `failed` is set or the note is out, a caller waiting on them may
                # end (and a test's log capture with it); both are set before the note ends the feed
                log.error("%s refused: %s", self.name, exc)
                self.failed = True
                self.refusal = str(exc)
                self._on_connection(f"refused: {exc}")
                break
            except (SessionEnded, ConnectionClosed, InvalidHandshake, InvalidURI, OSError, TimeoutError,
                    ValueError, *self._failures) as exc:
                self.ready.clear()
                self._ws = None
                if self._stop.is_set():
                    break
                reason = _reason(exc)
                failures = 0 if self._was_ready else failures + 1
                self._was_ready = False
                log.warning("%s lost: %s", self.name, reason)
                self._on_connection(f"disconnected: {reason}")
                if failures > self.settings.reconnect_attempts:
                    log.error("%s: giving up after %d failed reconnects", self.name, failures - 1)
                    self.failed = True
                    self._on_connection(f"gave up after {failures - 1} failed reconnects")
                    break
                wait = min(self.settings.reconnect_max_wait_s,
                           self.settings.reconnect_wait_s * 2 ** max(0, failures - 1))
                self._stop.wait(wait)
        self.ready.clear()

    def _session(self, *, reconnect: bool) -> None:
        timeout = self.settings.server_timeout_s
        with self._connect(self.settings.url, open_timeout=timeout, close_timeout=1, ping_interval=None,
                           compression=None, proxy=None, logger=FRAMES) as ws:
            self._ws = ws
            if self._stop.is_set():
                return
            opening = ws.recv(timeout=timeout)
            if opening != "o":
                raise SessionEnded(f"expected the open frame 'o', got {str(opening)[:20]!r}")
            ws.send(f"authorize\n0\n\n{self._token()}")
            status, _ = self.await_answer(ws, 0)
            if status != 200:
                self._renew()
                raise SessionEnded(f"authorization refused (status {status})")
            result = self.opened(ws)
            self.sessions += 1
            self.established(result, reconnect=reconnect)
            self._was_ready = True
            self.ready.set()
            if reconnect:
                self._on_connection(self.reconnected_note)
            self._pump(ws)

    def _pump(self, ws: Any) -> None:
        heartbeat, silence = self.settings.heartbeat_s, self.settings.server_timeout_s
        now = time.monotonic()
        next_beat, last_frame = now + heartbeat, now
        while not self._stop.is_set():
            wait = max(0.01, min(next_beat, last_frame + silence) - time.monotonic())
            try:
                frame = ws.recv(timeout=wait)
            except TimeoutError:
                frame = None
            now = time.monotonic()
            if frame is not None:
                last_frame = now
                for item in parse_frame(frame):
                    self._dispatch(item)
            if now >= next_beat:
                ws.send("[]")
                next_beat = now + heartbeat
            if now - last_frame > silence:
                raise SessionEnded(f"no frame from the server for {silence:g} s (missed heartbeats)")

    def _dispatch(self, item: dict[str, Any]) -> None:
        if item.get("e") == "shutdown":
            raise SessionEnded("the server announced a shutdown")
        self.dispatch(item)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        return "connection dropped"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
