"""The sources figures of the monitor: what counts as an attempt, a failure and a serve."""
from __future__ import annotations

from tasks.options_trading_system.monitoring.sources_reader import summarize_attempts


def attempt(source: str, outcome: str, code: str, latency_ms: float = 100.0) -> dict:
    return {"source": source, "outcome": outcome, "code": code, "reason": code.lower(), "latency_ms": latency_ms,
            "cost_usd": 0.0, "contracts": 576 if outcome in ("served", "cached") else 0}


def test_a_cache_reuse_serves_the_run_and_is_counted_as_such() -> None:
    summary = summarize_attempts([[attempt("barchart", "served", "OK")], [attempt("barchart", "cached", "CACHE")]])
    barchart = summary["by_source"][0]
    assert (barchart["served"], barchart["cached"], barchart["failed"], summary["failures"]) == (2, 1, 0, 0)
    assert barchart["last_problem"] is None


def test_a_past_date_declined_by_a_present_only_source_is_neither_an_attempt_nor_a_failure() -> None:
    summary = summarize_attempts([[attempt("barchart", "refused", "PAST_DATE", 0.1),
                                   attempt("databento", "served", "OK", 900.0)]])
    assert (summary["attempts"], summary["failures"], summary["error_rate"]) == (1, 0, 0.0)
    barchart = next(s for s in summary["by_source"] if s["source"] == "barchart")
    assert (barchart["attempts"], barchart["failed"]) == (0, 0)


def test_a_budget_refusal_still_counts_as_a_failure() -> None:
    summary = summarize_attempts([[attempt("databento", "refused", "BUDGET"), attempt("saved", "served", "OK")]])
    assert (summary["attempts"], summary["failures"], summary["error_rate"]) == (2, 1, 0.5)
