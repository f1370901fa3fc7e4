"""``interphase source``: list the registered sources, run one and store its result."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from interphase.cli.output import (
    fmt_number,
    fmt_values,
    new_table,
    print_line,
    stderr_console,
    stdout_console,
)
from interphase.cli.state import open_store
from interphase.schema import (
    Design,
    InvalidInputError,
    Protocol,
    StopRule,
    canonical_hash,
    load_model_file,
    parse_model,
)
from interphase.sources import Source, resolve_source, run_safely, source_names
from interphase.sources.world import load_world

WORLD_HELP = ("A built-in world name or a world YAML path: use the sources it declares instead of the "
              "registered ones.")

app = typer.Typer(help="List and run data sources.", no_args_is_help=True)


@app.command("list")
def list_command(
    world: Annotated[str | None, typer.Option("--world", "-w", help=WORLD_HELP)] = None,
) -> None:
    """Show every registered source (or a world's): technique, fidelity, observables and cost model."""
    title = "Sources" if world is None else f"Sources of world {load_world(world).name}"
    table = new_table(title, "name", "technique", "fidelity", "channels", "observables",
                      "cost model", numeric=("fidelity",), unbroken=("name",))
    names = source_names() if world is None else list(load_world(world).sources)
    for name in names:
        source = resolve_source(name, world)
        spec = source.spec
        cost = ", ".join(f"{k}={v}" for k, v in spec.cost_model.items()) or "-"
        table.add_row(name, spec.technique.value, str(spec.fidelity),
                      str(source.channels) if source.channels else "cpu",
                      "; ".join(spec.observables), cost)
    stdout_console().print(table)


def parse_design_args(pairs: list[str]) -> dict[str, str | float]:
    """Turn ``k=v`` arguments into a mapping; numbers become floats, the rest stays text.

    Raises:
        InvalidInputError: For an argument without ``=``.
    """
    values: dict[str, str | float] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInputError("--design", f"expected name=value, got {pair!r}")
        text = raw.strip()
        try:
            values[name.strip()] = float(text)
        except ValueError:
            values[name.strip()] = text
    return values


def parse_stop(at_cycle: int | None, when: str | None) -> StopRule | None:
    """The stop rule of ``--stop-at-cycle K`` and ``--stop-when "OBSERVABLE<VALUE"`` (or ``>``).

    Raises:
        InvalidInputError: If ``when`` is not ``name<number`` or ``name>number``.
    """
    if at_cycle is None and when is None:
        return None
    fields: dict[str, object] = {"at_cycle": at_cycle}
    if when is not None:
        match = re.fullmatch(r"\s*([^<>]+?)\s*([<>])\s*([-+0-9.eE]+)\s*", when)
        if match is None:
            raise InvalidInputError("--stop-when", f"expected OBSERVABLE<VALUE or OBSERVABLE>VALUE, e.g. "
                                    f"'Capacity retention<0.9', got {when!r}")
        name, operator, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            raise InvalidInputError("--stop-when", f"{raw!r} is not a number") from None
        fields.update({"observable": name, "below" if operator == "<" else "above": value})
    return parse_model(StopRule, fields, context="--stop")


def complete_design(source: Source, given: dict[str, str | float]) -> tuple[Design, list[str]]:
    """Validate the given values; variables not given sit at the centre of the space.

    Returns:
        The design and the names of the variables that were filled in.
    """
    space = source.design_space
    unknown = [k for k in given if k not in space.names]
    if unknown:
        raise InvalidInputError(f"--design {unknown[0]}",
                                f"unknown variable; expected one of {', '.join(space.names)}")
    centre = space.from_unit_cube([[0.5] * space.dim])[0].values
    filled = [n for n in space.names if n not in given]
    values = {n: given.get(n, centre[n]) for n in space.names}
    try:
        return space.validate_design(values), filled
    except InvalidInputError as exc:
        raise InvalidInputError(f"--design {exc.field}", exc.problem) from None


@app.command("run")
def run_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Source name (see 'interphase source list').")],
    design: Annotated[list[str] | None, typer.Option(
        "--design", "-d", help="name=value, SI number or quantity such as 25degC; repeatable. "
        "Variables not given sit at the centre of the design space.")] = None,
    cycles: Annotated[int | None, typer.Option(
        "--cycles", min=1, help="Number of cycles (default: the source's protocol).")] = None,
    protocol_file: Annotated[Path | None, typer.Option(
        "--protocol", help="Protocol YAML/JSON (steps, n_cycles, ambient_temperature_k).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the run.")] = 0,
    stop_at_cycle: Annotated[int | None, typer.Option(
        "--stop-at-cycle", min=1,
        help="End the test after this cycle (it then costs only the cycles run).")] = None,
    stop_when: Annotated[str | None, typer.Option(
        "--stop-when", help="End the test once a reported observable crosses a value, "
        "e.g. 'Capacity retention<0.9'.")] = None,
    world: Annotated[str | None, typer.Option("--world", "-w", help=WORLD_HELP)] = None,
) -> None:
    """Run one source on one design and store the result (idempotent for the same inputs)."""
    source = resolve_source(name, world)
    chosen, filled = complete_design(source, parse_design_args(design or []))
    protocol = load_model_file(Protocol, protocol_file) if protocol_file else source.default_protocol
    if protocol is None:
        raise InvalidInputError("--protocol", f"source {name!r} has no default protocol; give one")
    if cycles is not None:
        protocol = protocol.model_copy(update={"n_cycles": cycles})
    stop = parse_stop(stop_at_cycle, stop_when)
    if stop is not None:
        protocol = protocol.model_copy(update={"stop": stop})
    with open_store(ctx) as store:
        if filled:
            print_line(f"at the centre of the space: {', '.join(filled)}", style="dim")
        key = "source-run:" + canonical_hash({"source": source.spec.model_dump(mode="json"),
                                              "design": chosen.values,
                                              "protocol": protocol.model_dump(mode="json"),
                                              "seed": seed})
        present = store.result_ids_for_keys([key]).get(key)
        if present is not None:
            # Same source version, design, protocol and seed: the stored record is the answer
            # (a re-run would differ only in its measured CPU time).
            print_line(f"already stored as record {present}; not run again", style="dim")
            stored = store.get_result(present)
        else:
            with stderr_console().status(f"running {name} for {protocol.n_cycles} cycles"):
                result = run_safely(source, chosen, protocol, seed)
            store.register_source(source.spec)
            stored = store.submit_result(result, idempotency_key=key)
    _print_result(stored.id, stored.result, chosen)


def _print_result(record_id: str, result, design: Design) -> None:  # noqa: ANN001 - Result
    style = "green" if result.status.value == "succeeded" else "yellow"
    ran = f" after {result.cycles_run} cycles" if result.cycles_run is not None else ""
    print_line(f"record {record_id}: {result.status.value}{ran} "
               f"({result.cost.cpu_seconds:.2f} CPU s, {result.cost.lab_hours:.2f} lab h)", style=style)
    print_line(f"design: {fmt_values(design.values)}", style="dim")
    if result.message:
        print_line(f"message: {result.message}")
    table = new_table("Observations", "observable", "unit", "index", "first", "last", "n",
                      numeric=("first", "last", "n"), unbroken=("observable",))
    by_name: dict[str, list] = {}
    for obs in result.observations:
        by_name.setdefault(obs.observable, []).append(obs)
    for observable, rows in by_name.items():
        table.add_row(observable, rows[0].unit or "1", rows[0].index_unit, fmt_number(rows[0].value),
                      fmt_number(rows[-1].value), str(len(rows)))
    stdout_console().print(table)



