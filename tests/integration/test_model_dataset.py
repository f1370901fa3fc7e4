"""The model's dataset from a real store: real PyBaMM and lab-cell runs, hand-made edge cases,
shapes, masks, values at their positions, splits by design, bootstrap groups and provenance hashes.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from interphase.models.dataset import NO_SOURCE, TrajectoryDataset
from interphase.models.features import DesignFeatures
from interphase.schema import (
    OBSERVABLES,
    CampaignSpec,
    ContinuousVariable,
    Design,
    DesignSpace,
    FailureKind,
    InvalidInputError,
    Observation,
    Result,
    ResultStatus,
    StopRule,
)
from interphase.sources import get_source, run_safely, world_source
from interphase.sources.world import World, load_world
from interphase.store import Store
from support import factories

pytestmark = pytest.mark.timeout(120)

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
CAPACITY, RETENTION, RESISTANCE, SEI = ("Discharge capacity [A.h]", "Capacity retention", "Resistance [Ohm]",
                                         "SEI thickness [m]")
CONDUCTIVITY = "Conductivity [S.m-1]"
CYCLES = 5
CAMPAIGN = "model-data"


@dataclass(frozen=True)
class Runs:
    world: World
    designs: list[Design]
    results: list[Result]  # stored in this order
    spm_results: list[Result]
    conductivity: list[Result]
    conductivity_space: DesignSpace


def observation(name: str, cycle: float, value: float, index_unit: str = "cycle") -> Observation:
    return Observation(observable=name, index=cycle, index_unit=index_unit, value=value,
                       unit=OBSERVABLES.get(name).unit)


@pytest.fixture(scope="module")
def runs() -> Runs:
    """Real runs (computed once; sources are pure) and hand-made edge cases."""
    world = load_world("sei-life")
    protocol = world.protocol.model_copy(update={"n_cycles": CYCLES})
    designs = world.design_space.sample_sobol(10, seed=1)
    spm, lab = world_source(world, "pybamm-spm"), world_source(world, "lab-cell")
    spm_results = [run_safely(spm, designs[i], protocol, seed=i) for i in range(4)]
    stopped = run_safely(spm, designs[4], protocol.model_copy(update={"stop": StopRule(at_cycle=3)}), seed=4)
    lab_results = [run_safely(lab, designs[i], protocol, seed=100 + i) for i in range(3)]
    post = world_source(world, "post-mortem").spec
    post_mortem = Result(source=post.name, design=designs[0], protocol=protocol,
                         status=ResultStatus.SUCCEEDED, observations=(observation(SEI, CYCLES, 7.5e-9),),
                         provenance=factories.provenance(post), cycles_run=CYCLES)
    lab_spec = lab.spec
    failed = Result(source=lab_spec.name, design=designs[5], protocol=protocol, status=ResultStatus.FAILED,
                    failure_kind=FailureKind.DETERMINISTIC, message="short circuit at cycle 3",
                    observations=tuple(observation(CAPACITY, c, 5.0 - 0.01 * c) for c in (1, 2, 3))
                    + tuple(observation(RETENTION, c, (5.0 - 0.01 * c) / 4.98) for c in (1, 2, 3)),
                    provenance=factories.provenance(lab_spec, seed=5), cycles_run=3)
    robot = get_source("hte-robot")
    electrolyte = load_world("electrolyte-conductivity")
    formulations = [{"r": 0.6, "c [mol/kg]": 1.0}, {"r": 0.3, "c [mol/kg]": 1.5}]
    conductivity = [run_safely(robot, electrolyte.design_space.validate_design(f), electrolyte.protocol,
                               seed=0) for f in formulations]
    assert all(r.status is ResultStatus.SUCCEEDED for r in [*spm_results, *conductivity])
    assert stopped.status is ResultStatus.STOPPED and stopped.cycles_run == 3
    return Runs(world, designs, [*spm_results, stopped, *lab_results, post_mortem, failed, *conductivity],
                spm_results, conductivity, electrolyte.design_space)


def fill(store: Store, runs: Runs, unlabelled: int = 2) -> dict[int, str]:
    """Store the campaign, every run and ``unlabelled`` designs without results; position → result id."""
    store.create_campaign(CampaignSpec(name=CAMPAIGN, design_space=runs.world.design_space,
                                       protocol=runs.world.protocol.model_copy(update={"n_cycles": CYCLES})))
    for name in ("pybamm-spm", "lab-cell", "post-mortem"):
        store.register_source(world_source(runs.world, name).spec)
    store.register_source(get_source("hte-robot").spec)
    store.add_designs(CAMPAIGN, runs.designs[6:6 + unlabelled])
    ids = {}
    for position, result in enumerate(runs.results):
        campaign = CAMPAIGN if result.source != "hte-robot" else None
        ids[position] = store.submit_result(result, idempotency_key=f"run-{position}", campaign=campaign).id
    return ids


def build(store: Store, runs: Runs, **kwargs: object) -> TrajectoryDataset:
    return TrajectoryDataset.from_store(store, runs.world.design_space, **kwargs)  # type: ignore[arg-type]


def test_records_shapes_sources_and_flags(store: Store, runs: Runs) -> None:
    ids = fill(store, runs)
    data = build(store, runs)
    batch = data.batch
    n_results = len(runs.results) - len(runs.conductivity)
    assert len(data) == len(batch) == n_results + 2
    assert data.skipped == len(runs.conductivity)  # their designs are not in the sei-life space
    assert [r.result_id for r in data.records[:n_results]] == [ids[i] for i in range(n_results)]
    assert data.horizon == CYCLES and batch.u.shape == (len(data), CYCLES, 4)
    seen = {o: [ob.value for r in runs.results[:n_results] for ob in r.observations if ob.observable == o]
            for o in OBSERVABLES.names}
    # By default a column that never varies (SPM's loss of active material) is left out.
    expected = [o for o, values in seen.items() if values and max(values) > min(values)]
    assert "Loss of active material in positive electrode [%]" not in expected
    assert data.observables == expected and data.cond_observables == [] and data.conditions == []
    assert batch.y.shape == batch.y_mask.shape == (len(data), CYCLES, len(expected))
    assert batch.x.shape == (len(data), 8) and batch.cond_y.shape == (len(data), 0, 0)
    assert data.source_names == ["pybamm-spm", "lab-cell", "post-mortem", NO_SOURCE]
    assert data.source_fidelity == {"pybamm-spm": 10, "lab-cell": 100, "post-mortem": 100}
    assert [data.source_names[i] for i in batch.source.tolist()] == [r.source for r in data.records]
    statuses = [r.status for r in data.records]
    assert batch.failed.tolist() == [float(s == "failed") for s in statuses]
    assert batch.has_result.tolist() == [1.0] * n_results + [0.0, 0.0]
    assert statuses[-2:] == [None, None] and all(r.source == NO_SOURCE for r in data.records[-2:])
    x, _ = DesignFeatures(runs.world.design_space).encode([r.design for r in data.records])
    assert torch.equal(batch.x, x) and bool((batch.x_mask == 1).all())
    # The stopped run covers 3 cycles, the failed one its prefix of 3; designs without results none.
    expected_cycles = [min(r.cycles_run or 0, CYCLES) for r in runs.results[:n_results]]
    assert batch.cycles.tolist() == [*expected_cycles, 0, 0]


def test_y_equals_stored_values_where_masked_in(store: Store, runs: Runs) -> None:
    fill(store, runs)
    data = build(store, runs)
    batch = data.batch
    expected_mask = torch.zeros_like(batch.y_mask)
    for row, record in enumerate(data.records):
        if record.result_id is None:
            continue
        for obs in store.get_result(record.result_id).result.observations:
            if obs.observable == RETENTION and obs.index < 2:
                continue  # relative to cycle 2, so masked out at cycle 1
            if obs.observable not in data.observables:  # a constant column, left out by default
                assert obs.observable.startswith("Loss of active material")
                continue
            column, t = data.observables.index(obs.observable), int(obs.index) - 1
            assert batch.y[row, t, column].item() == pytest.approx(obs.value, rel=1e-6)
            expected_mask[row, t, column] = 1.0
    assert torch.equal(batch.y_mask, expected_mask)
    assert float(batch.y[batch.y_mask == 0].abs().sum()) == 0.0
    retention = data.observables.index(RETENTION)
    assert batch.y_mask[:, 0, retention].sum() == 0 and batch.y_mask[0, 1:, retention].sum() == CYCLES - 1
    sei = data.observables.index(SEI)
    post = next(i for i, r in enumerate(data.records) if r.source == "post-mortem")
    assert batch.y_mask[post].sum() == 1 and batch.y_mask[post, CYCLES - 1, sei] == 1
    assert batch.y[post, CYCLES - 1, sei].item() == pytest.approx(7.5e-9)
    failed = next(i for i, r in enumerate(data.records) if r.status == "failed" and r.cycles_run == 3)
    assert batch.failed[failed] == 1 and batch.y_mask[failed, 3:].sum() == 0
    assert batch.y_mask[failed, :3, data.observables.index(CAPACITY)].tolist() == [1, 1, 1]
    stopped = next(i for i, r in enumerate(data.records) if r.status == "stopped")
    assert batch.failed[stopped] == 0 and batch.cycles[stopped] == 3 and batch.y_mask[stopped, 3:].sum() == 0
    assert batch.y_mask[-2:].sum() == 0


def test_controls_come_from_each_design(store: Store, runs: Runs) -> None:
    fill(store, runs)
    data = build(store, runs)
    layout = data.features.controls
    for row, record in enumerate(data.records):
        expected = layout.scale(layout.values_si(record.design, None))
        assert data.batch.u[row].numpy() == pytest.approx(np.tile(expected, (CYCLES, 1)), abs=1e-6)


def test_condition_indexed_observations_fill_cond_y(store: Store, runs: Runs) -> None:
    fill(store, runs)
    data = TrajectoryDataset.from_store(store, runs.conductivity_space, sources=["hte-robot"])
    assert data.skipped == 0 and len(data) == 2 and data.observables == []
    assert data.cond_observables == [CONDUCTIVITY] and data.source_names == ["hte-robot", NO_SOURCE]
    assert data.conditions == sorted({o.index for r in runs.conductivity for o in r.observations})
    assert data.batch.cond_y.shape == (2, len(data.conditions), 1)
    for row, result in enumerate(runs.conductivity):
        for obs in result.observations:
            c = data.conditions.index(obs.index)
            assert data.batch.cond_y[row, c, 0].item() == pytest.approx(obs.value, rel=1e-6)
    assert data.batch.cond_mask.sum() == sum(len(r.observations) for r in runs.conductivity)
    assert data.horizon == 1 and data.batch.y.shape == (2, 1, 0)
    loc, scale = data.cond_scale()
    assert loc.shape == scale.shape == (1,) and scale.item() > 0


def test_split_is_by_design_and_bootstrap_keeps_designs_whole(store: Store, runs: Runs) -> None:
    fill(store, runs, unlabelled=4)
    data = build(store, runs)
    groups = data.design_groups()
    assert len(set(groups.tolist())) < len(data)  # designs 0-2 have several records
    train, holdout = data.split(0.4, seed=3)
    assert sorted(train.tolist() + holdout.tolist()) == list(range(len(data)))
    assert not set(groups[train].tolist()) & set(groups[holdout].tolist())
    labelled = set(groups[data.batch.has_result > 0].tolist())
    assert len(set(groups[holdout].tolist())) == round(0.4 * len(labelled))
    assert bool((data.batch.has_result[holdout] == 1).all())
    assert torch.equal(data.split(0.4, seed=3)[1], holdout)
    assert not torch.equal(data.split(0.4, seed=4)[1], holdout)
    assert data.split(0.0, seed=3)[1].numel() == 0
    with pytest.raises(InvalidInputError, match="holdout_fraction"):
        data.split(1.0, seed=0)
    rows = data.bootstrap(seed=5, rows=train)
    assert set(rows.tolist()) <= set(train.tolist())
    size = Counter(groups[train].tolist())
    drawn = Counter(groups[rows].tolist())
    assert sum(c // size[g] for g, c in drawn.items()) == len(size)  # as many designs drawn as there are
    for g, count in drawn.items():  # whole designs only: each record of a drawn design equally often
        members = Counter(r for r in rows.tolist() if groups[r] == g)
        assert set(members.values()) == {count // size[g]} and len(members) == size[g]
    assert torch.equal(data.bootstrap(seed=5, rows=train), rows)


def test_scale_snapshot_and_options(store: Store, runs: Runs) -> None:
    fill(store, runs)
    data = build(store, runs)
    loc, scale = data.observable_scale()
    assert loc.shape == scale.shape == (len(data.observables),) and bool((scale > 0).all())
    capacity = data.observables.index(CAPACITY)
    observed = data.batch.y[..., capacity][data.batch.y_mask[..., capacity] > 0].double().numpy()
    assert loc[capacity].item() == pytest.approx(float(np.median(observed)), rel=1e-5)
    first = data.snapshot_hash()
    assert build(store, runs).snapshot_hash() == first
    assert build(store, runs, horizon=3).snapshot_hash() != first
    short = build(store, runs, observables=[RETENTION, CAPACITY], horizon=3, include_unlabelled=False,
                  sources=["lab-cell", "pybamm-spm"])
    assert short.batch.y.shape == (len(short), 3, 2)
    assert short.source_names == ["lab-cell", "pybamm-spm", NO_SOURCE]
    assert {r.source for r in short.records} == {"lab-cell", "pybamm-spm"}
    corrected = runs.spm_results[0].model_copy(update={"message": "re-analysed"})
    old = short.records[0].result_id
    assert old is not None
    store.correct_result(old, corrected, idempotency_key="fix-0")
    fixed = build(store, runs)
    assert old not in {r.result_id for r in fixed.records} and len(fixed) == len(data)
    assert fixed.snapshot_hash() != first
    with pytest.raises(InvalidInputError, match="unknown observable"):
        build(store, runs, observables=["Happiness [1]"])
    with pytest.raises(InvalidInputError, match="horizon"):
        build(store, runs, horizon=0)


def test_designs_outside_the_space_are_skipped(store: Store, runs: Runs) -> None:
    fill(store, runs, unlabelled=0)
    narrow = DesignSpace(variables=tuple(
        v.model_copy(update={"upper": v.lower + 1e-9 * abs(v.lower)}) if v.name == "Charge C-rate" else v
        for v in runs.world.design_space.variables if isinstance(v, ContinuousVariable)))
    data = TrajectoryDataset.from_store(store, narrow, campaign=CAMPAIGN)
    assert len(data) == 0 and data.skipped == len(runs.results) - len(runs.conductivity)
    assert data.batch.y.shape[0] == 0 and data.source_names == [NO_SOURCE]
