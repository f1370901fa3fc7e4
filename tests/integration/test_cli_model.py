"""``interphase model fit|evaluate|predict|sample`` end to end, on a SQLite store of real runs.

The store holds 8 ``pybamm-spm`` and 4 ``lab-cell`` runs of 6 cycles on Sobol designs of
``sei-life``; one tiny model (2 members, 3 epochs) is fitted once through the CLI and shared
by the read-only tests. Tests that add data or models work on a copy of the store.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from interphase.cli.design import validate_designs
from interphase.models.dataset import TrajectoryDataset
from interphase.schema import CampaignSpec, Result, ResultStatus
from interphase.sources import run_safely, world_source
from interphase.sources.world import World, load_world
from interphase.store import Store
from support.cli import cli, counts

pytestmark = pytest.mark.timeout(120)

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
CYCLES = 6
N_SPM, N_LAB = 8, 4
HOLDOUT = 0.25
RETENTION = "Capacity retention"


@dataclass(frozen=True)
class Runs:
    world: World
    results: list[Result]  # stored, in this order
    extra: Result  # a further pybamm-spm run, stored only by the tests that add data


@dataclass(frozen=True)
class Fitted:
    db: Path
    sha: str
    stdout: str


@pytest.fixture(scope="module")
def runs() -> Runs:
    world = load_world("sei-life")
    protocol = world.protocol.model_copy(update={"n_cycles": CYCLES})
    designs = world.design_space.sample_sobol(N_SPM + N_LAB + 1, seed=1)
    spm, lab = world_source(world, "pybamm-spm"), world_source(world, "lab-cell")
    results = [run_safely(spm, designs[i], protocol, seed=i) for i in range(N_SPM)]
    results += [run_safely(lab, designs[N_SPM + i], protocol, seed=100 + i) for i in range(N_LAB)]
    extra = run_safely(spm, designs[-1], protocol, seed=99)
    assert all(r.status is ResultStatus.SUCCEEDED for r in [*results, extra])
    return Runs(world, results, extra)


def open_store(db: Path) -> Store:
    return Store(str(db))


@pytest.fixture(scope="module")
def filled_db(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model-cli") / "store.db"
    store = open_store(path)
    try:
        store.init()
        for name in ("pybamm-spm", "lab-cell"):
            store.register_source(world_source(runs.world, name).spec)
        for position, result in enumerate(runs.results):
            store.submit_result(result, idempotency_key=f"run-{position}")
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def fitted(filled_db: Path) -> Fitted:
    result = cli(filled_db, "model", "fit", "--members", "2", "--epochs", "3", "--holdout", str(HOLDOUT))
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("model ")
    return Fitted(filled_db, first.removeprefix("model ").strip(), result.stdout)


def copy_of(db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.db"
    shutil.copy(db, target)
    return target


def model_artifacts(db: Path) -> list:
    store = open_store(db)
    try:
        return store.list_artifacts("model")
    finally:
        store.close()


def table_rows(stdout: str) -> list[list[str]]:
    """The body cells of the rich tables in ``stdout``."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")]
            for line in stdout.splitlines() if line.startswith("│")]


# ----------------------------------------------------------------------------- fit


def test_fit_stores_the_printed_artifact_with_its_split_and_data_hash(fitted: Fitted, runs: Runs) -> None:
    artifacts = model_artifacts(fitted.db)
    assert [a.sha256 for a in artifacts] == [fitted.sha] and len(fitted.sha) == 64
    meta = artifacts[0].metadata
    assert meta["world"] == "sei-life" and meta["holdout_fraction"] == HOLDOUT and meta["seed"] == 0
    assert meta["n_train_records"] + meta["n_holdout_records"] == N_SPM + N_LAB
    assert meta["n_holdout_records"] == round(HOLDOUT * (N_SPM + N_LAB))  # one record per design here
    assert meta["members"] == 2 and meta["sources"] == ["pybamm-spm", "lab-cell"]
    assert meta["variance_factor"] > 0 and meta["warm_from"] is None
    store = open_store(fitted.db)
    try:
        dataset = TrajectoryDataset.from_store(store, runs.world.design_space)
    finally:
        store.close()
    assert meta["data_snapshot_hash"] == meta["snapshot_hash"] == dataset.snapshot_hash()
    summary = {row[0]: row[1] for row in table_rows(fitted.stdout) if row[0]}
    assert summary["world"] == "sei-life"
    assert summary["training records"].startswith(f"{meta['n_train_records']} (")
    assert summary["horizon"] == f"{CYCLES} cycles"
    assert summary["ensemble"].startswith("2 members x 3 epochs (new, bootstrap)")
    assert summary["data snapshot"] == dataset.snapshot_hash()


