"""The workers a campaign on the real clock runs in its own process, stopped when it ends.

They are ordinary queue workers (:class:`~interphase.execution.queue_worker.QueueWorker`): they
claim the campaign's requests from the store with leases, heartbeat, stream cycles and post
results, exactly as ``interphase worker`` processes elsewhere do, and they share the queue with
those. One worker per lab source holds as many tests as the source has channels and paces them
by ``clock.time_scale``; one worker for the simulations holds ``cpu_workers`` of them and runs
them through the campaign's executor.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from interphase.agent.plan import RunPlan
from interphase.agent.runner import make_executor
from interphase.agent.view import CPU
from interphase.execution.queue_worker import QueueWorker, default_worker_name
from interphase.store import Store
from interphase.store.queue import REQUEST_LEASE_S

STOP_WAIT_S = 30.0
"""How long the campaign waits for its workers' threads to end (seconds)."""


def served_locally(plan: RunPlan) -> list[str]:
    """The sources the campaign's own workers serve (``clock.local_workers``)."""
    wanted = plan.config.clock.local_workers
    if wanted is True:
        return sorted(plan.sources)
    if wanted is False:
        return []
    return sorted(name for name in wanted if name in plan.sources)


@contextmanager
def local_workers(store: Store, plan: RunPlan) -> Iterator[list[QueueWorker]]:
    """Serve the campaign's queue from threads of this process while the block runs.

    Args:
        store: The store (the queue).
        plan: The campaign's plan (sources, capacities, clock settings).

    Yields:
        The workers, running.
    """
    names = served_locally(plan)
    by_resource: dict[str, list[str]] = {}
    for name in names:
        by_resource.setdefault(plan.resource_of[name], []).append(name)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    workers: list[QueueWorker] = []
    settings = plan.config.clock
    with ExitStack() as stack:
        for resource, sources in sorted(by_resource.items()):
            slots = plan.capacity.get(resource, 1)
            executor = None
            if resource == CPU and plan.world_ref is not None:  # an inline world's runs stay here
                resources = plan.config.resources
                executor = make_executor(resources.executor, resources.processes or slots)
                if executor is not None:
                    stack.callback(executor.close)
            worker = QueueWorker(store, {name: plan.sources[name] for name in sources},
                                 name=f"{default_worker_name()}:{plan.spec.name}:{resource}", slots=slots,
                                 time_scale=settings.time_scale, campaign=plan.spec.name,
                                 world=plan.world_ref, executor=executor,
                                 poll_s=min(1.0, settings.poll_seconds),
                                 beat_s=min(REQUEST_LEASE_S / 4, settings.poll_seconds))
            thread = threading.Thread(target=worker.run, kwargs={"stop": stop}, daemon=True,
                                      name=f"interphase-worker-{resource}")
            workers.append(worker)
            threads.append(thread)
        for thread in threads:
            thread.start()
        try:
            yield workers
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=STOP_WAIT_S)
