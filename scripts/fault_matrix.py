#!/usr/bin/env python3
"""Re-run the fault and bad-input campaign and print one table: case, tried, held, lost.

    python3 scripts/fault_matrix.py              # every case
    python3 scripts/fault_matrix.py --small      # the quick ones (also run by the test suite)
    python3 scripts/fault_matrix.py --case bad_profiles --case concurrent_budget

A case tries a number of faults and counts those the system *held* (refused or quarantined with
a clear reason, nothing overspent, nothing leaked); `lost` = tried - held, with what went wrong.
Everything runs on 127.0.0.1 stand-ins and temporary folders (its own state directory), never
the internet. Add a case with `@case("name", area="...", small=True)` on a function taking a work
folder and returning `Outcome(tried, held, problems)`; other areas (dashboard load, shadow runs)
register theirs the same way. Exit status 1 when anything was lost.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402


@dataclass
class Outcome:
    tried: int = 0
    held: int = 0
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        self.tried += 1
        if ok:
            self.held += 1
        else:
            self.problems.append(what)


@dataclass(frozen=True)
class Case:
    name: str
    area: str
    small: bool
    run: Callable[[Path], Outcome]


REGISTRY: dict[str, Case] = {}


def case(name: str, *, area: str, small: bool = True) -> Callable[[Callable[[Path], Outcome]], Callable[[Path], Outcome]]:
    """Register a case under `name` (an area says whose it is; small = quick enough for the test suite)."""
    def register(fn: Callable[[Path], Outcome]) -> Callable[[Path], Outcome]:
        REGISTRY[name] = Case(name, area, small, fn)
        return fn
    return register


# --- cases ------------------------------------------------------------------------------------

@case("bad_profiles", area="profiles")
def bad_profiles(work: Path) -> Outcome:
    """Non-finite numbers, overflowing numbers and absurd budgets/timeouts: refused at load (exit 2)."""
    from tasks.options_trading_system.config_manager import load_profile
    from tasks.options_trading_system.errors import ConfigError

    out = Outcome()
    bodies = {
        "NaN budget": '{"daily_budget_usd": NaN}', "Infinity budget": '{"daily_budget_usd": Infinity}',
        "-Infinity budget": '{"daily_budget_usd": -Infinity}', "1e309 budget": '{"daily_budget_usd": 1e309}',
        "1e12 budget": '{"daily_budget_usd": 1e12}', "negative budget": '{"daily_budget_usd": -1}',
        "year-long timeout": '{"timeout_s": 31536000}',
    }
    for what, databento in bodies.items():
        path = work / f"{what.replace(' ', '_')}.json"
        path.write_text('{"description": "x", "extends": "databento_only", "data_sources": {"databento": '
                        + databento + "}}")
        try:
            load_profile(path, env={})
            out.check(False, f"{what}: loaded")
        except ConfigError as exc:
            out.check(exc.exit_code == 2 and "$.data_sources.databento" in str(exc), f"{what}: {exc}")
    return out


@case("bad_data", area="data")
def bad_data(work: Path) -> Outcome:
    """Absurd, non-finite and non-numeric values quarantined with a reason; oversized chains refused."""
    from tasks.options_trading_system.data_ingestion.canonical import ChainBounds, validate_chain
    from tasks.options_trading_system.data_ingestion.saved.formats import read_capture
    from tasks.options_trading_system.errors import InputFileError

    out = Outcome()
    sample = ROOT / "data" / "sample" / "nq_options_sample.json"
    faults = {"1e308 open interest": {"open_interest": 1e308}, "infinite open interest": {"open_interest": float("inf")},
              "text open interest": {"open_interest": "lots"}, "2e7 volume": {"volume": 2e7},
              "bool volume": {"volume": True}, "bid 1e6": {"bid": 1e6, "ask": 1.1e6}}
    for what, fields in faults.items():
        document = json.loads(sample.read_text())
        document["contracts"][3].update(fields)
        path = work / "chain.json"
        path.write_text(json.dumps(document))
        try:
            chain = validate_chain(read_capture(path))
            contract = document["contracts"][3]["contract"]
            out.check(contract in set(chain.quarantine["contract"]) and contract not in set(chain.frame["contract"]),
                      f"{what}: not quarantined")
        except Exception as exc:  # noqa: BLE001 - a crash is exactly what this counts
            out.check(False, f"{what}: {type(exc).__name__}: {exc}")
    huge = work / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(576_000 * 700)
    for what, path, bounds in (("576,000-row file", huge, ChainBounds()),
                               ("chain above max_contracts", sample, ChainBounds(max_contracts=1000))):
        try:
            read_capture(path, bounds)
            out.check(False, f"{what}: accepted")
        except InputFileError as exc:
            out.check("max_contracts" in str(exc), f"{what}: {exc}")
    return out


@case("secrets", area="secrets")
def secrets(work: Path) -> Outcome:
    """A secret inside other strings of a document, a log record and a traceback: masked."""
    import io
    import logging

    from tasks.options_trading_system.secrets_mask import SecretFilter, mask_document, register_secrets

    out = Outcome()
    secret = "db-" + "Fm4tr1xS3cr3t" * 2 + "abc"
    register_secrets({"DATABENTO_API_KEY": secret})
    masked = json.dumps(mask_document({"description": f"desk {secret} run", "nested": [{"k": secret}]}))
    out.check(secret not in masked, "export document")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter())
    logger = logging.getLogger("fault_matrix.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("key %s", secret)
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        logger.exception("boom")
    logger.removeHandler(handler)
    out.check(secret not in stream.getvalue(), "log record and traceback")
    return out


def _databento_market():
    from tests.vendor_servers.databento_server import Contract, hand_market

    expiry = pd.Timestamp("2025-06-02 20:00", tz="UTC")
    contracts = [Contract(1, "NQM5", "NQ", "F", pd.Timestamp("2025-06-20 13:30", tz="UTC"), bid=21450.5, ask=21451.0),
                 Contract(11, "Q1AM5 C21400", "Q1A", "C", expiry, "NQM5", 21400.0, open_interest=120, bid=61.75,
                          ask=63.25, trades=((62.5, 3),)),
                 Contract(12, "Q1AM5 P21400", "Q1A", "P", expiry, "NQM5", 21400.0, open_interest=95, bid=11.5,
                          ask=12.5, trades=((12.0, 10),))]
    return hand_market(contracts, record_time=pd.Timestamp("2025-06-02 14:10", tz="UTC"))


@case("concurrent_budget", area="budget", small=False)
def concurrent_budget(work: Path) -> Outcome:
    """Processes racing one small budget through the Databento stand-in never exceed it."""
    from tasks.options_trading_system.data_ingestion.data_budget import SpendLedger
    from tests.vendor_servers.budget_race import KEY, NOW, race_budget
    from tests.vendor_servers.certs import make_self_signed_cert
    from tests.vendor_servers.databento_server import DatabentoStandIn

    out = Outcome()
    cert, key = make_self_signed_cert(work / "tls")
    os.environ["REQUESTS_CA_BUNDLE"] = str(cert)
    costs = {"definition": 0.10, "statistics": 0.20, "trades": 0.30, "bbo-1m": 0.05}
    for processes, budget in ((3, 1.00), (6, 1.50)):
        with DatabentoStandIn(_databento_market(), tls=(cert, key), key=KEY, cost_per_request=costs) as server:
            state = work / f"state_{processes}"
            os.environ["NQ_STATE_DIR"] = str(state)
            outcomes = race_budget(server.url, work / f"race_{processes}", processes=processes, daily_budget_usd=budget)
            spent = SpendLedger.default().totals("databento", NOW).day_usd
            crashed = [o for o in outcomes if o["outcome"] == "error"]
            out.check(spent <= budget + 1e-9 and not crashed,
                      f"{processes} racers, ${budget:.2f}: spent ${spent:.2f}; {crashed[:1]}")
    return out


@case("source_faults", area="sources", small=False)
def source_faults(work: Path) -> Outcome:
    """Databento stand-in faults: each ends in a named error, never a crash, no reservation left behind."""
    from datetime import date

    from tasks.options_trading_system.data_ingestion.data_budget import SpendLedger
    from tasks.options_trading_system.data_ingestion.databento.config import DatabentoConfig
    from tasks.options_trading_system.data_ingestion.databento.source import DatabentoSource
    from tasks.options_trading_system.data_ingestion.sources_registry import ChainRequest
    from tasks.options_trading_system.errors import DataSourceError
    from tests.vendor_servers.base import Fault
    from tests.vendor_servers.budget_race import KEY, NOW
    from tests.vendor_servers.certs import make_self_signed_cert
    from tests.vendor_servers.databento_server import DatabentoStandIn

    out = Outcome()
    cert, key = make_self_signed_cert(work / "tls")
    os.environ["REQUESTS_CA_BUNDLE"] = str(cert)
    os.environ["NQ_STATE_DIR"] = str(work / "state")
    faults = (Fault.HTTP_500, Fault.HTTP_401, Fault.HTTP_429, Fault.TRUNCATE, Fault.MALFORMED)
    for index, fault in enumerate(faults):
        with DatabentoStandIn(_databento_market(), tls=(cert, key), key=KEY, cost_per_request={"definition": 0.1}) as server:
            server.inject(fault, times=1, path_prefix="/v0/timeseries.get_range")
            source = DatabentoSource(DatabentoConfig(gateway=server.url, max_days_to_expiration=21, request_timeout_s=5),
                                     env={"DATABENTO_API_KEY": KEY}, output_root=work / f"out{index}")
            try:
                source.fetch(ChainRequest(trade_date=date(2025, 6, 2), now=NOW))
                out.check(False, f"{fault.value}: served despite the fault")
            except DataSourceError as exc:
                reserved = [e for e in SpendLedger.default().entries() if e["status"] == "reserved"]
                out.check(bool(exc.code) and not reserved, f"{fault.value}: code {exc.code!r}, reserved {reserved}")
            except Exception as exc:  # noqa: BLE001 - a crash is exactly what this counts
                out.check(False, f"{fault.value}: {type(exc).__name__}: {exc}")
    return out


# --- runner -----------------------------------------------------------------------------------

def run_cases(names: list[str]) -> list[tuple[Case, Outcome]]:
    """Run the named cases, each in its own temporary folder and state directory."""
    results = []
    saved_env = dict(os.environ)
    for name in names:
        entry = REGISTRY[name]
        with tempfile.TemporaryDirectory(prefix=f"fault_{name}_") as folder:
            os.environ["NQ_STATE_DIR"] = str(Path(folder) / "state")
            try:
                outcome = entry.run(Path(folder))
            except Exception as exc:  # noqa: BLE001 - a case that crashes lost everything it tried
                outcome = Outcome(tried=1, held=0, problems=[f"case crashed: {type(exc).__name__}: {exc}"])
            finally:
                os.environ.clear()
                os.environ.update(saved_env)
        results.append((entry, outcome))
    return results


def table(results: list[tuple[Case, Outcome]]) -> str:
    rows = [("case", "area", "tried", "held", "lost")]
    rows += [(c.name, c.area, str(o.tried), str(o.held), str(o.tried - o.held)) for c, o in results]
    total_tried = sum(o.tried for _, o in results)
    total_held = sum(o.held for _, o in results)
    rows.append(("total", "", str(total_tried), str(total_held), str(total_tried - total_held)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for c, o in results:
        lines += [f"  lost in {c.name}: {problem}" for problem in o.problems]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=sorted(REGISTRY), help="run only this case (repeatable)")
    parser.add_argument("--small", action="store_true", help="only the quick cases (as the test suite does)")
    args = parser.parse_args(argv)
    names = args.case or [n for n, c in REGISTRY.items() if c.small or not args.small]
    results = run_cases(names)
    print(table(results))
    return 0 if all(o.tried == o.held for _, o in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
