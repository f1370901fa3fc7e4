"""RunConfig parsing and resolve(): what a valid configuration resolves to, and every refusal's field.

Strategies are looked up by name; these tests register one of their own (``config-test``) so
that they hold whichever built-in strategies exist.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml

from interphase.agent import strategy as strategy_registry
from interphase.agent.options import Proposal
from interphase.agent.plan import resolve
from interphase.agent.view import CPU, CampaignView
from interphase.schema import InvalidInputError, parse_model
from interphase.schema.run_config import Budget, ResourceOverride, RunConfig, StopRules
from interphase.sources.world import load_world

pytestmark = pytest.mark.timeout(120)

TEST_STRATEGY = "config-test"
SEI_LIFE = Path(str(files("interphase").joinpath("worlds/sei-life.yaml")))
SEI_WORLD: dict[str, Any] = yaml.safe_load(SEI_LIFE.read_text())
RETENTION_TARGET: dict[str, Any] = {
    "objectives": [{"observable": "Capacity retention", "direction": "maximize"}]}


class IdleStrategy(strategy_registry.Strategy):
    """Proposes nothing: resolve() only needs the name to be registered."""

    name = TEST_STRATEGY

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        return None


@pytest.fixture(autouse=True)
def test_strategy(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register ``config-test`` for the test only (the built-ins load first, so no clash)."""
    strategy_registry.strategy_names()
    monkeypatch.setitem(strategy_registry._REGISTRY, TEST_STRATEGY, IdleStrategy)
    return TEST_STRATEGY


def world_config(**changes: Any) -> dict[str, Any]:
    return {"name": "cfg-test", "world": "sei-life", "strategy": TEST_STRATEGY, **changes}


def inline_config(**changes: Any) -> dict[str, Any]:
    """An inline world: sei-life's space and protocol, its pybamm-spm source under another name."""
    return {"name": "inline-test", "strategy": TEST_STRATEGY,
            "design_space": copy.deepcopy(SEI_WORLD["design_space"]),
            "protocol": copy.deepcopy(SEI_WORLD["protocol"]),
            "sources": {"spm": copy.deepcopy(SEI_WORLD["sources"]["pybamm-spm"])},
            "target": copy.deepcopy(RETENTION_TARGET), **changes}


def parse(data: dict[str, Any]) -> RunConfig:
    return parse_model(RunConfig, data)


def refusal(data: dict[str, Any], base_dir: Path | None = None) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        resolve(parse(data), base_dir)
    return caught.value


# ---- valid configurations


def test_sei_life_with_its_default_target_resolves() -> None:
    plan = resolve(parse(world_config()))
    world = load_world("sei-life")

    assert plan.world_ref == "sei-life"
    assert plan.target == world.target
    assert plan.spec.target == world.target
    assert plan.spec.name == "cfg-test"
    assert plan.spec.sources == tuple(world.sources)
    assert plan.horizon == 200
    assert plan.highest_fidelity == "lab-cell"
    assert set(plan.sources) == set(world.sources)
    assert plan.resource_of == {"pybamm-spm": CPU, "pybamm-spme": CPU, "pybamm-dfn": CPU,
                                "lab-cell": "lab-cell", "post-mortem": "post-mortem"}
    assert plan.capacity == {"lab-cell": 4, "post-mortem": 2, CPU: 2}
    assert plan.check.replicates == 2
    assert plan.check.horizon == 200


def test_resource_overrides_replace_the_worlds_counts() -> None:
    plan = resolve(parse(world_config(resources={"lab_channels": 6, "cpu_workers": 3})))

    assert plan.world.resources.lab_channels == 6
    # post-mortem declares its own two channels; the override is for sources that take the world's
    assert plan.capacity == {"lab-cell": 6, "post-mortem": 2, CPU: 3}


def test_one_override_keeps_the_other_count() -> None:
    plan = resolve(parse(world_config(resources={"cpu_workers": 5})))

    assert plan.capacity == {"lab-cell": 4, "post-mortem": 2, CPU: 5}


