"""``interphase world``: the built-in worlds and any world YAML, without their hidden truth."""

from __future__ import annotations

from typing import Annotated

import typer

from interphase.agent.plan import source_pools
from interphase.agent.view import CPU
from interphase.cli.output import new_table, print_line, stdout_console
from interphase.schema import CategoricalVariable
from interphase.sources import world_sources
from interphase.sources.world import builtin_world_names, load_world

app = typer.Typer(help="Benchmark and demo worlds.", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List the built-in worlds."""
    table = new_table("Worlds", "name", "variables", "sources", "horizon", "description",
                      numeric=("variables", "horizon"), unbroken=("name",))
    for name in builtin_world_names():
        world = load_world(name)
        summary = world.description.strip().splitlines()[0] if world.description.strip() else ""
        table.add_row(name, str(world.design_space.dim), ", ".join(world.sources),
                      str(world.protocol.n_cycles), summary)
    stdout_console().print(table)


@app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="A built-in world name or a path to a world YAML.")],
) -> None:
    """Show a world's space, sources (the pool each runs on, runs at once), protocol, target (no truth)."""
    world = load_world(name)
    print_line(f"world {world.name}: {world.description.strip()}")
    table = new_table("Design space", "variable", "kind", "allowed")
    for variable in world.design_space.variables:
        allowed = (", ".join(variable.choices) if isinstance(variable, CategoricalVariable)
                   else variable.allowed())
        table.add_row(variable.name, variable.kind, allowed)
    stdout_console().print(table)
    built = world_sources(world)
    resource_of, capacity = source_pools(world, built)
    takes_lab_channels = [name for name, source in built.items() if source.channels_from_world]
    sources = new_table("Sources", "source", "kind", "runs on", "at once", "settings",
                        unbroken=("source", "kind"))
    for name, settings in world.sources.items():
        pool = resource_of[name]
        if pool == CPU:
            runs_on, why = "CPU pool, shared", "resources.cpu_workers"
        else:
            runs_on = "its own channels"
            why = "resources.lab_channels" if name in takes_lab_channels else "the source's channels"
        shown = ", ".join(f"{k}={v}" for k, v in settings.items() if k != "kind") or "-"
        sources.add_row(name, str(settings.get("kind", "-")), runs_on, f"{capacity[pool]} ({why})", shown)
    stdout_console().print(sources)
    protocol = world.protocol
    print_line(f"protocol: {' -> '.join(protocol.steps)} x {protocol.n_cycles} cycles at "
               f"{protocol.ambient_temperature_k:g} K")
    cpu_users = [name for name, pool in resource_of.items() if pool == CPU]
    lab_use = (f"taken by {', '.join(takes_lab_channels)}" if takes_lab_channels
               else "unused: every channel source sets its own channels")
    cpu_use = f"shared by {', '.join(cpu_users)}" if cpu_users else "unused: no source runs on the CPU pool"
    print_line(f"resources: lab_channels={world.resources.lab_channels} ({lab_use}); "
               f"cpu_workers={world.resources.cpu_workers} ({cpu_use})")
    if world.target is not None:
        print_line("target: " + world.target.model_dump_json(exclude_defaults=True))

