#!/usr/bin/env python3
"""Serve local stand-ins for Barchart, Databento, Polygon and Tradovate, and point the pipeline at them.

The stand-ins speak each vendor's protocol on 127.0.0.1 and serve the real recordings in
../shared/data (see tests/vendor_servers/standins.py). The script writes a profile with their
URLs (`<dir>/standins.json`) and prints the environment the pipeline needs (the stand-ins' demo
keys and their TLS certificate). Then either:

    python3 scripts/serve_vendor_standins.py --run                     # one pipeline run against them
    python3 scripts/serve_vendor_standins.py --run --fault barchart=down --fault databento=http_500
    python3 scripts/serve_vendor_standins.py --serve-seconds 600       # keep serving; run it yourself

Faults (persistent, on the vendor's data requests): down (the server is stopped), hang, http_500,
http_429, http_401, http_403, truncate, malformed, empty, scale_1000. The run uses the stand-ins'
trading day, 2025-06-02, with the clock set just after the recording (`--now`: Barchart and
Polygon serve only the present), and writes under --output-dir (default outputs/standins/outputs).

Tradovate (REST + trading WebSocket on the real NQ minute bars, or with --tradovate-replay DIR on
that recording's own price path; demo credentials in the printed
environment, broker settings in <dir>/tradovate.json; its simulated clock moves with
`POST <url>/standin/advance {"time": ISO}`) also takes: bad_login, penalty, token_expired, reject,
partial_fill, slow, drop_socket, missed_heartbeats (e.g. --fault tradovate=penalty).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the project and its tests/vendor_servers helpers

from tests.vendor_servers.base import Fault  # noqa: E402
from tests.vendor_servers.standins import DEMO_DATE, DEMO_NOW, start_standins  # noqa: E402
from tests.vendor_servers.tradovate_server import TradovateFault  # noqa: E402

VENDORS = ("barchart", "databento", "polygon", "tradovate")
MAX_SERVE_SECONDS = 24 * 3600


def parse_fault(text: str) -> tuple[str, str]:
    vendor, _, fault = text.partition("=")
    allowed = {f.value for f in Fault} | {"down"} | ({f.value for f in TradovateFault} if vendor == "tradovate" else set())
    if vendor not in VENDORS or fault not in allowed:
        raise argparse.ArgumentTypeError(f"{text!r}: expected VENDOR=FAULT with VENDOR in {', '.join(VENDORS)} "
                                         f"and FAULT in {', '.join(sorted(allowed))}")
    return vendor, fault


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--dir", type=Path, default=ROOT / "outputs" / "standins",
                        help="where the profile and the certificate are written (default outputs/standins)")
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="the real recordings (default ../shared/data)")
    parser.add_argument("--fault", type=parse_fault, action="append", default=[], metavar="VENDOR=FAULT",
                        help="make a vendor misbehave (repeatable), e.g. barchart=down, databento=http_500")
    parser.add_argument("--run", action="store_true", help="run run_pipeline.py once against the stand-ins, then stop")
    parser.add_argument("--output-dir", type=Path, help="--output-dir of that run (default <dir>/outputs)")
    parser.add_argument("--serve-seconds", type=float, default=600.0,
                        help=f"without --run: how long to keep serving (at most {MAX_SERVE_SECONDS} s; Ctrl-C stops)")
    for vendor in VENDORS:
        parser.add_argument(f"--{vendor}-port", type=int, default=0, help=f"port of the {vendor} stand-in (0 = any free)")
    parser.add_argument("--tradovate-ws-port", type=int, default=0,
                        help="port of the Tradovate stand-in's WebSocket (0 = any free)")
    parser.add_argument("--no-tradovate", action="store_true", help="do not start the Tradovate stand-in")
    parser.add_argument("--tradovate-replay", type=Path, metavar="DIR",
                        help="a replay recording (e.g. scripts/make_sample_data.py week): the Tradovate stand-in "
                             "trades on its price path instead of the real NQ bars, so run_shadow_trading.py "
                             "--limited-live --broker tradovate --replay DIR fills on the bars it replays")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.shared_data.is_dir():
        print(f"recordings not found at {args.shared_data} (--shared-data)", file=sys.stderr)
        return 2
    if args.tradovate_replay is not None and (args.no_tradovate or not args.tradovate_replay.is_dir()):
        print(f"--tradovate-replay {args.tradovate_replay}: needs the Tradovate stand-in and a recording folder",
              file=sys.stderr)
        return 2
    if args.no_tradovate and any(vendor == "tradovate" for vendor, _ in args.fault):
        print("--fault tradovate=... needs the Tradovate stand-in (drop --no-tradovate)", file=sys.stderr)
        return 2
    ports = {v: getattr(args, f"{v}_port") for v in VENDORS}
    standins = start_standins(args.dir, args.shared_data, ports={**ports, "tradovate_ws": args.tradovate_ws_port},
                              tradovate=not args.no_tradovate, tradovate_replay=args.tradovate_replay)
    try:
        for vendor, fault in args.fault:
            if fault == "down":
                standins.kill(vendor)
            else:
                standins.inject(vendor, Fault(fault) if fault in {f.value for f in Fault} else TradovateFault(fault))
        output_dir = args.output_dir or args.dir / "outputs"
        command = [sys.executable, str(ROOT / "run_pipeline.py"), "--profile", str(standins.profile),
                   "--date", DEMO_DATE, "--now", DEMO_NOW, "--output-dir", str(output_dir)]
        print("Stand-ins (127.0.0.1):")
        for name, server in standins.servers().items():
            print(f"  {name:<9} {server.url}{'  (stopped)' if server.stopping.is_set() else ''}")
        if standins.tradovate is not None and not standins.tradovate.stopping.is_set():
            print(f"  {'':<9} {standins.tradovate.ws_url}  (Tradovate trading WebSocket)")
            print(f"Broker settings (the profile's broker section): {standins.broker_settings}")
        print(f"Profile: {standins.profile}")
        if args.run:
            print("Running: " + " ".join(command), flush=True)
            return subprocess.run(command, env={**os.environ, **standins.env}, cwd=ROOT, check=False).returncode
        print("Environment for the pipeline (demo keys of the stand-ins, not real credentials):")
        for name, value in standins.env.items():
            print(f"  export {name}={value}")
        print("Then: " + " ".join(command[1:]))
        seconds = min(max(args.serve_seconds, 0.0), MAX_SERVE_SECONDS)
        print(f"Serving for {seconds:g} s (Ctrl-C to stop)...", flush=True)
        try:
            threading.Event().wait(seconds)
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        standins.stop()


if __name__ == "__main__":
    raise SystemExit(main())
