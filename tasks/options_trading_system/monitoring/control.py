"""Halt, resume and emergency-stop a shadow or limited-live run from the dashboard, with a token,
through the run's ledger.

The token lives only in the environment variable named in config/monitoring.json
(`control.token_env`); with none set, control is off and says so. A request carries it as
`Authorization: Bearer <token>`; it is compared in constant time and never logged or echoed.
An accepted request is one control record in the run's ledger (`Ledger.request_control`); the
orchestrator obeys it within one cycle and marks it applied, which the dashboard then shows.

`flatten` (the emergency stop) does more, as `run_shadow_trading.py --flatten` does: in the same
request it records the run's risk engine HALTED in the ledger (`RiskEngine.halt` on the ledger's
`risk_state`), so every order is refused from that moment, whatever the run is doing, and the
running orchestrator (or, for a stopped run, its next start) cancels every working order and
flattens every position. It is accepted for a running, interrupted or failed run (a stopped run
may still hold positions at a broker); halt and resume only for a running one.
"""
from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..analysis_engine.strategies.guards import RiskConfig, RiskEngine, SqliteRiskStore
from ..analysis_engine.strategies.guards.config import CostPerSignalConfig, DataCostConfig
from ..state.ledger import (CONTROL_FLATTEN, CONTROL_HALT, CONTROL_RESUME, RUN_FAILED, RUN_INTERRUPTED, RUN_RUNNING,
                            Ledger)
from .ledger_reader import ledger_path, read_run

log = logging.getLogger(__name__)

#: flatten = the emergency stop: halt, cancel every working order, flatten every position
ACTIONS = (CONTROL_HALT, CONTROL_RESUME, CONTROL_FLATTEN)
MAX_REASON_CHARS = 200
#: the run statuses each action is accepted for
ACCEPTED_STATUSES = {CONTROL_HALT: (RUN_RUNNING,), CONTROL_RESUME: (RUN_RUNNING,),
                     CONTROL_FLATTEN: (RUN_RUNNING, RUN_INTERRUPTED, RUN_FAILED)}

__all__ = ["ACTIONS", "ControlGate", "ControlRefused", "send_control"]


class ControlRefused(Exception):
    """A control request that cannot be carried out; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ControlGate:
    """Who may halt/resume: whoever presents the token from `token_env`. No token: control off."""

    token_env: str
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, token_env: str, env: Mapping[str, str]) -> "ControlGate":
        token = env.get(token_env) or None
        return cls(token_env=token_env, token=token)

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def status(self) -> dict[str, Any]:
        """For the page: on/off and, when off, how to turn it on."""
        if self.enabled:
            return {"enabled": True, "reason": ""}
        return {"enabled": False, "reason": f"no control token is configured; set the environment variable "
                                            f"{self.token_env} (or put it in .env) before starting the dashboard"}

    def authorized(self, authorization: str | None) -> bool:
        """True when the `Authorization` header is `Bearer <the token>` (constant-time compare)."""
        if not self.enabled or not authorization:
            return False
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return False
        return hmac.compare_digest(presented.strip().encode(), str(self.token).encode())


def send_control(runs_dir: Path, run_id: str, action: str, *, reason: str, requested_by: str,
                 now: pd.Timestamp, stale_after_s: float) -> dict[str, Any]:
    """Write a control record to a run's ledger (and for `flatten` halt its risk engine there);
    `ControlRefused` says why not."""
    if action not in ACTIONS:
        raise ControlRefused(404, f"unknown control action {action!r} (expected one of {', '.join(ACTIONS)})")
    try:
        path = ledger_path(runs_dir, run_id)
    except Exception as exc:  # a malformed id is the caller's mistake
        raise ControlRefused(400, str(exc)) from exc
    if not path.is_file():
        raise ControlRefused(404, f"no run {run_id!r} under {runs_dir}")
    run = read_run(path, now=now, stale_after_s=stale_after_s, signal_rows=1).summary
    if run["status"] not in ACCEPTED_STATUSES[action]:
        raise ControlRefused(409, f"run {run_id} is {run['status']}, not running: there is nothing to {action}")
    reason = reason.strip()[:MAX_REASON_CHARS]
    ledger = Ledger.open_existing(path)
    try:
        if action == CONTROL_FLATTEN:
            _halt_risk_engine(ledger, by=requested_by, reason=reason or "emergency stop", now=now)
        control_id = ledger.request_control(action, reason=reason, requested_by=requested_by, requested_at=now)
    finally:
        ledger.close()
    log.warning("control: %s requested for run %s by %s (record %d)%s", action, run_id, requested_by, control_id,
                f": {reason}" if reason else "")
    return {"control_id": control_id, "run_id": run_id, "action": action, "reason": reason,
            "requested_at": pd.Timestamp(now).isoformat(), "requested_by": requested_by}


def _halt_risk_engine(ledger: Ledger, *, by: str, reason: str, now: pd.Timestamp) -> None:
    """The run's risk engine HALTED in its ledger now (a halt reads no guard, so none is configured)."""
    engine = RiskEngine(RiskConfig(data_cost=DataCostConfig(enabled=False),
                                   cost_per_signal=CostPerSignalConfig(enabled=False)),
                        store=SqliteRiskStore(ledger.connection))
    engine.halt(by=by, reason=f"emergency stop: {reason}", now=pd.Timestamp(now))
