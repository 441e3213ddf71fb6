"""Bursts of concurrent page requests against a running dashboard: what a room of open tabs does.

`burst` opens `n` connections at once (one thread each, released together by a barrier), sends
GET `path` on each (accepting gzip, as a browser does) and times the answer from send to the
last body byte. Used by the load test
(tests/monitoring/test_dashboard_load.py: nothing may fail), the benchmark
(scripts/benchmarks/bench_dashboard.py: p50/p99 against the goal) and the fault matrix. Plain
stdlib HTTP, bounded by `timeout_s` per request; 127.0.0.1 or whatever `host` it is given.
"""
from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = ["BurstResult", "burst"]


@dataclass(frozen=True)
class BurstResult:
    """Per request: latency in ms (answered 200 with a body) or why it failed."""

    latencies_ms: tuple[float, ...]
    failures: tuple[str, ...]

    @property
    def sent(self) -> int:
        return len(self.latencies_ms) + len(self.failures)

    def percentile(self, q: float) -> float:
        """The q-th percentile latency (ms) of the answered requests; NaN when none was answered."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def burst(host: str, port: int, n: int, *, path: str = "/", timeout_s: float = 30.0) -> BurstResult:
    """`n` concurrent GET `path`; every request is bounded by `timeout_s` (connect and read)."""
    gate = threading.Barrier(n)

    def one(_i: int) -> float | str:
        connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
        try:
            gate.wait(timeout=timeout_s)
            started = time.perf_counter()
            connection.request("GET", path, headers={"Host": f"{host}:{port}", "Accept-Encoding": "gzip",
                                                     "Accept": "text/html"})   # as a browser asks
            answer = connection.getresponse()
            body = answer.read()
            elapsed = (time.perf_counter() - started) * 1000.0
            if answer.status != 200 or not body:
                return f"HTTP {answer.status} ({len(body)} bytes)"
            return elapsed
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="burst") as pool:
        outcomes = list(pool.map(one, range(n)))
    return BurstResult(latencies_ms=tuple(o for o in outcomes if isinstance(o, float)),
                       failures=tuple(o for o in outcomes if isinstance(o, str)))
