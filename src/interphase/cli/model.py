"""``interphase model``: fit the surrogate on the store's records, evaluate it, predict, sample designs.

Checkpoints are content-hashed artifacts of the store (kind ``"model"``). ``fit`` writes
one; the other commands read the newest unless ``--model`` names one (a unique prefix of
its SHA-256 is enough). torch, the model and matplotlib are imported inside the commands,
so that the rest of the CLI starts without them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

from interphase.cli.model_conditions import conditions_for, parse_conditions, print_condition_table
from interphase.cli.output import (
    fmt_number,
    fmt_values,
    new_table,
    print_line,
    stderr_console,
    stdout_console,
)
from interphase.cli.source import complete_design, parse_design_args
from interphase.cli.state import open_store
from interphase.schema import InvalidInputError, NotFoundError, canonical_hash
from interphase.schema.plain import plain_json
from interphase.sources import resolve_source
from interphase.sources.world import World, load_world

if TYPE_CHECKING:
    from torch import Tensor

    from interphase.models.dataset import TrajectoryDataset
    from interphase.models.ensemble import EnsembleConfig, Prediction
    from interphase.models.surrogate import Surrogate
    from interphase.store import Store, StoredArtifact

app = typer.Typer(help="Fit, evaluate and use the surrogate model.", no_args_is_help=True)

DEFAULT_WORLD = "sei-life"
NO_SOURCE = "<none>"
RETENTION, CAPACITY = "Capacity retention", "Discharge capacity [A.h]"
EARLY_SOURCE = "lab-cell"
RECORDS_PER_SOURCE = 3
CYCLE_FRACTIONS = (0.0, 0.1, 0.25, 0.5, 1.0)
MODEL_HELP = "SHA-256 of the model artifact, or a unique prefix of it (default: the newest model)."
WORLD_HELP = "A built-in world name or a world YAML path; its design space is the model's."
THREADS_HELP = "torch threads (the default 1 leaves cores to the sources and other jobs)."

ModelOption = Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP, show_default=False)]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, max=256, help=THREADS_HELP)]


# ----------------------------------------------------------------------------- fit


@app.command("fit")
def fit_command(
    ctx: typer.Context,
    world: Annotated[str | None, typer.Option(
        "--world", "-w", show_default=False,
        help=f"{WORLD_HELP} Default: {DEFAULT_WORLD}, or the warm-started model's world.")] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's records.")] = None,
    sources: Annotated[str | None, typer.Option(
        "--sources", help="Comma-separated sources to train on (default: every one with results).")] = None,
    observables: Annotated[str | None, typer.Option(
        "--observables", help="Comma-separated per-cycle observables (default: all stored).")] = None,
    members: Annotated[int | None, typer.Option(
        "--members", min=1, max=100, show_default=False,
        help="Ensemble members K (default 5; with --warm, the model's).")] = None,
    epochs: Annotated[int | None, typer.Option(
        "--epochs", min=1, max=100_000, show_default=False,
        help="Training epochs (default 150; with --warm, the warm epochs, default the model's).")] = None,
    holdout: Annotated[float, typer.Option(
        "--holdout", help="Share of the designs held out of training, for calibration and "
        "'model evaluate'; 0 for none.")] = 0.2,
    seed: Annotated[int, typer.Option(
        "--seed", min=0, max=2**32 - 1, help="Seed of the split and the members.")] = 0,
    warm: Annotated[bool, typer.Option(
        "--warm", help="Warm-start the newest model on the current data (its sources and observables).",
    )] = False,
    threads: ThreadsOption = 1,
) -> None:
    """Fit the model on the store's records, calibrate it on the holdout and store the checkpoint."""
    if not 0.0 <= holdout < 1.0:
        raise InvalidInputError("--holdout", f"must be in [0, 1), got {holdout:g}")
    source_filter = _split_names(sources, "--sources")
    observable_filter = _split_names(observables, "--observables")
    _set_threads(threads)
    from interphase.models.dataset import TrajectoryDataset

    with open_store(ctx) as store:
        previous = _load(store, None) if warm else None
        cond_filter = None
        if previous is not None:
            artifact, model = previous
            world = world or artifact.metadata.get("world")
            source_filter = source_filter or _known_sources(model)
            observable_filter = observable_filter or model.observables
            cond_filter = model.cond_observables
        space_world = load_world(world or DEFAULT_WORLD)
        dataset = TrajectoryDataset.from_store(
            store, space_world.design_space, observables=observable_filter, cond_observables=cond_filter,
            sources=source_filter, campaign=campaign)
        _require_results(dataset, space_world, campaign, source_filter)
        train, held = dataset.split(holdout, seed)
        if not bool((dataset.batch.has_result[train] > 0).any()):
            raise InvalidInputError("--holdout", f"{holdout:g} holds out every design with results; "
                                    "lower it or add results")
        started = time.perf_counter()
        if previous is None:
            surrogate, last_loss = _fit_new(dataset, train, members=members or 5, epochs=epochs, seed=seed)
        else:
            surrogate, last_loss = _fit_warm(previous, space_world, dataset, train, epochs=epochs)
        factor = _calibrate(surrogate, dataset, held)
        fit_seconds = time.perf_counter() - started
        settings = dataset.settings
        metadata = {
            "world": space_world.name, "holdout_fraction": holdout, "seed": seed,
            "n_train_records": len(train), "n_holdout_records": len(held),
            "data_snapshot_hash": dataset.snapshot_hash(), "variance_factor": factor,
            "dataset": {"campaign": campaign, "sources": _known_sources(surrogate),
                        "observables": settings["observables"], "horizon": settings["horizon"],
                        "include_unlabelled": settings["include_unlabelled"]},
            "warm_from": previous[0].sha256 if previous is not None else None,
            "fit_seconds": round(fit_seconds, 3),
        }
        sha = surrogate.save(store, metadata)
    print_line(f"model {sha}", style="green")
    _print_fit_summary(sha, surrogate, dataset, train, held, metadata, last_loss)


