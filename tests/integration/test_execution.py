"""Executors on real worker processes and a real local Ray instance.

Every behaviour is checked on both back ends with the same test: streaming, timeouts,
retries, the failure-rate limit, invalid tasks and dead workers. Ray starts once for
the module (about 4 s) and each Ray test makes its own actors.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from interphase.execution import (
    ExecutionError,
    ExecutionHalted,
    Executor,
    FailureRateLimit,
    LocalExecutor,
    RayExecutor,
    RetryPolicy,
    RunTask,
    TaskOutcome,
    TaskRejectedError,
    start_local_ray,
)
from interphase.schema import FailureKind, InvalidInputError, Request, ResultStatus
from support.sources_for_tests import (
    CELL,
    FLAKY_CELL,
    AnalyticCellSource,
    cell_design,
    cell_protocol,
    register_test_sources,
)

pytestmark = pytest.mark.timeout(120)

NO_RETRY = RetryPolicy(max_attempts=1, base_delay_s=0.0, max_delay_s=0.0)
QUICK_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=0.2)
MakeExecutor = Callable[..., Executor]


def task(task_id: str, seed: int = 0, source: str = CELL, n_cycles: int = 20, **design: Any) -> RunTask:
    return RunTask(task_id=task_id, source=source, design=cell_design(**design),
                   protocol=cell_protocol(n_cycles), seed=seed)


def batch(n: int = 20) -> list[RunTask]:
    """``n`` distinct tasks with their own seeds."""
    return [task(f"run-{i}", seed=1000 + i, temperature_k=285.0 + 1.5 * i, c_rate=0.5 + 0.1 * i,
                 substeps=200) for i in range(n)]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    start_local_ray(num_cpus=2, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def make_executor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeExecutor]:
    """Build executors of one back end with the test sources registered; closed after the test."""
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
    made: list[Executor] = []

    setup = partial(register_test_sources, marker_dir=str(tmp_path / "markers"))
    kind = LocalExecutor if request.param == "local" else RayExecutor

    def make(start: bool = True, **options: Any) -> Executor:
        options.setdefault("worker_setup", setup)
        options.setdefault("max_workers", 2)
        executor = kind(**options)
        made.append(executor)
        return executor.start() if start else executor

    yield make
    for executor in made:
        executor.close()


def test_fast_runs_stream_back_before_a_slow_one(make_executor: MakeExecutor) -> None:
    executor = make_executor()
    slow = task("slow", hold_s=1.5)
    fast = [task(f"fast-{i}", seed=i, hold_s=0.05) for i in range(4)]
    began = time.monotonic()
    arrivals: list[tuple[str, float]] = []
    for outcome in executor.map_unordered([slow, *fast]):
        arrivals.append((outcome.task.task_id, time.monotonic() - began))
    order = [task_id for task_id, _ in arrivals]
    assert order[-1] == "slow", order
    assert sorted(order[:-1]) == [f"fast-{i}" for i in range(4)]
    first_s, slow_s = arrivals[0][1], arrivals[-1][1]
    assert first_s < slow_s - 0.8, arrivals  # streamed while the slow run was still going


def test_a_caller_that_stops_iterating_loses_no_outcome(make_executor: MakeExecutor) -> None:
    executor = make_executor()
    stream = executor.map_unordered([task(f"quick-{i}", seed=i) for i in range(6)])
    first = next(stream)
    stream.close()
    assert executor.pending == 5
    rest = [o.task.task_id for o in executor.as_completed()]
    assert sorted([first.task.task_id, *rest]) == [f"quick-{i}" for i in range(6)]


def test_local_and_ray_give_identical_results(ray_instance: None, tmp_path: Path) -> None:
    tasks = batch(20)
    setup = partial(register_test_sources, marker_dir=str(tmp_path))
    outcomes: dict[str, dict[str, TaskOutcome]] = {}
    for name, executor in (("local", LocalExecutor(2, worker_setup=setup)),
                           ("ray", RayExecutor(max_workers=2, worker_setup=setup))):
        with executor:
            executor.start()  # both workers ready: otherwise the first may run the whole batch
            outcomes[name] = {o.task.task_id: o for o in executor.map_unordered(tasks)}
    reference = AnalyticCellSource()
    for run in tasks:
        local, ray = outcomes["local"][run.task_id].result, outcomes["ray"][run.task_id].result
        assert local.status is ResultStatus.SUCCEEDED
        assert local.observations == ray.observations
        assert local == ray  # provenance and cost included: both are fixed by the inputs
        assert local == reference.run(run.design, run.protocol, seed=run.seed)
    workers = {o.worker_id for o in outcomes["ray"].values()}
    assert all(w.startswith("ray:") for w in workers) and len(workers) == 2


def test_a_run_over_its_timeout_fails_transiently_and_the_pool_goes_on(make_executor: MakeExecutor) -> None:
    executor = make_executor(max_workers=1, timeout_s=1.0, retry=NO_RETRY)
    began = time.monotonic()
    (hung,) = executor.map_unordered([task("hung", hold_s=60.0)])
    assert time.monotonic() - began < 10.0
    assert hung.result.status is ResultStatus.FAILED
    assert hung.result.failure_kind is FailureKind.TRANSIENT
    assert "timed out after 1 s" in hung.result.message
    assert hung.result.provenance.source_name == CELL and hung.attempts == 1
    (after,) = executor.map_unordered([task("after", seed=3)])
    assert after.result.status is ResultStatus.SUCCEEDED
    assert after.worker_id != hung.worker_id  # the overrunning worker was replaced


def test_a_transient_failure_is_retried_with_the_same_seed(make_executor: MakeExecutor) -> None:
    executor = make_executor(retry=QUICK_RETRY)
    flaky = task("flaky", seed=77, source=FLAKY_CELL, temperature_k=310.0)
    (outcome,) = executor.map_unordered([flaky])
    assert outcome.result.status is ResultStatus.SUCCEEDED, outcome.result.message
    assert outcome.attempts == 2
    direct = AnalyticCellSource().run(flaky.design, flaky.protocol, seed=77)
    assert outcome.result.observations == direct.observations


def test_a_transient_failure_that_persists_ends_after_max_attempts(make_executor: MakeExecutor) -> None:
    executor = make_executor(retry=QUICK_RETRY)
    (outcome,) = executor.map_unordered([task("lost", fault="transient")])
    assert outcome.attempts == QUICK_RETRY.max_attempts
    assert outcome.result.failure_kind is FailureKind.TRANSIENT
    assert outcome.result.message == "channel lost contact"


def test_a_deterministic_failure_is_not_retried(make_executor: MakeExecutor) -> None:
    executor = make_executor(retry=QUICK_RETRY)
    outcomes = {o.task.task_id: o for o in executor.map_unordered(
        [task("short", fault="deterministic"), task("raises", fault="exception")])}
    for outcome in outcomes.values():
        assert outcome.attempts == 1
        assert outcome.result.failure_kind is FailureKind.DETERMINISTIC
    assert outcomes["short"].result.message == "short circuit in cycle 3"
    assert outcomes["raises"].result.message.startswith("RuntimeError: solver diverged")


def test_a_worker_that_dies_mid_run_is_a_transient_failure_and_is_replaced(
        make_executor: MakeExecutor) -> None:
    executor = make_executor(max_workers=1, retry=RetryPolicy(max_attempts=2, base_delay_s=0.0))
    (crashed,) = executor.map_unordered([task("crash", fault="crash")])
    assert crashed.attempts == 2
    assert crashed.result.failure_kind is FailureKind.TRANSIENT
    assert "died" in crashed.result.message
    (after,) = executor.map_unordered([task("after")])
    assert after.result.status is ResultStatus.SUCCEEDED


def test_the_failure_rate_limit_halts_with_a_clear_message(make_executor: MakeExecutor) -> None:
    limit = FailureRateLimit(max_failure_rate=0.25, min_runs=4)
    executor = make_executor(retry=NO_RETRY, failure_limit=limit)
    tasks = [task(f"bad-{i}", seed=i, fault="deterministic") for i in range(6)]
    tasks += [task(f"good-{i}", seed=i, hold_s=0.2) for i in range(6)]
    seen = []
    with pytest.raises(ExecutionHalted) as halted:
        for outcome in executor.map_unordered(tasks):
            seen.append(outcome)
    error = halted.value
    assert error.runs >= 4 and error.failure_rate > 0.25
    assert len(seen) == error.runs < len(tasks)  # every counted outcome was delivered first
    message = str(error)
    assert f"{error.failures} of {error.runs} runs failed" in message
    assert f"failure rate {error.failure_rate:.1%}" in message and "threshold of 25.0%" in message
    assert "'deterministic: short circuit in cycle 3'" in message
    assert executor.pending == 0
    (after,) = executor.map_unordered([task("after")])  # usable again, abandoned runs ignored
    assert after.task.task_id == "after" and after.result.status is ResultStatus.SUCCEEDED


def test_an_invalid_task_raises_naming_it_and_the_rest_go_on(make_executor: MakeExecutor) -> None:
    executor = make_executor(max_workers=1)
    executor.submit([task("unknown", source="no-such-source"), task("fine")])
    with pytest.raises(InvalidInputError, match="unknown source 'no-such-source'.*task 'unknown'") as caught:
        list(executor.as_completed())
    assert isinstance(caught.value, TaskRejectedError) and caught.value.task_id == "unknown"
    assert [o.task.task_id for o in executor.as_completed()] == ["fine"]
    with pytest.raises(InvalidInputError, match="temperature_k.*task 'too-hot'") as caught:
        list(executor.map_unordered([task("too-hot", temperature_k=400.0)]))
    assert isinstance(caught.value, TaskRejectedError) and caught.value.task_id == "too-hot"


def test_retry_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=0.5, multiplier=2.0, max_delay_s=3.0)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValidationError) as info:
        RetryPolicy(base_delay_s=2.0, max_delay_s=1.0)
    cause = info.value.errors()[0]["ctx"]["error"]
    assert isinstance(cause, InvalidInputError) and cause.field == "max_delay_s"


def test_a_worker_whose_setup_fails_stops_the_executor_with_the_reason(make_executor: MakeExecutor) -> None:
    executor = make_executor(start=False, max_workers=1, worker_setup=partial(int, "not a number"))
    with pytest.raises(ExecutionError, match="(?s)failed to start.*invalid literal for int"):
        executor.start()
    with pytest.raises(ExecutionError, match="failed to start"):  # and stays failed, never hangs
        list(executor.map_unordered([task("never")]))


def test_a_task_for_a_stored_request_carries_its_key_source_and_seed() -> None:
    request = Request(campaign="c", design_id="d-1", source=CELL, protocol=cell_protocol(), seed=5,
                      idempotency_key="c/d-1/0")
    made = RunTask.from_request(request, cell_design())
    assert (made.task_id, made.source, made.seed, made.protocol) == ("c/d-1/0", CELL, 5, request.protocol)


def test_importing_execution_does_not_import_ray() -> None:
    code = "import json, sys, interphase.execution; print(json.dumps('ray' in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=100, check=True)
    assert json.loads(completed.stdout.strip().splitlines()[-1]) is False
