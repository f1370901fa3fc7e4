"""A small campaign written into a real store the way the campaign engine records it (for report tests).

The runs are real: ``pybamm-spm`` and the emulated ``lab-cell`` of the ``sei-life`` world over a
10-cycle horizon (about a second each; results are cached per process, sources being pure).
What the engine would add around them is written with the store's public API, following its
contract: the run configuration artifact, requests claimed and answered, each result's simulated
``campaign_clock`` and ``meets_target``, and the decisions (launch, stop, replicate, verified,
finished) with their forecasts.

The story, in simulated hours: five SPM screening runs on two CPU workers; then four lab tests
on four channels, forecast from the SPM values. One cell fails formation (an assembly defect),
one is stopped after cycle 5, one misses the target and one meets it. The failed cell's channel
takes a fifth design, which also meets the target; the first hit is replicated on a new cell,
which meets it too, so that design is verified. ``finished=False`` leaves out the final decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from interphase.agent.target import TargetCheck
from interphase.schema import (
    CampaignSpec,
    Design,
    Objective,
    ObservableBound,
    Protocol,
    Request,
    Result,
    StopRule,
    TargetSpec,
    canonical_hash,
)
from interphase.schema.run_config import Budget, RunConfig, StopRules
from interphase.sources import Source, world_source
from interphase.sources.world import World, load_world
from interphase.store import Store

WORLD = "sei-life"
HORIZON = 10
SPM, LAB = "pybamm-spm", "lab-cell"
RETENTION = "Capacity retention"
TARGET_RETENTION = 0.985
STOP_AFTER_CYCLE = 5
CPU_WORKERS = 2
BUDGET = Budget(lab_hours=2000.0, cpu_hours=1.0)
WORKER = "report-fixture"
FORECAST_OFFSET, FORECAST_STD = 0.004, 0.006  # the fixture's "model": the lab keeps a little less than SPM


@dataclass(frozen=True)
class WrittenCampaign:
    """What :func:`write_campaign` stored, for tests to compare against.

    Attributes:
        name: Campaign name.
        verified_design_id: The verified design (None when no design was verified).
        verified_h: Simulated hour of the verification.
        stopped_request_id: The lab test stopped early.
        model_sha256: The model artifact, when one was fitted.
    """

    name: str
    verified_design_id: str | None
    verified_h: float | None
    stopped_request_id: str
    model_sha256: str | None


@cache
def world() -> World:
    """The sei-life world."""
    return load_world(WORLD)


@cache
def _source(name: str) -> Source:
    return world_source(world(), name)


def protocol(stop_after: int | None = None) -> Protocol:
    """The world's protocol over :data:`HORIZON` cycles, optionally stopped after a cycle."""
    stop = StopRule(at_cycle=stop_after) if stop_after is not None else None
    return world().protocol.model_copy(update={"n_cycles": HORIZON, "stop": stop})


def campaign_spec(name: str) -> CampaignSpec:
    """sei-life over 10 cycles: retention >= 0.985 at the last cycle while charging at 1.5C or faster."""
    target = TargetSpec(bounds=(ObservableBound(observable=RETENTION, lower=TARGET_RETENTION),),
                        objectives=(Objective(observable=RETENTION, direction="maximize"),),
                        design_bounds={"Charge C-rate": (1.5, 2.0)})
    return CampaignSpec(name=name, description="Report fixture: fast-charging cells that keep their capacity",
                        design_space=world().design_space, protocol=protocol(), target=target,
                        sources=(SPM, LAB), seed=0)


def designs() -> list[Design]:
    """Six designs of the target region (Sobol points with the charge rate moved into [1.5, 2])."""
    space = world().design_space
    return [space.validate_design({**d.values, "Charge C-rate": 1.5 + 0.5 * ((i * 0.37) % 1.0)})
            for i, d in enumerate(space.sample_sobol(8, seed=3)[:6])]


@cache
def _run_cached(source: str, values_hash: str, protocol_json: str, seed: int, design_json: str) -> Result:
    design = Design.model_validate_json(design_json)
    return _source(source).run(design, Protocol.model_validate_json(protocol_json), seed=seed)


def run_source(source: str, design: Design, run_protocol: Protocol, seed: int) -> Result:
    """A real run of ``source`` (cached per process: sources are pure and seeded)."""
    return _run_cached(source, canonical_hash(design.values), run_protocol.model_dump_json(), seed,
                       design.model_dump_json())


def _setup(store: Store, name: str, strategy: str) -> CampaignSpec:
    spec = store.create_campaign(campaign_spec(name)).spec
    for source in (SPM, LAB):
        store.register_source(_source(source).spec)
    config = RunConfig(name=name, world=WORLD, strategy=strategy, budget=BUDGET, seed=0,
                       stop=StopRules(replicates=2))
    store.put_artifact(config.model_dump_json().encode(), "run-config", media_type="application/json",
                       metadata={"campaign": name})
    return spec