def _fit_new(dataset: TrajectoryDataset, train: Tensor, *, members: int, epochs: int | None,
             seed: int) -> tuple[Surrogate, float | None]:
    """A new ensemble fitted on ``train``, with a progress bar; and the last step's loss."""
    from interphase.models.ensemble import EnsembleConfig
    from interphase.models.surrogate import Surrogate
    from interphase.models.training import TrainConfig

    train_config = TrainConfig() if epochs is None else TrainConfig(epochs=epochs)
    config = EnsembleConfig(members=members, seed=seed, train=train_config)
    with _progress("fitting", Surrogate.fit_steps(dataset, config, rows=train)) as bar:
        surrogate = Surrogate.fit(dataset, config, rows=train, progress=bar)
    return surrogate, bar.last_loss


def _fit_warm(previous: tuple[StoredArtifact, Surrogate], world: World, dataset: TrajectoryDataset,
              train: Tensor, *, epochs: int | None) -> tuple[Surrogate, float | None]:
    """The loaded model warm-started on ``train``, with a progress bar; and the last step's loss.

    Raises:
        InvalidInputError: If the data's layout (space, observables, sources, conditions)
            is not the model's.
    """
    artifact, surrogate = previous
    _require_space(surrogate, world, artifact)
    differences = [f"{what} {now} instead of {before}" for what, now, before in (
        ("observables", dataset.observables, surrogate.observables),
        ("sources", dataset.source_names, surrogate.source_names),
        ("condition observables", dataset.cond_observables, surrogate.cond_observables),
        ("conditions", dataset.conditions, surrogate.conditions)) if now != before]
    if differences:
        raise InvalidInputError("--warm", f"model {artifact.sha256[:12]} cannot be warm-started on this "
                                f"data: {'; '.join(differences)}; fit a new model without --warm")
    if epochs is not None:
        config = surrogate.config.model_copy(
            update={"train": surrogate.config.train.model_copy(update={"warm_epochs": epochs})})
        surrogate.config = surrogate.ensemble.config = config
    config = surrogate.config
    with _progress("warm refit", surrogate.planned_steps(dataset, rows=train, warm=True)) as bar:
        surrogate.refit(dataset, rows=train, progress=bar)
    return surrogate, bar.last_loss


def _calibrate(surrogate: Surrogate, dataset: TrajectoryDataset, held: Tensor) -> float:
    """Fit the variance factor on the held-out records' observations, when there are any."""
    with stderr_console().status("calibrating the variance on the holdout"):
        return surrogate.calibrate(dataset, held)  # nothing held out: the current factor


