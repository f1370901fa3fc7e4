"""The runtime of one worker process: claim requests from the store's queue, run them, post results.

A worker claims up to ``slots`` queued requests for the sources it can run (and one campaign,
if given). Each claim is held by a thread of its own, which

1. heartbeats every ``beat_s`` seconds, renewing the lease and reading the stop order; a lost
   claim (its lease expired and another worker holds the request) is dropped quietly;
2. has the run computed by its launcher: in this process, on an executor, or by an
   instrument's command;
3. posts the result at once (``time_scale`` None: simulations, and campaigns on the
   simulated clock), or paces it (``time_scale`` set: an emulated lab on the real clock):
   cycle ``k`` is streamed when its hour comes due (:mod:`interphase.execution.pacing`), and
   the result is posted when its last cycle is due. A stop order ``after_cycle=k`` read at a
   heartbeat ends the test after cycle ``k``: the source runs again with the same seed and a
   stop rule at ``k``, and that stopped result is posted once cycle ``k`` is due (at once
   when it has passed). An order past the test's last cycle changes nothing.

A refused post (the lease lapsed and the request went to another worker) is counted and
logged. A worker that stops (``stop`` set) claims nothing more and leaves what it holds; the
leases lapse and the requests go back to the queue.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace

from interphase.execution.base import Executor
from interphase.execution.launch import ExecutorLauncher, InProcessLauncher, Launcher
from interphase.execution.pacing import Pace, pace_of, stopped_protocol
from interphase.schema import InterphaseError, InvalidInputError, NotFoundError, Result, ResultStatus
from interphase.sources import Source
from interphase.store.queue import REQUEST_LEASE_S, Beat, Claim, ClaimLostError, ResultRefusedError, WorkQueue
from interphase.store.sql import Store

IDLE_TICK_S = 0.1
"""Longest a wait lasts before the worker looks at ``stop`` again (seconds)."""

POST_TRIES = 3
"""Posts of one result before the worker gives it up to the lease's expiry (a store that is down)."""


def default_worker_name() -> str:
    """``"<hostname>:pid=<pid>"``: the name this process claims under by default."""
    return f"{socket.gethostname()}:pid={os.getpid()}"


@dataclass(frozen=True)
class WorkerStats:
    """What a worker did.

    Attributes:
        claimed: Requests claimed.
        posted: Results the store accepted (stopped ones included).
        stopped: Accepted results of tests ended early by a stop order.
        refused: Results the store refused (the lease had lapsed, the request was settled).
        lost: Claims dropped before a result was accepted: the lease was lost, the run could
            not be attempted, or the store stayed unreachable.
        wall_s: Wall-clock seconds the worker ran.
    """

    claimed: int = 0
    posted: int = 0
    stopped: int = 0
    refused: int = 0
    lost: int = 0
    wall_s: float = 0.0


class _Lost(Exception):
    """The claim was lost; its thread ends without posting."""


class _Halted(Exception):
    """The worker is stopping; the claim's thread ends without posting."""


