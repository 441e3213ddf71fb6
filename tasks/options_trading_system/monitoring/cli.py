"""Command lines of scripts/production_monitor.py and scripts/monitoring_dashboard.py.

Both read config/monitoring.json (`--config`), print `Type: message` and exit with the error's
code on any project error (2: configuration, e.g. a non-loopback host without --host).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

from ..config_manager import load_environment, load_profile
from ..errors import OptionsSystemError
from ..logging_setup import configure_logging
from ..secrets_mask import mask_secrets
from .collector import SnapshotCollector
from .config import MONITORING_FILE, MonitoringConfig, load_monitoring_config
from .control import ControlGate
from .dashboard import DashboardApp
from .monitor import ProductionMonitor, attach_rotating_log
from .server import DashboardServer
from .sources_reader import budgets_from_profile
from .system import SystemProbe

log = logging.getLogger(__name__)

__all__ = ["dashboard_main", "monitor_main", "build_collector"]


def build_collector(config: MonitoringConfig, env: Mapping[str, str], *, probe: bool = True) -> SnapshotCollector:
    """The snapshot reader with the budgets of `budgets_profile` and (optionally) the machine probe."""
    budgets = budgets_from_profile(load_profile(config.budgets_profile, env=dict(env)))
    system = SystemProbe(config.monitoring_dir, cpu_sample_s=config.cpu_sample_s) if probe else None
    return SnapshotCollector(config, budgets=budgets, probe=system)


def monitor_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="production_monitor.py",
        description="Sample the shadow runs, data sources, spend and machine every interval into "
                    "outputs/monitoring/metrics_history.sqlite (30-day retention), the latest snapshot into "
                    "production_metrics.json, alerts.json and monitor.log.")
    _common(parser)
    parser.add_argument("--once", action="store_true", help="take one sample and exit")
    parser.add_argument("--interval", type=float, metavar="S", help="seconds between samples (default: interval_s)")
    parser.add_argument("--samples", type=int, metavar="N", help="stop after N samples")
    args = parser.parse_args(argv)
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    try:
        config = _config(args)
        if args.interval is not None:
            if args.interval <= 0:
                parser.error("--interval must be above 0 seconds")
            config = replace(config, interval_s=args.interval)
        handler = attach_rotating_log(config)
        try:
            monitor = ProductionMonitor(config, build_collector(config, load_environment()))
            if args.once:
                result = monitor.sample_once()
                print(f"sample {result.sample['ts']}: health {result.health}, "
                      f"{len(result.events)} alert change(s), {result.samples_kept} sample(s) kept in "
                      f"{config.metrics_file}")
                return 0
            stop = threading.Event()
            _stop_on_signals(stop)
            print(f"monitoring every {config.interval_s:g} s into {config.monitoring_dir} (Ctrl-C stops)")
            monitor.run(max_samples=args.samples, stop=stop)
            return 0
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
    except OptionsSystemError as exc:
        print(mask_secrets(f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return exc.exit_code


def dashboard_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="monitoring_dashboard.py",
        description="Serve the monitoring dashboard (default http://127.0.0.1:8080/) with uvicorn; open pages get "
                    "fresh figures pushed (server-sent events), and outputs/monitoring/dashboard.html is rewritten as "
                    "a static copy.")
    _common(parser)
    parser.add_argument("--host", help="address to bind (default: dashboard.host, 127.0.0.1); a non-loopback "
                                       "address is only bound when given here, with a warning")
    parser.add_argument("--port", type=int, help="port (default: dashboard.port, 8080; 0 picks a free one)")
    parser.add_argument("--write-once", action="store_true",
                        help="write outputs/monitoring/dashboard.html once and exit, without serving")
    args = parser.parse_args(argv)
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    host, port = args.host, args.port
    try:
        config = _config(args)
        env = load_environment()
        app = DashboardApp(config, build_collector(config, env), ControlGate.from_env(config.control_token_env, env))
        if args.write_once:
            app.refresh()
            print(f"wrote {config.dashboard_file}")
            return 0
        host = args.host if args.host is not None else config.dashboard.host
        port = args.port if args.port is not None else config.dashboard.port
        server = DashboardServer(app, host, port, explicit_host=args.host is not None)
    except OptionsSystemError as exc:
        print(mask_secrets(f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"OSError: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if not server.loopback_only:
        print(f"WARNING: the dashboard listens on {host}, not only on this machine: anyone who can reach it sees the "
              f"run's figures{'; halt/resume still need the token' if app.gate.enabled else ''}", file=sys.stderr)
    control = "on" if app.gate.enabled else f"off (set {config.control_token_env} to turn it on)"
    print(f"dashboard on {server.url} (control {control}); Ctrl-C stops", flush=True)
    stop = threading.Event()
    _stop_on_signals(stop)        # uvicorn takes Ctrl-C/SIGTERM while serving and hands them back here after
    server.start_refresher()
    try:
        server.serve_forever()
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=MONITORING_FILE,
                        help="monitoring configuration (default: config/monitoring.json)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to the console")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only errors to the console")


def _config(args: argparse.Namespace) -> MonitoringConfig:
    return load_monitoring_config(args.config)


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT/SIGTERM set `stop`, so the loop ends between samples and files stay whole."""
    def handler(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
