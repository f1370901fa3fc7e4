"""``interphase bench WORLD``: discovery time of every strategy on a world, over seeds."""

from __future__ import annotations

from typing import Annotated

import typer

from interphase.schema import InvalidInputError


def bench_command(
    ctx: typer.Context,
    world: Annotated[str, typer.Argument(help="World name or YAML path.", show_default=False)],
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds per strategy.")] = 10,
) -> None:
    """Run every strategy on the world over seeds; write JSON and a PNG of discovery curves."""
    raise InvalidInputError("bench", "not available yet")
