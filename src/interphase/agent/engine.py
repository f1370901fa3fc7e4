"""The campaign's event loop: propose -> queue -> run -> collect -> refit -> check stop, all in the store.

At every event the engine asks the strategy what to run on the free slots (and which running
tests to stop), logs each decision in the store together with the requests it makes (one
transaction), and collects results as they become visible. When they become visible is the
clock's business (:mod:`interphase.agent.clock`): on the simulated clock, lab tests occupy
their source's channels for the lab hours they take and simulations occupy CPU workers for
their CPU time, and results are delivered when the clock reaches their end; on the real clock,
workers claim the queued requests and results count when they arrive. Which designs are
verified, and which replicates they still need, is the rule of :mod:`interphase.agent.verification`.

Crash safety: everything that decides the future is a row. On start the engine rebuilds its state
from the store: the launch decisions (start hours, resources), the results (acknowledged runs,
with their start and finish in ``metadata["campaign_clock"]`` on the simulated clock, in an
``arrived`` decision on the real one), the stop decisions. On the simulated clock, runs launched
but without a result are recomputed (sources are pure and seeded) and keep their single
``claimed`` entry in the status log; on the real one they are still in the queue. So a SIGKILL
at any point, then ``resume``, loses no acknowledged result and launches no request twice.

One engine per campaign: ``run``, ``resume`` and ``extend`` (:mod:`interphase.agent.campaign`)
take the campaign's lease before they write anything; the engine checks it at every event and
fences every write with it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from interphase.agent.budget import budget_in_force
from interphase.agent.clock import RealClock, SimulatedClock, due
from interphase.agent.flight import Flight
from interphase.agent.live import LiveView
from interphase.agent.options import Proposal, ScoredOption, StopOrder
from interphase.agent.outcome import Outcome
from interphase.agent.plan import RunPlan
from interphase.agent.runner import Runner
from interphase.agent.strategy import Strategy
from interphase.agent.verification import ASSEMBLY_DEFECT, VerificationRule
from interphase.agent.view import CPU, CampaignView, CompletedRun, clock_hours
from interphase.schema import (
    Design,
    Request,
    RequestStatus,
    Result,
    ResultStatus,
)
from interphase.schema.plain import plain_json
from interphase.store import HeldLease, Store

__all__ = ["ASSEMBLY_DEFECT", "WORKER", "Engine"]

WORKER = "interphase-engine"
"""The name under which the campaign's own process claims the requests it runs on the simulated clock."""

Clock = SimulatedClock | RealClock


