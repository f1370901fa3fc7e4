"""The emulated lab with real PyBaMM solves: what ``lab-cell`` and ``post-mortem`` report and
cost, stop rules, failures at their configured rates, a truth that never leaks, and worlds
a user writes.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from scipy.stats import binom
from sqlalchemy import MetaData, select
from typer.testing import CliRunner

from interphase.cli.main import app
from interphase.execution import LocalExecutor, RunTask
from interphase.schema import (
    Design,
    FailureKind,
    InvalidInputError,
    Protocol,
    Result,
    ResultStatus,
    StopRule,
    Technique,
)
from interphase.sources import (
    SourceError,
    get_source,
    resolve_source,
    run_safely,
    source_kinds,
    world_source,
    world_sources,
)
from interphase.sources.lab import EmulatedLab, LabCellSource, PostMortemSource
from interphase.sources.lab.hours import estimate_cycle_hours
from interphase.sources.world import World, load_world
from interphase.store import Store
from interphase.store.io import export_csv, export_jsonld, export_parquet

pytestmark = pytest.mark.timeout(180)

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
CAPACITY = "Discharge capacity [A.h]"
RETENTION = "Capacity retention"
RESISTANCE = "Resistance [Ohm]"
SEI = "SEI thickness [m]"
LAB_OBSERVABLES = (CAPACITY, RETENTION, RESISTANCE)
ASSEMBLY_DEFECT = "assembly defect"
SHORT_CIRCUIT = "short circuit"
SEED = 20261125
CYCLES = 8


# ----------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("sei-life")


@pytest.fixture(scope="module")
def lab_cell() -> LabCellSource:
    source = get_source("lab-cell")
    assert isinstance(source, LabCellSource)
    return source


@pytest.fixture(scope="module")
def post_mortem() -> PostMortemSource:
    source = get_source("post-mortem")
    assert isinstance(source, PostMortemSource)
    return source


@pytest.fixture(scope="module")
def centre(world: World) -> Design:
    return world.design_space.from_unit_cube(np.full((1, world.design_space.dim), 0.5))[0]


@pytest.fixture(scope="module")
def short_protocol(world: World) -> Protocol:
    return world.protocol.model_copy(update={"n_cycles": CYCLES})


@pytest.fixture(scope="module")
def cold_fast(world: World, centre: Design) -> Design:
    """Cold, fast charging to a high cut-off: the truth's plating shorts this cell."""
    return world.design_space.validate_design({**centre.values, "Ambient temperature [K]": 283.15,
                                               "Charge C-rate": 2.0, "Charge cut-off voltage [V]": 4.2})


@pytest.fixture(scope="module")
def good_seeds(lab_cell: LabCellSource, centre: Design, short_protocol: Protocol) -> list[int]:
    """Three seeds whose centre cell passes formation (about 3 % of cells do not)."""
    one_cycle = stopped_at(short_protocol, 1)
    seeds = [seed for seed in range(SEED, SEED + 20)
             if lab_cell.run(centre, one_cycle, seed=seed).status is ResultStatus.STOPPED]
    assert len(seeds) >= 3
    return seeds[:3]


@pytest.fixture(scope="module")
def full_test(lab_cell: LabCellSource, centre: Design, short_protocol: Protocol,
              good_seeds: list[int]) -> Result:
    result = lab_cell.run(centre, short_protocol, seed=good_seeds[0])
    assert result.status is ResultStatus.SUCCEEDED, result.message
    return result


def stopped_at(protocol: Protocol, cycle: int | None = None, **condition: Any) -> Protocol:
    return protocol.model_copy(update={"stop": StopRule(at_cycle=cycle, **condition)})


def values(result: Result, observable: str) -> list[float]:
    return [o.value for o in result.observations if o.observable == observable]


def first_cycles(result: Result, cycles: int) -> tuple:
    return tuple(o for o in result.observations if o.index <= cycles)


def find_defect(source: LabCellSource, design: Design, protocol: Protocol) -> int:
    """A seed whose cell of ``design`` fails formation."""
    one_cycle = stopped_at(protocol, 1)
    for seed in range(SEED, SEED + 400):
        if source.run(design, one_cycle, seed=seed).metadata.get("failure_cause") == ASSEMBLY_DEFECT:
            return seed
    raise AssertionError("no defective cell in 400 seeds")


# ----------------------------------------------------------------- lab-cell: what it reports