def _print_fit_summary(sha: str, surrogate: Surrogate, dataset: TrajectoryDataset, train: Tensor,
                       held: Tensor, metadata: dict[str, Any], last_loss: float | None) -> None:
    batch = dataset.batch
    by_source = {name: int(((batch.source[train] == i) & (batch.has_result[train] > 0)).sum())
                 for i, name in enumerate(dataset.source_names) if name != NO_SOURCE}
    config = surrogate.config
    table = new_table(f"Model {sha[:12]}", "item", "value", unbroken=("item",))
    table.add_row("world", metadata["world"] + (f", campaign {metadata['dataset']['campaign']}"
                                                if metadata["dataset"]["campaign"] else ""))
    table.add_row("training records", f"{len(train)} ({_designs(dataset, train)} designs; "
                  + ", ".join(f"{k} {v}" for k, v in by_source.items())
                  + f", {int((batch.has_result[train] == 0).sum())} without results)")
    table.add_row("held-out records", f"{len(held)} ({_designs(dataset, held)} designs; "
                  f"fraction {metadata['holdout_fraction']:g}, seed {metadata['seed']})")
    table.add_row("observables", "; ".join(surrogate.observables + surrogate.cond_observables))
    table.add_row("horizon", f"{dataset.horizon} cycles")
    epochs = config.train.warm_epochs if metadata["warm_from"] else config.train.epochs
    kind = f"warm from {metadata['warm_from'][:12]}" if metadata["warm_from"] else "new"
    table.add_row("ensemble", f"{len(surrogate.ensemble.members)} members x {epochs} epochs ({kind}"
                  f"{', bootstrap' if config.bootstrap else ''}); last loss {fmt_number(last_loss)}")
    calibrated = "calibrated on the holdout" if len(held) else "no holdout"
    table.add_row("variance factor", f"{fmt_number(metadata['variance_factor'])} ({calibrated})")
    table.add_row("data snapshot", metadata["data_snapshot_hash"])
    table.add_row("fit time", f"{metadata['fit_seconds']:.1f} s")
    stdout_console().print(table)


# ----------------------------------------------------------------------------- evaluate


@app.command("evaluate")
def evaluate_command(
    ctx: typer.Context,
    model: ModelOption = None,
    world: Annotated[str | None, typer.Option(
        "--world", "-w", show_default=False, help=f"{WORLD_HELP} Default: the model's world.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", show_default=False,
        help="Folder for metrics.json and the PNGs (default: model-<sha12>-evaluation).")] = None,
    sizes: Annotated[str, typer.Option(
        "--sizes", help="Fractions of the training designs for the uncertainty-against-data curve, "
        "comma-separated; \"\" skips it.")] = "0.25,0.5,1.0",
    size_members: Annotated[int, typer.Option(
        "--size-members", min=1, max=100, help="Members of each ensemble of that curve.")] = 2,
    size_epochs: Annotated[int | None, typer.Option(
        "--size-epochs", min=1, max=100_000, show_default=False,
        help="Epochs of each ensemble of that curve (default: the model's).")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, max=1024,
                                         help="Latent paths per member and record.")] = 32,
    threads: ThreadsOption = 1,
) -> None:
    """Score the model on its held-out designs; write metrics.json and PNG figures.

    The split is recomputed from the seed and fraction stored with the model, on the
    store's current data in the model's layout.
    """
    fractions = _parse_fractions(sizes)
    _set_threads(threads)
    from interphase.models import evaluation

    with open_store(ctx) as store:
        artifact, surrogate = _load(store, model)
        space_world = _world_for(_world_name(world, artifact), artifact, surrogate)
        dataset = _rebuild_dataset(store, artifact, surrogate, space_world)
    meta = artifact.metadata
    sha, fraction, seed = artifact.sha256, float(meta["holdout_fraction"]), int(meta["seed"])
    fitted_hash = meta.get("data_snapshot_hash", surrogate.snapshot_hash)
    if dataset.snapshot_hash() != fitted_hash:
        print_line("warning: the store's data changed since the model was fitted; the split is "
                   "recomputed on today's data, so some held-out designs may have been trained on",
                   style="yellow")
    train, held = dataset.split(fraction, seed)
    if len(held) == 0:
        raise InvalidInputError("--model", f"model {sha[:12]} was fitted with --holdout {fraction:g}: "
                                "no design is held out to evaluate on; refit with --holdout 0.2")
    early_source = _early_source(dataset)
    with stderr_console().status("scoring the held-out records"):
        report: dict[str, Any] = {
            "model": sha, "world": space_world.name,
            "data": {"snapshot_hash_fitted": fitted_hash, "snapshot_hash_now": dataset.snapshot_hash(),
                     "holdout_fraction": fraction, "seed": seed, "n_train_records": len(train),
                     "n_holdout_records": len(held), "n_holdout_designs": _designs(dataset, held)},
            "variance_factor": surrogate.ensemble.variance_factor,
            "trajectories": evaluation.trajectory_metrics(surrogate, dataset, held, n_samples=samples,
                                                          seed=seed),
            "early_prediction": {"source": early_source, "n_tests": 0},
            "feasibility": {"source": early_source, "n": 0},
        }
        if early_source is not None:
            report["early_prediction"].update(evaluation.early_prediction(
                surrogate, dataset, train, held, source=early_source, n_samples=samples, seed=seed))
            report["feasibility"].update(evaluation.feasibility_auc(surrogate, dataset, held,
                                                                    source=early_source))
    if fractions:
        report["uncertainty_vs_data"] = _size_curve(
            surrogate, dataset, train, held, fractions, members=size_members,
            epochs=size_epochs or surrogate.config.train.epochs, seed=seed, n_samples=min(samples, 8))
    written = _write_evaluation(out or Path(f"model-{sha[:12]}-evaluation"), report, surrogate, dataset,
                                held, n_samples=samples, seed=seed)
    for line in [*evaluation.summary_lines(report), *_size_lines(report.get("uncertainty_vs_data"))]:
        print_line(line)
    for path in written:
        print_line(f"wrote {path}", style="green")


