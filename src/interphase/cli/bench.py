"""``interphase bench WORLD``: discovery time of every strategy on a world, over seeds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from interphase.cli.output import print_error, print_line
from interphase.schema import InvalidInputError
from interphase.schema.limits import MAX_BUDGET_HOURS

MAX_SEED = 2**32 - 1  # a run configuration's seed is below 2**32


def bench_command(
    ctx: typer.Context,
    world: Annotated[str, typer.Argument(help="World name or YAML path.", show_default=False)],
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=1000, help="Seeds per strategy.")] = 10,
    first_seed: Annotated[int, typer.Option(
        "--first-seed", min=0, max=MAX_SEED, help="The first seed; the campaigns run seeds FIRST_SEED to "
        "FIRST_SEED + SEEDS - 1 (to add seeds to a folder, or to split them between machines).")] = 0,
    strategies: Annotated[str, typer.Option(
        "--strategies", help="Comma-separated strategies.")] = "trial-and-error,gp-qlogei,mf-gp,interphase",
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Campaigns at once.")] = 2,
    budget: Annotated[float, typer.Option(
        "--budget-lab-hours", min=1.0, max=MAX_BUDGET_HOURS, help="Lab hours per campaign.")] = 200_000.0,
    wall_hours: Annotated[float | None, typer.Option(
        "--wall-hours", help="Real (wall-clock) hours each campaign may run; one that reaches them ends with "
        "status 'wall', not verified. Default: no limit.", show_default=False)] = None,
    agent: Annotated[str | None, typer.Option(
        "--agent", metavar="JSON", show_default=False,
        help="Strategy settings as JSON, by strategy: '{\"interphase\": {\"replicate_misses\": "
        "\"first-launch\"}, \"mf-gp\": {\"n_init\": 4}}' (an object without strategy names is the interphase "
        "agent's settings). They add to the benchmark's defaults (max_simulations 48 for mf-gp and "
        "interphase). A folder holds one set of settings per strategy: run a variant with another --out.")]
    = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Folder of the results: the JSON, the PNG and the campaigns' store.")] = Path("bench"),
) -> int:
    """Run every strategy on the world over seeds; write JSON and a PNG of discovery curves.

    The campaigns go into ``OUT/discovery-<world>.db``; finished ones are read back, so the
    command resumes where it stopped. A campaign that fails becomes a row with its error, the
    others go on, and the command exits 1 after the summary; running it again retries them.
    """
    from interphase.agent.bench import FAILED, failure_text, finished_rows, run_benchmark, summary_lines
    from interphase.agent.bench_config import parse_agent_settings
    from interphase.agent.strategy import strategy_names
    from interphase.report.discovery import discovery_figure
    from interphase.sources.world import load_world

    chosen = [s.strip() for s in strategies.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in strategy_names()]
    if unknown or not chosen:
        raise InvalidInputError("--strategies", f"unknown {', '.join(unknown) or 'none given'}; "
                                f"known: {', '.join(strategy_names())}")
    if first_seed + seeds - 1 > MAX_SEED:
        raise InvalidInputError("--first-seed", f"seeds {first_seed} to {first_seed + seeds - 1} pass the "
                                f"largest seed, {MAX_SEED}")
    if wall_hours is not None and not 0.0 < wall_hours < math.inf:
        raise InvalidInputError("--wall-hours", f"expected a positive, finite number of hours, "
                                f"got {wall_hours:g}")
    settings = parse_agent_settings(agent, chosen) if agent is not None else None
    name = load_world(world).name  # refuses an unknown world before anything runs

    def show(row: dict[str, Any]) -> None:
        if row.get("status") == FAILED:
            print_line(f"{row['campaign']}: failed: {failure_text(row)}", style="red")
        else:
            print_line(f"{row['campaign']}: " + (f"verified at {row['discovery_h']:.0f} h" if row["verified"]
                                                 else row["status"]))

    json_path = out / f"discovery-{name}.json"
    report = run_benchmark(world, seeds=seeds, first_seed=first_seed, strategies=chosen, workers=workers,
                           budget_lab_hours=budget, db=out / f"discovery-{name}.db", json_path=json_path,
                           settings=settings, wall_hours=wall_hours, on_result=show)
    png = discovery_figure(finished_rows(report["runs"]), out / f"discovery-{name}.png", name)
    for line in summary_lines(report["summary"], report.get("floor_h")):
        print_line(line)
    print_line(f"wrote {json_path} and {png}", style="green")
    ran = {(s, seed) for s in chosen for seed in range(first_seed, first_seed + seeds)}
    failed = [row["campaign"] for row in report["runs"]
              if (row["strategy"], row["seed"]) in ran and row["status"] == FAILED]
    if failed:
        print_error(f"{len(failed)} of {len(ran)} campaigns failed ({', '.join(failed)}); their rows in "
                    f"{json_path} give the error; run the command again to retry them")
        return 1
    return 0