def write_empty_campaign(store: Store, name: str, *, strategy: str = "trial-and-error") -> CampaignSpec:
    """A campaign with its run configuration and sources, and no decision or result yet."""
    return _setup(store, name, strategy)


def forecast(spm_value: float) -> dict[str, float]:
    """The fixture's forecast of lab retention from the SPM's: mean, std, q05, q95, p_meet."""
    mean = spm_value - FORECAST_OFFSET
    z = (TARGET_RETENTION - mean) / FORECAST_STD
    return {"mean": mean, "std": FORECAST_STD, "q05": mean - 1.6449 * FORECAST_STD,
            "q95": mean + 1.6449 * FORECAST_STD, "p_meet": 0.5 * math.erfc(z / math.sqrt(2))}


def _hours(result: Result) -> float:
    """How long a run occupies its channel or worker, in hours."""
    return result.cost.lab_hours if result.cost.lab_hours > 0 else result.cost.cpu_seconds / 3600.0


class _Recorder:
    """Writes decisions, requests and results as the engine does, keeping what it delivered."""

    def __init__(self, store: Store, spec: CampaignSpec) -> None:
        assert spec.target is not None
        self.store, self.name = store, spec.name
        self.check = TargetCheck(spec.target, HORIZON, replicates=2)
        self.decisions = 0
        self.requests: dict[tuple[str, int], Any] = {}  # (source, seed) -> stored request
        self.delivered: list[tuple[str, str, Result]] = []  # (result id, design id, result)
        self.forecasts: dict[str, dict[str, float]] = {}  # design id -> forecast of retention

    def launch(self, kind: str, resource: str, clock_h: float, runs: list[dict[str, Any]],
               runners_up: list[dict[str, Any]], reason: str) -> None:
        records = []
        for j, run in enumerate(runs):
            design, source, seed = run["design"], run["source"], run["seed"]
            stored = self.store.add_designs(self.name, [design])[0]
            key = f"{self.name}:d{self.decisions:05d}:{j}"
            request = self.store.create_request(Request(
                campaign=self.name, design_id=stored.id, source=source, protocol=protocol(), seed=seed,
                idempotency_key=key))
            claimed = self.store.claim_next_request(WORKER, sources=[source], campaign=self.name)
            assert claimed is not None and claimed.id == request.id
            self.requests[(source, seed)] = request
            estimate = _source(source).estimate_cost(design, protocol())
            hours = estimate.lab_hours if estimate.lab_hours > 0 else estimate.cpu_seconds / 3600.0
            predicted = {RETENTION: run["forecast"]} if run.get("forecast") else {}
            if predicted:
                self.forecasts[stored.id] = run["forecast"]
            value = run["forecast"]["p_meet"] if predicted else 1.0
            records.append({"request_id": request.id, "source": source, "design_id": stored.id,
                            "design": dict(design.values), "cycles": HORIZON, "seed": seed, "value": value,
                            "cost": hours, "utility": value / hours, "predicted": predicted,
                            "why": run["why"], "replicate_of": run.get("replicate_of")})
        chosen = {"kind": kind, "strategy": "interphase", "clock_h": clock_h, "resource": resource,
                  "runs": records, "scores": {"model": "report fixture"}}
        self.store.log_decision(self.name, chosen, runners_up, reason)
        self.decisions += 1

    def stop(self, source: str, seed: int, clock_h: float, forecast_value: dict[str, float]) -> None:
        request = self.requests[(source, seed)]
        chosen = {"kind": "stop", "strategy": "interphase", "clock_h": clock_h, "request_id": request.id,
                  "after_cycle": STOP_AFTER_CYCLE, "predicted": forecast_value}
        reason = f"stop after cycle {STOP_AFTER_CYCLE}: the forecast p_meet is {forecast_value['p_meet']:.2f}"
        self.store.log_decision(self.name, chosen, [], reason, request_id=request.id)
        self.decisions += 1

    def deliver(self, source: str, seed: int, result: Result, started_h: float, finished_h: float) -> str:
        request = self.requests[(source, seed)]
        metadata = {**result.metadata, "campaign_clock": {"started_h": started_h, "finished_h": finished_h}}
        if result.protocol is not None and result.protocol.stop is not None:
            metadata["stopped_by"] = "interphase"
        elif source == LAB:
            metadata["meets_target"] = self.check.meets(result)
        stored = self.store.submit_result(result.model_copy(update={"metadata": metadata}),
                                          idempotency_key=request.idempotency_key, request_id=request.id)
        self.delivered.append((stored.id, stored.design_id, stored.result))
        return stored.id

    def log(self, chosen: dict[str, Any], reason: str) -> None:
        self.store.log_decision(self.name, chosen, [], reason)
        self.decisions += 1