def _rebuild_dataset(store: Store, artifact: StoredArtifact, surrogate: Surrogate,
                     world: World) -> TrajectoryDataset:
    """The model's dataset as it is now: its sources, observables, horizon and campaign.

    Raises:
        InvalidInputError: If the model lacks the split metadata ``model fit`` stores, or the
            data's condition grid changed.
    """
    from interphase.models.dataset import TrajectoryDataset

    meta = artifact.metadata
    missing = [key for key in ("holdout_fraction", "seed") if key not in meta]
    if missing:
        raise InvalidInputError("--model", f"model {artifact.sha256[:12]} has no {' or '.join(missing)} "
                                "in its metadata (it was not saved by 'interphase model fit'); "
                                "its held-out designs are unknown")
    settings = meta.get("dataset") or {}
    dataset = TrajectoryDataset.from_store(
        store, world.design_space, observables=surrogate.observables,
        cond_observables=surrogate.cond_observables, sources=_known_sources(surrogate),
        horizon=settings.get("horizon") or surrogate.horizon, campaign=settings.get("campaign"),
        include_unlabelled=settings.get("include_unlabelled", True))
    if dataset.conditions != surrogate.conditions:
        raise InvalidInputError("--model", f"the stored conditions are now {dataset.conditions}, the model "
                                f"was fitted on {surrogate.conditions}; fit a new model")
    return dataset


def _early_source(dataset: TrajectoryDataset) -> str | None:
    """``lab-cell`` when present, else the highest-fidelity source that observed retention."""
    if EARLY_SOURCE in dataset.source_names:
        return EARLY_SOURCE
    if RETENTION not in dataset.observables:
        return None
    column = dataset.observables.index(RETENTION)
    batch = dataset.batch
    observed = [name for i, name in enumerate(dataset.source_names)
                if name != NO_SOURCE and bool((batch.y_mask[batch.source == i, :, column] > 0).any())]
    return max(observed, key=lambda name: (dataset.source_fidelity.get(name, 0), name), default=None)


