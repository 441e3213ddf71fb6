"""Retrying a data source: exponential backoff with jitter, transient failures only, inside a deadline.

A source gets one time limit for its whole attempt (`Deadline`): every request inside it waits at
most what is left, and a retry is only started when its wait still fits. `retry_call` runs the
source with tenacity:

1. call the source; a result ends the loop;
2. a `DataSourceError` that is not `transient` (credentials, entitlement, budget, not set up) or
   any other exception ends the loop at once: retrying cannot help;
3. a transient one (connection refused, timeout, 5xx, 429) waits `RetryPolicy.wait_for`: the
   server's Retry-After for a 429 (capped), else `initial * 2^(n-1)` capped at `max_wait_s`, plus
   a random jitter so many clients do not retry in lockstep;
4. stop after `attempts` tries, or earlier when the wait would overrun the deadline; the last
   error is raised as it was.

Clock, sleep and the jitter's random generator are passed in, so tests are deterministic.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

import tenacity

from ..errors import DataSourceError, SourceRateLimitedError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a source is retried (profile: `data_sources.retry`)."""

    attempts: int = 3                 # tries in all, the first included (1 = never retry)
    initial_wait_s: float = 0.5       # wait before the first retry
    max_wait_s: float = 8.0           # cap of the exponential wait
    jitter_s: float = 0.5             # up to this much random wait added to each backoff
    max_retry_after_s: float = 30.0   # longest Retry-After honoured; longer ones end the retries

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> "RetryPolicy":
        mapping = mapping or {}
        return cls(**{k: mapping[k] for k in ("attempts", "initial_wait_s", "max_wait_s", "jitter_s",
                                              "max_retry_after_s") if k in mapping})

    def wait_for(self, error: BaseException | None, retry_number: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry_number` (1-based) after `error`."""
        if isinstance(error, SourceRateLimitedError) and error.retry_after_s is not None:
            return float(error.retry_after_s)
        backoff = min(self.max_wait_s, self.initial_wait_s * (2.0 ** (retry_number - 1)))
        return backoff + rng.uniform(0.0, self.jitter_s)


class Deadline:
    """The moment a source's attempt must be over, on a monotonic clock."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self.clock = clock
        self.expires_at = clock() + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.expires_at - self.clock())

    def request_timeout(self, cap_s: float) -> float:
        """Timeout for one request: the per-request cap or what is left, whichever is shorter.

        Raises a transient-looking but final `DataSourceError` (code TIMEOUT) when nothing is left.
        """
        left = self.remaining()
        if left <= 0.0:
            raise DataSourceError(f"gave up: the source's {self.seconds:g} s time limit is used up",
                                  transient=False, code="TIMEOUT")
        return min(float(cap_s), left)


@dataclass
class RetryOutcome:
    """What the retry loop saw: how many retries it made and what the failed tries cost."""

    retries: int = 0
    failed_cost_usd: float = 0.0
    waits_s: list[float] = field(default_factory=list)


def retry_call(fn: Callable[[], T], *, policy: RetryPolicy, deadline: Deadline | None = None,
               sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
               outcome: RetryOutcome | None = None, label: str = "source") -> T:
    """Call `fn`, retrying transient `DataSourceError`s per `policy` within `deadline`.

    `outcome` (if given) is filled in as the loop runs, so the caller knows the retries and the
    cost of failed tries even when the last error propagates.
    """
    rng = rng or random.Random()
    seen = outcome if outcome is not None else RetryOutcome()

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return policy.wait_for(error, state.attempt_number, rng)

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, SourceRateLimitedError) and error.retry_after_s is not None \
                and error.retry_after_s > policy.max_retry_after_s:
            log.info("%s: Retry-After %.1f s exceeds the %.1f s cap; not retrying", label,
                     error.retry_after_s, policy.max_retry_after_s)
            return True
        if deadline is not None and state.upcoming_sleep >= deadline.remaining():
            log.info("%s: a retry in %.2f s would overrun the time limit (%.2f s left); not retrying",
                     label, state.upcoming_sleep, deadline.remaining())
            return True
        return False

    def is_transient(error: BaseException) -> bool:
        return isinstance(error, DataSourceError) and error.transient

    def after_failure(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, DataSourceError):
            seen.failed_cost_usd += float(error.cost_usd)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        seen.retries += 1
        seen.waits_s.append(float(state.upcoming_sleep))
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s: transient failure (%s); retry %d in %.2f s", label, error, seen.retries,
                    state.upcoming_sleep)

    retrying = tenacity.Retrying(stop=stop, wait=wait, retry=tenacity.retry_if_exception(is_transient),
                                 sleep=sleep, reraise=True, after=after_failure, before_sleep=before_sleep)
    try:
        return retrying(fn)
    except DataSourceError as error:
        if not error.transient:
            # `after` runs only for retryable failures; count the cost of a final refusal here.
            seen.failed_cost_usd += float(error.cost_usd)
        raise
