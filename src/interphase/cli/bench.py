"""``interphase bench WORLD``: discovery time of every strategy on a world, over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interphase.cli.output import print_line
from interphase.schema import InvalidInputError


def bench_command(
    ctx: typer.Context,
    world: Annotated[str, typer.Argument(help="World name or YAML path.", show_default=False)],
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=1000, help="Seeds per strategy.")] = 10,
    strategies: Annotated[str, typer.Option(
        "--strategies", help="Comma-separated strategies.")] = "trial-and-error,gp-qlogei,mf-gp,interphase",
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Campaigns at once.")] = 2,
    budget: Annotated[float, typer.Option("--budget-lab-hours", min=1.0, help="Lab hours per campaign.")]
    = 200_000.0,
    out: Annotated[Path, typer.Option("--out", help="Folder of the JSON and the PNG.")] = Path("bench"),
) -> None:
    """Run every strategy on the world over seeds; write JSON and a PNG of discovery curves.

    The campaigns go into ``OUT/discovery-<world>.db``; finished ones are read back, so the
    command resumes where it stopped.
    """
    from interphase.agent.bench import run_benchmark, summary_lines
    from interphase.agent.strategy import strategy_names
    from interphase.report.discovery import discovery_figure
    from interphase.sources.world import load_world

    chosen = [s.strip() for s in strategies.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in strategy_names()]
    if unknown or not chosen:
        raise InvalidInputError("--strategies", f"unknown {', '.join(unknown) or 'none given'}; "
                                f"known: {', '.join(strategy_names())}")
    name = load_world(world).name  # refuses an unknown world before anything runs
    out.mkdir(parents=True, exist_ok=True)
    report = run_benchmark(world, seeds=seeds, strategies=chosen, workers=workers, budget_lab_hours=budget,
                           db=out / f"discovery-{name}.db", json_path=out / f"discovery-{name}.json",
                           on_result=lambda row: print_line(f"{row['campaign']}: "
                                                            + (f"verified at {row['discovery_h']:.0f} h"
                                                               if row["verified"] else row["status"])))
    png = discovery_figure(report["runs"], out / f"discovery-{name}.png", name)
    for line in summary_lines(report["summary"], report.get("floor_h")):
        print_line(line)
    print_line(f"wrote {out / f'discovery-{name}.json'} and {png}", style="green")