def test_fit_on_an_empty_store_names_the_problem(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    assert cli(db, "db", "init").exit_code == 0
    result = cli(db, "model", "fit", "--members", "1", "--epochs", "1")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("error: store: no results in the design space of world 'sei-life'")
    assert "interphase source run" in lines[0]
    assert model_artifacts(db) == []
    nothing = cli(db, "model", "predict", "--source", "lab-cell")
    assert nothing.exit_code == 2 and "the store holds no model yet" in nothing.stderr


def test_warm_refit_and_evaluate_after_data_was_added(fitted: Fitted, runs: Runs, tmp_path: Path) -> None:
    db = copy_of(fitted.db, tmp_path)
    store = open_store(db)
    try:
        store.submit_result(runs.extra, idempotency_key="run-extra")
    finally:
        store.close()
    evaluated = cli(db, "model", "evaluate", "--sizes", "", "--out", str(tmp_path / "eval"))
    assert evaluated.exit_code == 0, evaluated.output
    assert "warning: the store's data changed since the model was fitted" in evaluated.stdout
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["data"]["snapshot_hash_now"] != report["data"]["snapshot_hash_fitted"]

    warm = cli(db, "model", "fit", "--warm", "--epochs", "1", "--holdout", str(HOLDOUT))
    assert warm.exit_code == 0, warm.output
    sha = warm.stdout.splitlines()[0].removeprefix("model ").strip()
    artifacts = model_artifacts(db)
    assert [a.sha256 for a in artifacts] == [fitted.sha, sha]
    assert artifacts[1].metadata["warm_from"] == fitted.sha
    assert artifacts[1].metadata["n_train_records"] + artifacts[1].metadata["n_holdout_records"] == 13

    changed = cli(db, "model", "fit", "--warm", "--observables", RETENTION)
    assert changed.exit_code == 2, changed.output
    assert f"model {sha[:12]} cannot be warm-started on this data: observables" in changed.stderr
    assert len(model_artifacts(db)) == 2


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_writes_metrics_and_figures(fitted: Fitted, tmp_path: Path) -> None:
    out = tmp_path / "evaluation"
    result = cli(fitted.db, "model", "evaluate", "--out", str(out), "--sizes", "")
    assert result.exit_code == 0, result.output
    assert "changed since the model was fitted" not in result.stdout
    report = json.loads((out / "metrics.json").read_text(),
                        parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert set(report) == {"model", "world", "data", "variance_factor", "trajectories",
                           "early_prediction", "feasibility"}
    meta = model_artifacts(fitted.db)[0].metadata
    assert report["model"] == fitted.sha and report["world"] == "sei-life"
    assert report["data"]["snapshot_hash_now"] == report["data"]["snapshot_hash_fitted"]
    assert report["data"]["n_holdout_records"] == meta["n_holdout_records"]
    assert report["variance_factor"] == pytest.approx(meta["variance_factor"])
    assert report["trajectories"] and set(report["trajectories"]) <= {"pybamm-spm", "lab-cell"}
    held_out = 0
    for figures in report["trajectories"].values():
        assert 0.0 <= figures["coverage_50"] <= figures["coverage_90"] <= 1.0
        assert figures["rmse"][RETENTION] >= 0
        assert len(figures["reliability"]["levels"]) == len(figures["reliability"]["observed"])
        held_out += figures["n_records"]
    assert held_out == meta["n_holdout_records"]
    assert report["early_prediction"]["source"] == "lab-cell"
    assert report["feasibility"]["source"] == "lab-cell"
    for name in ("reliability.png", "trajectories.png"):
        path = out / name
        assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 1000
        assert f"wrote {path}" in result.stdout
    assert not (out / "uncertainty_vs_data.png").exists()
    assert "coverage 90%" in result.stdout


def test_evaluate_draws_uncertainty_against_data_size(fitted: Fitted, tmp_path: Path) -> None:
    out = tmp_path / "sizes"
    result = cli(fitted.db, "model", "evaluate", "--out", str(out), "--sizes", "1.0,0.5",
                 "--size-members", "2", "--size-epochs", "1", "--samples", "8")
    assert result.exit_code == 0, result.output
    curve = json.loads((out / "metrics.json").read_text())["uncertainty_vs_data"]
    assert curve["observable"] == RETENTION and curve["members"] == 2 and curve["epochs"] == 1
    points = curve["points"]
    assert [p["fraction"] for p in points] == [0.5, 1.0]
    n_train = model_artifacts(fitted.db)[0].metadata["n_train_records"]
    assert points[0]["n_designs"] == math.ceil(n_train / 2) and points[1]["n_designs"] == n_train
    assert all(p["mean_epistemic_std"] >= 0 and p["rmse"] >= 0 for p in points)
    assert (out / "uncertainty_vs_data.png").stat().st_size > 1000


def test_evaluate_needs_a_holdout(fitted: Fitted, tmp_path: Path) -> None:
    db = copy_of(fitted.db, tmp_path)
    assert cli(db, "model", "fit", "--members", "1", "--epochs", "1", "--holdout", "0").exit_code == 0
    result = cli(db, "model", "evaluate", "--sizes", "", "--out", str(tmp_path / "none"))
    assert result.exit_code == 2, result.output
    assert "fitted with --holdout 0: no design is held out" in result.stderr


# ----------------------------------------------------------------------------- predict


def test_predict_shows_the_observables_at_a_few_cycles(fitted: Fitted) -> None:
    result = cli(fitted.db, "model", "predict", "--source", "lab-cell", "--design",
                 "Ambient temperature [K]=25degC", "--cycles", str(CYCLES))
    assert result.exit_code == 0, result.output
    assert "at the centre of the space: Charge C-rate" in result.stdout
    rows = {(row[0], row[1]): [float(v) for v in row[2:]] for row in table_rows(result.stdout)}
    assert {cycle for cycle, _ in rows} == {"1", "2", "3", "6"}  # 1, 10 %, 25 %, 50 %, 100 % of 6
    mean, aleatoric, epistemic, low, high = rows[("2", RETENTION)]
    assert 0.0 < mean <= 1.2 and low <= high
    assert aleatoric > 0 and epistemic >= 0
    assert rows[("6", "Discharge capacity [A.h]")][0] > 0
    failure = [line for line in result.stdout.splitlines() if line.startswith("probability of failure: ")]
    assert len(failure) == 1 and 0.0 <= float(failure[0].split()[3]) <= 1.0


# ----------------------------------------------------------------------------- sample


def test_sample_draws_valid_designs_that_design_add_accepts(fitted: Fitted, runs: Runs,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "designs.yaml"
    result = cli(fitted.db, "model", "sample", "--n", "3", "--seed", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [row[0] for row in table_rows(result.stdout)] == ["1", "2", "3"]
    items = yaml.safe_load(out.read_text())
    designs = validate_designs(runs.world.design_space, items)
    assert len(designs) == 3 and all(set(d.values) == set(runs.world.design_space.names) for d in designs)
    db = copy_of(fitted.db, tmp_path)
    store = open_store(db)
    try:
        store.create_campaign(CampaignSpec(name="sampled", design_space=runs.world.design_space,
                                           protocol=runs.world.protocol))
    finally:
        store.close()
    added = cli(db, "design", "add", "sampled", str(out))
    assert added.exit_code == 0, added.output
    assert "3 new, 0 already present" in added.stdout


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("args", "expected"), [
    (("predict", "--source", "hte-robot"),
     "the model knows no source 'hte-robot'; it was fitted on pybamm-spm, lab-cell"),
    (("predict", "--source", "lab-cell", "--model", "0" * 64), f"no model '{'0' * 64}' in the store"),
    (("evaluate", "--model", "deadbeef", "--sizes", ""), "no model 'deadbeef' in the store"),
    (("sample", "--model", "not-a-sha"), "no model 'not-a-sha' in the store"),
    (("predict", "--source", "lab-cell", "--design", "Happiness=3"), "--design Happiness: unknown variable"),
    (("predict", "--source", "lab-cell", "--world", "electrolyte-conductivity"),
     "world 'electrolyte-conductivity' has another design space than model"),
    (("predict", "--source", "lab-cell", "--at", "25degC"),
     "--at: model {sha} predicts no condition-indexed observable, only per-cycle ones (Discharge"),
    (("evaluate", "--sizes", "0,1"), "--sizes: each fraction must be in (0, 1]"),
    (("fit", "--holdout", "1"), "--holdout: must be in [0, 1)"),
    (("fit", "--sources", "lab-cell,"), "--sources: expected comma-separated names"),
])
def test_bad_model_input_is_exit_2_with_one_line(fitted: Fitted, args: tuple[str, ...],
                                                 expected: str) -> None:
    before = counts(fitted.db)
    result = cli(fitted.db, "model", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    expected = expected.format(sha=fitted.sha[:12])
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert counts(fitted.db) == before
