"""Day executors hand back every task's outcome in task order, a failing task as a failed outcome
(the other tasks still run), on this process or on a dask cluster."""
from __future__ import annotations

import time

import pytest

from tasks.options_trading_system.analysis_engine.strategies.day_executors import (DaskExecutor, OutcomeStream,
                                                                                   SerialExecutor, make_executor)
from tasks.options_trading_system.errors import ConfigError


def _slow_square(n: int) -> int:
    """Later tasks finish first, so an order kept is an order restored."""
    time.sleep(0.01 * (5 - n))
    if n == 3:
        raise ValueError("day 3 is corrupt")
    return n * n


def _check(outcomes: list) -> None:
    assert [o.key for o in outcomes] == ["0", "1", "2", "3", "4"]
    assert [o.value for o in outcomes if not o.failed] == [0, 1, 4, 16]
    assert [o.key for o in outcomes if o.failed] == ["3"]
    assert "ValueError: day 3 is corrupt" in outcomes[3].error


def test_the_serial_executor_keeps_task_order_and_reports_a_failed_task() -> None:
    _check(list(SerialExecutor().map_days(_slow_square, range(5))))


@pytest.mark.slow
def test_the_dask_executor_keeps_task_order_and_reports_a_failed_task() -> None:
    with DaskExecutor(workers=2, processes=False, retries=0, max_ahead=3, task_timeout_s=60) as executor:
        _check(list(executor.map_days(_slow_square, list(range(5)))))


def test_a_shared_stream_hands_each_run_its_own_days() -> None:
    tasks = ["a/1", "b/1", "a/2", "b/2"]
    stream = OutcomeStream(SerialExecutor().map_days(str.upper, tasks, key=lambda t: t))
    assert [stream.take(k).value for k in ("a/1", "a/2", "b/1", "b/2")] == ["A/1", "A/2", "B/1", "B/2"]
    with pytest.raises(KeyError):
        stream.take("c/1")


def test_executors_are_chosen_by_name_and_bad_options_are_config_errors() -> None:
    assert isinstance(make_executor("serial"), SerialExecutor)
    with pytest.raises(ConfigError, match="unknown day executor"):
        make_executor("spark")
    with pytest.raises(ConfigError, match="at least 1 worker"):
        make_executor("dask", workers=0)
    with pytest.raises(ConfigError, match="--workers is for --cluster local"):
        make_executor("dask", scheduler="tcp://127.0.0.1:8786", workers=2)


@pytest.mark.slow
def test_the_dask_executor_uses_a_running_scheduler_and_leaves_it_running() -> None:
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        with DaskExecutor(scheduler=cluster.scheduler_address, retries=0, task_timeout_s=60) as executor:
            assert "1 worker(s)" in executor.describe()
            _check(list(executor.map_days(_slow_square, list(range(5)))))
        assert len(cluster.scheduler_info["workers"]) == 1