class QueueWorker:
    """Claims requests for its sources from a store, runs them, streams cycles and posts results.

    Args:
        store: An initialised store (SQLite or PostgreSQL); it must outlive :meth:`run`.
        sources: The sources this worker runs, by name; it claims only requests for them.
            Unused (may be empty) with a ``launcher``, which names its own.
        name: The worker's name in the status log; default ``"<hostname>:pid=<pid>"``.
        slots: Requests held at once (>= 1).
        time_scale: Simulated seconds per wall second for paced results (> 0), e.g. 3600 shows
            one lab hour per second; None posts each result as soon as it is computed.
        campaign: Only claim requests of this campaign; None for any.
        world: The world (built-in name or YAML path) that declares the sources that are not
            in the registry; executor tasks name it, so that their processes build the same
            sources.
        executor: Runs the sources (local processes, Ray); None runs them in this process,
            one at a time. The caller starts and closes it.
        launcher: Runs the requests instead of the sources (an instrument's command); it
            takes precedence over ``executor``.
        lease_s: Lease length each claim and heartbeat grants (seconds).
        beat_s: Seconds between heartbeats; default a quarter of ``lease_s``.
        poll_s: Seconds between looks for queued requests while a slot is free.
        on_event: Called with one line per event (claimed, posted, stopped, refused, lost).
        on_claim: Called with each claim as it is made (e.g. to keep a claims log).
    """

    def __init__(self, store: Store, sources: Mapping[str, Source], *, name: str | None = None,
                 slots: int = 1, time_scale: float | None = None, campaign: str | None = None,
                 world: str | None = None, executor: Executor | None = None,
                 launcher: Launcher | None = None, lease_s: float = REQUEST_LEASE_S,
                 beat_s: float | None = None, poll_s: float = 1.0,
                 on_event: Callable[[str], None] | None = None,
                 on_claim: Callable[[Claim], None] | None = None) -> None:
        self.store = store
        self.sources = dict(sources)
        self.name = name or default_worker_name()
        self.slots = slots
        self.time_scale = time_scale
        self.campaign = campaign
        self.world = world
        self.executor = executor
        self.launcher = launcher
        self.lease_s = lease_s
        self.beat_s = beat_s
        self.poll_s = poll_s
        self.on_event = on_event
        self.on_claim = on_claim
        self._stats = WorkerStats()
        self._lock = threading.Lock()
        self._held: dict[str, threading.Thread] = {}
        self._halt = threading.Event()
        self._changed = threading.Event()

    # ------------------------------------------------------------------ the loop

    @property
    def stats(self) -> WorkerStats:
        """The counts so far (a snapshot; safe to read from another thread)."""
        with self._lock:
            return self._stats

    @property
    def held(self) -> int:
        """Requests held now."""
        with self._lock:
            return len(self._held)

    def run(self, *, stop: threading.Event | None = None, idle_exit_s: float | None = None,
            max_requests: int | None = None) -> WorkerStats:
        """Claim and run requests until stopped, idle too long, or ``max_requests`` are done.

        Args:
            stop: Set it to stop: nothing more is claimed or posted, and the requests held
                are left for their leases to lapse.
            idle_exit_s: Return after this many seconds holding nothing with nothing to
                claim; None waits for work forever.
            max_requests: Return once this many requests were claimed and their claims ended.

        Returns:
            The counts, with the wall-clock seconds the loop ran.

        Raises:
            InvalidInputError: If a setting is out of range (the field is named); nothing is
                claimed.
        """
        work = self._check_settings()
        launcher = self.launcher or self._default_launcher()
        if not launcher.source_names:
            raise InvalidInputError("sources", "a worker needs at least one source to claim requests for")
        began = time.monotonic()
        idle_since = began
        next_claim = began
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                now = time.monotonic()
                woken = self._changed.is_set()  # a claim ended: its slot may be refilled at once
                self._changed.clear()
                claimed = self.stats.claimed
                may_claim = max_requests is None or claimed < max_requests
                free = self.slots - self.held
                if may_claim and free > 0 and (now >= next_claim or woken):
                    limit = free if max_requests is None else min(free, max_requests - claimed)
                    for claim in self._claim(work, launcher.source_names, limit):
                        self._hold(work, launcher, claim)
                    next_claim = time.monotonic() + self.poll_s
                if self.held:
                    idle_since = time.monotonic()
                elif not may_claim:
                    break
                elif idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                    break
                self._changed.wait(min(self.poll_s, IDLE_TICK_S))
        finally:
            self._halt.set()
            if self.launcher is None:
                launcher.close()
            with self._lock:
                self._stats = replace(self._stats, wall_s=time.monotonic() - began)
        return self.stats

    def _check_settings(self) -> WorkQueue:
        work = WorkQueue(self.store, lease_s=self.lease_s)
        if not isinstance(self.slots, int) or self.slots < 1:
            raise InvalidInputError("slots", f"must be a whole number >= 1, got {self.slots!r}")
        if self.time_scale is not None and not (0 < self.time_scale < float("inf")):
            raise InvalidInputError("time_scale", "must be a positive number of simulated seconds per "
                                                  f"wall second, or None; got {self.time_scale!r}")
        if self.beat_s is not None and not (0 < self.beat_s < self.lease_s):
            raise InvalidInputError("beat_s", f"must be > 0 and shorter than the lease ({self.lease_s:g} s); "
                                              f"got {self.beat_s!r}")
        if not (self.poll_s > 0):
            raise InvalidInputError("poll_s", f"must be > 0 seconds, got {self.poll_s!r}")
        self._halt.clear()
        with self._lock:
            self._stats = WorkerStats()
        return work

    def _default_launcher(self) -> Launcher:
        if self.executor is None:
            return InProcessLauncher(self.sources)
        declared: set[str] = set()
        if self.world is not None:
            from interphase.sources.world import load_world

            declared = set(load_world(self.world).sources)
        worlds = {name: (self.world if name in declared else None) for name in self.sources}
        return ExecutorLauncher(self.executor, self.sources, worlds)

    def _claim(self, work: WorkQueue, names: tuple[str, ...], limit: int) -> list[Claim]:
        try:
            claims = work.claim(self.name, sources=names, campaign=self.campaign, limit=limit)
        except InvalidInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a store that is briefly away: try again at the next poll
            self._event(f"claiming failed, trying again in {self.poll_s:g} s: {exc}")
            return []
        for claim in claims:
            with self._lock:
                self._stats = replace(self._stats, claimed=self._stats.claimed + 1)
            self._event(f"claimed {claim.request_id} ({claim.request.source}, attempt {claim.attempt})")
            if self.on_claim is not None:
                self.on_claim(claim)
        return claims

    def _hold(self, work: WorkQueue, launcher: Launcher, claim: Claim) -> None:
        holder = _ClaimHolder(self, work, launcher, claim)
        thread = threading.Thread(target=self._run_holder, args=(holder,), daemon=True,
                                  name=f"interphase-claim-{claim.request_id}")
        with self._lock:
            self._held[claim.request_id] = thread
        thread.start()

    def _run_holder(self, holder: _ClaimHolder) -> None:
        try:
            holder.hold()
        except _Halted:
            pass
        except _Lost as exc:
            self._count(lost=1)
            self._event(f"lost {holder.claim.request_id}: {exc}")
        except Exception as exc:  # noqa: BLE001 - one claim's trouble must not end the worker
            self._count(lost=1)
            self._event(f"dropped {holder.claim.request_id}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._held.pop(holder.claim.request_id, None)
            self._changed.set()

    # ------------------------------------------------------------------ shared by the claims

    def _count(self, **added: int) -> None:
        with self._lock:
            self._stats = replace(self._stats, **{k: getattr(self._stats, k) + v for k, v in added.items()})

    def _event(self, line: str) -> None:
        if self.on_event is not None:
            self.on_event(line)


class _ClaimHolder:
    """One held claim: heartbeats, the run, its pacing and its post."""

    def __init__(self, worker: QueueWorker, work: WorkQueue, launcher: Launcher, claim: Claim) -> None:
        self.worker = worker
        self.work = work
        self.launcher = launcher
        self.claim = claim
        self.beat_s = worker.beat_s or worker.lease_s / 4
        self.began = time.monotonic()
        self.next_beat = self.began
        self.stop_after: int | None = None
        self.streamed = 0
        self.streaming = True

    @property
    def request_id(self) -> str:
        return self.claim.request_id

    def hold(self) -> None:
        request = self.claim.request
        self._beat()
        design = self.worker.store.get_design(request.design_id).design
        result = self._wait_for(self.launcher.launch(request, design, request.protocol))
        if self.worker.time_scale is None:
            self._post(result)
            return
        # The paced test begins once its result is computed: how long the emulator took is no
        # part of the test, and runs that wait their turn to compute would otherwise show all
        # their cycles at once.
        self.began = time.monotonic()
        pace = pace_of(result, self.worker.time_scale)
        stopped: Future[Result] | None = None
        while True:
            elapsed = time.monotonic() - self.began
            if pace.streams:  # a stopped test shows no cycle past its stop
                due = pace.cycles_due(elapsed)
                self._stream(result, due if self.stop_after is None else min(due, self.stop_after))
            ends_early = (pace.streams and self.stop_after is not None and self.stop_after < pace.cycles
                          and self.launcher.can_stop_early)
            if ends_early and stopped is None:  # run the stopped test now, to post it when it is due
                stopped = self.launcher.launch(request, design,
                                               stopped_protocol(request.protocol, self.stop_after or 0))
            if stopped is not None and elapsed >= pace.cycle_due_s(self.stop_after or 0):
                result = self._wait_for(stopped)
                if self._post(result) and result.status is ResultStatus.STOPPED:
                    self.worker._count(stopped=1)
                return
            if elapsed >= pace.end_s:
                if pace.streams:
                    self._stream(result, pace.cycles)
                self._post(result)
                return
            self._sleep_until(self._next_due(pace, elapsed, ends_early))

    def _next_due(self, pace: Pace, elapsed: float, ends_early: bool) -> float:
        """The next moment (monotonic) something is due: a heartbeat, a cycle, the stop, the end."""
        due = [pace.end_s]
        if pace.streams and self.streamed < pace.cycles:
            due.append(pace.cycle_due_s(self.streamed + 1))
        if ends_early:
            due.append(pace.cycle_due_s(self.stop_after or 0))
        return min(self.began + min(due), self.next_beat)

    def _wait_for(self, future: Future[Result]) -> Result:
        """The run's result, heartbeating while it computes."""
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        while not done.is_set():
            self._sleep_until(self.next_beat, done=done)
        error = future.exception()
        if error is not None:
            raise _Lost(f"the run could not be attempted: {type(error).__name__}: {error}")
        return future.result()

    def _sleep_until(self, moment: float, *, done: threading.Event | None = None) -> None:
        """Wait until ``moment`` (monotonic) or until ``done`` is set; heartbeat if one is due."""
        wait_s = max(0.0, moment - time.monotonic())
        if done is not None:
            while wait_s > 0 and not done.is_set() and not self.worker._halt.is_set():
                done.wait(min(wait_s, IDLE_TICK_S))
                wait_s = max(0.0, moment - time.monotonic())
        elif wait_s > 0:
            self.worker._halt.wait(wait_s)
        if self.worker._halt.is_set():
            raise _Halted
        if time.monotonic() >= self.next_beat:
            self._beat()

    def _beat(self) -> None:
        self.next_beat = time.monotonic() + self.beat_s
        try:
            beat: Beat = self.work.heartbeat(self.claim)
        except (ClaimLostError, NotFoundError) as exc:
            raise _Lost(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the lease outlasts a missed beat; the next one tries again
            self.worker._event(f"heartbeat of {self.request_id} failed: {exc}")
            return
        if beat.stop_after is not None and self.stop_after is None:
            # The cycles already streamed have run: a test stops after them at the earliest.
            self.stop_after = max(beat.stop_after, self.streamed)
            self.worker._event(f"stop ordered for {self.request_id} after cycle {beat.stop_after}")

    def _stream(self, result: Result, through: int) -> None:
        """Store the cycles after the last streamed, up to cycle ``through``."""
        if not self.streaming or through <= self.streamed:
            return
        chunk = [o for o in result.observations
                 if o.index_unit == "cycle" and self.streamed < o.index <= through]
        if chunk:
            try:
                self.work.stream(self.claim, chunk)
            except ClaimLostError as exc:
                raise _Lost(str(exc)) from None
            except InterphaseError as exc:
                self.streaming = False
                self.worker._event(f"streaming {self.request_id} stopped: {exc}")
                return
            except Exception as exc:  # noqa: BLE001 - the cycles are sent again after a pause
                self.worker._event(f"streaming {self.request_id} failed, trying again: {exc}")
                self.worker._halt.wait(self.worker.poll_s)
                return
        self.streamed = through

    def _post(self, result: Result) -> bool:
        """Post the result; True when the store accepted it."""
        for attempt in range(1, POST_TRIES + 1):
            if self.worker._halt.is_set():
                raise _Halted
            try:
                self.work.post(self.claim, result)
            except (ResultRefusedError, InvalidInputError) as exc:
                self.worker._count(refused=1)
                self.worker._event(f"refused {self.request_id}: {exc}")
                return False
            except Exception as exc:  # noqa: BLE001 - re-sending a post is safe: the store keeps one
                if attempt == POST_TRIES:
                    raise _Lost(f"the result could not be posted: {exc}") from None
                self.worker._event(f"posting {self.request_id} failed, trying again: {exc}")
                self.worker._halt.wait(self.worker.poll_s)
                continue
            self.worker._count(posted=1)
            cycles = f", {result.cycles_run} cycles" if result.cycles_run is not None else ""
            self.worker._event(f"posted {self.request_id}: {result.status.value}{cycles}")
            return True
        return False