def _size_curve(surrogate: Surrogate, dataset: TrajectoryDataset, train: Tensor, held: Tensor,
                fractions: list[float], *, members: int, epochs: int, seed: int,
                n_samples: int) -> dict[str, Any]:
    """Small ensembles fitted on nested shares of the training designs, scored on the holdout.

    See :func:`interphase.models.evaluation.data_size_curve`; this adds the progress bars.
    """
    from interphase.models.ensemble import EnsembleConfig
    from interphase.models.evaluation import data_size_curve
    from interphase.models.surrogate import Surrogate

    config = EnsembleConfig(members=members, bootstrap=surrogate.config.bootstrap, seed=seed,
                            net=surrogate.config.net,
                            train=surrogate.config.train.model_copy(update={"epochs": epochs}))

    def fit(rows: Tensor, fit_config: EnsembleConfig, label: str) -> Surrogate:
        with _progress(label, Surrogate.fit_steps(dataset, fit_config, rows=rows)) as bar:
            return Surrogate.fit(dataset, fit_config, rows=rows, progress=bar)

    return data_size_curve(dataset, train, held, fractions, config, seed=seed, n_samples=n_samples, fit=fit)


def _size_lines(curve: dict[str, Any] | None) -> list[str]:
    if not curve or not curve.get("points"):
        return []
    return [f"{curve['observable']} with {p['fraction']:g} of the training designs ({p['n_designs']}): "
            f"mean epistemic std {fmt_number(p['mean_epistemic_std'])}, RMSE {fmt_number(p['rmse'])}"
            for p in curve["points"]]


def _write_evaluation(out: Path, report: dict[str, Any], surrogate: Surrogate, dataset: TrajectoryDataset,
                      held: Tensor, *, n_samples: int, seed: int) -> list[Path]:
    """Write ``metrics.json`` and the PNGs into ``out``; return the paths written."""
    from interphase.models import plots
    from interphase.models.evaluation import trajectory_panels

    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(plain_json(report), indent=2) + "\n")
    curves = {source: (figures["reliability"]["levels"], figures["reliability"]["observed"])
              for source, figures in report["trajectories"].items()}
    written = [metrics_path, plots.reliability_diagram(curves, out / "reliability.png"),
               plots.trajectory_figure(trajectory_panels(surrogate, dataset, held, n_samples=n_samples,
                                                         seed=seed), out / "trajectories.png")]
    curve = report.get("uncertainty_vs_data")
    if curve and curve["points"]:
        points = curve["points"]
        written.append(plots.uncertainty_vs_data(
            [p["fraction"] for p in points], [p["mean_epistemic_std"] for p in points],
            [p["rmse"] for p in points], out / "uncertainty_vs_data.png", observable=curve["observable"],
            n_designs=[p["n_designs"] for p in points]))
    return written


# ----------------------------------------------------------------------------- predict


@app.command("predict")
def predict_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--source", "-s", help="The source (fidelity) to predict for.",
                                        show_default=False)],
    design: Annotated[list[str] | None, typer.Option(
        "--design", "-d", help="name=value, SI number or quantity such as 25degC; repeatable. "
        "Variables not given sit at the centre of the design space.")] = None,
    cycles: Annotated[int | None, typer.Option(
        "--cycles", min=1, max=100_000, show_default=False,
        help="Cycles to predict (default: the horizon the model was fitted on).")] = None,
    at: Annotated[list[str] | None, typer.Option(
        "--at", show_default=False,
        help="A condition for the condition-indexed observables (conductivity by temperature): a "
        "temperature such as 25degC or 298.15K (a bare number is in K); repeatable. It must lie "
        "within the conditions the source measures and the model was fitted on. Default: the "
        "model's conditions within the source's range.")] = None,
    model: ModelOption = None,
    world: Annotated[str | None, typer.Option(
        "--world", "-w", show_default=False, help=f"{WORLD_HELP} Default: the model's world.")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, max=1024,
                                         help="Latent paths per member.")] = 32,
    threads: ThreadsOption = 1,
) -> None:
    """Predict one design under a source, per cycle and by condition: mean, stds, 5-95 %, failure risk."""
    given = parse_design_args(design or [])
    asked = parse_conditions(at) if at else None
    _set_threads(threads)
    with open_store(ctx) as store:
        artifact, surrogate = _load(store, model)
    name = artifact.sha256[:12]
    try:
        surrogate.source_index(source)
    except InvalidInputError as exc:
        raise InvalidInputError("--source", exc.problem) from None
    if cycles is not None and not surrogate.observables:
        raise InvalidInputError("--cycles", f"model {name} predicts no per-cycle observable, only "
                                f"{', '.join(surrogate.cond_observables)} by condition; use --at instead")
    world_name = _world_name(world, artifact)
    space_world = _world_for(world_name, artifact, surrogate)
    world_source = resolve_source(source, world_name)
    chosen, filled = complete_design(world_source, given)
    conditions = conditions_for(surrogate, world_source, asked, name)
    if not surrogate.observables and conditions is None:
        raise InvalidInputError("--source", f"{source} measures nothing by temperature, and model {name} "
                                f"predicts only {', '.join(surrogate.cond_observables)} by temperature")
    horizon = cycles or surrogate.horizon
    protocol = world_source.default_protocol or space_world.protocol
    protocol = protocol.model_copy(update={"n_cycles": horizon})
    with stderr_console().status("predicting"):
        prediction = (surrogate.predict([chosen], source=source, protocol=protocol, horizon=horizon,
                                        n_samples=samples) if surrogate.observables else None)
        by_condition = (surrogate.predict_conditions([chosen], source=source, conditions=conditions,
                                                     n_samples=samples) if conditions else None)
        failure, spread = surrogate.feasibility([chosen], source=source, protocol=protocol)
    if filled:
        print_line(f"at the centre of the space: {', '.join(filled)}", style="dim")
    print_line(f"design: {fmt_values(chosen.values)}", style="dim")
    if prediction is not None:
        _print_cycle_table(prediction, surrogate, f"{source} over {horizon} cycles, model {name}", horizon)
    if by_condition is not None and conditions:
        print_condition_table(by_condition, surrogate, conditions, f"{source} by condition, model {name}")
    print_line(f"probability of failure: {float(failure[0]):.3f} "
               f"(spread between members {float(spread[0]):.3f})")