def test_lab_cell_declares_what_a_cycler_sees(lab_cell: LabCellSource, world: World) -> None:
    spec = lab_cell.spec
    assert spec.name == "lab-cell"
    assert spec.observables == LAB_OBSERVABLES
    assert spec.technique is Technique.EXPERIMENT
    assert spec.fidelity == 100
    assert lab_cell.channels == world.resources.lab_channels == 4
    assert spec.cost_model["formation_hours"] == 24.0
    assert spec.version.startswith("1+pybamm") and ".truth-" in spec.version
    assert lab_cell.default_protocol == world.protocol


def test_lab_cell_reports_only_capacity_retention_and_resistance(
        lab_cell: LabCellSource, world: World, full_test: Result, cold_fast: Design) -> None:
    results = [full_test, lab_cell.run(cold_fast, full_test.protocol, seed=SEED)]
    results += [lab_cell.run(design, stopped_at(full_test.protocol, 3), seed=SEED + i)
                for i, design in enumerate(world.design_space.sample_sobol(6, seed=5))]
    assert any(r.status is ResultStatus.FAILED for r in results)  # a failed test leaks nothing either
    for result in results:
        names = {o.observable for o in result.observations}
        assert names <= set(LAB_OBSERVABLES), names
        assert not any(word in name for name in names for word in ("SEI", "plating", "Loss of"))
        assert all(o.value > 0 and o.index_unit == "cycle" for o in result.observations)
        assert result.cost.cpu_seconds == 0.0  # the lab charges channel time only
        if result.cycles_run and result.cycles_run >= 2:
            assert values(result, RETENTION)[1] == 1.0  # relative to cycle 2
    counts = Counter(o.observable for o in full_test.observations)
    assert counts == {name: CYCLES for name in LAB_OBSERVABLES}
    capacity = values(full_test, CAPACITY)
    assert all(3.5 < c < 5.5 for c in capacity)  # an LG M50 of about 5 A.h
    assert all(0.01 < r < 5 for r in values(full_test, RESISTANCE))
    assert values(full_test, RETENTION) == pytest.approx([c / capacity[1] for c in capacity], rel=1e-12)


def test_a_run_is_deterministic_for_its_seed(lab_cell: LabCellSource, world: World, centre: Design,
                                             full_test: Result, good_seeds: list[int]) -> None:
    again = lab_cell.run(centre, full_test.protocol, seed=good_seeds[0])
    assert again == full_test
    # A lab that never saw this cell builds and cycles it to the same readings.
    fresh = EmulatedLab(lab_cell.lab.truth, world.design_space)
    test = fresh.test(centre, full_test.protocol, good_seeds[0])
    assert test.observed == full_test.observations
    assert test.cell_id == full_test.metadata["cell"]
    assert test.cycle_hours == pytest.approx(full_test.metadata["cycle_hours"], abs=1e-6)


def test_cells_of_one_design_differ_from_seed_to_seed(lab_cell: LabCellSource, centre: Design,
                                                      full_test: Result, good_seeds: list[int]) -> None:
    others = [lab_cell.run(centre, full_test.protocol, seed=seed) for seed in good_seeds[1:]]
    cells = {full_test.metadata["cell"], *(r.metadata["cell"] for r in others)}
    assert len(cells) == 3
    first_capacity = {values(r, CAPACITY)[0] for r in (full_test, *others)}
    assert len(first_capacity) == 3  # cell-to-cell spread and noise
    for other in others:
        assert other.design == full_test.design
        assert other.status is ResultStatus.SUCCEEDED
        # About 5 % spread: the cells differ, but they are cells of the same design.
        assert values(other, CAPACITY) == pytest.approx(values(full_test, CAPACITY), rel=0.2)
        assert values(other, CAPACITY) != values(full_test, CAPACITY)


# ----------------------------------------------------------------- stop rules and lab hours


def test_a_stopped_test_is_the_first_cycles_of_the_full_test(
        lab_cell: LabCellSource, centre: Design, full_test: Result, good_seeds: list[int]) -> None:
    seed, formation = good_seeds[0], lab_cell.config.formation_hours
    stopped = lab_cell.run(centre, stopped_at(full_test.protocol, 3), seed=seed)
    assert stopped.status is ResultStatus.STOPPED
    assert stopped.failure_kind is None
    assert stopped.cycles_run == 3
    assert stopped.message == "stopped after cycle 3 as the protocol asked (stop at cycle 3)"
    assert stopped.observations == first_cycles(full_test, 3)
    assert stopped.metadata["cell"] == full_test.metadata["cell"]
    # It charges formation and the three cycles it ran, no more.
    assert stopped.cost.lab_hours == pytest.approx(formation + stopped.metadata["cycle_hours"], abs=1e-5)
    assert full_test.cost.lab_hours == pytest.approx(formation + full_test.metadata["cycle_hours"], abs=1e-5)
    assert formation < stopped.cost.lab_hours < full_test.cost.lab_hours
    three = lab_cell.run(centre, full_test.protocol.model_copy(update={"n_cycles": 3}), seed=seed)
    assert three.status is ResultStatus.SUCCEEDED and three.cycles_run == 3
    assert stopped.metadata["cycle_hours"] == pytest.approx(three.metadata["cycle_hours"], rel=1e-9)
    assert stopped.cost.lab_hours == pytest.approx(three.cost.lab_hours, rel=1e-9)
    # The cycle hours are what the cycles took; the estimate comes close.
    estimate = estimate_cycle_hours(centre, full_test.protocol, lab_cell.config.cv_hold_hours)
    assert stopped.metadata["cycle_hours"] / 3 == pytest.approx(estimate, rel=0.3)


