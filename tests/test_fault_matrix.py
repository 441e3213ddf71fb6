"""scripts/fault_matrix.py: its small cases (bad profiles, bad data, secrets, and the quick shadow-run
faults: a truncated MBO day, live mode without a live source, a price path outside the replay's
days) hold everything they try, and the table says so; a registered case that loses something is
reported as lost. The slow cases (dashboard load, two --resume at once, unwritable ledgers,
source faults, the budget race) run with `python3 scripts/fault_matrix.py`; the dashboard's load
figures are reported there, never asserted here."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_matrix():
    spec = importlib.util.spec_from_file_location("fault_matrix", ROOT / "scripts" / "fault_matrix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_matrix"] = module
    spec.loader.exec_module(module)
    return module


def test_the_small_cases_hold_everything_they_try() -> None:
    matrix = load_matrix()
    names = [name for name, entry in matrix.REGISTRY.items() if entry.small]
    assert {"bad_profiles", "bad_data", "secrets", "shadow_truncated_mbo_day", "shadow_live_without_live_source",
            "shadow_price_path_outside_days"} <= set(names)
    assert {"dashboard_load", "shadow_two_resumes", "shadow_unwritable_ledger"} <= set(matrix.REGISTRY) - set(names)
    results = matrix.run_cases(names)
    for entry, outcome in results:
        assert outcome.tried > 0 and outcome.held == outcome.tried, (entry.name, outcome.problems)
    printed = matrix.table(results)
    assert printed.splitlines()[0].split() == ["case", "area", "tried", "held", "lost"]
    assert printed.splitlines()[-1].split()[-1] == "0"


def test_a_case_that_loses_something_is_counted_as_lost() -> None:
    matrix = load_matrix()

    @matrix.case("always_leaks", area="test")
    def leaks(work: Path):
        outcome = matrix.Outcome()
        outcome.check(True, "fine")
        outcome.check(False, "leaked a key")
        return outcome

    entry, outcome = matrix.run_cases(["always_leaks"])[0]
    assert (outcome.tried, outcome.held) == (2, 1)
    assert "lost in always_leaks: leaked a key" in matrix.table([(entry, outcome)])