def _print_cycle_table(prediction: Prediction, surrogate: Surrogate, title: str, horizon: int) -> None:
    """The per-cycle observables at a few cycles (first, 10 %, 25 %, 50 %, last) of one design."""
    from interphase.models.evaluation import interval

    lo, hi = interval(prediction.quantiles, prediction.levels, 0.05, 0.95)
    table = new_table(title, "cycle", "observable", "mean", "aleatoric std", "epistemic std", "5 %", "95 %",
                      numeric=("cycle", "mean", "aleatoric std", "epistemic std", "5 %", "95 %"),
                      unbroken=("observable",))
    shown = sorted({max(1, math.ceil(f * horizon)) for f in CYCLE_FRACTIONS})
    for cycle in shown:
        t = cycle - 1
        for o, name in enumerate(surrogate.observables):
            values = (prediction.mean, prediction.aleatoric_std, prediction.epistemic_std, lo, hi)
            table.add_row(str(cycle), name, *(fmt_number(float(v[0, t, o])) for v in values),
                          end_section=o == len(surrogate.observables) - 1)
    stdout_console().print(table)


# ----------------------------------------------------------------------------- sample


@app.command("sample")
def sample_command(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("--n", "-n", min=1, max=100_000, help="Designs to draw.")] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the draw.")] = 0,
    model: ModelOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", show_default=False,
        help="Also write the designs as YAML, in the format 'interphase design add' reads.")] = None,
    threads: ThreadsOption = 1,
) -> None:
    """Draw new designs from the model's latent prior, decoded and validated in its design space."""
    _set_threads(threads)
    with open_store(ctx) as store:
        artifact, surrogate = _load(store, model)
    designs = surrogate.sample_designs(n, seed=seed)
    names = surrogate.space.names
    table = new_table(f"{n} designs from model {artifact.sha256[:12]} (seed {seed}, SI units)", "#", *names,
                      numeric=("#", *names), unbroken=("#",))
    for position, item in enumerate(designs, start=1):
        table.add_row(str(position), *(_fmt_value(item.values[name]) for name in names))
    stdout_console().print(table)
    if out is not None:
        import yaml

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump([dict(item.values) for item in designs], sort_keys=False))
        print_line(f"wrote {out}", style="green")


# ----------------------------------------------------------------------------- shared


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _split_names(text: str | None, option: str) -> list[str] | None:
    """A comma-separated option as a list of names; None when not given.

    Raises:
        InvalidInputError: For an empty name.
    """
    if text is None:
        return None
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise InvalidInputError(option, f"expected comma-separated names, got {text!r}")
    return names