def test_a_condition_stops_at_the_first_cycle_that_crosses_it(
        lab_cell: LabCellSource, centre: Design, full_test: Result, good_seeds: list[int]) -> None:
    seed, protocol = good_seeds[0], full_test.protocol
    # Every capacity is above zero, so the test stops after cycle 1.
    at_once = lab_cell.run(centre, stopped_at(protocol, observable=CAPACITY, above=0.0), seed=seed)
    assert at_once.status is ResultStatus.STOPPED and at_once.cycles_run == 1
    assert at_once.message.startswith(f"{CAPACITY} crossed its threshold in cycle 1")
    one_cycle = lab_cell.run(centre, stopped_at(protocol, 1), seed=seed)
    # Cycle 1 alone has no retention (its reference is cycle 2), whatever stopped the test.
    assert at_once.observations == one_cycle.observations
    assert [o for o in first_cycles(full_test, 1) if o.observable != RETENTION] == list(at_once.observations)
    assert values(at_once, CAPACITY) == values(one_cycle, CAPACITY)
    assert values(at_once, RESISTANCE) == values(one_cycle, RESISTANCE)
    assert at_once.cost.lab_hours == pytest.approx(one_cycle.cost.lab_hours, rel=1e-9)
    # Just above the lowest reading of cycles 1-7: crossed first there or, with noise, sooner.
    capacity = values(full_test, CAPACITY)
    threshold = min(capacity[:-1]) * (1 + 1e-9)
    expected = next(cycle for cycle, c in enumerate(capacity, start=1) if c < threshold)
    assert 1 < expected < CYCLES
    stopped = lab_cell.run(centre, stopped_at(protocol, observable=CAPACITY, below=threshold), seed=seed)
    assert stopped.status is ResultStatus.STOPPED and stopped.cycles_run == expected
    assert stopped.observations == first_cycles(full_test, expected)
    assert stopped.cost.lab_hours < full_test.cost.lab_hours


def test_a_test_stopped_after_cycle_1_reports_the_same_whatever_stopped_it(
        lab_cell: LabCellSource, centre: Design, full_test: Result, good_seeds: list[int]) -> None:
    seed, protocol = good_seeds[0], full_test.protocol
    by_condition = lab_cell.run(centre, stopped_at(protocol, observable=CAPACITY, above=0.0), seed=seed)
    by_cycle = lab_cell.run(centre, stopped_at(protocol, 1), seed=seed)
    assert by_cycle.cycles_run == by_condition.cycles_run == 1
    assert values(by_cycle, RETENTION) == []
    assert by_condition.observations == by_cycle.observations


def test_a_rule_that_never_fires_leaves_the_test_whole(lab_cell: LabCellSource, centre: Design,
                                                       full_test: Result, good_seeds: list[int]) -> None:
    for rule in ({"at_cycle": CYCLES}, {"observable": RETENTION, "below": 0.1}):
        result = lab_cell.run(centre, full_test.protocol.model_copy(update={"stop": StopRule(**rule)}),
                              seed=good_seeds[0])
        assert result.status is ResultStatus.SUCCEEDED and result.cycles_run == CYCLES
        assert result.observations == full_test.observations
        assert result.cost == full_test.cost


