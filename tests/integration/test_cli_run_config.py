"""``interphase run BAD.yaml``: one ``error:`` line naming the field, exit code 2, nothing written.

The cases are data: a name, the configuration's YAML text, the field path the message must
start with, and any file the case needs next to it. ``run`` resolves the configuration
before it opens the store, so a refused run neither writes to a store nor creates one.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from interphase.agent import strategy as strategy_registry
from interphase.agent.options import Proposal
from interphase.agent.view import CampaignView
from interphase.schema import CampaignSpec
from interphase.sources.world import load_world
from interphase.store import Store
from support.cli import cli, counts

pytestmark = pytest.mark.timeout(120)

TEST_STRATEGY = "config-test"
SEI_WORLD: dict[str, Any] = yaml.safe_load(
    Path(str(files("interphase").joinpath("worlds/sei-life.yaml"))).read_text())
RETENTION = "Capacity retention"
MAXIMISE_RETENTION: dict[str, Any] = {"objectives": [{"observable": RETENTION, "direction": "maximize"}]}


class IdleStrategy(strategy_registry.Strategy):
    """Proposes nothing: a refused run never reaches its strategy."""

    name = TEST_STRATEGY

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        return None


@pytest.fixture(autouse=True)
def test_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``config-test`` for the test only, so that no case depends on the built-ins."""
    strategy_registry.strategy_names()
    monkeypatch.setitem(strategy_registry._REGISTRY, TEST_STRATEGY, IdleStrategy)


def on_world(**changes: Any) -> str:
    """A sei-life configuration with top-level ``changes``; a None value drops the key."""
    config: dict[str, Any] = {"name": "bad-run", "world": "sei-life", "strategy": TEST_STRATEGY}
    config.update(changes)
    return yaml.safe_dump({k: v for k, v in config.items() if v is not None}, sort_keys=False)


def inline(**changes: Any) -> str:
    """An inline world (sei-life's space and protocol, its SPM source) with ``changes``."""
    config: dict[str, Any] = {
        "name": "bad-inline", "strategy": TEST_STRATEGY,
        "design_space": copy.deepcopy(SEI_WORLD["design_space"]),
        "protocol": copy.deepcopy(SEI_WORLD["protocol"]),
        "sources": {"spm": copy.deepcopy(SEI_WORLD["sources"]["pybamm-spm"])},
        "target": copy.deepcopy(MAXIMISE_RETENTION)}
    config.update(changes)
    return yaml.safe_dump({k: v for k, v in config.items() if v is not None}, sort_keys=False)


def retention_target(**changes: Any) -> dict[str, Any]:
    return {"bounds": [{"observable": RETENTION, "lower": 0.9}], **changes}


def bound(**fields: Any) -> dict[str, Any]:
    return {"bounds": [{"observable": RETENTION, **fields}]}


@dataclass(frozen=True)
class Case:
    """One bad configuration: its YAML, the field path the error names, files next to it."""

    name: str
    config: str
    expected: str
    files: dict[str, str] = field(default_factory=dict)


BROKEN_WORLD = copy.deepcopy(SEI_WORLD)
BROKEN_WORLD["design_space"]["variables"][1]["upper"] = 0.1  # below its lower bound, 0.3

