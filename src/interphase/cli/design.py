"""``interphase design``: add designs to a campaign from a YAML or JSON list."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from interphase.cli.output import fmt_values, new_table, print_line, stdout_console
from interphase.cli.state import open_store
from interphase.schema import Design, DesignSpace, InvalidInputError, read_structured_file

app = typer.Typer(help="Add designs to campaigns.", no_args_is_help=True)

LABEL_KEY = "label"


@app.command("add")
def add(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign name.", show_default=False)],
    file: Annotated[Path, typer.Argument(help="YAML or JSON list of designs.", show_default=False)],
) -> None:
    """Add designs to a campaign, all or none.

    FILE holds a list; each item maps variable names to values, as numbers in SI or
    quantity strings such as "25 degC", with an optional "label" key.
    """
    raw = read_designs_file(file)
    with open_store(ctx) as store:
        space = store.get_campaign(campaign).spec.design_space
        designs = validate_designs(space, raw)
        known = {d.id for d in store.list_designs(campaign)}
        stored = store.add_designs(campaign, designs)
    new = sum(d.id not in known for d in stored)
    print_line(f"{new} new, {len(stored) - new} already present in campaign {campaign!r}",
               style="green")
    table = new_table(f"Designs added to {campaign}", "id", "label", "values", "status")
    for item in stored:
        values = fmt_values(item.design.values)
        table.add_row(item.id, item.design.label or "", values,
                      "already present" if item.id in known else "new")
    stdout_console().print(table)


def read_designs_file(path: Path) -> list[Any]:
    """Read a YAML/JSON file that must hold a non-empty list.

    Raises:
        InvalidInputError: If the file is missing, unreadable, empty or not a list.

    """
    data = read_structured_file(path)
    if data is None:
        raise InvalidInputError(str(path), "file is empty; expected a list of designs")
    if not isinstance(data, list) or not data:
        kind = "an empty list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise InvalidInputError(
            str(path), f"expected a list of designs (mappings of variable to value), got {kind}"
        )
    return data


def validate_designs(space: DesignSpace, items: list[Any]) -> list[Design]:
    """Check every item against the design space before anything is stored.

    Args:
        space: The campaign's design space.
        items: Parsed list items, each a mapping of variable to value plus an optional label.

    Returns:
        The validated designs, values in SI.

    Raises:
        InvalidInputError: Naming ``designs.<position>.<variable>`` and what is allowed.

    """
    designs = []
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidInputError(
                f"designs.{position}",
                f"expected a mapping of variable to value, got {type(item).__name__}",
            )
        values = {str(k): v for k, v in item.items() if k != LABEL_KEY}
        label = item.get(LABEL_KEY)
        if label is not None and not isinstance(label, str | int):
            raise InvalidInputError(f"designs.{position}.{LABEL_KEY}", "must be text")
        try:
            designs.append(space.validate_design(values, None if label is None else str(label)))
        except InvalidInputError as exc:
            raise InvalidInputError(f"designs.{position}.{exc.field}", exc.problem) from None
    return designs