def test_estimated_hours_grow_with_slower_rates_and_shrink_with_a_stop(
        lab_cell: LabCellSource, world: World, centre: Design) -> None:
    protocol = world.protocol  # 200 cycles
    formation, hold = lab_cell.config.formation_hours, lab_cell.config.cv_hold_hours
    estimates = []
    for rate in (2.0, 1.0, 0.5, 0.3):
        design = world.design_space.validate_design({**centre.values, "Charge C-rate": rate})
        cost = lab_cell.estimate_cost(design, protocol)
        assert cost.cpu_seconds == 0.0
        # CC charge, CV hold, 10 min rest, CC discharge, 10 min rest.
        cycle = 1 / rate + hold + 1 / 6 + 1 / centre.values["Discharge C-rate"] + 1 / 6
        assert cost.lab_hours == pytest.approx(formation + 200 * cycle, rel=1e-12)
        estimates.append(cost.lab_hours)
    assert estimates == sorted(estimates) and len(set(estimates)) == 4
    slow_discharge = world.design_space.validate_design({**centre.values, "Discharge C-rate": 0.5})
    assert lab_cell.estimate_cost(slow_discharge, protocol).lab_hours > \
        lab_cell.estimate_cost(centre, protocol).lab_hours
    full = lab_cell.estimate_cost(centre, protocol).lab_hours
    stopped = lab_cell.estimate_cost(centre, stopped_at(protocol, 20)).lab_hours
    assert stopped == pytest.approx(formation + (full - formation) / 10, rel=1e-12)
    assert stopped < full
    # A condition may never fire: the estimate plans for every cycle.
    condition = stopped_at(protocol, observable=RETENTION, below=0.8)
    assert lab_cell.estimate_cost(centre, condition).lab_hours == full


# ----------------------------------------------------------------- failures


def test_assembly_defects_occur_at_the_configured_rate(
        lab_cell: LabCellSource, world: World, short_protocol: Protocol) -> None:
    # 200 one-cycle tests take a few seconds.
    n_designs = 200
    rate = lab_cell.lab.truth.failures.assembly_defect_rate
    assert rate == 0.03
    protocol, formation = stopped_at(short_protocol, 1), lab_cell.config.formation_hours
    results = [lab_cell.run(design, protocol, seed=SEED)
               for design in world.design_space.sample_sobol(n_designs, seed=11)]
    defects = [r for r in results if r.metadata.get("failure_cause") == ASSEMBLY_DEFECT]
    low, high = binom.interval(0.999, n_designs, rate)
    assert low <= len(defects) <= high, len(defects)
    assert defects, "no defect at all: the failure path went untested"
    for defect in defects:
        assert defect.status is ResultStatus.FAILED
        assert defect.failure_kind is FailureKind.DETERMINISTIC
        assert defect.cycles_run == 0
        assert defect.observations == ()
        assert defect.cost.lab_hours == formation
        assert defect.metadata["formed"] is False
        assert "assembly defect" in defect.message
    for result in results:
        if result not in defects:
            assert result.status is ResultStatus.STOPPED and result.cycles_run == 1
            assert result.cost.lab_hours > formation


def test_a_defective_cell_is_defective_whatever_the_protocol(
        lab_cell: LabCellSource, world: World, centre: Design, short_protocol: Protocol) -> None:
    seed = find_defect(lab_cell, centre, short_protocol)
    for protocol in (world.protocol, short_protocol, stopped_at(short_protocol, 5)):
        result = lab_cell.run(centre, protocol, seed=seed)
        assert result.metadata["failure_cause"] == ASSEMBLY_DEFECT
        assert (result.cycles_run, result.cost.lab_hours) == (0, lab_cell.config.formation_hours)


@pytest.fixture(scope="module")
def short_prone_lab(tmp_path_factory: pytest.TempPathFactory) -> LabCellSource:
    """sei-life with a low short-circuit threshold (0.1 A.h lost to plating), so short tests see shorts.

    On the built-in truth, a cold fast-charged cell loses about 0.03 A.h to plating by
    cycle 2 and 0.15 A.h by cycle 8; the centre design about 0.03 A.h by cycle 8.
    """
    data = yaml.safe_load(files("interphase").joinpath("worlds/sei-life.yaml").read_text(encoding="utf-8"))
    data["name"] = "short-prone"
    data["truth"]["failures"]["short_circuit_plated_capacity_ah"] = 0.1
    path = tmp_path_factory.mktemp("worlds") / "short-prone.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    source = world_source(load_world(path), "lab-cell")
    assert isinstance(source, LabCellSource)
    return source


def test_plating_past_the_threshold_shorts_the_cell(short_prone_lab: LabCellSource, cold_fast: Design,
                                                    centre: Design, short_protocol: Protocol) -> None:
    lab_cell = short_prone_lab
    assert lab_cell.run(centre, short_protocol, seed=SEED + 1).metadata.get("failure_cause") != SHORT_CIRCUIT
    shorted = lab_cell.run(cold_fast, short_protocol, seed=SEED)
    assert shorted.status is ResultStatus.FAILED
    assert shorted.failure_kind is FailureKind.DETERMINISTIC
    assert shorted.metadata["failure_cause"] == SHORT_CIRCUIT
    assert shorted.metadata["formed"] is True
    lost = shorted.cycles_run
    assert lost is not None and 0 < lost < CYCLES
    assert f"internal short circuit during cycle {lost + 1}" in shorted.message
    assert {o.index for o in shorted.observations} == set(map(float, range(1, lost + 1)))
    # The cycle the cell shorted in is charged too.
    before = lab_cell.run(cold_fast, stopped_at(short_protocol, lost), seed=SEED)
    assert before.observations == shorted.observations
    assert shorted.metadata["cycle_hours"] > before.metadata["cycle_hours"]
    assert shorted.cost.lab_hours == pytest.approx(
        lab_cell.config.formation_hours + shorted.metadata["cycle_hours"], abs=1e-5)