class Engine:
    """One campaign's event loop over the store.

    Args:
        store: The store.
        plan: The resolved configuration.
        strategy: Decides what to run.
        live: Show the rich live view.
        on_event: Called with the view at every event.
        lease: The campaign's lease, held by the caller: checked at every event and before
            every launch, and every write is fenced with it. None runs unguarded (tests).
        clock: When results become visible; the simulated clock running everything in this
            process, one run after another, by default.
    """

    def __init__(self, store: Store, plan: RunPlan, strategy: Strategy, *, live: bool = False,
                 on_event: Callable[[CampaignView], None] | None = None,
                 lease: HeldLease | None = None, clock: Clock | None = None) -> None:
        self.store, self.plan, self.strategy = store, plan, strategy
        self.clock = clock if clock is not None else SimulatedClock(Runner(plan.sources))
        self.rule = VerificationRule(plan.highest_fidelity, plan.config.stop.replicates, plan.check)
        self.lease = lease
        self._fence = lease.lease if lease is not None else None
        self.campaign = plan.spec.name
        self.config = plan.config
        self.check = plan.check
        self.on_event = on_event
        self.live = LiveView(self.campaign, plan.capacity) if live else None
        self.clock_h = 0.0
        self.flights: dict[str, Flight] = {}
        self.completed: list[CompletedRun] = []
        self.decisions = 0
        self.verified: dict[str, Any] | None = None
        self.finished: dict[str, Any] | None = None
        self.budget = self.config.budget  # raised by "extended" decisions (extend_campaign)
        self.wall_before = 0.0
        self._observed = -1
        self._began = time.monotonic()
        self._thinking_s = 0.0

    # ------------------------------------------------------------------ the loop

    def run(self) -> Outcome:
        """Rebuild the state from the store, then run events until the campaign ends."""
        import torch

        torch.set_num_threads(1)  # small tensors: a second thread only adds contention (measured 5-10x)
        self._restore()
        self.clock.start(self.clock_h)
        if self.finished is not None:
            return self._outcome(self.finished["status"])
        try:
            if self.live is not None:
                self.live.start()
            status = self._loop()
        finally:
            if self.live is not None:
                self.live.stop()
        self._finish(status)
        return self._outcome(status)

    def _loop(self) -> str:
        while True:
            self._guard()
            if self.verified is not None and self.config.stop.until_verified:
                return "verified"
            wall = self.wall_before + time.monotonic() - self._began
            if self.budget.wall_hours is not None and wall > 3600.0 * self.budget.wall_hours:
                return "wall"
            view = self._view()
            self._thinking_s = 0.0
            if len(self.completed) != self._observed:
                with self._seeded("observe"), self._timed():
                    self.strategy.observe(view)
                self._observed = len(self.completed)
            with self._seeded("review"), self._timed():
                orders = self.strategy.review(view)
            for order in orders:
                self._stop(order)
            self._queue_replicates()
            view = self._view()
            for resource, free in view.free.items():
                room = min(free, self._runs_left())
                if room > 0 and self._can_launch(resource):
                    with self._seeded(f"propose:{resource}"), self._timed():
                        proposal = self.strategy.propose(view, resource, room)
                    if proposal is not None and proposal.chosen:
                        self._launch(proposal, resource, kind="launch")
                        view = self._view()
            if self.on_event is not None:
                self.on_event(view)
            if self.live is not None:
                self.live.update(view, self._last_reason())
            if not self.flights:
                return self._idle_status()
            self._advance()

    def _guard(self) -> None:
        """Stop (LeaseLostError) when another process has taken the campaign over."""
        if self.lease is not None:
            self.lease.ensure_held()

    def _advance(self) -> None:
        """Move the clock to the next event and deliver every run whose result is visible by then."""
        wall_left_s = math.inf
        if self.budget.wall_hours is not None:
            spent_s = self.wall_before + time.monotonic() - self._began
            wall_left_s = 3600.0 * self.budget.wall_hours - spent_s
        every = int(self.strategy.review_every_cycles)
        flights = list(self.flights.values())
        self.clock_h, arrived = self.clock.advance(flights, self.clock_h, every, wall_left_s)
        for flight in arrived:
            self._deliver(flight)

    @contextmanager
    def _timed(self) -> Iterator[None]:
        """Add the wall time of a strategy call to this event's thinking time (seconds)."""
        began = time.monotonic()
        try:
            yield
        finally:
            self._thinking_s += time.monotonic() - began

    @contextmanager
    def _seeded(self, tag: str) -> Iterator[None]:
        """Run a strategy call under random generators seeded by the campaign's state.

        torch's and NumPy's global generators are set from the campaign seed, the call and the
        numbers of decisions and results, then restored: a strategy that draws from them (random
        restarts of an acquisition optimiser, say) decides the same way in a run and in its
        resume after a crash.
        """
        import numpy as np
        import torch

        seed = _seed(self.config.seed, f"{tag}:{self.decisions}:{len(self.completed)}")
        state = np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            try:
                yield
            finally:
                np.random.set_state(state)

    # ------------------------------------------------------------------ launching

    def _launch(self, proposal: Proposal, resource: str, *, kind: str) -> None:
        self._guard()  # a decision may have taken minutes: no designs stored for a lost campaign
        index = self.decisions
        requests, runs, designs = [], [], []
        room = self._runs_left()
        for j, scored in enumerate(proposal.chosen if room == math.inf else proposal.chosen[:int(room)]):
            option = scored.option
            stored = self.store.add_designs(self.campaign, [option.design])[0]
            key = f"{self.campaign}:d{index:05d}:{j}"
            seed = _seed(self.config.seed, key)
            requests.append(Request(campaign=self.campaign, design_id=stored.id, source=option.source,
                                    protocol=option.protocol, seed=seed, idempotency_key=key))
            runs.append(_run_record(scored, stored.id, seed))
            designs.append((stored.id, stored.design))
        chosen = {"kind": kind, "strategy": self.strategy.name, "clock_h": self.clock_h, "resource": resource,
                  "runs": runs, "scores": plain_json(proposal.scores), "decide_seconds": self._thinking_s}
        runners = [_option_record(s) for s in proposal.runners_up]
        _, stored_requests = self.store.launch(self.campaign, requests, chosen, runners, proposal.reason,
                                               lease=self._fence)
        self.decisions += 1
        launched = []
        for request, run, (design_id, design) in zip(stored_requests, runs, designs, strict=True):
            self._claim(request.id)
            flight = self._flight(request, design_id, design, resource, self.clock_h, run.get("replicate_of"))
            self.flights[flight.request_id] = flight
            launched.append(flight)
        self.clock.launched(launched)

    def _flight(self, request: Any, design_id: str, design: Design, resource: str, started_h: float,
                replicate_of: str | None) -> Flight:
        estimate = self.plan.sources[request.source].estimate_cost(design, request.protocol)
        return Flight(request_id=request.id, key=request.idempotency_key, design_id=design_id, design=design,
                      source=request.source, resource=resource, protocol=request.protocol, seed=request.seed,
                      started_h=started_h, replicate_of=replicate_of, estimate=estimate)

    def _claim(self, request_id: str) -> None:
        """On the simulated clock, the campaign's process claims what it launched (its one 'claimed' entry).

        On the real clock the request waits in the queue for a worker.
        """
        if not self.clock.real:
            self.store.claim_request(request_id, WORKER, lease=self._fence)

    def _runs_left(self) -> int | float:
        """Runs ``stop.max_runs`` still allows, counting those in flight (inf: no limit)."""
        limit = self.config.stop.max_runs
        return math.inf if limit is None else max(0, limit - len(self.completed) - len(self.flights))

    def _can_launch(self, resource: str) -> bool:
        """Whether the budgets and the run limit leave room for another run on ``resource``."""
        if self._runs_left() <= 0:
            return False
        spent = self._spent(include_running=True)
        budget = self.budget
        if resource == CPU:
            return budget.cpu_hours is None or spent["cpu_hours"] < budget.cpu_hours
        return budget.lab_hours is None or spent["lab_hours"] < budget.lab_hours

    # ------------------------------------------------------------------ stopping, replicating, delivering

    def _stop(self, order: StopOrder) -> None:
        flight = self.flights.get(order.request_id)
        if flight is None or flight.stopped_at_h is not None:
            return
        if (flight.result is None) != self.clock.real:
            return  # simulated: not computed yet; real: its result has arrived, nothing left to stop
        done = flight.cycles_at(self.clock_h)
        cycle = max(1, min(order.after_cycle, done))
        if cycle >= flight.planned_cycles:
            return  # it ends by itself
        chosen = {"kind": "stop", "strategy": self.strategy.name, "clock_h": self.clock_h,
                  "request_id": flight.request_id, "after_cycle": cycle,
                  "predicted": plain_json(order.predicted)}
        self.store.log_decision(self.campaign, chosen, [], order.reason, request_id=flight.request_id,
                                lease=self._fence)
        self.decisions += 1
        self.clock.stopped(flight, cycle, self.clock_h, order.reason, self._fence)

    def _queue_replicates(self) -> None:
        """Queue the replicates a hit needs, on free channels of the highest-fidelity source."""
        highest = self.plan.highest_fidelity
        resource = self.plan.resource_of[highest]
        free = min(self._free().get(resource, 0), self._runs_left())
        if free <= 0 or not self._can_launch(resource):
            return
        protocol = self.plan.world.protocol
        missing = self.rule.missing(self.completed, list(self.flights.values()), free)
        chosen = [_replicate_option(design, design_id, highest, protocol,
                                    self.plan.sources[highest].estimate_cost(design, protocol))
                  for design_id, design in missing]
        if chosen:
            needed = self.config.stop.replicates
            reason = (f"verification: {len(chosen)} replicate test(s) of a design that met the target "
                      f"({needed} full-length runs must meet it)")
            self._launch(Proposal(chosen=tuple(chosen), reason=reason), resource, kind="replicate")

    def _deliver(self, flight: Flight) -> None:
        """Acknowledge a finished run, then check the target.

        On the simulated clock the engine stores the result, annotated with its campaign hours
        and verdict. On the real clock its worker stored it already; the engine logs its arrival
        (the hour, the verdict) as an ``arrived`` decision.
        """
        assert flight.result is not None
        if self.clock.real:
            result = flight.result  # as its worker stored it
            if result.status is not ResultStatus.STOPPED:
                flight.stop_after = flight.stopped_at_h = None  # the order came after its end
            meets = self._meets(flight, result)
            chosen = {"kind": "arrived", "clock_h": self.clock_h, "request_id": flight.request_id,
                      "result_id": flight.result_id, "started_h": flight.started_h, "meets_target": meets,
                      "stopped": flight.stopped_at_h is not None, "status": result.status.value}
            reason = (f"result of {flight.source} run {flight.key} arrived ({result.status.value}, "
                      f"{result.cycles_run or 0} cycles)")
            self.store.log_decision(self.campaign, chosen, [], reason, request_id=flight.request_id,
                                    lease=self._fence)
            self.decisions += 1
            del self.flights[flight.request_id]
            self._record(flight, result, arrival=chosen)
        else:
            result = self._annotated(flight)
            stored = self.store.submit_result(result, idempotency_key=flight.key,
                                              request_id=flight.request_id, lease=self._fence)
            del self.flights[flight.request_id]
            self._record(flight, stored.result)
        self._check_verified()

    def _meets(self, flight: Flight, result: Result) -> bool | None:
        """The verdict on a full-length highest-fidelity run; None for any other run."""
        if flight.source == self.plan.highest_fidelity and flight.stopped_at_h is None:
            return self.check.meets(result)
        return None

    def _annotated(self, flight: Flight) -> Result:
        assert flight.result is not None
        result = flight.result
        metadata = {**result.metadata, "campaign_clock": {"started_h": flight.started_h,
                                                          "finished_h": flight.end_h}}
        meets = self._meets(flight, result)
        if meets is not None:
            metadata["meets_target"] = meets
        if flight.stopped_at_h is not None:
            metadata["stopped_by"] = self.strategy.name
        return result.model_copy(update={"metadata": metadata})

    def _record(self, flight: Flight, result: Result, arrival: dict[str, Any] | None = None) -> None:
        """Add a run whose result is in to the completed runs (its hours and verdict from the store)."""
        if arrival is not None:
            clock = {"started_h": arrival["started_h"], "finished_h": arrival["clock_h"]}
            meets, stopped = arrival.get("meets_target"), bool(arrival.get("stopped"))
        else:
            clock = result.metadata.get("campaign_clock", {})
            meets, stopped = result.metadata.get("meets_target"), bool(result.metadata.get("stopped_by"))
        self.completed.append(CompletedRun(
            request_id=flight.request_id, design_id=flight.design_id, design=flight.design,
            source=flight.source, result=result, started_h=float(clock.get("started_h", flight.started_h)),
            finished_h=float(clock.get("finished_h", self.clock_h)), meets_target=meets,
            replicate_of=flight.replicate_of, stopped=stopped))

    def _check_verified(self) -> None:
        if self.verified is not None:
            return
        verdict = self.rule.verdict(self.completed, list(self.flights.values()), self.clock_h)
        if verdict is not None:
            chosen, reason = verdict
            self.store.log_decision(self.campaign, chosen, [], reason, lease=self._fence)
            self.decisions += 1
            self.verified = chosen

    # ------------------------------------------------------------------ state

    def _view(self) -> CampaignView:
        plan = self.plan
        spent = self._spent(include_running=True)
        budget = self.budget
        return CampaignView(
            campaign=self.campaign, store=self.store, design_space=plan.world.design_space,
            protocol=plan.world.protocol, target=plan.target, check=self.check,
            sources={name: source.spec for name, source in plan.sources.items()},
            resource_of=plan.resource_of,
            estimate_cost=lambda name, design, protocol: plan.sources[name].estimate_cost(design, protocol),
            highest_fidelity=plan.highest_fidelity, clock_h=self.clock_h, completed=list(self.completed),
            running=[f.view(self.clock_h) for f in self.flights.values()], free=self._free(),
            capacity=dict(plan.capacity),
            budget_left={"lab_hours": _left(budget.lab_hours, spent["lab_hours"]),
                         "cpu_hours": _left(budget.cpu_hours, spent["cpu_hours"])},
            seed=self.config.seed, decisions=self.decisions)

    def _free(self) -> dict[str, int]:
        busy: dict[str, int] = {}
        for flight in self.flights.values():
            busy[flight.resource] = busy.get(flight.resource, 0) + 1
        return {resource: slots - busy.get(resource, 0) for resource, slots in self.plan.capacity.items()}

    def _spent(self, *, include_running: bool) -> dict[str, float]:
        lab = sum(c.result.cost.lab_hours for c in self.completed)
        cpu = sum(c.result.cost.cpu_seconds for c in self.completed) / 3600.0
        if include_running:
            for flight in self.flights.values():
                lab += flight.cost.lab_hours
                cpu += flight.cost.cpu_seconds / 3600.0
        return {"lab_hours": lab, "cpu_hours": cpu}

    def _idle_status(self) -> str:
        limit = self.config.stop.max_runs
        if limit is not None and len(self.completed) >= limit:
            return "max_runs"
        budget = self.budget
        spent = self._spent(include_running=False)
        if (budget.lab_hours is not None and spent["lab_hours"] >= budget.lab_hours) or (
                budget.cpu_hours is not None and spent["cpu_hours"] >= budget.cpu_hours):
            return "budget"
        return "exhausted"

    def _last_reason(self) -> str:
        decisions = self.store.list_decisions(self.campaign)[-1:] if self.decisions else []
        return decisions[0].reason if decisions else ""

    def _restore(self) -> None:
        """Rebuild clock, flights, results and decisions from the store."""
        decisions = self.store.list_decisions(self.campaign)
        self.decisions = len(decisions)
        launches: dict[str, tuple[float, str, dict[str, Any]]] = {}
        stops: dict[str, tuple[int, float]] = {}
        arrivals: dict[str, dict[str, Any]] = {}
        for decision in decisions:
            chosen = decision.chosen
            kind = chosen.get("kind")
            self.clock_h = max(self.clock_h, float(chosen.get("clock_h", 0.0)))
            if kind in ("launch", "replicate"):
                for run in chosen.get("runs", []):
                    launches[run["request_id"]] = (float(chosen["clock_h"]), chosen["resource"], run)
            elif kind == "stop":
                stops[chosen["request_id"]] = (int(chosen["after_cycle"]), float(chosen["clock_h"]))
            elif kind == "arrived":
                arrivals[chosen["request_id"]] = chosen
            elif kind == "verified":
                self.verified = chosen
            elif kind == "finished":
                self.wall_before = float(chosen.get("spent", {}).get("wall_seconds", 0.0))
        self.budget, self.finished = budget_in_force(decisions, self.config.budget)
        results = {r.request_id: r for r in self.store.list_results(campaign=self.campaign) if r.request_id}
        requests = self.store.list_requests(self.campaign)
        relaunched, unacknowledged = [], []
        for request in requests:
            start_h, resource, run = launches[request.id]
            flight = self._flight(request, request.design_id, self.store.get_design(request.design_id).design,
                                  resource, start_h, run.get("replicate_of"))
            if request.id in results and (not self.clock.real or request.id in arrivals):
                self._record(flight, results[request.id].result, arrival=arrivals.get(request.id))
                continue
            if request.id in stops:
                flight.stop_after, flight.stopped_at_h = stops[request.id][0], stops[request.id][1]
            self.flights[request.id] = flight
            if self.clock.real:
                if request.id in results:  # it arrived while no engine ran
                    flight.result, flight.result_id = results[request.id].result, results[request.id].id
                    unacknowledged.append(flight)
                continue
            if request.status is RequestStatus.QUEUED:
                self._claim(request.id)  # decided and queued, never launched: launch it now, once
            relaunched.append(flight)
        self.clock.launched(relaunched)
        # The order results were delivered in: by finish, then by request key, as the clock delivers them.
        keys = {request.id: request.idempotency_key for request in requests}
        self.completed.sort(key=lambda c: (c.finished_h, keys.get(c.request_id, c.request_id)))
        if self.completed:
            self.clock_h = max(self.clock_h, max(c.finished_h for c in self.completed))
        # A crash between two deliveries of one event leaves runs that ended by now in flight;
        # deliver them before anything is decided, as the uninterrupted run did.
        for flight in unacknowledged if self.clock.real else due(list(self.flights.values()), self.clock_h):
            self._deliver(flight)
        if self.verified is None:
            self._check_verified()

    def _finish(self, status: str) -> None:
        spent = self._spent(include_running=False)
        wall = self.wall_before + time.monotonic() - self._began
        chosen = {"kind": "finished", "clock_h": self.clock_h, "status": status,
                  "discovery_h": self.verified["clock_h"] if self.verified else None,
                  "spent": {**spent, "wall_seconds": wall}, "candidates": self._candidates()}
        reason = (f"finished ({status}) after {self.clock_h:.0f} simulated hours: "
                  f"{len(self.completed)} runs, {spent['lab_hours']:.0f} lab hours")
        self.store.log_decision(self.campaign, chosen, [], reason, lease=self._fence)
        self.decisions += 1
        self.finished = chosen

    def _candidates(self, limit: int = 5) -> list[dict[str, Any]]:
        """The best designs by observed objective on full-length top-fidelity runs (worst run per design)."""
        highest = self.plan.highest_fidelity
        worst: dict[str, tuple[float, CompletedRun]] = {}
        for run in self.completed:
            counted = run.source == highest and run.meets_target is not None
            score = self.check.score(run.result) if counted else None
            if score is not None and (run.design_id not in worst or score < worst[run.design_id][0]):
                worst[run.design_id] = (score, run)
        ranked = sorted(worst.values(), key=lambda pair: -pair[0])[:limit]
        verified_id = self.verified["design_id"] if self.verified else None
        return [{"design_id": run.design_id, "design": dict(run.design.values),
                 "observed": {self._objective_name(): self.check.objective(run.result)},
                 "meets_target": bool(run.meets_target), "verified": run.design_id == verified_id}
                for _, run in ranked]

    def _objective_name(self) -> str:
        target = self.plan.target
        return target.objectives[0].observable if target.objectives else target.bounds[0].observable

    def _outcome(self, status: str) -> Outcome:
        spent = self._spent(include_running=False)
        wall = float(self.finished.get("spent", {}).get("wall_seconds", 0.0)) if self.finished else 0.0
        by_source: dict[str, dict[str, float]] = {}
        for run in self.completed:
            entry = by_source.setdefault(run.source, {"runs": 0, "lab_hours": 0.0, "cpu_hours": 0.0})
            entry["runs"] += 1
            entry["lab_hours"] += run.result.cost.lab_hours
            entry["cpu_hours"] += run.result.cost.cpu_seconds / 3600.0
        return Outcome(campaign=self.campaign, status=status, clock_h=self.clock_h,
                       discovery_h=self.verified["clock_h"] if self.verified else None,
                       verified_design=self.verified["design"] if self.verified else None,
                       runs=len(self.completed), spent={**spent, "wall_seconds": wall}, by_source=by_source)