def test_inline_world_with_a_pybamm_source_resolves() -> None:
    plan = resolve(parse(inline_config(resources={"cpu_workers": 3}, stop={"replicates": 3})))

    assert plan.world_ref is None
    assert plan.world.name == "inline-test"
    assert list(plan.sources) == ["spm"]
    assert plan.sources["spm"].spec.fidelity == 10
    assert plan.highest_fidelity == "spm"
    assert plan.resource_of == {"spm": CPU}
    assert plan.capacity == {CPU: 3}
    assert plan.check.replicates == 3


def test_a_partial_target_is_checked_and_its_fixed_values_are_in_si() -> None:
    target = {"bounds": [{"observable": "Capacity retention", "lower": 0.9, "at_index": 150}],
              "fixed": {"Ambient temperature [K]": "25 degC"},
              "design_bounds": {"Charge C-rate": [1.5, 2.0]}}
    plan = resolve(parse(world_config(target=target)))

    assert plan.target.fixed == {"Ambient temperature [K]": pytest.approx(298.15)}
    assert plan.spec.target == plan.target
    assert plan.target.design_bounds == {"Charge C-rate": (1.5, 2.0)}


def test_a_world_file_is_found_next_to_the_configuration(tmp_path: Path) -> None:
    shutil.copy(SEI_LIFE, tmp_path / "my-world.yaml")

    plan = resolve(parse(world_config(world="my-world.yaml")), base_dir=tmp_path)

    assert plan.world_ref == str((tmp_path / "my-world.yaml").resolve())
    assert plan.highest_fidelity == "lab-cell"


def test_a_budget_that_pays_for_one_test_resolves() -> None:
    plan = resolve(parse(world_config(budget={"lab_hours": 1000, "cpu_hours": 1, "wall_hours": 0.5})))

    assert plan.config.budget == Budget(lab_hours=1000, cpu_hours=1, wall_hours=0.5)


def test_a_configuration_survives_the_json_the_engine_stores() -> None:
    for data in (world_config(seed=7, stop={"max_runs": 9}), inline_config(truth=None)):
        config = parse(data)
        assert RunConfig.model_validate_json(config.model_dump_json()) == config


# ---- configurations refused without the world


CONFIG_ONLY_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("both-world-and-inline", world_config(design_space=SEI_WORLD["design_space"]), "design_space"),
    ("neither-world-nor-inline", {"name": "x", "strategy": TEST_STRATEGY}, "world"),
    ("inline-without-sources", {k: v for k, v in inline_config().items() if k != "sources"}, "sources"),
    ("inline-empty-sources", inline_config(sources={}), "sources"),
    ("inline-bad-source-name", inline_config(sources={"My SPM": {"kind": "pybamm-cell"}}), "sources.My SPM"),
    ("unknown-key", world_config(budgets={"lab_hours": 10}), "budgets"),
    ("unknown-nested-key", world_config(stop={"replicate": 2}), "stop.replicate"),
    ("design-bounds-reversed", world_config(target={**RETENTION_TARGET,
                                                    "design_bounds": {"Charge C-rate": [2.0, 1.5]}}),
     "target.design_bounds.Charge C-rate"),
    ("bound-lower-above-upper", world_config(target={"bounds": [
        {"observable": "Capacity retention", "lower": 0.9, "upper": 0.8}]}), "target.bounds.0.upper"),
    ("unknown-observable", world_config(target={"bounds": [{"observable": "Happiness", "lower": 1}]}),
     "target.bounds.0.observable"),
    ("empty-target", world_config(target={}), "target"),
    ("zero-lab-hours", world_config(budget={"lab_hours": 0}), "budget.lab_hours"),
    ("negative-cpu-hours", world_config(budget={"cpu_hours": -2}), "budget.cpu_hours"),
    ("infinite-wall-hours", world_config(budget={"wall_hours": math.inf}), "budget.wall_hours"),
    ("yes-as-hours", world_config(budget={"lab_hours": True}), "budget.lab_hours"),
    ("unbounded-lab-hours", world_config(budget={"lab_hours": 1e300}), "budget.lab_hours"),
    ("unbounded-wall-hours", world_config(budget={"wall_hours": 1e6}), "budget.wall_hours"),
    ("description-50-mb", world_config(description="x" * 50_000_000), "description"),
    ("zero-lab-channels", world_config(resources={"lab_channels": 0}), "resources.lab_channels"),
    ("fractional-workers", world_config(resources={"cpu_workers": 1.5}), "resources.cpu_workers"),
    ("fractional-seed", world_config(seed=1.5), "seed"),
    ("negative-seed", world_config(seed=-1), "seed"),
    ("boolean-seed", world_config(seed=True), "seed"),
    ("text-seed", world_config(seed="7"), "seed"),
    ("zero-replicates", world_config(stop={"replicates": 0}), "stop.replicates"),
    ("max-runs-below-replicates", world_config(stop={"replicates": 3, "max_runs": 2}), "stop.max_runs"),
    ("name-with-space", world_config(name="my run"), "name"),
    ("name-with-slash", world_config(name="runs/one"), "name"),
]