def _runner(design: Design, source: str, forecast_value: dict[str, float] | None) -> dict[str, Any]:
    predicted = {RETENTION: forecast_value} if forecast_value else {}
    return {"source": source, "design": dict(design.values), "value": 0.1, "cost": 1.0, "utility": 0.1,
            "predicted": predicted, "why": "runner-up"}


SCREENED = (0, 1, 2, 3, 4)  # designs run on the SPM first
BATCH = (0, 2, 3, 4)  # the first lab tests, one per channel
LATE = 1  # the runner-up, launched on the first channel freed
STOPPED = 3  # the lab test stopped after cycle STOP_AFTER_CYCLE
SPM_SEED, LAB_SEED, REPLICATE_SEED = 10, 100, 200


def _lab_option(design: Design, seed: int, spm_value: float | None, why: str = "",
                replicate_of: str | None = None) -> dict[str, Any]:
    predicted = forecast(spm_value) if spm_value is not None else None
    return {"source": LAB, "design": design, "seed": seed, "forecast": predicted,
            "replicate_of": replicate_of,
            "why": why or (f"p_meet {predicted['p_meet']:.2f}" if predicted else "no forecast")}


def _screen(recorder: _Recorder, d: list[Design]) -> tuple[dict[int, float | None], float]:
    """The SPM screen on the CPU workers; returns each design's SPM retention and when the screen ended."""
    screen = [{"source": SPM, "design": d[i], "seed": SPM_SEED + i, "why": "space-filling screen"}
              for i in SCREENED]
    recorder.launch("launch", "cpu", 0.0, screen, [_runner(d[5], SPM, None)],
                    "no model yet: 5 Sobol designs on the SPM, the cheapest source")
    workers = [0.0] * CPU_WORKERS
    values = {}
    for i in SCREENED:
        result = run_source(SPM, d[i], protocol(), SPM_SEED + i)
        worker = min(range(CPU_WORKERS), key=workers.__getitem__)
        started = workers[worker]
        workers[worker] = started + _hours(result)
        recorder.deliver(SPM, SPM_SEED + i, result, started, workers[worker])
        values[i] = recorder.check.objective(result)
    return values, max(workers)


def write_campaign(store: Store, name: str, *, finished: bool = True, with_model: bool = False,
                   strategy: str = "interphase") -> WrittenCampaign:
    """Write the module docstring's campaign into ``store`` (see there for the story).

    Args:
        store: An initialised store.
        name: Campaign name.
        finished: Whether to log the ``finished`` decision.
        with_model: Whether to fit a tiny surrogate on the campaign and store it as its model.
        strategy: The strategy the run configuration names.

    Returns:
        What was written.
    """
    spec = _setup(store, name, strategy)
    recorder = _Recorder(store, spec)
    d = designs()
    spm, t0 = _screen(recorder, d)
    recorder.launch("launch", LAB, t0, [_lab_option(d[i], LAB_SEED + i, spm[i]) for i in BATCH],
                    [_runner(d[LATE], LAB, forecast(spm[LATE]) if spm[LATE] is not None else None)],
                    "4 free channels: the designs most likely to meet the target per lab hour")
    # Sources are pure, so every result (and so every hour) is known before it is written; the
    # records are then written in the order of the simulated clock, as the engine would.
    results = {i: run_source(LAB, d[i], protocol(STOP_AFTER_CYCLE if i == STOPPED else None), LAB_SEED + i)
               for i in BATCH}
    ends = {i: t0 + _hours(results[i]) for i in BATCH}
    free_channels = sorted(ends.values())
    events: list[tuple[float, int, Any]] = []  # (hour, order among events of that hour, action)
    for i in BATCH:
        if i == STOPPED:
            stop_forecast = {"mean": TARGET_RETENTION - 0.01, "std": FORECAST_STD, "p_meet": 0.05}
            events.append((ends[i], 0, partial(recorder.stop, LAB, LAB_SEED + i, ends[i], stop_forecast)))
        events.append((ends[i], 1, partial(recorder.deliver, LAB, LAB_SEED + i, results[i], t0, ends[i])))
    late_start = free_channels.pop(0)
    late_result = run_source(LAB, d[LATE], protocol(), LAB_SEED + LATE)
    late_end = late_start + _hours(late_result)
    events.append((late_start, 2, partial(recorder.launch, "launch", LAB, late_start,
                                          [_lab_option(d[LATE], LAB_SEED + LATE, spm[LATE], "next best")], [],
                                          "a channel is free: the best design not yet tested")))
    events.append((late_end, 1, partial(recorder.deliver, LAB, LAB_SEED + LATE, late_result, late_start,
                                        late_end)))
    verified: dict[str, Any] = {}
    hits = sorted((ends[i], i) for i in BATCH if i != STOPPED and recorder.check.meets(results[i]))
    if hits:
        events += _replicate(recorder, d, spm, hits[0], results, free_channels.pop(0), verified)
    for _, _, action in sorted(events, key=lambda event: (event[0], event[1])):
        action()
    if finished:
        _finish(recorder, max(hour for hour, _, _ in events), verified)
    return WrittenCampaign(name=name, verified_design_id=verified.get("design_id"),
                           verified_h=verified.get("clock_h"),
                           stopped_request_id=recorder.requests[(LAB, LAB_SEED + STOPPED)].id,
                           model_sha256=_fit_model(store, name) if with_model else None)


