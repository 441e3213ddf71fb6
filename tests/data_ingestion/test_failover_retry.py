"""Retries: only transient failures, exponential waits with jitter, Retry-After honoured, never past
the source's deadline; and how vendor answers map to transient / refused / malformed errors."""
from __future__ import annotations

import random

import pytest

from tasks.options_trading_system.data_ingestion.http_errors import http_status_error, parse_retry_after
from tasks.options_trading_system.data_ingestion.retry import Deadline, RetryOutcome, RetryPolicy, retry_call
from tasks.options_trading_system.errors import (DataSourceError, SourceRateLimitedError,
                                                 SourceRefusedError)


class FakeTime:
    """A monotonic clock that only moves when the retry loop 'sleeps'."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def failing(errors: list[Exception], result: str = "chain"):
    """A call that raises the given errors in turn, then returns `result`."""
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result
    return call, calls


NO_JITTER = RetryPolicy(attempts=4, initial_wait_s=0.5, max_wait_s=1.5, jitter_s=0.0)


def test_transient_errors_are_retried_with_doubling_waits_capped_at_max_wait() -> None:
    time = FakeTime()
    call, calls = failing([DataSourceError("503", transient=True)] * 3)
    seen = RetryOutcome()
    assert retry_call(call, policy=NO_JITTER, sleep=time.sleep, outcome=seen) == "chain"
    assert calls["n"] == 4
    assert time.sleeps == [0.5, 1.0, 1.5]   # 0.5, 0.5*2, 0.5*4=2.0 capped at 1.5
    assert seen.retries == 3


def test_jitter_adds_at_most_jitter_s_and_comes_from_the_given_generator() -> None:
    policy = RetryPolicy(attempts=2, initial_wait_s=1.0, max_wait_s=8.0, jitter_s=0.5)
    rng = random.Random(7)
    expected = 1.0 + random.Random(7).uniform(0.0, 0.5)
    time = FakeTime()
    call, _ = failing([DataSourceError("timeout", transient=True)])
    retry_call(call, policy=policy, sleep=time.sleep, rng=rng)
    assert time.sleeps == [pytest.approx(expected)]
    assert 1.0 <= time.sleeps[0] <= 1.5


def test_refusals_are_not_retried_and_keep_their_cost() -> None:
    time = FakeTime()
    call, calls = failing([SourceRefusedError("401: check DATABENTO_API_KEY", cost_usd=0.25)])
    seen = RetryOutcome()
    with pytest.raises(SourceRefusedError, match="DATABENTO_API_KEY"):
        retry_call(call, policy=NO_JITTER, sleep=time.sleep, outcome=seen)
    assert calls["n"] == 1 and time.sleeps == [] and seen.failed_cost_usd == 0.25


def test_unexpected_exceptions_are_not_retried() -> None:
    call, calls = failing([KeyError("bug")])
    with pytest.raises(KeyError):
        retry_call(call, policy=NO_JITTER, sleep=FakeTime().sleep)
    assert calls["n"] == 1


def test_retry_after_of_a_429_is_the_wait() -> None:
    time = FakeTime()
    call, _ = failing([SourceRateLimitedError("429", retry_after_s=2.0)])
    retry_call(call, policy=NO_JITTER, sleep=time.sleep)
    assert time.sleeps == [2.0]


def test_retry_after_longer_than_the_cap_ends_the_retries() -> None:
    policy = RetryPolicy(attempts=3, initial_wait_s=0.1, jitter_s=0.0, max_retry_after_s=30.0)
    call, calls = failing([SourceRateLimitedError("429", retry_after_s=3600.0)])
    with pytest.raises(SourceRateLimitedError):
        retry_call(call, policy=policy, sleep=FakeTime().sleep)
    assert calls["n"] == 1


def test_no_retry_starts_when_its_wait_would_overrun_the_deadline() -> None:
    time = FakeTime()
    deadline = Deadline(1.2, clock=time.clock)
    call, calls = failing([DataSourceError("timeout", transient=True)] * 5)
    seen = RetryOutcome()
    with pytest.raises(DataSourceError, match="timeout"):
        retry_call(call, policy=NO_JITTER, deadline=deadline, sleep=time.sleep, outcome=seen)
    # waits 0.5 (t=0.5), then 1.0 would end at 1.5 > 1.2: stop after 2 tries
    assert calls["n"] == 2 and time.sleeps == [0.5] and seen.retries == 1


def test_deadline_request_timeout_is_the_cap_or_what_is_left() -> None:
    time = FakeTime()
    deadline = Deadline(5.0, clock=time.clock)
    assert deadline.request_timeout(2.0) == 2.0
    time.t = 4.5
    assert deadline.request_timeout(2.0) == pytest.approx(0.5)
    time.t = 5.0
    with pytest.raises(DataSourceError, match="5 s time limit is used up") as info:
        deadline.request_timeout(2.0)
    assert info.value.code == "TIMEOUT" and not info.value.transient


@pytest.mark.parametrize("status, cls, transient, code", [
    (500, DataSourceError, True, "HTTP_500"),
    (503, DataSourceError, True, "HTTP_503"),
    (408, DataSourceError, True, "HTTP_408"),
    (429, SourceRateLimitedError, True, "RATE_LIMITED"),
    (401, SourceRefusedError, False, "AUTH"),
    (403, SourceRefusedError, False, "AUTH"),
    (404, DataSourceError, False, "HTTP_404"),
    (422, DataSourceError, False, "HTTP_422"),
])
def test_http_status_classification(status: int, cls: type, transient: bool, code: str) -> None:
    error = http_status_error("databento statistics", status, headers={"Retry-After": "7"},
                              key_env="DATABENTO_API_KEY")
    assert type(error) is cls and error.transient is transient and error.code == code
    assert f"HTTP {status}" in str(error)


def test_auth_refusal_names_the_variable_to_set_and_429_carries_retry_after() -> None:
    refused = http_status_error("polygon I:NDX snapshot", 401, detail='{"error":"Unknown API Key"}',
                                key_env="POLYGON_API_KEY")
    assert "check POLYGON_API_KEY" in str(refused)
    limited = http_status_error("polygon", 429, headers={"Retry-After": "7"})
    assert isinstance(limited, SourceRateLimitedError) and limited.retry_after_s == 7.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12.0
    now = 1_748_872_800.0  # Mon, 02 Jun 2025 14:00:00 GMT
    assert parse_retry_after("Mon, 02 Jun 2025 14:00:30 GMT", now=now) == pytest.approx(30.0)
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
