"""``interphase source run --designs FILE``: many designs of one source on the local process pool.

Every design is validated before anything runs or is written. Designs whose record is
already stored (same source version, design, label, protocol and seed) are not run again;
the rest run on :class:`~interphase.execution.LocalExecutor`'s workers, which build the
source once each, and each result is stored as it arrives. A failed run is a stored
failed result; a design the source refuses while running (an invalid input it could only
see then) is reported and not stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from interphase.cli.designs_file import DesignRow, row_field
from interphase.cli.output import fmt_number, new_table, print_line, stderr_console, stdout_console
from interphase.execution import LocalExecutor, RunTask, TaskBrokenError, TaskRejectedError, available_cpus
from interphase.schema import Design, Protocol, Result, canonical_hash
from interphase.sources import Source
from interphase.sources.world import builtin_world_names
from interphase.store import Store

ALREADY_STORED = "already stored"
REFUSED = "refused"


@dataclass(frozen=True)
class BatchItem:
    """One validated design of the file.

    Attributes:
        row: Its row in the file, from 1.
        design: The design, SI, variables not given at the centre of the space.
        filled: The variables that were put at the centre.
        key: The idempotency key of its record.
    """

    row: int
    design: Design
    filled: tuple[str, ...]
    key: str


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one design.

    Attributes:
        item: The design.
        status: ``succeeded``, ``stopped``, ``failed``, ``already stored`` or ``refused``.
        record_id: The stored record, or None when refused.
        result: The result (stored earlier or now), or None when refused.
        message: The failure or refusal, else ``""``.
    """

    item: BatchItem
    status: str
    record_id: str | None
    result: Result | None
    message: str = ""


def run_key(source: Source, design: Design, protocol: Protocol, seed: int) -> str:
    """The idempotency key of a ``source run`` record; a single run and a batch row share it."""
    payload = {"source": source.spec.model_dump(mode="json"), "design": design.values,
               "protocol": protocol.model_dump(mode="json"), "seed": seed}
    if design.label is not None:
        payload["label"] = design.label
    return "source-run:" + canonical_hash(payload)


def batch_items(rows: list[DesignRow], path: Path, protocol: Protocol, seed: int, source: Source,
                complete: Callable[[dict[str, str | float], Callable[[str], str]], tuple[Design, list[str]]],
                ) -> list[BatchItem]:
    """Validate every row; the first bad one raises, naming the file, row and variable.

    Args:
        rows: The file's rows.
        path: The file, for error messages.
        protocol: The protocol every design runs.
        seed: The seed every design runs with.
        source: The source.
        complete: ``(values, field) -> (design, filled)``: validates one design, filling
            variables not given; ``field(name)`` names a variable in its errors.

    Raises:
        InvalidInputError: For the first row that is not a design of the source's space.
    """
    items = []
    for row in rows:
        design, filled = complete(row.values, lambda name, r=row.row: row_field(path, r, name))
        design = design.model_copy(update={"label": row.label})
        items.append(BatchItem(row.row, design, tuple(filled), run_key(source, design, protocol, seed)))
    return items


def world_for_workers(world: str | None) -> str | None:
    """The world as every worker finds it: a built-in name, or the file's absolute path."""
    if world is None or world in builtin_world_names():
        return world
    return str(Path(world).resolve())


def run_batch(store: Store, source: Source, world: str | None, items: list[BatchItem], protocol: Protocol,
              seed: int, workers: int | None) -> list[BatchOutcome]:
    """Run the designs not yet stored on the local process pool and store each result as it arrives.

    Args:
        store: An initialised store.
        source: The source (built here, to validate; the workers build their own).
        world: The world that declares the source, or None for the registry.
        items: Validated designs; several with one key run once.
        protocol: The protocol.
        seed: The seed.
        workers: Worker processes; None: one per CPU, at most one per design to run.

    Returns:
        One outcome per item, in file order.
    """
    present = store.result_ids_for_keys([item.key for item in items])
    outcomes: dict[str, BatchOutcome] = {}
    for item in items:
        if item.key in present and item.key not in outcomes:
            outcomes[item.key] = BatchOutcome(item, ALREADY_STORED, present[item.key],
                                              store.get_result(present[item.key]).result)
    to_run = list({item.key: item for item in items if item.key not in present}.values())
    if to_run:
        outcomes.update(_execute(store, source, world_for_workers(world), to_run, protocol, seed, workers))
    return [_for_row(outcomes[item.key], item) for item in items]


