"""The dashboard application: snapshot + monitor files -> view -> HTML and JSON. No sockets here.

`DashboardApp.refresh` reads a fresh snapshot (the same `SnapshotCollector` the monitor uses,
so figures move within `refresh_s` of the ledger changing), the monitor's samples (SQLite) and
alerts, builds the view, renders the page and its live fragment ONCE, and writes the static copy
outputs/monitoring/dashboard.html (with plotly.min.js and dashboard.js beside it, so it opens
anywhere without a network). Requests are answered from that rendered state: a refresh happens
at most every `refresh_s` whatever the number of requests, and while one refresh runs other
requests get the previous state instead of waiting. Each refresh gets a new `version`, which the
server's event stream pushes to open pages.
Templates are rendered with autoescape on: every text from data (signal and source names, alert
messages, reasons, chart labels) is escaped. Every rendered page and fragment (and so every event
the server pushes) and the static copy have the values of secret variables masked
(`secrets_mask.mask_secrets`: a key that reached a profile description, a ledger note or an export
is shown as `********`); the server masks its JSON answers the same way.
"""
from __future__ import annotations

import gzip
import logging
import threading
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2
import pandas as pd

from ..secrets_mask import mask_secrets
from ..state.atomic import atomic_write_bytes, atomic_write_text
from ..state.ledger import CONTROL_FLATTEN, CONTROL_HALT
from .collector import SnapshotCollector
from .config import MonitoringConfig
from .control import ControlGate, ControlRefused, send_control
from .formatting import FILTERS
from .plotly_js import write_plotly_js
from .store import MetricsStore, jsonable, read_json
from .view import build_view

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE_TEMPLATE = "dashboard.html.j2"
FRAGMENT_TEMPLATE = "dashboard_body.html.j2"

__all__ = ["DashboardApp", "environment"]


