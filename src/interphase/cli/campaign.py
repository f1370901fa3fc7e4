"""``interphase campaign``: create campaigns from a YAML or JSON specification."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interphase.cli.output import new_table, print_line, stdout_console
from interphase.cli.state import open_store
from interphase.schema import CampaignSpec, CategoricalVariable, load_model_file

app = typer.Typer(help="Create campaigns.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(
        metavar="CONFIG", help="Campaign specification (YAML or JSON).", show_default=False)],
) -> None:
    """Create a campaign from its specification; the same spec again is a no-op."""
    spec = load_model_file(CampaignSpec, config)
    with open_store(ctx) as store:
        existed = any(c.name == spec.name for c in store.list_campaigns())
        stored = store.create_campaign(spec)
    verb = "already present" if existed else "created"
    print_line(f"campaign {stored.name!r} {verb} (id {stored.id})",
               style="" if existed else "green")
    table = new_table(f"Design space of {stored.name}", "variable", "kind", "allowed")
    for variable in stored.spec.design_space.variables:
        allowed = variable.allowed()
        if isinstance(variable, CategoricalVariable):
            allowed = ", ".join(variable.choices)
        table.add_row(variable.name, variable.kind, allowed)
    stdout_console().print(table)
    protocol = stored.spec.protocol
    print_line(f"protocol: {len(protocol.steps)} steps x {protocol.n_cycles} cycles at "
               f"{protocol.ambient_temperature_k:g} K")