def _left(budget: float | None, spent: float) -> float:
    """What a budget leaves (inf without one)."""
    return math.inf if budget is None else budget - spent


def _seed(root: int, key: str) -> int:
    """A run's seed: a hash of the campaign seed and the request key (new cell per request)."""
    return int(hashlib.sha256(f"{root}:{key}".encode()).hexdigest()[:12], 16)


def _run_record(scored: ScoredOption, design_id: str, seed: int) -> dict[str, Any]:
    option = scored.option
    return {"source": option.source, "design_id": design_id, "design": dict(option.design.values),
            "cycles": option.protocol.n_cycles, "seed": seed, "value": plain_json(scored.value),
            "cost": plain_json(scored.cost), "utility": plain_json(scored.utility),
            "predicted": plain_json(scored.predicted), "why": scored.why, "replicate_of": option.replicate_of}


def _option_record(scored: ScoredOption) -> dict[str, Any]:
    return {"source": scored.option.source, "design": dict(scored.option.design.values),
            "value": plain_json(scored.value), "cost": plain_json(scored.cost),
            "utility": plain_json(scored.utility), "predicted": plain_json(scored.predicted),
            "why": scored.why}


def _replicate_option(design: Design, design_id: str, source: str, protocol: Any, cost: Any) -> ScoredOption:
    from interphase.agent.options import Option

    hours = clock_hours(cost)
    option = Option(source=source, design=design, protocol=protocol, replicate_of=design_id)
    return ScoredOption(option=option, value=1.0, cost=hours, utility=1.0 / max(hours, 1e-9),
                        why="replicate of a hit")
