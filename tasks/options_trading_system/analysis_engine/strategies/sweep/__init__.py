"""Parameter sweeps: the A/B test generalised to any number of profile variants over the same days.

- `sweep_file.py`: the sweep file (JSON, `config/schema/sweep.schema.json`), checked and frozen;
- `variants.py`: explicit variants, or a grid's cartesian product, named automatically;
- `plan.py`: every variant's merged profile checked, run ids `<sweep id>--<variant>`, what is
  already done (skipped), started (resumed) or new;
- `runner.py`: the `VariantRunner` interface and its registry; `serial.py`: one after another;
- `sweep_run.py`: `run_sweep`, the whole sequence; `command.py`: `run_shadow_trading.py --sweep`.
The comparison report is written by `output_generation/sweep_report_writer.py` from the ledgers.
"""
from __future__ import annotations

from .plan import SweepPlan, SweepRequest, plan_sweep
from .runner import RUNNER_CLASSES, VariantJob, VariantOutcome, VariantRunner, make_runner
from .sweep_file import SweepFile, load_sweep_file
from .sweep_run import SweepReports, SweepResult, run_sweep
from .variants import Variant, expand

__all__ = ["RUNNER_CLASSES", "SweepFile", "SweepPlan", "SweepReports", "SweepRequest", "SweepResult", "Variant",
           "VariantJob", "VariantOutcome", "VariantRunner", "expand", "load_sweep_file", "make_runner", "plan_sweep",
           "run_sweep"]
