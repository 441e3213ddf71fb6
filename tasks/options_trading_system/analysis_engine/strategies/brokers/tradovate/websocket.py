"""Tradovate's trading WebSocket: the shared protocol session (`data_ingestion.tradovate`) plus
the account's sync and its `props` events.

After authorizing, `user/syncrequest {users: [userId]}` answers the account's whole state and
subscribes to its `props` events `{entityType, eventType, entity}`. A session that dies is
reconnected, authorized and synced again (see `data_ingestion/tradovate/socket.py` for the
heartbeats, the backoff and when it gives up, `failed`).
"""
from __future__ import annotations

from typing import Any, Callable

from websockets.sync.client import connect as ws_connect

from .....data_ingestion.tradovate import SessionEnded, SocketSettings, TradovateSession, request
from ...execution.broker import BrokerError
from .config import TradovateConfig

_SYNC_ID = 1


class TradovateSocket(TradovateSession):
    """Authorize, sync, keep alive, deliver events; reconnect and resync when the socket dies."""

    reconnected_note = "reconnected and resynced"

    def __init__(self, config: TradovateConfig, *, token: Callable[[], str], renew: Callable[[], None],
                 user_id: Callable[[], int | None], on_sync: Callable[[dict[str, Any]], None],
                 on_event: Callable[[dict[str, Any]], None], on_connection: Callable[[str], None],
                 connect: Callable[..., Any] = ws_connect) -> None:
        settings = SocketSettings(url=config.ws_base, heartbeat_s=config.heartbeat_s,
                                  server_timeout_s=config.server_timeout_s, reconnect_wait_s=config.reconnect_wait_s,
                                  reconnect_max_wait_s=config.reconnect_max_wait_s,
                                  reconnect_attempts=config.reconnect_attempts)
        super().__init__(settings, token=token, renew=renew, on_connection=on_connection, connect=connect,
                         failures=(BrokerError,))
        self.config = config
        self._user_id = user_id
        self._on_sync = on_sync
        self._on_event = on_event

    def wait_synced(self, timeout: float) -> bool:
        """True once the (current) session has synced, within `timeout` seconds."""
        return self.ready.wait(timeout)

    @property
    def synced(self) -> bool:
        return self.ready.is_set()

    def opened(self, ws: Any) -> dict[str, Any]:
        ws.send(request("user/syncrequest", _SYNC_ID, {"users": [self._user_id()]}))
        status, state = self.await_answer(ws, _SYNC_ID)
        if status != 200 or not isinstance(state, dict):
            raise SessionEnded(f"user/syncrequest answered status {status}")
        return state

    def established(self, result: dict[str, Any], *, reconnect: bool) -> None:
        self._on_sync(result)

    def dispatch(self, item: dict[str, Any]) -> None:
        if item.get("e") == "props" and isinstance(item.get("d"), dict):
            self._on_event(item["d"])