# ----------------------------------------------------------------- post-mortem


def test_post_mortem_measures_the_sei_of_the_cell_the_lab_cycled(
        lab_cell: LabCellSource, post_mortem: PostMortemSource, centre: Design, full_test: Result,
        good_seeds: list[int]) -> None:
    spec = post_mortem.spec
    assert spec.observables == (SEI,)
    assert spec.technique is Technique.CHARACTERISATION
    assert post_mortem.channels == 2
    seed = good_seeds[0]
    examined = post_mortem.run(centre, full_test.protocol, seed=seed)
    assert examined.status is ResultStatus.SUCCEEDED, examined.message
    (measured,) = examined.observations
    assert measured.observable == SEI and measured.unit == "m" and measured.index_unit == "cycle"
    assert measured.index == full_test.cycles_run == examined.cycles_run == CYCLES
    assert 1e-9 < measured.value < 1e-7  # nanometres, as SEI is
    assert examined.cost.lab_hours == 48.0 and examined.cost.cpu_seconds == 0.0
    assert post_mortem.estimate_cost(centre, full_test.protocol).lab_hours == 48.0
    assert examined.metadata["cell"] == full_test.metadata["cell"]
    assert examined.metadata["ends_cell"] is True
    assert post_mortem.run(centre, full_test.protocol, seed=seed) == examined
    # A stopped test is examined after its last cycle; the SEI had less time to grow.
    early = post_mortem.run(centre, stopped_at(full_test.protocol, 3), seed=seed)
    assert early.cycles_run == 3 and early.observations[0].index == 3.0
    assert early.observations[0].value < measured.value


def test_post_mortem_error_is_about_20_percent(post_mortem: PostMortemSource, world: World,
                                               centre: Design, short_protocol: Protocol) -> None:
    protocol = stopped_at(short_protocol, 2)
    measured, true = [], []
    for seed in range(SEED, SEED + 30):
        result = post_mortem.run(centre, protocol, seed=seed)
        if result.status is ResultStatus.FAILED:
            assert result.metadata["failure_cause"] == ASSEMBLY_DEFECT
            continue
        measured.append(result.observations[0].value)
        true.append(post_mortem.lab.test(centre, protocol, seed).sei_thickness_m)
    assert len(measured) >= 25
    log_ratio = np.log(np.asarray(measured) / np.median(measured))
    # sigma 0.2 with about 29 draws: a sample standard deviation in 0.12-0.29 at 99.9 %.
    assert 0.1 < float(np.std(log_ratio, ddof=1)) < 0.32
    error = np.log(np.asarray(measured) / np.asarray(true))
    assert 0.1 < float(np.std(error, ddof=1)) < 0.32
    assert abs(float(np.mean(error))) < 0.15  # unbiased in the log (4 standard errors)
    assert float(np.std(np.log(true), ddof=1)) < 0.05  # the spread between cells is much smaller


def test_post_mortem_of_a_failed_cell_fails_with_a_message(
        lab_cell: LabCellSource, post_mortem: PostMortemSource, centre: Design, cold_fast: Design,
        short_protocol: Protocol, world: World) -> None:
    seed = find_defect(lab_cell, centre, short_protocol)
    defective = post_mortem.run(centre, short_protocol, seed=seed)
    assert defective.status is ResultStatus.FAILED
    assert defective.failure_kind is FailureKind.DETERMINISTIC
    assert defective.message == "nothing to examine: the cell failed while cycling (assembly defect)"
    assert defective.observations == () and defective.cycles_run == 0
    assert defective.metadata["failure_cause"] == ASSEMBLY_DEFECT
    shorted = post_mortem.run(cold_fast, world.protocol, seed=SEED)  # shorts within the horizon
    assert shorted.status is ResultStatus.FAILED
    assert shorted.message == "nothing to examine: the cell failed while cycling (short circuit)"
    assert shorted.observations == ()


# ----------------------------------------------------------------- the truth never leaks


