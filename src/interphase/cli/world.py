"""``interphase world``: the built-in worlds and any world YAML, without their hidden truth."""

from __future__ import annotations

from typing import Annotated

import typer

from interphase.cli.output import new_table, print_line, stdout_console
from interphase.schema import CategoricalVariable
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
    """Show a world's design space, sources, protocol, target and resources (never its truth)."""
    world = load_world(name)
    print_line(f"world {world.name}: {world.description.strip()}")
    table = new_table("Design space", "variable", "kind", "allowed")
    for variable in world.design_space.variables:
        allowed = (", ".join(variable.choices) if isinstance(variable, CategoricalVariable)
                   else variable.allowed())
        table.add_row(variable.name, variable.kind, allowed)
    stdout_console().print(table)
    sources = new_table("Sources", "source", "settings", unbroken=("source",))
    for source, settings in world.sources.items():
        sources.add_row(source, ", ".join(f"{k}={v}" for k, v in settings.items()) or "-")
    stdout_console().print(sources)
    protocol = world.protocol
    print_line(f"protocol: {' -> '.join(protocol.steps)} x {protocol.n_cycles} cycles at "
               f"{protocol.ambient_temperature_k:g} K")
    print_line(f"resources: {world.resources.lab_channels} lab channels, "
               f"{world.resources.cpu_workers} CPU workers")
    if world.target is not None:
        print_line("target: " + world.target.model_dump_json(exclude_defaults=True))