def environment() -> jinja2.Environment:
    """jinja2 with autoescape for every template and the dashboard's number filters."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    env.filters["sign_class"] = lambda v: "" if v is None or v != v or v == 0 else ("pos" if v > 0 else "neg")
    return env


@dataclass(frozen=True)
class _Cached:
    version: int
    at: pd.Timestamp
    latest: dict[str, Any]
    history: list[dict[str, Any]]
    alerts: dict[str, Any] | None
    monitor_updated_at: str | None
    view: dict[str, Any]
    page: bytes
    fragment: bytes
    page_gzip: bytes        # the same, compressed once here rather than once per request
    fragment_gzip: bytes


class DashboardApp:
    """Everything the server answers, from the real state. `clock` returns UTC now."""

    def __init__(self, config: MonitoringConfig, collector: SnapshotCollector, gate: ControlGate, *,
                 clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
                 write_static: bool = True) -> None:
        self.config = config
        self.collector = collector
        self.gate = gate
        self.clock = clock
        self.write_static = write_static
        self.env = environment()
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self._assets_written = False
        self.store = MetricsStore(config.metrics_file, retention_days=config.retention_days,
                                  history_path=config.history_file)

    @property
    def refresh_s(self) -> float:
        return self.config.dashboard.refresh_s

    # --- state ----------------------------------------------------------------------------------

    def refresh(self) -> _Cached:
        """Read everything afresh, rebuild the view, write the static copy; returns the new state."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> _Cached:
        now = self.clock()
        latest = jsonable(self.collector.collect(now))
        metrics = self.store.snapshot()
        history = self.store.samples(since=now - pd.Timedelta(hours=self.config.dashboard.history_hours))
        alerts = read_json(self.config.alerts_file)
        view = build_view(latest, history=history, alerts=alerts, monitor_updated_at=metrics.get("updated_at"),
                          config=self.config, now=now, live=True, control=self.gate.status())
        page = mask_secrets(self.env.get_template(PAGE_TEMPLATE).render(v=view)).encode()
        fragment = mask_secrets(self.env.get_template(FRAGMENT_TEMPLATE).render(v=view)).encode()
        self._cached = _Cached(
            version=(self._cached.version + 1) if self._cached else 1, at=now, latest=latest, history=history,
            alerts=alerts, monitor_updated_at=metrics.get("updated_at"), view=view, page=page, fragment=fragment,
            page_gzip=gzip.compress(page, compresslevel=5, mtime=0),
            fragment_gzip=gzip.compress(fragment, compresslevel=5, mtime=0))
        if self.write_static:
            self._write_static(view)
        return self._cached

    def _write_static(self, view: dict[str, Any]) -> None:
        """dashboard.html, and (once per process) the two scripts it loads from beside it."""
        folder = self.config.dashboard_file.parent
        if not self._assets_written:
            write_plotly_js(folder)
            atomic_write_bytes(folder / "dashboard.js", (STATIC_DIR / "dashboard.js").read_bytes())
            self._assets_written = True
        static = dict(view, live=False, assets="")
        page = mask_secrets(self.env.get_template(PAGE_TEMPLATE).render(v=static))
        atomic_write_text(self.config.dashboard_file, page)

    def current(self) -> _Cached:
        """The newest state, refreshed first when it is older than `refresh_s`.

        Only the first request ever waits for a refresh; when one is already running, the
        previous state is answered (it is at most one refresh old)."""
        cached = self._cached
        if cached is not None and (self.clock() - cached.at).total_seconds() < self.refresh_s:
            return cached
        if cached is None:
            with self._lock:                       # the first requests: one refresh, the others wait for it
                return self._cached or self._refresh_locked()
        if not self._lock.acquire(blocking=False):
            return cached
        try:
            return self._refresh_locked()
        finally:
            self._lock.release()

    def fresh(self) -> _Cached | None:
        """The rendered state when it is younger than `refresh_s`, else None (no I/O: safe on an event loop)."""
        cached = self._cached
        if cached is not None and (self.clock() - cached.at).total_seconds() < self.refresh_s:
            return cached
        return None

    @property
    def version(self) -> int:
        """The number of the newest rendered state (0 before the first refresh)."""
        cached = self._cached
        return cached.version if cached else 0

    # --- answers --------------------------------------------------------------------------------

    def page_html(self) -> bytes:
        """The whole page, as rendered at the last refresh (UTF-8)."""
        return self.current().page

    def fragment_html(self) -> bytes:
        """The page's live part, as rendered at the last refresh (UTF-8)."""
        return self.current().fragment

    def metrics_payload(self) -> dict[str, Any]:
        """The live snapshot and the monitor's samples of the history window."""
        cached = self.current()
        return {"latest": cached.latest, "samples": cached.history, "monitor_updated_at": cached.monitor_updated_at}

    def alerts_payload(self) -> dict[str, Any]:
        cached = self.current()
        alerts = cached.alerts or {}
        return {"health": alerts.get("health", "ok"), "updated_at": alerts.get("updated_at"),
                "active": alerts.get("active", []), "events": alerts.get("events", []),
                "monitor_updated_at": cached.monitor_updated_at}

    def health_payload(self) -> dict[str, Any]:
        cached = self.current()
        view = cached.view
        return {"status": "up", "health": view["health"], "as_of": cached.latest["ts"],
                "active_run": cached.latest.get("active_run_id"),
                "run_state": view["run"]["state"] if view["run"] else None,
                "risk_state": (view["run"].get("risk") or {}).get("state") if view["run"] else None,
                "monitor_updated_at": cached.monitor_updated_at, "monitor_age_s": view["monitor"]["age_s"],
                "control_enabled": self.gate.enabled}

    def control(self, action: str, authorization: str | None, body: Mapping[str, Any],
                client: str = "dashboard") -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for POST /api/control/<action>."""
        if not self.gate.enabled:
            return HTTPStatus.FORBIDDEN, {"error": f"control is off: {self.gate.status()['reason']}"}
        if not self.gate.authorized(authorization):
            return HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong control token (send Authorization: Bearer "
                                                      "<token>)"}
        run_id = str(body.get("run_id") or self.current().latest.get("active_run_id") or "")
        if not run_id:
            return HTTPStatus.CONFLICT, {"error": "no run is active: there is nothing to " + action}
        try:
            record = send_control(self.config.shadow_runs_dir, run_id, action, reason=str(body.get("reason") or ""),
                                  requested_by=client, now=self.clock(), stale_after_s=self.config.run_stale_after_s)
        except ControlRefused as exc:
            return exc.status, {"error": str(exc)}
        self.refresh()
        if action == CONTROL_FLATTEN:
            message = (f"emergency stop for run {run_id}: its risk engine is HALTED now (every order refused); at "
                       f"its next cycle the run cancels every working order and flattens every position")
        else:
            what = "stops new signals and orders (open positions are still tracked)" if action == CONTROL_HALT \
                else "takes new signals and orders again (its risk engine back to ACTIVE)"
            message = f"{action} requested for run {run_id}: at its next cycle the run {what}"
        return HTTPStatus.OK, {"ok": True, "record": record, "message": message}