def _leaves(value: Any, keys: set[str], texts: set[str], numbers: set[float]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            keys.add(str(key))
            _leaves(item, keys, texts, numbers)
    elif isinstance(value, list | tuple):
        for item in value:
            _leaves(item, keys, texts, numbers)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        numbers.add(float(value))
    else:
        texts.add(str(value))


def hidden_markers(world: World) -> tuple[set[str], set[float]]:
    """Names and numbers of the truth that the world's public view never shows.

    Short generic words (``noise``, ``sigma``) and integers are left out: they may
    appear in any text for other reasons.
    """
    public = json.dumps(world.public_view())
    public_numbers = set(numbers_in(public))
    keys: set[str] = set()
    texts: set[str] = set()
    numbers: set[float] = set()
    _leaves(world.truth, keys, texts, numbers)
    words = {word for word in keys | texts if len(word) >= 10 and word not in public}
    distinctive = {n for n in numbers if not n.is_integer() and n not in public_numbers}
    return words, distinctive


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w]|\.\d)")
_CPU_TIME = re.compile(r"(emulator_cpu_seconds\W{1,4})[-+0-9.eE]+")


def numbers_in(text: str) -> list[float]:
    return [float(token) for token in _NUMBER.findall(text)]


def leaks(text: str, words: set[str], numbers: set[float]) -> set[str]:
    """The truth's words and numbers found in ``text`` (CPU timings aside: they vary)."""
    text = _CPU_TIME.sub(r"\1<cpu>", text)
    found = {word for word in words if word in text}
    found |= {repr(n) for n in set(numbers_in(text)) & numbers}
    return found


def dump_database(store: Store) -> str:
    metadata = MetaData()
    metadata.reflect(store.engine)
    lines = []
    with store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                lines.append(f"{table.name}: {json.dumps(list(row), default=str)}")
    return "\n".join(lines)


@pytest.fixture
def lab_records(lab_cell: LabCellSource, post_mortem: PostMortemSource, centre: Design, cold_fast: Design,
                short_protocol: Protocol, world: World) -> list[Result]:
    """A succeeded, a stopped, a defective and a shorted test, and a post-mortem."""
    defect_seed = find_defect(lab_cell, centre, short_protocol)
    records = [
        lab_cell.run(centre, short_protocol, seed=SEED + 100),
        lab_cell.run(centre, stopped_at(short_protocol, observable=RETENTION, below=0.999), seed=SEED + 101),
        lab_cell.run(centre, short_protocol, seed=defect_seed),
        lab_cell.run(cold_fast, world.protocol, seed=SEED),  # shorts within the horizon
        post_mortem.run(centre, short_protocol, seed=SEED + 100),
        post_mortem.run(centre, short_protocol, seed=defect_seed),
    ]
    causes = [r.metadata.get("failure_cause") for r in records]
    assert causes[2:4] == [ASSEMBLY_DEFECT, SHORT_CIRCUIT]
    return records


def test_the_truth_never_leaks_to_the_store_exports_or_cli(
        store: Store, database_url: str, world: World, lab_cell: LabCellSource, post_mortem: PostMortemSource,
        lab_records: list[Result], tmp_path: Path) -> None:
    words, numbers = hidden_markers(world)
    assert {"parameter_factors", "cell_spread", "reaction-driven", "short_circuit_plated_capacity_ah",
            "assembly_defect_rate"} <= words
    truth = world.truth
    # (A number that also appears in public, such as a threshold of 0.5, cannot be a marker.)
    assert {truth["parameter_factors"]["SEI solvent diffusivity [m2.s-1]"],
            truth["failures"]["assembly_defect_rate"],
            truth["simulator"]["parameters"]["Negative electrode reaction-driven LAM factor [m3.mol-1]"],
            } <= numbers
    # The detector finds every marker where the truth is written.
    packaged = files("interphase").joinpath("worlds/sei-life.yaml").read_text(encoding="utf-8")
    assert leaks(json.dumps(truth), words, numbers) == words | {repr(n) for n in numbers}
    assert leaks(packaged, words, set()) == words

    for source in (lab_cell, post_mortem):
        store.register_source(source.spec)
    for i, result in enumerate(lab_records):
        store.submit_result(result, idempotency_key=f"lab:{i}")
    texts = {"results": "\n".join(r.model_dump_json() for r in lab_records),
             "specs": lab_cell.spec.model_dump_json() + post_mortem.spec.model_dump_json(),
             "database": dump_database(store)}
    for path in export_parquet(store, tmp_path / "parquet"):
        texts[path.name] = json.dumps(pq.read_table(path).to_pylist(), default=str)
        texts[path.name] += str(pq.read_schema(path).metadata)
    texts["csv"] = export_csv(store, tmp_path / "all.csv").read_text(encoding="utf-8")
    texts["jsonld"] = export_jsonld(store, tmp_path / "all.jsonld").read_text(encoding="utf-8")
    runner = CliRunner()
    for command in (["world", "show", "sei-life"], ["world", "list"], ["source", "list"],
                    ["--db", database_url, "ls", "records"], ["--db", database_url, "ls", "sources"]):
        outcome = runner.invoke(app, command, env={"COLUMNS": "240"})
        assert outcome.exit_code == 0, outcome.output
        texts[" ".join(command)] = outcome.output

    # Not vacuous: what should be there is there.
    assert "lab-cell" in texts["database"] and "post-mortem" in texts["database"]
    assert SEI in texts["csv"] and CAPACITY in texts["jsonld"]
    assert "assembly defect" in texts["database"] and "short circuit" in texts["database"]
    assert "lab-cell" in texts["world show sei-life"] and "formation_hours" in texts["world show sei-life"]
    assert len(texts["csv"].splitlines()) == 1 + sum(len(r.observations) for r in lab_records)
    for name, text in texts.items():
        # Every source's settings are listed; only the words are the lab's own there.
        checked = set() if name == "source list" else numbers
        assert not leaks(text, words, checked), f"{name} shows the truth: {leaks(text, words, checked)}"


