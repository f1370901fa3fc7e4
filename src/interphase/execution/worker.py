"""What runs inside a worker, for every back end, and the replies it sends back.

Both the local process pool and the Ray actors call these functions, so a task gives
the same result wherever it runs. A source is looked up by name with
:func:`~interphase.sources.get_source`, which builds it once per process: a worker that
runs many tasks on a PyBaMM source builds the model once.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interphase.schema import InvalidInputError, Provenance, Result
from interphase.schema.provenance import git_sha, installed_versions
from interphase.sources import get_source, resolve_source, run_safely

if TYPE_CHECKING:
    from interphase.execution.base import RunTask

WorkerSetup = Callable[[], None]


@dataclass(frozen=True)
class Started:
    """The source is built and the run begins; the run's timeout counts from here.

    Attributes:
        provenance: The source's provenance for this run, used if the run is lost.
        monotonic_s: ``time.monotonic()`` in the worker as the run began; comparable
            with the parent's clock only on the same machine.
    """

    provenance: Provenance
    monotonic_s: float


@dataclass(frozen=True)
class Finished:
    """The run ended with a result (which may be a failed one).

    Attributes:
        result: The source's result.
        wall_s: Wall-clock seconds the run took in the worker.
    """

    result: Result
    wall_s: float


@dataclass(frozen=True)
class Rejected:
    """The task is invalid (unknown source, design outside the space): the caller's mistake."""

    field: str
    problem: str


@dataclass(frozen=True)
class Broken:
    """The worker could not attempt the run: set-up or source construction raised."""

    error: str


Reply = Started | Finished | Rejected | Broken


def prepare_worker(setup: WorkerSetup | None, warm_up: Sequence[str]) -> None:
    """Run the caller's set-up and build the named sources, once per worker process.

    Args:
        setup: Picklable callable run first (e.g. registering sources that are not
            entry points); None for none.
        warm_up: Source names to build now rather than on their first task.
    """
    # Provenance reads package metadata and git once per process (tenths of a second):
    # pay it at start-up, not inside the first run's time.
    installed_versions()
    git_sha()
    if setup is not None:
        setup()
    for name in warm_up:
        get_source(name)


def start_task(task: RunTask) -> Started | Rejected | Broken:
    """Build (or fetch) the task's source and describe the run about to start."""
    try:
        source = resolve_source(task.source, task.world)
        return Started(source.provenance(task.design, task.protocol, task.seed), time.monotonic())
    except InvalidInputError as exc:
        return Rejected(exc.field, exc.problem)
    except Exception:  # noqa: BLE001 - reported to the caller, who raises it
        return Broken(f"building source {task.source!r} failed:\n{traceback.format_exc()}")


def run_task(task: RunTask) -> Finished | Rejected | Broken:
    """Run the task through :func:`run_safely`; failures of the run come back as results."""
    try:
        source = resolve_source(task.source, task.world)
        began = time.perf_counter()
        result = run_safely(source, task.design, task.protocol, task.seed)
        return Finished(result, time.perf_counter() - began)
    except InvalidInputError as exc:
        return Rejected(exc.field, exc.problem)
    except Exception:  # noqa: BLE001 - reported to the caller, who raises it
        return Broken(f"running task {task.task_id!r} failed outside the source:\n{traceback.format_exc()}")
