"""``interphase source``: list the registered sources, run one and store its result."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from interphase.cli.designs_file import read_design_rows
from interphase.cli.output import (
    fmt_number,
    fmt_values,
    new_table,
    print_line,
    stderr_console,
    stdout_console,
)
from interphase.cli.source_batch import REFUSED, batch_items, print_batch_summary, run_batch, run_key
from interphase.cli.state import open_store
from interphase.schema import (
    Design,
    InvalidInputError,
    Protocol,
    Request,
    StopRule,
    load_model_file,
    parse_model,
)
from interphase.sources import Source, resolve_source, run_safely, source_names
from interphase.sources.world import load_world

WORLD_HELP = ("A built-in world name or a world YAML path: use the sources it declares instead of the "
              "registered ones.")

MAX_WORKERS = 256
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


def complete_design(source: Source, given: dict[str, str | float],
                    field: Callable[[str], str] = "--design {}".format) -> tuple[Design, list[str]]:
    """Validate the given values; variables not given sit at the centre of the space.

    Args:
        source: The source whose design space the values must lie in.
        given: Variable name -> SI number or quantity text such as ``"25 degC"``.
        field: How an error names a variable (``--design NAME``, or a file's row).

    Returns:
        The design and the names of the variables that were filled in.

    Raises:
        InvalidInputError: For an unknown variable or a value outside the space.
    """
    space = source.design_space
    unknown = [k for k in given if k not in space.names]
    if unknown:
        raise InvalidInputError(field(unknown[0]),
                                f"unknown variable; expected one of {', '.join(space.names)}")
    centre = space.from_unit_cube([[0.5] * space.dim])[0].values
    filled = [n for n in space.names if n not in given]
    values = {n: given.get(n, centre[n]) for n in space.names}
    try:
        return space.validate_design(values), filled
    except InvalidInputError as exc:
        raise InvalidInputError(field(exc.field), exc.problem) from None


def build_protocol(source: Source, protocol_file: Path | None, cycles: int | None,
                   stop: StopRule | None) -> Protocol:
    """The run's protocol: the file's or the source's, with ``--cycles`` and the stop rule applied.

    The result is validated as a whole, so an option cannot carry a value the ``Protocol``
    model refuses (a cycle count past its bound).

    Raises:
        InvalidInputError: Naming ``--protocol`` or ``--cycles`` and what is allowed.
    """
    protocol = load_model_file(Protocol, protocol_file) if protocol_file else source.default_protocol
    if protocol is None:
        raise InvalidInputError("--protocol", f"source {source.name!r} has no default protocol; give one")
    fields = protocol.model_dump()
    if cycles is not None:
        check_cycles(cycles)
        fields["n_cycles"] = cycles
    if stop is not None:
        fields["stop"] = stop.model_dump()
    return parse_model(Protocol, fields, context="--protocol")


def check_cycles(cycles: int) -> None:
    """Refuse a ``--cycles`` value outside the ``Protocol`` model's bounds.

    Raises:
        InvalidInputError: Naming ``--cycles`` and the allowed range.
    """
    if not 1 <= cycles <= MAX_CYCLES:
        raise InvalidInputError("--cycles", f"expected a whole number of cycles from 1 to {MAX_CYCLES:,}, "
                                f"got {cycles}")


def _declared_bound(model: type[BaseModel], field: str, bound: str) -> Any:
    """A bound (``"le"``, ``"lt"``, ...) that a model declares on a field, so it is declared once."""
    for constraint in model.model_fields[field].metadata:
        if getattr(constraint, bound, None) is not None:
            return getattr(constraint, bound)
    raise LookupError(f"{model.__name__}.{field} declares no {bound!r} bound")


MAX_CYCLES: int = _declared_bound(Protocol, "n_cycles", "le")
MAX_SEED: int = _declared_bound(Request, "seed", "lt") - 1


@app.command("run")
def run_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Source name (see 'interphase source list').")],
    design: Annotated[list[str] | None, typer.Option(
        "--design", "-d", help="name=value, SI number or quantity such as 25degC; repeatable. "
        "Variables not given sit at the centre of the design space.")] = None,
    designs_file: Annotated[Path | None, typer.Option(
        "--designs", metavar="FILE", help="Run many designs at once: a CSV (a header of variable names, "
        "one design per line) or a YAML/JSON list of mappings, values as --design takes them, an optional "
        "'label'. All are checked before any runs; designs already stored are not run again; the rest run "
        "on a pool of worker processes. A failed run is stored; a design the source refuses while "
        "running is reported, not stored, and the exit code is 1.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, max=MAX_WORKERS, help="Worker processes for --designs (default: one per CPU, "
        "at most one per design).")] = None,
    cycles: Annotated[int | None, typer.Option(
        "--cycles", help=f"Number of cycles, 1 to {MAX_CYCLES:,} (default: the source's protocol).")] = None,
    protocol_file: Annotated[Path | None, typer.Option(
        "--protocol", help="Protocol YAML/JSON (steps, n_cycles, ambient_temperature_k).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of the run.")] = 0,
    stop_at_cycle: Annotated[int | None, typer.Option(
        "--stop-at-cycle", min=1, max=MAX_CYCLES,
        help="End the test after this cycle (it then costs only the cycles run).")] = None,
    stop_when: Annotated[str | None, typer.Option(
        "--stop-when", help="End the test once a reported observable crosses a value, "
        "e.g. 'Capacity retention<0.9'.")] = None,
    world: Annotated[str | None, typer.Option("--world", "-w", help=WORLD_HELP)] = None,
) -> int:
    """Run one source on one design, or on a file of them, and store the results (idempotent)."""
    if design and designs_file is not None:
        raise InvalidInputError("--designs", "give either --design values or a --designs file, not both")
    if workers is not None and designs_file is None:
        raise InvalidInputError("--workers", "only a --designs batch runs on workers; give --designs FILE")
    if cycles is not None:
        check_cycles(cycles)  # before the source is built, which can take seconds
    rows = read_design_rows(designs_file) if designs_file is not None else None
    source = resolve_source(name, world)
    protocol = build_protocol(source, protocol_file, cycles, parse_stop(stop_at_cycle, stop_when))
    if rows is not None:
        assert designs_file is not None
        items = batch_items(rows, designs_file, protocol, seed, source,
                            lambda given, field: complete_design(source, given, field))
        with open_store(ctx) as store:
            outcomes = run_batch(store, source, world, items, protocol, seed, workers)
        print_batch_summary(outcomes, designs_file)
        return 1 if any(outcome.status == REFUSED for outcome in outcomes) else 0
    chosen, filled = complete_design(source, parse_design_args(design or []))
    with open_store(ctx) as store:
        if filled:
            print_line(f"at the centre of the space: {', '.join(filled)}", style="dim")
        key = run_key(source, chosen, protocol, seed)
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
    return 0


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