@pytest.mark.parametrize(("data", "field"), [c[1:] for c in CONFIG_ONLY_CASES],
                         ids=[c[0] for c in CONFIG_ONLY_CASES])
def test_config_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse(data)

    assert caught.value.field == field
    assert caught.value.problem


def test_an_unknown_key_suggests_the_key_meant() -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'budget'"):
        parse(world_config(budgets={"lab_hours": 10}))


def test_a_bad_name_says_what_a_name_may_hold() -> None:
    with pytest.raises(InvalidInputError, match="letters, digits"):
        parse(world_config(name="my run"))


def _limits(block: type[Any]) -> list[tuple[str, float, float]]:
    """(field, first value below, first value above) from each field's declared ge/gt/le/lt."""
    out = []
    for name, info in block.model_fields.items():
        below = above = math.nan
        for constraint in info.metadata:
            if isinstance(constraint, annotated_types.Ge):
                below = constraint.ge - 1
            elif isinstance(constraint, annotated_types.Gt):
                below = constraint.gt
            elif isinstance(constraint, annotated_types.Le):
                above = constraint.le + 1
            elif isinstance(constraint, annotated_types.Lt):
                above = constraint.lt
        if not (math.isnan(below) and math.isnan(above)):
            out.append((name, below, above))
    return out


DECLARED_LIMITS = [(prefix, name, value)
                   for prefix, block in (("budget", Budget), ("resources", ResourceOverride),
                                         ("stop", StopRules), ("", RunConfig))
                   for name, below, above in _limits(block)
                   for value in (below, above) if not math.isnan(value)]


@pytest.mark.parametrize(("prefix", "name", "value"), DECLARED_LIMITS,
                         ids=[f"{p or 'config'}.{n}={v:g}" for p, n, v in DECLARED_LIMITS])
def test_every_declared_limit_is_refused_just_outside(prefix: str, name: str, value: float) -> None:
    typed: int | float = int(value) if float(value).is_integer() else value
    data = world_config(**({prefix: {name: typed}} if prefix else {name: typed}))
    with pytest.raises(InvalidInputError) as caught:
        parse(data)

    assert caught.value.field == (f"{prefix}.{name}" if prefix else name)


def test_the_declared_limits_cover_budgets_resources_stop_and_seed() -> None:
    fields = {f"{prefix}.{name}".lstrip(".") for prefix, name, _ in DECLARED_LIMITS}
    assert {"budget.lab_hours", "budget.cpu_hours", "budget.wall_hours", "resources.lab_channels",
            "resources.cpu_workers", "stop.replicates", "stop.max_runs", "seed"} <= fields


# ---- configurations refused against the world