def _for_row(outcome: BatchOutcome, item: BatchItem) -> BatchOutcome:
    """The outcome as seen from ``item``: a repeated row shows the first row's record as stored."""
    if outcome.item is item:
        return outcome
    return BatchOutcome(item, ALREADY_STORED if outcome.record_id else outcome.status, outcome.record_id,
                        outcome.result, outcome.message or f"same design as row {outcome.item.row}")


def _execute(store: Store, source: Source, world: str | None, items: list[BatchItem], protocol: Protocol,
             seed: int, workers: int | None) -> dict[str, BatchOutcome]:
    by_key = {item.key: item for item in items}
    tasks = [RunTask(task_id=item.key, source=source.name, design=item.design, protocol=protocol, seed=seed,
                     world=world) for item in items]
    n_workers = workers or max(1, min(available_cpus(), len(tasks)))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    outcomes: dict[str, BatchOutcome] = {}
    registered = False
    # A failed run is a result to store, never a reason to stop the batch: no failure-rate halt.
    with LocalExecutor(n_workers, failure_limit=None) as executor, \
            Progress(*columns, console=stderr_console(), transient=True) as progress:
        bar = progress.add_task(f"{source.name}: starting {n_workers} worker(s)", total=len(tasks))
        executor.start()
        progress.update(bar, description=f"{source.name} on {n_workers} worker(s)")
        executor.submit(tasks)
        while executor.pending:
            try:
                for done in executor.as_completed():
                    if not registered:  # with the first result: a batch that stores nothing adds nothing
                        store.register_source(source.spec)
                        registered = True
                    stored = store.submit_result(done.result, idempotency_key=done.task.task_id)
                    item = by_key[done.task.task_id]
                    outcomes[item.key] = BatchOutcome(item, done.result.status.value, stored.id, done.result,
                                                      done.result.message or "")
                    progress.advance(bar)
            except (TaskRejectedError, TaskBrokenError) as exc:
                # The executor drops only the task it names and goes on with the others.
                outcomes[exc.task_id] = BatchOutcome(by_key[exc.task_id], REFUSED, None, None,
                                                     str(exc).replace(f" (task {exc.task_id!r})", ""))
                progress.advance(bar)
    return outcomes


def print_batch_summary(outcomes: list[BatchOutcome], path: Path) -> None:
    """A table per status (designs, CPU seconds, lab hours), then one line per design that did not succeed."""
    filled = sorted({name for outcome in outcomes for name in outcome.item.filled})
    if filled:
        print_line(f"at the centre of the space where a row left them out: {', '.join(filled)}", style="dim")
    table = new_table(f"Batch {path.name}: {len(outcomes)} designs", "status", "designs", "CPU s", "lab h",
                      numeric=("designs", "CPU s", "lab h"))
    counts = Counter(outcome.status for outcome in outcomes)
    for status in sorted(counts, key=lambda s: (s in (ALREADY_STORED, REFUSED), s)):
        ran = [o.result for o in outcomes if o.status == status and o.result is not None]
        if status in (ALREADY_STORED, REFUSED):  # nothing was spent on them in this batch
            table.add_row(status, str(counts[status]), "-", "-")
        else:
            table.add_row(status, str(counts[status]), fmt_number(sum(r.cost.cpu_seconds for r in ran)),
                          fmt_number(sum(r.cost.lab_hours for r in ran)))
    stdout_console().print(table)
    for outcome in outcomes:
        if outcome.status in ("failed", REFUSED):
            label = f" ({outcome.item.design.label})" if outcome.item.design.label else ""
            record = f" record {outcome.record_id}" if outcome.record_id else ""
            print_line(f"row {outcome.item.row}{label}:{record} {outcome.status}: {outcome.message}",
                       style="yellow")
