"""``interphase model predict`` on a model of condition-indexed observables (conductivity by temperature).

The store holds ``hte-robot`` and ``electrolyte-empirical`` runs on Sobol designs of the
``electrolyte-conductivity`` world; one tiny model (2 members, 3 epochs) is fitted once
through the CLI and shared. It predicts no per-cycle observable, only the conductivity at
the ten measured temperatures, 243.15 to 333.15 K.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pytest
import torch
import yaml

from interphase.models.surrogate import Surrogate
from interphase.schema import Design, InvalidInputError
from interphase.sources import run_safely, world_source
from interphase.sources.world import load_world
from interphase.store import Store
from support.cli import cli, counts

pytestmark = pytest.mark.timeout(120)

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
WORLD = "electrolyte-conductivity"
ROBOT, EMPIRICAL = "hte-robot", "electrolyte-empirical"
CONDUCTIVITY = "Conductivity [S.m-1]"
TEMPERATURES_K = [243.15, 253.15, 263.15, 273.15, 283.15, 293.15, 303.15, 313.15, 323.15, 333.15]
DESIGN = ("-d", "r=0.0983", "-d", "c [mol/kg]=0.5953")  # as the report gave it


@dataclass(frozen=True)
class Fitted:
    db: Path
    sha: str


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    world = load_world(WORLD)
    designs = world.design_space.sample_sobol(12, seed=2)
    robot, empirical = world_source(world, ROBOT), world_source(world, EMPIRICAL)
    db = tmp_path_factory.mktemp("model-conditions") / "store.db"
    store = Store(str(db))
    try:
        store.init()
        for source in (robot, empirical):
            store.register_source(source.spec)
        for i, design in enumerate(designs[:8]):
            store.submit_result(run_safely(robot, design, world.protocol, seed=i),
                                idempotency_key=f"robot-{i}")
        for i, design in enumerate(designs[8:]):
            store.submit_result(run_safely(empirical, design, world.protocol, seed=i),
                                idempotency_key=f"empirical-{i}")
    finally:
        store.close()
    result = cli(db, "model", "fit", "--world", WORLD, "--members", "2", "--epochs", "3", "--holdout", "0")
    assert result.exit_code == 0, result.output
    return Fitted(db, result.stdout.splitlines()[0].removeprefix("model ").strip())


@pytest.fixture(scope="module")
def surrogate(fitted: Fitted) -> Surrogate:
    store = Store(str(fitted.db))
    try:
        return Surrogate.load(store, fitted.sha)
    finally:
        store.close()


def condition_rows(stdout: str) -> dict[float, list[float]]:
    """Condition (K) → mean, aleatoric std, epistemic std, 5 %, 95 % from the printed table."""
    rows = [[cell.strip() for cell in line.strip().strip("│").split("│")]
            for line in stdout.splitlines() if line.startswith("│")]
    assert all(row[1] == CONDUCTIVITY for row in rows), rows
    return {float(row[0]): [float(v) for v in row[2:]] for row in rows}


@pytest.mark.parametrize("name", [ROBOT, EMPIRICAL])
def test_each_source_declares_the_temperatures_it_measures(name: str) -> None:
    world = load_world(WORLD)
    source = world_source(world, name)
    declared = source.condition_range()
    assert declared is not None and declared.unit == "K"
    assert list(declared.values) == pytest.approx(TEMPERATURES_K)
    assert declared.describe() == "243.15 to 333.15 K"
    assert declared.contains(298.15000000000003) and not declared.contains(333.16)
    run = run_safely(source, Design(values={"r": 0.6, "c [mol/kg]": 1.2}), world.protocol, seed=0)
    assert run.observations and all(declared.contains(o.index) and o.index_unit == "K"
                                    for o in run.observations)
    assert world_source(load_world("sei-life"), "lab-cell").condition_range() is None


def test_the_model_has_conductivity_by_temperature_only(surrogate: Surrogate) -> None:
    assert surrogate.observables == [] and surrogate.cond_observables == [CONDUCTIVITY]
    assert surrogate.conditions == pytest.approx(TEMPERATURES_K)
    assert [name for name in surrogate.source_names if name != "<none>"] == [EMPIRICAL, ROBOT]


def test_predict_shows_conductivity_at_every_condition_without_warnings(fitted: Fitted) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torch warning would end the command as an unexpected error
        result = cli(fitted.db, "model", "predict", "--source", ROBOT, *DESIGN)
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and "Warning" not in result.output
    assert "design: r=0.0983, c [mol/kg]=0.5953" in result.stdout
    assert f"{ROBOT} by condition, model {fitted.sha[:12]}" in result.stdout
    assert " over " not in result.stdout  # no per-cycle table: the model has no per-cycle observable
    rows = condition_rows(result.stdout)
    assert list(rows) == pytest.approx(TEMPERATURES_K)
    for mean, aleatoric, epistemic, low, high in rows.values():
        assert aleatoric > 0 and epistemic >= 0 and low < mean < high
    failure = [line for line in result.stdout.splitlines() if line.startswith("probability of failure: ")]
    assert len(failure) == 1 and 0.0 <= float(failure[0].split()[3]) <= 1.0


def test_predict_at_given_conditions_matches_the_model(fitted: Fitted, surrogate: Surrogate) -> None:
    result = cli(fitted.db, "model", "predict", "--source", ROBOT, *DESIGN,
                 "--at", "25degC", "--at", "298.15K", "--at", "250")
    assert result.exit_code == 0, result.output
    rows = condition_rows(result.stdout)
    assert list(rows) == pytest.approx([298.15, 250.0])  # 25 degC and 298.15 K are one condition
    design = Design(values={"r": 0.0983, "c [mol/kg]": 0.5953})
    expected = surrogate.predict_conditions([design], source=ROBOT, conditions=[298.15, 250.0])
    for c, values in enumerate(rows.values()):
        assert values[0] == pytest.approx(float(expected.mean[0, c, 0]), rel=1e-3)
        assert values[1] == pytest.approx(float(expected.aleatoric_std[0, c, 0]), rel=1e-3)
        assert values[2] == pytest.approx(float(expected.epistemic_std[0, c, 0]), rel=1e-3, abs=1e-6)


def test_predict_conditions_refuses_to_extrapolate(surrogate: Surrogate) -> None:
    design = Design(values={"r": 0.5, "c [mol/kg]": 1.0})
    for conditions in ([400.0], [253.15, 240.0], [float("nan")], []):
        with pytest.raises(InvalidInputError) as raised:
            surrogate.predict_conditions([design], source=ROBOT, conditions=conditions)
        assert raised.value.field == "conditions"
    with pytest.raises(InvalidInputError, match="400 K is outside the conditions the model was fitted on, "
                       r"243\.15 to 333\.15 K"):
        surrogate.predict_conditions([design], source=ROBOT, conditions=[400.0])
    inside = surrogate.predict_conditions([design], source=ROBOT, conditions=[243.15, 298.15, 333.15])
    assert inside.mean.shape == (1, 3, 1) and bool(torch.isfinite(inside.mean).all())


def test_predict_per_cycle_is_refused_for_a_model_without_per_cycle_observables(surrogate: Surrogate) -> None:
    design = Design(values={"r": 0.5, "c [mol/kg]": 1.0})
    with pytest.raises(InvalidInputError, match="the model predicts no per-cycle observable, only "
                       r"condition-indexed ones \(Conductivity \[S\.m-1\]\)"):
        surrogate.predict([design], source=ROBOT)
    with pytest.raises(InvalidInputError, match="no per-cycle observable"):
        surrogate.predict_cycles([design], [1], source=ROBOT)


def wider_world(tmp_path: Path) -> Path:
    """The built-in world whose empirical model also reports at 343.15 and 353.15 K."""
    spec = yaml.safe_load(files("interphase").joinpath(f"worlds/{WORLD}.yaml").read_text())
    spec["sources"][EMPIRICAL]["temperatures_k"] += [343.15, 353.15]
    path = tmp_path / "wider.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.parametrize(("args", "expected"), [
    (("--source", ROBOT, "--at", "400K"),
     "--at: 400 K is outside the conditions hte-robot measures; expected 243.15 to 333.15 K"),
    (("--source", ROBOT, "--at", "-50degF"),
     "--at: 227.594 K is outside the conditions hte-robot measures; expected 243.15 to 333.15 K"),
    (("--source", EMPIRICAL, "--at", "-40degC"),
     "--at: 233.15 K is outside the conditions electrolyte-empirical measures; expected 243.15 to 333.15 K"),
    (("--source", EMPIRICAL, "--at", "70degC", "--world", "{wider}"),
     "--at: 343.15 K is outside the conditions model {sha} was fitted on; expected 243.15 to 333.15 K"),
    (("--source", ROBOT, "--at", "1 m"), "--at: '1 m' has the wrong dimension; expected a value in K"),
    (("--source", ROBOT, "--cycles", "3"),
     "--cycles: model {sha} predicts no per-cycle observable, only Conductivity [S.m-1] by condition"),
    (("--source", "lab-cell"),
     "--source: the model knows no source 'lab-cell'; it was fitted on electrolyte-empirical, hte-robot"),
    (("--source", "pybamm-spm", "--at", "25degC"), "--source: the model knows no source 'pybamm-spm'"),
])
def test_bad_predict_input_is_exit_2_with_one_line(fitted: Fitted, tmp_path: Path, args: tuple[str, ...],
                                                   expected: str) -> None:
    argv = [part.format(wider=wider_world(tmp_path)) for part in args]
    before = counts(fitted.db)
    result = cli(fitted.db, "model", "predict", *argv)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected.format(sha=fitted.sha[:12]) in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert counts(fitted.db) == before