def _replicate(recorder: _Recorder, d: list[Design], spm: dict[int, float | None], hit: tuple[float, int],
               results: dict[int, Result], free_h: float,
               verified: dict[str, Any]) -> list[tuple[float, int, Any]]:
    """The first hit's replicate: its launch, its result and, if it meets the target too, the verification."""
    hit_h, i = hit
    design_id = recorder.store.add_designs(recorder.name, [d[i]])[0].id
    start = max(hit_h, free_h)
    result = run_source(LAB, d[i], protocol(), REPLICATE_SEED + i)
    end = start + _hours(result)

    def deliver() -> None:
        replicate_id = recorder.deliver(LAB, REPLICATE_SEED + i, result, start, end)
        if not recorder.check.meets(result):
            return
        hit_id = next(rid for rid, did, r in recorder.delivered if did == design_id and r.source == LAB)
        values = [recorder.check.objective(r) for r in (results[i], result)]
        verified.update({"kind": "verified", "clock_h": end, "design_id": design_id,
                         "design": dict(d[i].values), "objective": min(v for v in values if v is not None),
                         "runs": [hit_id, replicate_id]})
        recorder.log(dict(verified), "verified: 2 full-length lab-cell runs of one design met the target")

    option = _lab_option(d[i], REPLICATE_SEED + i, spm[i], "replicate of a hit", replicate_of=design_id)
    return [(start, 3, partial(recorder.launch, "replicate", LAB, start, [option], [],
                               f"replicate the hit {design_id[:8]} on a new cell")),
            (end, 1, deliver)]


def _finish(recorder: _Recorder, end_h: float, verified: dict[str, Any]) -> None:
    worst: dict[str, tuple[float, Result]] = {}
    for _, design_id, result in recorder.delivered:
        value = recorder.check.objective(result)
        if result.metadata.get("meets_target") is None or value is None:
            continue
        if design_id not in worst or value < worst[design_id][0]:
            worst[design_id] = (value, result)
    ranked = sorted(worst.items(), key=lambda item: -item[1][0])[:5]
    forecasts = recorder.forecasts
    candidates = [{"design_id": design_id, "design": dict(result.design.values),
                   "observed": {RETENTION: value},
                   "predicted": {RETENTION: forecasts[design_id]} if design_id in forecasts else {},
                   "meets_target": bool(result.metadata["meets_target"]),
                   "verified": design_id == verified.get("design_id")}
                  for design_id, (value, result) in ranked]
    spent = {"lab_hours": sum(r.cost.lab_hours for _, _, r in recorder.delivered),
             "cpu_hours": sum(r.cost.cpu_seconds for _, _, r in recorder.delivered) / 3600.0,
             "wall_seconds": 12.5}
    status = "verified" if verified else "exhausted"
    recorder.log({"kind": "finished", "clock_h": end_h, "status": status,
                  "discovery_h": verified.get("clock_h"), "spent": spent, "candidates": candidates},
                 f"finished ({status}) after {end_h:.0f} simulated hours: {len(recorder.delivered)} runs")


def _fit_model(store: Store, name: str) -> str:
    """A tiny surrogate fitted on the campaign, stored as its model artifact."""
    import torch

    from interphase.models.config import NetConfig
    from interphase.models.dataset import TrajectoryDataset
    from interphase.models.ensemble import EnsembleConfig
    from interphase.models.surrogate import Surrogate
    from interphase.models.training import TrainConfig

    torch.set_num_threads(1)
    observables = ["Discharge capacity [A.h]", "Resistance [Ohm]", RETENTION]
    dataset = TrajectoryDataset.from_store(store, world().design_space, observables=observables,
                                           campaign=name)
    net = NetConfig(hidden=16, latent_dim=4, depth=1, typical_cycles=HORIZON)
    config = EnsembleConfig(members=1, net=net, train=TrainConfig(epochs=3))
    return Surrogate.fit(dataset, config).save(store, metadata={"campaign": name})