def _parse_fractions(text: str) -> list[float]:
    """``--sizes``: comma-separated fractions in (0, 1], increasing; empty for none.

    Raises:
        InvalidInputError: For a value that is not a number in (0, 1].
    """
    fractions = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            value = float(part)
        except ValueError:
            raise InvalidInputError("--sizes", f"{part!r} is not a number") from None
        if not 0.0 < value <= 1.0:
            raise InvalidInputError("--sizes", f"each fraction must be in (0, 1], got {part}")
        fractions.append(value)
    return sorted(set(fractions))


def _known_sources(surrogate: Surrogate) -> list[str]:
    return [name for name in surrogate.source_names if name != NO_SOURCE]


def _designs(dataset: TrajectoryDataset, rows: Tensor) -> int:
    """Distinct designs among ``rows``."""
    return len(np.unique(dataset.design_groups()[rows].numpy()))


def _require_results(dataset: TrajectoryDataset, world: World, campaign: str | None,
                     sources: list[str] | None) -> None:
    """Raise unless the dataset holds at least one stored result."""
    if bool((dataset.batch.has_result > 0).any()):
        return
    where = "".join([f" of campaign {campaign!r}" if campaign else "",
                     f" from sources {', '.join(sources)}" if sources else ""])
    outside = f"; {dataset.skipped} results lie outside it" if dataset.skipped else ""
    raise InvalidInputError("store", f"no results{where} in the design space of world {world.name!r}"
                            f"{outside}; run a source first, e.g. 'interphase source run pybamm-spm "
                            f"--world {world.name}'")


def _load(store: Store, sha: str | None) -> tuple[StoredArtifact, Surrogate]:
    """The model artifact ``sha`` (a unique prefix is enough), or the newest; and the surrogate.

    Raises:
        InvalidInputError: If the store holds no model, or the prefix is ambiguous.
        NotFoundError: If no model matches ``sha``.
    """
    from interphase.models.surrogate import ARTIFACT_KIND, Surrogate

    models = store.list_artifacts(ARTIFACT_KIND)
    if not models:
        raise InvalidInputError("--model", "the store holds no model yet; run 'interphase model fit'")
    if sha is None:
        chosen = models[-1]
    else:
        matches = [m for m in models if m.sha256.startswith(sha.strip().lower())] if sha.strip() else []
        if not matches:
            newest = ", ".join(m.sha256[:12] for m in reversed(models[-5:]))
            raise NotFoundError(f"no model {sha!r} in the store; its newest models: {newest}")
        if len(matches) > 1:
            raise InvalidInputError("--model", f"{sha!r} matches {len(matches)} models; give more digits")
        chosen = matches[0]
    with stderr_console().status(f"loading model {chosen.sha256[:12]}"):
        return chosen, Surrogate.load(store, chosen.sha256)


def _world_name(world: str | None, artifact: StoredArtifact) -> str:
    """The world given, else the one the model was fitted on."""
    return str(world or artifact.metadata.get("world") or DEFAULT_WORLD)


def _world_for(name: str, artifact: StoredArtifact, surrogate: Surrogate) -> World:
    """The world ``name``, whose design space must be the model's.

    Raises:
        InvalidInputError: If it is not.
    """
    loaded = load_world(name)
    _require_space(surrogate, loaded, artifact)
    return loaded


def _require_space(surrogate: Surrogate, world: World, artifact: StoredArtifact) -> None:
    if canonical_hash(world.design_space.model_dump(mode="json")) != canonical_hash(
            surrogate.space.model_dump(mode="json")):
        fitted = artifact.metadata.get("world", "another world")
        raise InvalidInputError("--world", f"world {world.name!r} has another design space than model "
                                f"{artifact.sha256[:12]}, which was fitted on {fitted}")


class _ProgressCallback:
    """Advances a rich progress bar by one step per call and keeps the latest loss."""

    def __init__(self, advance: Callable[[float], None]) -> None:
        self._advance = advance
        self.last_loss: float | None = None

    def __call__(self, steps_done: int, loss: float) -> None:
        self.last_loss = loss
        self._advance(loss)


@contextmanager
def _progress(description: str, total: int) -> Iterator[_ProgressCallback]:
    """A progress bar on standard error for ``total`` optimiser steps."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console()) as progress:
        task = progress.add_task(description, total=total, loss="-")
        yield _ProgressCallback(lambda loss: progress.update(task, advance=1, loss=f"{loss:.4g}"))


def _fmt_value(value: float | int | str) -> str:
    return fmt_number(value) if isinstance(value, float) else str(value)


