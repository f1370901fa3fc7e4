"""``interphase run [CONFIG]`` and ``interphase resume CAMPAIGN``: closed-loop campaigns.

``run`` validates the configuration against its world before it opens the store, so a bad
configuration writes nothing; with no configuration it runs the built-in ``sei-life`` demo.
The campaign's state lives in the store: after a crash (even SIGKILL), ``resume`` continues it
with no acknowledged result lost and no request launched twice; ``resume --add-wall-hours H``
(or ``--add-lab-hours``, ``--add-cpu-hours``) raises a budget and continues a campaign that
ended on it. Both end by writing the campaign's report.

One process runs a campaign at a time: both take the campaign's lease before they write, and a
second process exits 2 naming the holder's PID and host. ``--take-over`` takes a campaign from a
holder that looks alive; one that died on this host, or whose heartbeat is older than the TTL
(``interphase.store.leases.LEASE_TTL_S``), is taken over without it (docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interphase.cli.output import print_line
from interphase.cli.state import open_store
from interphase.schema import load_model_file, parse_model
from interphase.schema.run_config import RunConfig
from interphase.store.leases import LEASE_TTL_S

TAKE_OVER_HELP = ("Take the campaign from the process that holds it. Use it only once that process is dead "
                  "(on another host, say): one that died on this host, or whose heartbeat is older than "
                  f"{LEASE_TTL_S:.0f} s, is taken over without it; a live one stops at its next step.")

DEMO_CONFIG = {
    "name": "sei-demo",
    "description": ("The built-in demo: find a fast-charging graphite||NMC cell that keeps 94.5 % of its "
                    "capacity over 200 cycles (sei-life world), verified on the emulated lab."),
    "world": "sei-life",
    "strategy": "interphase",
    "seed": 0,
    # A lighter model than the benchmark's, so that the demo ends within minutes on two cores;
    # the wall-clock budget is a safety net: the report is written either way. The demo forecasts
    # the lab from SPM (4 CPU s a run): with the agent's default, SPMe (20 s a run, 12 space-filling
    # runs and the refinements before the lab's first round), the demo would spend its 0.2
    # wall-clock hours on simulations and reach no lab result.
    "agent": {"members": 3, "epochs": 40, "warm_epochs": 60, "min_steps": 500, "max_simulations": 24,
              "forecast_from": "pybamm-spm"},
    "budget": {"lab_hours": 40000, "wall_hours": 0.2},
}


def load_run_config(path: Path | None) -> tuple[RunConfig, Path | None]:
    """The configuration in ``path``, or the demo's; and the folder relative paths start from."""
    if path is None:
        return parse_model(RunConfig, DEMO_CONFIG, context="demo"), None
    return load_model_file(RunConfig, path), path.resolve().parent


def run_command(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Argument(
        metavar="[CONFIG]", help="Run configuration (YAML or JSON); the sei-life demo when omitted.",
        show_default=False)] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Folder of the report (default reports/<campaign>).")] = None,
    live: Annotated[bool, typer.Option("--live/--quiet", help="Show the live view.")] = True,
    take_over: Annotated[bool, typer.Option("--take-over", help=TAKE_OVER_HELP)] = False,
    clock: Annotated[str | None, typer.Option(
        "--clock", help="simulated (results visible at the simulated hour their run ends) or real "
        "(requests wait in the store for workers; results count when they arrive). Replaces the "
        "configuration's clock.mode.", show_default=False)] = None,
    time_scale: Annotated[float | None, typer.Option(
        "--time-scale", help="On the real clock: simulated seconds per wall second for the campaign's own "
        "emulated lab workers (3600: one lab hour per second). Replaces clock.time_scale.",
        show_default=False)] = None,
) -> None:
    """Run a closed-loop campaign until a design is verified or a budget is spent, then report.

    One process runs a campaign at a time: while another holds it, this one exits 2 and writes nothing.
    """
    from interphase.agent.plan import resolve

    run_config, base_dir = load_run_config(config)
    run_config = with_clock(run_config, clock, time_scale)
    plan = resolve(run_config, base_dir)  # every check before the store is touched
    from interphase.agent.campaign import run_campaign

    with open_store(ctx, initialised=False, create=True) as store:  # a run creates the store it needs
        outcome = run_campaign(store, plan, live=live, take_over=take_over)
        paths = _write_report(store, plan.spec.name, report)
    _print_outcome(outcome, paths)


def resume_command(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign to continue.", show_default=False)],
    report: Annotated[Path | None, typer.Option(
        "--report", help="Folder of the report (default reports/<campaign>).")] = None,
    live: Annotated[bool, typer.Option("--live/--quiet", help="Show the live view.")] = True,
    add_wall_hours: Annotated[float | None, typer.Option(
        "--add-wall-hours", help="Raise the wall-clock budget by this many hours (continues a campaign "
        "that ended on it).", show_default=False)] = None,
    add_lab_hours: Annotated[float | None, typer.Option(
        "--add-lab-hours", help="Raise the lab-hour budget by this many hours.", show_default=False)] = None,
    add_cpu_hours: Annotated[float | None, typer.Option(
        "--add-cpu-hours", help="Raise the CPU-hour budget by this many hours.", show_default=False)] = None,
    take_over: Annotated[bool, typer.Option("--take-over", help=TAKE_OVER_HELP)] = False,
) -> None:
    """Continue a campaign from the store after a crash or a stop, or past its budget; then report.

    A killed holder (same host, or a stale heartbeat) is taken over; while one lives, this exits 2.
    """
    from interphase.agent.campaign import extend_campaign, resume_campaign

    added = {"add_wall_hours": add_wall_hours, "add_lab_hours": add_lab_hours, "add_cpu_hours": add_cpu_hours}
    # A store without the campaign, without a schema or without its file is told that
    # 'interphase run CONFIG' starts the campaign (which helps; 'db init' would not). The engine
    # checks that the file exists before it asks anything, so no empty file is left behind.
    with open_store(ctx, initialised=False, create=True) as store:
        if any(hours is not None for hours in added.values()):
            outcome = extend_campaign(store, campaign, live=live, take_over=take_over, **added)
        else:
            outcome = resume_campaign(store, campaign, live=live, take_over=take_over)
        paths = _write_report(store, campaign, report)
    _print_outcome(outcome, paths)


def with_clock(config: RunConfig, mode: str | None, time_scale: float | None) -> RunConfig:
    """The configuration with ``--clock`` and ``--time-scale`` in force (validated like the file's)."""
    from interphase.schema.run_config import ClockConfig

    if mode is None and time_scale is None:
        return config
    clock = config.clock.model_dump()
    if mode is not None:
        clock["mode"] = mode
    if time_scale is not None:
        clock["time_scale"] = time_scale
    return config.model_copy(update={"clock": parse_model(ClockConfig, clock, context="clock")})


def _write_report(store, campaign: str, out: Path | None):  # noqa: ANN001, ANN202 - thin CLI glue
    from interphase.report import build_report

    return build_report(store, campaign, out or Path("reports") / campaign)


def _print_outcome(outcome, paths) -> None:  # noqa: ANN001 - thin CLI glue
    for line in outcome.summary_lines():
        print_line(line)
    print_line(f"report: {paths.html}", style="green")
    more = {"wall": "--add-wall-hours 0.2",
            "budget": "--add-lab-hours 5000 (or --add-cpu-hours 1, whichever ran out)"}.get(outcome.status)
    if more:
        print_line(f"it ended on its budget; to go on: interphase resume {outcome.campaign} {more}")