# ----------------------------------------------------------------- a world a user writes


@pytest.fixture(scope="module")
def user_world_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sei-life with another truth: half the cells defective, no shorts, other offsets."""
    data = yaml.safe_load(files("interphase").joinpath("worlds/sei-life.yaml").read_text(encoding="utf-8"))
    data["name"] = "half-built"
    truth = data["truth"]
    truth["parameter_factors"] = {"SEI solvent diffusivity [m2.s-1]": 3.0,
                                  "Negative electrode active material volume fraction": 0.9}
    truth["failures"] = {"assembly_defect_rate": 0.5, "short_circuit_plated_capacity_ah": None}
    path = tmp_path_factory.mktemp("worlds") / "half-built.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_a_user_world_with_another_truth_needs_no_code(
        user_world_path: Path, lab_cell: LabCellSource, world: World, short_protocol: Protocol) -> None:
    user_world = load_world(user_world_path)
    source = world_source(user_world, "lab-cell")
    assert isinstance(source, LabCellSource)
    assert source.name == lab_cell.name == "lab-cell"
    assert source.spec.version != lab_cell.spec.version
    assert source.spec.version.split(".truth-")[0] == lab_cell.spec.version.split(".truth-")[0]
    assert source.lab is not lab_cell.lab
    assert source.lab.truth.failures.assembly_defect_rate == 0.5

    protocol = stopped_at(short_protocol, 2)
    designs = world.design_space.sample_sobol(40, seed=3)
    mine = [source.run(design, protocol, seed=SEED) for design in designs]
    causes = Counter(r.metadata.get("failure_cause") for r in mine)
    low, high = binom.interval(0.999, 40, 0.5)
    assert low <= causes[ASSEMBLY_DEFECT] <= high, causes
    assert causes[SHORT_CIRCUIT] == 0  # this truth has no threshold
    assert causes[ASSEMBLY_DEFECT] + sum(r.status is ResultStatus.STOPPED for r in mine) == 40
    builtin = [lab_cell.run(design, protocol, seed=SEED) for design in designs]
    # Where both cells formed, the other truth reads differently.
    both = [(a, b) for a, b in zip(mine, builtin, strict=True)
            if a.status is b.status is ResultStatus.STOPPED]
    assert both
    assert all(values(a, CAPACITY) != values(b, CAPACITY) for a, b in both)


def test_a_user_world_runs_the_same_in_a_worker_process(user_world_path: Path, world: World,
                                                        short_protocol: Protocol) -> None:
    source = resolve_source("lab-cell", str(user_world_path))
    assert source.spec.version == world_source(load_world(user_world_path), "lab-cell").spec.version
    protocol = stopped_at(short_protocol, 3)
    designs = world.design_space.sample_sobol(8, seed=4)
    # A cell of this world that forms, and one that does not (half of them fail formation).
    local = {str(i): run_safely(source, design, protocol, SEED) for i, design in enumerate(designs)}
    formed = next(k for k, r in local.items() if r.status is ResultStatus.STOPPED)
    failed = next(k for k, r in local.items() if r.status is ResultStatus.FAILED)
    tasks = [RunTask(task_id=k, source="lab-cell", design=designs[int(k)], protocol=protocol, seed=SEED,
                     world=str(user_world_path)) for k in (formed, failed)]
    with LocalExecutor(max_workers=1) as executor:
        outcomes = {o.task.task_id: o for o in executor.map_unordered(tasks)}
    assert set(outcomes) == {formed, failed}
    for key, outcome in outcomes.items():
        remote, here = outcome.result, local[key]
        assert remote.observations == here.observations
        assert (remote.status, remote.cycles_run, remote.failure_kind) == \
            (here.status, here.cycles_run, here.failure_kind)
        assert remote.cost == here.cost
        assert remote.provenance.source_version == here.provenance.source_version
        assert remote.provenance.params_hash == here.provenance.params_hash
        assert remote.metadata["cell"] == here.metadata["cell"]
    assert outcomes[formed].result.cycles_run == 3
    assert outcomes[failed].result.metadata["failure_cause"] == ASSEMBLY_DEFECT


# ----------------------------------------------------------------- the catalog's errors


def test_world_sources_builds_every_source_a_world_declares(world: World) -> None:
    sources = world_sources(world)
    assert list(sources) == list(world.sources)
    assert isinstance(sources["lab-cell"], LabCellSource)
    assert isinstance(sources["post-mortem"], PostMortemSource)
    assert sources["lab-cell"].spec.version == get_source("lab-cell").spec.version
    assert resolve_source("lab-cell", "sei-life").spec == get_source("lab-cell").spec
    assert resolve_source("post-mortem") is get_source("post-mortem")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"fidelity": 100, "formation_hours": 24}, "missing"),
        ({"kind": "wet-lab", "fidelity": 100}, "unknown kind 'wet-lab'"),
        ({"kind": None}, "missing"),
    ],
)
def test_a_source_without_a_known_kind_is_refused_listing_the_kinds(
        world: World, settings: dict[str, Any], problem: str) -> None:
    broken = world.model_copy(update={"sources": {**world.sources, "lab-cell": settings}})
    with pytest.raises(InvalidInputError) as info:
        world_source(broken, "lab-cell")
    assert info.value.field == "sei-life.sources.lab-cell.kind"
    assert problem in info.value.problem
    assert all(kind in info.value.problem for kind in source_kinds())
    assert {"lab-cell", "post-mortem", "pybamm-cell"} <= set(source_kinds())


def test_an_unknown_source_name_lists_the_worlds_sources(world: World) -> None:
    with pytest.raises(InvalidInputError) as info:
        world_source(world, "lab-robot")
    assert info.value.field == "source"
    assert "lab-cell" in info.value.problem and "post-mortem" in info.value.problem


def test_malformed_lab_settings_and_truth_name_the_field(world: World) -> None:
    settings = {**world.sources["lab-cell"], "formation_hours": -1}
    broken = world.model_copy(update={"sources": {**world.sources, "lab-cell": settings}})
    with pytest.raises(InvalidInputError) as info:
        world_source(broken, "lab-cell")
    assert info.value.field == "sei-life.sources.lab-cell.formation_hours"
    without = {key: value for key, value in world.truth.items() if key != "simulator"}
    no_simulator = world.model_copy(update={"truth": without})
    with pytest.raises(InvalidInputError) as info:
        world_source(no_simulator, "post-mortem")
    assert info.value.field == "sei-life.truth.simulator"
    bad_factor = {**world.truth, "parameter_factors": {"SEI resistivity [Ohm.m]": -2.0}}
    with pytest.raises(InvalidInputError) as info:
        world_source(world.model_copy(update={"truth": bad_factor}), "lab-cell")
    assert info.value.field == "sei-life.truth.parameter_factors"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parameter_factors": {"Charge C-rate": 1.1}}, "truth.parameter_factors"),
        ({"parameter_factors": {"Ambient temperature [K]": 1.01}}, "truth.parameter_factors"),
        ({"cell_spread": {"sigma": 0.05, "parameters": ["Discharge C-rate"]}},
         "truth.cell_spread.parameters"),
    ],
)
def test_a_truth_that_offsets_a_protocol_setting_is_refused(world: World, change: dict[str, Any],
                                                            field: str) -> None:
    odd = world.model_copy(update={"truth": {**world.truth, **change}})
    with pytest.raises(SourceError, match=re.escape(field)) as info:
        world_source(odd, "lab-cell")
    assert "is a protocol setting, not a cell parameter" in str(info.value)


def test_a_short_circuit_threshold_needs_plating_in_the_truth(world: World) -> None:
    simulator = {**world.truth["simulator"], "options": {"SEI": "solvent-diffusion limited"}}
    odd = world.model_copy(update={"truth": {**world.truth, "simulator": simulator}})
    with pytest.raises(SourceError, match="short_circuit_plated_capacity_ah"):
        world_source(odd, "lab-cell")