CASES: list[Case] = [
    # ---- the world
    Case("unknown-world", on_world(world="no-such-world"), "world"),
    Case("missing-world-file", on_world(world="worlds/missing.yaml"), "world"),
    Case("malformed-world-file", on_world(world="broken.yaml"), "broken.yaml.design_space.variables.1.upper",
         {"broken.yaml": yaml.safe_dump(BROKEN_WORLD)}),
    Case("world-and-inline-space", on_world(design_space=SEI_WORLD["design_space"]), "design_space"),
    Case("neither-world-nor-inline", on_world(world=None), "world"),
    Case("inline-without-sources", inline(sources=None), "sources"),
    Case("inline-empty-sources", inline(sources={}), "sources"),
    Case("inline-unknown-source-kind", inline(sources={"magic": {"kind": "magic-cell"}}),
         "sources.magic.kind"),
    Case("inline-bad-source-setting",
         inline(sources={"spm": {**SEI_WORLD["sources"]["pybamm-spm"], "model": "P2D"}}),
         "sources.spm.model"),
    Case("inline-bad-source-name", inline(sources={"My SPM": SEI_WORLD["sources"]["pybamm-spm"]}),
         "sources.My SPM"),
    Case("inline-lab-without-truth", inline(sources={"lab": SEI_WORLD["sources"]["lab-cell"]}),
         "truth.simulator"),
    Case("inline-without-target", inline(target=None), "target"),
    # ---- keys and names
    Case("unknown-top-level-key", on_world(budgets={"lab_hours": 1000}), "budgets"),
    Case("unknown-budget-key", on_world(budget={"lab_hour": 1000}), "budget.lab_hour"),
    Case("name-with-space", on_world(name="bad run"), "name"),
    Case("name-with-slash", on_world(name="runs/bad"), "name"),
    Case("unknown-strategy", on_world(strategy="no-such-strategy"), "strategy"),
    Case("agent-not-a-mapping", on_world(agent=["fast"]), "agent"),
    Case("agent-forecast-from-unknown-source",
         on_world(strategy="interphase", agent={"forecast_from": "pybamm-p2d"}), "agent.forecast_from"),
    Case("agent-replicate-misses-unknown",
         on_world(strategy="interphase", agent={"replicate_misses": "all"}), "agent.replicate_misses"),
    Case("agent-cell-scatter-unknown",
         on_world(strategy="interphase", agent={"cell_scatter": "lab"}), "agent.cell_scatter"),
    # ---- the target
    Case("empty-target", on_world(target={}), "target"),
    Case("bound-without-limits", on_world(target=bound()), "target.bounds.0.lower"),
    Case("bound-lower-above-upper", on_world(target=bound(lower=0.95, upper=0.9)), "target.bounds.0.upper"),
    Case("contradictory-bounds", on_world(target={"bounds": [
        {"observable": RETENTION, "lower": 0.95}, {"observable": RETENTION, "upper": 0.9}]}),
         "target.bounds.1"),
    Case("unknown-observable", on_world(target={"bounds": [{"observable": "Happiness", "lower": 1}]}),
         "target.bounds.0.observable"),
    Case("observable-no-source-measures", on_world(target={"bounds": [
        {"observable": "Coulombic efficiency", "lower": 0.999}]}), "target.bounds.0.observable"),
    Case("objective-no-source-measures", on_world(target={"objectives": [
        {"observable": "Mean temperature [K]", "direction": "minimize"}]}), "target.objectives.0.observable"),
    Case("bound-beyond-horizon", on_world(target=bound(lower=0.9, at_index=500)), "target.bounds.0.at_index"),
    Case("bound-between-cycles", on_world(target=bound(lower=0.9, at_index=99.5)),
         "target.bounds.0.at_index"),
    Case("design-bounds-reversed",
         on_world(target=retention_target(design_bounds={"Charge C-rate": [2.0, 1.5]})),
         "target.design_bounds.Charge C-rate"),
    Case("design-bound-unknown-variable", on_world(target=retention_target(design_bounds={"Colour": [1, 2]})),
         "target.design_bounds.Colour"),
    Case("design-bound-beyond-space",
         on_world(target=retention_target(design_bounds={"Charge C-rate": [1.5, 3.0]})),
         "target.design_bounds.Charge C-rate"),
    Case("fixed-outside-variable", on_world(target=retention_target(fixed={"Charge C-rate": 5})),
         "target.fixed.Charge C-rate"),
    Case("fixed-outside-design-bounds", on_world(target=retention_target(
        fixed={"Charge C-rate": 1.0}, design_bounds={"Charge C-rate": [1.5, 2.0]})),
         "target.fixed.Charge C-rate"),
    # ---- budget, resources, seed, stop
    Case("zero-lab-hours", on_world(budget={"lab_hours": 0}), "budget.lab_hours"),
    Case("negative-cpu-hours", on_world(budget={"cpu_hours": -1}), "budget.cpu_hours"),
    Case("hours-not-a-number", on_world(budget={"wall_hours": "lots"}), "budget.wall_hours"),
    Case("lab-hours-below-one-test", on_world(budget={"lab_hours": 100}), "budget.lab_hours"),
    Case("cpu-hours-below-one-run", inline(budget={"cpu_hours": 1e-5}), "budget.cpu_hours"),
    Case("zero-lab-channels", on_world(resources={"lab_channels": 0}), "resources.lab_channels"),
    Case("fractional-cpu-workers", on_world(resources={"cpu_workers": 1.5}), "resources.cpu_workers"),
    Case("fractional-seed", on_world(seed=0.5), "seed"),
    Case("negative-seed", on_world(seed=-3), "seed"),
    Case("zero-replicates", on_world(stop={"replicates": 0}), "stop.replicates"),
    Case("max-runs-below-replicates", on_world(stop={"max_runs": 1}), "stop.max_runs"),
    Case("until-verified-not-a-boolean", on_world(stop={"until_verified": "maybe"}), "stop.until_verified"),
]
CASE_IDS = [case.name for case in CASES]
CONFIG_FILE = "bad.yaml"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised store holding one campaign, copied by every case."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    store = Store(str(path))
    store.init()
    world = load_world("sei-life")
    store.create_campaign(CampaignSpec(name="existing", design_space=world.design_space,
                                       protocol=world.protocol, target=world.target))
    store.close()
    return path


def write_case(case: Case, folder: Path) -> Path:
    for name, text in case.files.items():
        (folder / name).write_text(text)
    config = folder / CONFIG_FILE
    config.write_text(case.config)
    return config


def assert_refused(case: Case, output: str, stderr: str, exit_code: int) -> None:
    assert exit_code == 2, output
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    # a parse error is prefixed with the file's name, a resolve error is not
    field_path = rf"(?:{re.escape(CONFIG_FILE)}\.)?{re.escape(case.expected)}"
    assert re.match(rf"error: {field_path}: \S", lines[0]), lines[0]
    assert "Traceback" not in output


def test_there_are_enough_distinct_cases() -> None:
    assert len(CASES) >= 15
    assert len(set(CASE_IDS)) == len(CASES)
    assert len({case.config for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bad_configuration_is_one_line_exit_2_and_writes_nothing(
        case: Case, template_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    db.write_bytes(template_db.read_bytes())
    config = write_case(case, tmp_path)
    before = counts(db)
    assert before["campaigns"] == 1

    result = cli(db, "run", str(config), "--quiet")

    assert_refused(case, result.output, result.stderr, result.exit_code)
    assert counts(db) == before


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_refused_run_creates_no_database(case: Case, tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    config = write_case(case, tmp_path)

    result = cli(db, "run", str(config), "--quiet")

    assert_refused(case, result.output, result.stderr, result.exit_code)
    assert not db.exists()
    assert not list(tmp_path.glob("never.db*"))
