"""The campaign's two clocks: when a launched run's result, and each of its cycles, reach the agent.

Both clocks serve the same engine, queue and agent; the agent cannot tell them apart.

- :class:`SimulatedClock`: every source is emulated. The campaign's own workers run each
  launched request at once (in parallel through the injected executor), and the clock jumps
  from event to event: a result becomes visible at the simulated hour its run would end, a lab
  test's cycles at the hours a cycler would produce them. A stop re-runs the test with the stop
  rule (sources are pure and seeded, so the cycles that ran are the same).
- :class:`RealClock`: requests wait in the store until a worker claims them; results and
  streamed cycles are visible when workers post them. Campaign hours are wall hours times
  ``time_scale``. A stop is an order row that the worker reads at its next heartbeat.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from interphase.agent.flight import Flight
from interphase.agent.runner import Runner
from interphase.schema import RequestStatus, StopRule
from interphase.store import CampaignLease, Store
from interphase.store.queue import WorkQueue

MAX_QUIET_S = 30.0
"""Longest the real clock waits without an arrival before the engine looks again (seconds)."""

ENDED = frozenset({RequestStatus.DONE, RequestStatus.FAILED, RequestStatus.STOPPED, RequestStatus.CANCELLED})


class SimulatedClock:
    """Event-to-event simulated time; results computed at launch and held back until their end.

    Args:
        runner: Runs what the campaign launches (inline, or through an executor).
    """

    real = False

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def start(self, clock_h: float) -> None:
        """Begin at campaign hour ``clock_h`` (nothing to do: simulated time moves by events)."""

    def launched(self, flights: Sequence[Flight]) -> None:
        """Run the launched (or, after a crash, re-launched) flights and hold their results."""
        batch = []
        for flight in flights:
            protocol = flight.protocol
            if flight.stop_after is not None:
                protocol = protocol.model_copy(update={"stop": StopRule(at_cycle=flight.stop_after)})
            batch.append((flight.source, flight.design, protocol, flight.seed))
        for flight, result in zip(flights, self.runner.run(batch), strict=True):
            flight.result = result

    def stopped(self, flight: Flight, cycle: int, at_h: float, reason: str,
                lease: CampaignLease | None) -> None:
        """End a running test after ``cycle``: re-run it with the stop rule."""
        flight.stop_after, flight.stopped_at_h = cycle, at_h
        self.launched([flight])

    def advance(self, flights: Sequence[Flight], clock_h: float, review_every: int,
                wall_left_s: float) -> tuple[float, list[Flight]]:
        """Jump to the next event: a run's end, or a running test's next review cycle.

        Returns:
            The new campaign hour and the flights that end by then, in order of end.
        """
        next_h = min(flight.end_h for flight in flights)
        review = _next_review_h(flights, clock_h, review_every)
        if review is not None and review < next_h:
            return max(clock_h, review), []
        clock_h = max(clock_h, next_h)
        return clock_h, due(flights, clock_h)

    def close(self) -> None:
        """Nothing to release."""


class RealClock:
    """Wall time, scaled: requests run when workers claim them, results count when they arrive.

    Args:
        store: The store (the queue).
        time_scale: Campaign seconds per wall second (1: real time).
        poll_s: How often to look for arrivals (seconds).
    """

    real = True

    def __init__(self, store: Store, *, time_scale: float = 1.0, poll_s: float = 1.0) -> None:
        self.store = store
        self.queue = WorkQueue(store)
        self.time_scale = float(time_scale)
        self.poll_s = float(poll_s)
        self._base_h = 0.0
        self._origin = time.monotonic()
        self._reviewed: dict[str, int] = {}
        self._chunks: dict[str, int] = {}

    def start(self, clock_h: float) -> None:
        """Let campaign time run on from ``clock_h`` (its value when the campaign last stopped)."""
        self._base_h, self._origin = clock_h, time.monotonic()

    def now_h(self) -> float:
        """The campaign hour now."""
        return self._base_h + (time.monotonic() - self._origin) * self.time_scale / 3600.0

    def launched(self, flights: Sequence[Flight]) -> None:
        """Nothing to run here: the requests wait in the store for a worker."""

    def stopped(self, flight: Flight, cycle: int, at_h: float, reason: str,
                lease: CampaignLease | None) -> None:
        """Write the stop order; the worker holding the test reads it at its next heartbeat."""
        self.queue.order_stop(flight.request_id, cycle, reason, lease=lease)
        flight.stop_after, flight.stopped_at_h = cycle, at_h

    def advance(self, flights: Sequence[Flight], clock_h: float, review_every: int,
                wall_left_s: float) -> tuple[float, list[Flight]]:
        """Wait until a result arrives, a running test streams its next review cycle, or a while passes.

        Returns:
            The campaign hour now and the flights whose results have arrived.
        """
        waited_until = time.monotonic() + max(0.0, min(MAX_QUIET_S, wall_left_s))
        while True:
            arrived = self._arrivals(flights)
            reviews = self._stream(flights, review_every)
            if arrived or reviews or time.monotonic() >= waited_until:
                return max(clock_h, self.now_h()), arrived
            time.sleep(self.poll_s)

    def _arrivals(self, flights: Sequence[Flight]) -> list[Flight]:
        """Flights whose request has its result, the result attached."""
        if not flights:
            return []
        statuses = self.queue.statuses(f.request_id for f in flights if f.result is None)
        arrived = []
        for flight in flights:
            if flight.result is None and statuses.get(flight.request_id) in ENDED:
                stored = self.store.result_of_request(flight.request_id)
                if stored is not None:
                    flight.result, flight.result_id = stored.result, stored.id
            if flight.result is not None:
                arrived.append(flight)
        return arrived

    def _stream(self, flights: Sequence[Flight], review_every: int) -> bool:
        """Read the cycles streamed so far; True when a test has reached its next review cycle."""
        due_review = False
        running = [f for f in flights if f.result is None and f.stopped_at_h is None]
        counts = self.queue.chunk_counts(f.request_id for f in running)
        for flight in running:
            count = counts.get(flight.request_id, 0)
            if count != self._chunks.get(flight.request_id, 0):
                self._chunks[flight.request_id] = count
                flight.streamed = tuple(self.queue.streamed(flight.request_id)[1])
            done = flight.cycles_at(0.0)
            if review_every > 0 and done // review_every > self._reviewed.get(flight.request_id, 0):
                self._reviewed[flight.request_id] = done // review_every
                due_review = True
        return due_review

    def close(self) -> None:
        """Nothing to release (the campaign's own workers are stopped by their owner)."""


def due(flights: Sequence[Flight], clock_h: float) -> list[Flight]:
    """The flights that end by ``clock_h``, in order of end (then request key)."""
    return [f for f in sorted(flights, key=lambda f: (f.end_h, f.key)) if f.end_h <= clock_h + 1e-9]


def _next_review_h(flights: Sequence[Flight], clock_h: float, every: int) -> float | None:
    """When a running test next completes a multiple of the review interval (None: never)."""
    if every <= 0:
        return None
    times = []
    for flight in flights:
        if flight.stopped_at_h is not None or flight.result is None:
            continue
        done = flight.cycles_at(clock_h)
        upcoming = (done // every + 1) * every
        if upcoming < (flight.result.cycles_run or 0):
            times.append(flight.hour_of_cycle(upcoming))
    future = [t for t in times if t > clock_h + 1e-9 and math.isfinite(t)]
    return min(future) if future else None
