"""Tradovate's trading WebSocket in a background thread (the `websockets` sync client).

The protocol: the server opens with `o`, sends `h` heartbeats and `a[...]` JSON arrays (answers
`{s, i, d}` and events `{e, d}`), and `c` when it closes. The client sends
`authorize\\n0\\n\\n<token>` first, then requests as `endpoint\\nid\\nquery\\nbody`, and `[]` as its own
heartbeat every `heartbeat_s`. After authorizing, `user/syncrequest {users: [userId]}` answers the
account's whole state and subscribes to its `props` events `{entityType, eventType, entity}`.

A dropped connection, a `c` frame, or no frame from the server for `server_timeout_s` (missed
heartbeats) ends the session; the thread reconnects with exponential backoff and syncs again, and
reports each step through `on_connection(note)`. After `reconnect_attempts` consecutive failures it
stops and says so (`failed`), so a dead broker is noticed instead of retried for ever.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect as ws_connect

from ...execution.broker import BrokerError
from .config import TradovateConfig

log = logging.getLogger(__name__)
#: the websockets library's own logger for our connections: frames carry the access token, so it
#: never logs at DEBUG (where websockets writes every frame), whatever the root level is
_FRAMES = logging.getLogger(f"{__name__}.frames")
_FRAMES.setLevel(logging.INFO)

_SYNC_ID = 1


class _Dead(Exception):
    """The session is over (closed, silent, refused): reconnect."""


class TradovateSocket:
    """Authorize, sync, keep alive, deliver events; reconnect and resync when the socket dies."""

    def __init__(self, config: TradovateConfig, *, token: Callable[[], str], renew: Callable[[], None],
                 user_id: Callable[[], int | None], on_sync: Callable[[dict[str, Any]], None],
                 on_event: Callable[[dict[str, Any]], None], on_connection: Callable[[str], None],
                 connect: Callable[..., Any] = ws_connect) -> None:
        self.config = config
        self._token = token
        self._renew = renew
        self._user_id = user_id
        self._on_sync = on_sync
        self._on_event = on_event
        self._on_connection = on_connection
        self._connect = connect
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: Any = None
        self.sessions = 0
        self.failed = False
        self._was_synced = False   # the session that just ended had synced: the failure count restarts

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.failed = False
        self._thread = threading.Thread(target=self._run, name="tradovate-websocket", daemon=True)
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

    def wait_synced(self, timeout: float) -> bool:
        """True once the (current) session has synced, within `timeout` seconds."""
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._session(reconnect=self.sessions > 0)
            except (_Dead, ConnectionClosed, InvalidHandshake, InvalidURI, OSError, TimeoutError, BrokerError,
                    ValueError) as exc:
                self._synced.clear()
                self._ws = None
                if self._stop.is_set():
                    break
                reason = _reason(exc)
                failures = 0 if self._was_synced else failures + 1
                self._was_synced = False
                log.warning("Tradovate WebSocket lost: %s", reason)
                self._on_connection(f"disconnected: {reason}")
                if failures > self.config.reconnect_attempts:
                    self.failed = True
                    self._on_connection(f"gave up after {failures - 1} failed reconnects")
                    log.error("Tradovate WebSocket: giving up after %d failed reconnects", failures - 1)
                    break
                wait = min(self.config.reconnect_max_wait_s, self.config.reconnect_wait_s * 2 ** max(0, failures - 1))
                self._stop.wait(wait)
        self._synced.clear()

    def _session(self, *, reconnect: bool) -> None:
        timeout = self.config.server_timeout_s
        with self._connect(self.config.ws_base, open_timeout=timeout, close_timeout=1, ping_interval=None,
                           compression=None, proxy=None, logger=_FRAMES) as ws:
            self._ws = ws
            if self._stop.is_set():
                return
            opening = ws.recv(timeout=timeout)
            if opening != "o":
                raise _Dead(f"expected the open frame 'o', got {str(opening)[:20]!r}")
            ws.send(f"authorize\n0\n\n{self._token()}")
            status, _ = self._await(ws, 0)
            if status != 200:
                self._renew()
                raise _Dead(f"authorization refused (status {status})")
            user_id = self._user_id()
            ws.send(f"user/syncrequest\n{_SYNC_ID}\n\n{json.dumps({'users': [user_id]})}")
            status, state = self._await(ws, _SYNC_ID)
            if status != 200 or not isinstance(state, dict):
                raise _Dead(f"user/syncrequest answered status {status}")
            self.sessions += 1
            self._on_sync(state)
            self._was_synced = True
            self._synced.set()
            if reconnect:
                self._on_connection("reconnected and resynced")
            self._pump(ws)

    def _await(self, ws: Any, request_id: int) -> tuple[int, Any]:
        deadline = time.monotonic() + self.config.server_timeout_s
        while time.monotonic() < deadline and not self._stop.is_set():
            frame = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            for item in self._items(frame):
                if item.get("i") == request_id and "e" not in item:
                    return int(item.get("s", 0)), item.get("d")
                self._dispatch(item)
        raise _Dead(f"no answer to request {request_id} within {self.config.server_timeout_s:g} s")

    def _pump(self, ws: Any) -> None:
        heartbeat, silence = self.config.heartbeat_s, self.config.server_timeout_s
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
                for item in self._items(frame):
                    self._dispatch(item)
            if now >= next_beat:
                ws.send("[]")
                next_beat = now + heartbeat
            if now - last_frame > silence:
                raise _Dead(f"no frame from the server for {silence:g} s (missed heartbeats)")

    def _items(self, frame: Any) -> list[dict[str, Any]]:
        text = frame.decode() if isinstance(frame, bytes) else str(frame)
        if text in ("h", "o"):
            return []
        if text.startswith("c"):
            raise _Dead(f"the server closed the session {text[1:200]}".strip())
        if not text.startswith("a"):
            log.debug("Tradovate WebSocket: ignoring a frame starting %r", text[:1])
            return []
        items = json.loads(text[1:])
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    def _dispatch(self, item: dict[str, Any]) -> None:
        event = item.get("e")
        if event == "props" and isinstance(item.get("d"), dict):
            self._on_event(item["d"])
        elif event == "shutdown":
            raise _Dead("the server announced a shutdown")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        return "connection dropped"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
