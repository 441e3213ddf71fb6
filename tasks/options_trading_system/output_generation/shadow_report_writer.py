"""Writing the shadow-trading reports: validate each document against its schema, then write the
JSON and the HTML (jinja2, autoescape on) atomically.

Layout (the issue's contract):
```
<output_dir>/YYYY-MM-DD/paper_trading/daily_report_<run_id>.{json,html}
<output_dir>/YYYY-MM-DD/performance_tracking/performance_<run_id>.{json,html}
<output_dir>/YYYY-MM-DD/ab_testing/ab_comparison_<run_id>.{json,html}      (when A/B testing is on)
<output_dir>/runs/<run_id>/final_results.{json,html}
```
Daily files carry the run id, so runs sharing an output folder (a replay and a live run of the
same day, two replays) each keep their own reports.
A document that fails its schema is a bug: `OutputValidationError`, nothing written.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import jsonschema
from referencing import Registry, Resource

from ..analysis_engine.strategies.feeds.price_path import PricePath
from ..analysis_engine.strategies.feeds.recording import open_recording
from ..analysis_engine.strategies.shadow_config import ShadowTradingConfig
from ..errors import OptionsSystemError, OutputValidationError
from ..state.ledger import Ledger
from . import shadow_reports
from ..secrets_mask import mask_secrets
from ..state.atomic import atomic_write_text
from .html_report import environment
from .shadow_charts import equity_svg

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMAS = {"daily": "shadow_daily.schema.json", "performance": "shadow_performance.schema.json",
           "ab": "shadow_ab.schema.json", "final": "shadow_final.schema.json", "sweep": "shadow_sweep.schema.json",
           "tick_strategy": "shadow_tick_strategy.schema.json"}
TEMPLATES = {"daily": "shadow_daily.html.j2", "performance": "shadow_performance.html.j2",
             "ab": "shadow_ab.html.j2", "final": "shadow_final.html.j2",
             "tick_strategy": "shadow_tick_strategy.html.j2"}
FOLDERS = {"daily": ("paper_trading", "daily_report"), "performance": ("performance_tracking", "performance"),
           "ab": ("ab_testing", "ab_comparison")}


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("shadow_*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def _validator(kind: str) -> Any:
    """The `kind` schema's validator, built once per process (a run validates each kind many times)."""
    schema = json.loads((SCHEMA_DIR / SCHEMAS[kind]).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=_registry(), format_checker=cls.FORMAT_CHECKER)


def validate(kind: str, document: Mapping[str, Any]) -> None:
    """Check `document` against the `kind` schema; `OutputValidationError` names the path and problem."""
    validator = _validator(kind)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
        raise OutputValidationError(f"{SCHEMAS[kind]}: {where}: {first.message} "
                                    f"({len(errors)} problem(s); nothing written)")


def write_document(kind: str, document: Mapping[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    """Validate, then write `<stem>.json` and `<stem>.html` under `folder`."""
    validate(kind, document)
    json_path = atomic_write_text(folder / f"{stem}.json",
                                  mask_secrets(json.dumps(document, indent=1, allow_nan=False) + "\n"))
    template = environment().get_template(TEMPLATES[kind])
    curve = (document.get("trades") or {}).get("equity_curve") if kind in ("daily", "final") else None
    html = template.render(doc=document, equity_chart=equity_svg(curve or []))
    html_path = atomic_write_text(folder / f"{stem}.html", mask_secrets(html))
    return json_path, html_path


def run_prices(ledger: Ledger, config: ShadowTradingConfig) -> PricePath | None:
    """The price path the run traded on (its replay's, or a live run's own recording), for the
    paper twins; None (said in the report) when it cannot be read."""
    run = ledger.run() or {}
    if ((run.get("config") or {}).get("request") or {}).get("tick"):
        return None  # a tick run trades the future's own ticks: its fills are the paper fills, no twin to price
    if run.get("mode") == "replay" and run.get("data_dir"):
        root, price_path = Path(run["data_dir"]), (Path(run["price_path"]) if run.get("price_path") else None)
        bar_seconds = config.replay.bar_seconds
    else:  # a live run's recording: one price point per cycle, read as the live feed reads it
        root, price_path, bar_seconds = ledger.path.parent / "recording", None, 0
    symbol = str((((run.get("config") or {}).get("profile") or {}).get("instrument") or {}).get("symbol", "NQ"))
    try:
        load = _prices if run.get("mode") == "replay" else _prices.__wrapped__  # a live recording grows
        return load(str(root), str(price_path) if price_path else None, config.replay.csv_timezone, bar_seconds,
                    symbol)
    except (OptionsSystemError, OSError, ValueError) as exc:
        log.warning("the run's price path could not be read for the paper twins: %s", exc)
        return None


@lru_cache(maxsize=2)
def _prices(root: str, price_path: str | None, timezone: str, bar_seconds: int, symbol: str) -> PricePath:
    recording = open_recording(Path(root), price_path=Path(price_path) if price_path else None)
    return recording.prices(default_timezone=timezone, bar_seconds=bar_seconds, root=symbol)


def write_day_reports(ledger: Ledger, day: str, config: ShadowTradingConfig, output_dir: Path) -> list[Path]:
    """The three daily reports of `day` (A/B only when enabled)."""
    written: list[Path] = []
    prices = run_prices(ledger, config)
    builders = {"daily": lambda: shadow_reports.daily_report(ledger, day, config, prices),
                "performance": lambda: shadow_reports.performance_report(ledger, day, config)}
    if config.ab_testing.enabled:
        builders["ab"] = lambda: shadow_reports.ab_report(ledger, config, day)
    run_id = (ledger.run() or {}).get("run_id", "run")
    for kind, build in builders.items():
        sub, stem = FOLDERS[kind]
        written.extend(write_document(kind, build(), Path(output_dir) / day / sub, f"{stem}_{run_id}"))
    log.info("wrote the %s reports under %s", day, Path(output_dir) / day)
    return written


def write_final_report(ledger: Ledger, config: ShadowTradingConfig, run_dir: Path) -> tuple[dict[str, Any], list[Path]]:
    """The run's final results (verdict included) next to its ledger."""
    document = shadow_reports.final_report(ledger, config, run_prices(ledger, config))
    paths = write_document("final", document, Path(run_dir), "final_results")
    return document, list(paths)