WORLD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-world", world_config(world="no-such-world"), "world"),
    ("missing-world-file", world_config(world="worlds/missing.yaml"), "world"),
    ("unknown-strategy", world_config(strategy="no-such-strategy"), "strategy"),
    ("design-bound-unknown-variable", world_config(target={**RETENTION_TARGET,
                                                           "design_bounds": {"Colour": [1, 2]}}),
     "target.design_bounds.Colour"),
    ("design-bound-beyond-space", world_config(target={**RETENTION_TARGET,
                                                       "design_bounds": {"Charge C-rate": [1.5, 3.0]}}),
     "target.design_bounds.Charge C-rate"),
    ("fixed-outside-variable", world_config(target={**RETENTION_TARGET, "fixed": {"Charge C-rate": 5}}),
     "target.fixed.Charge C-rate"),
    ("fixed-unknown-variable", world_config(target={**RETENTION_TARGET, "fixed": {"Colour": 5}}),
     "target.fixed.Colour"),
    ("fixed-outside-design-bounds", world_config(target={
        **RETENTION_TARGET, "fixed": {"Charge C-rate": 1.0}, "design_bounds": {"Charge C-rate": [1.5, 2.0]}}),
     "target.fixed.Charge C-rate"),
    ("unmeasured-observable", world_config(target={"bounds": [
        {"observable": "Coulombic efficiency", "lower": 0.99}]}), "target.bounds.0.observable"),
    ("unmeasured-objective", world_config(target={"objectives": [
        {"observable": "Mean temperature [K]", "direction": "minimize"}]}), "target.objectives.0.observable"),
    ("bound-beyond-horizon", world_config(target={"bounds": [
        {"observable": "Capacity retention", "lower": 0.9, "at_index": 500}]}), "target.bounds.0.at_index"),
    ("bound-at-cycle-zero", world_config(target={"bounds": [
        {"observable": "Capacity retention", "lower": 0.9, "at_index": 0}]}), "target.bounds.0.at_index"),
    ("bound-between-cycles", world_config(target={"bounds": [
        {"observable": "Capacity retention", "lower": 0.9, "at_index": 100.5}]}), "target.bounds.0.at_index"),
    ("objective-beyond-horizon", world_config(target={"objectives": [
        {"observable": "Capacity retention", "direction": "maximize", "at_index": 201}]}),
     "target.objectives.0.at_index"),
    ("contradictory-bounds", world_config(target={"bounds": [
        {"observable": "Capacity retention", "lower": 0.9},
        {"observable": "Capacity retention", "upper": 0.8, "at_index": 200}]}), "target.bounds.1"),
    ("lab-budget-below-one-test", world_config(budget={"lab_hours": 100}), "budget.lab_hours"),
    ("cpu-budget-below-one-run", inline_config(budget={"cpu_hours": 1e-5}), "budget.cpu_hours"),
    ("inline-unknown-kind", inline_config(sources={"magic": {"kind": "magic-cell"}}), "sources.magic.kind"),
    ("inline-source-without-kind", inline_config(sources={"spm": {"model": "SPM"}}), "sources.spm.kind"),
    ("inline-bad-source-setting", inline_config(sources={
        "spm": {**SEI_WORLD["sources"]["pybamm-spm"], "model": "P2D"}}), "sources.spm.model"),
    ("inline-lab-without-truth", inline_config(sources={"lab": SEI_WORLD["sources"]["lab-cell"]}),
     "truth.simulator"),
    ("inline-world-without-target", {k: v for k, v in inline_config().items() if k != "target"}, "target"),
]


@pytest.mark.parametrize(("data", "field"), [c[1:] for c in WORLD_CASES], ids=[c[0] for c in WORLD_CASES])
def test_resolve_errors_name_the_field(data: dict[str, Any], field: str, tmp_path: Path) -> None:
    error = refusal(data, base_dir=tmp_path)

    assert error.field == field
    assert error.problem


def test_an_unmeasured_observable_lists_what_the_sources_measure() -> None:
    error = refusal(world_config(target={"bounds": [{"observable": "Coulombic efficiency", "lower": 0.99}]}))

    assert "Capacity retention" in error.problem
    assert "SEI thickness [m]" in error.problem


def test_a_small_lab_budget_says_how_much_one_test_needs() -> None:
    error = refusal(world_config(budget={"lab_hours": 100}))

    assert "lab-cell" in error.problem
    assert "give at least" in error.problem


def test_an_unknown_strategy_lists_the_known_ones() -> None:
    error = refusal(world_config(strategy="no-such-strategy"))

    assert TEST_STRATEGY in error.problem


def test_a_malformed_world_file_names_its_field(tmp_path: Path) -> None:
    world = copy.deepcopy(SEI_WORLD)
    world["protocol"]["n_cycles"] = 0
    (tmp_path / "broken.yaml").write_text(json.dumps(world))

    error = refusal(world_config(world="broken.yaml"), base_dir=tmp_path)

    assert error.field == "broken.yaml.protocol.n_cycles"
