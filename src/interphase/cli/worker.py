"""``interphase worker``: claim requests from the store's queue, run them, stream cycles, post results.

A worker runs the sources it is given (registry sources, and with ``--world`` that world's),
in this process or on an executor (``--executor local|ray``), or drives an instrument by a
command (``--command``, ``--drop``). It claims only; it never registers a source or queues a
request, so a store that lacks its sources leaves it idle. Ctrl-C and SIGTERM stop it: it
claims nothing more, posts nothing more, and exits (130 and 143); the requests it held go back
to the queue when their leases lapse.
"""

from __future__ import annotations

import json
import math
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from interphase.cli.output import print_line, stdout_console
from interphase.cli.state import open_store
from interphase.execution.base import Executor
from interphase.execution.queue_worker import QueueWorker, WorkerStats, default_worker_name
from interphase.schema import InvalidInputError, NotFoundError, SourceSpec
from interphase.sources import Source
from interphase.store import Store
from interphase.store.held_lease import TERMINATED_EXIT_CODE
from interphase.store.queue import REQUEST_LEASE_S, Claim

INTERRUPTED_EXIT_CODE = 128 + signal.SIGINT
CYCLER_FORMATS = ("auto", "arbin", "maccor", "biologic")


class ExecutorKind(StrEnum):
    """Where the worker's runs compute, besides in its own process."""

    local = "local"
    ray = "ray"


CyclerFormat = StrEnum("CyclerFormat", {name: name for name in CYCLER_FORMATS})
AUTO_FORMAT = CyclerFormat("auto")

SOURCE_HELP = "A source to claim requests for (repeat it): a registry source, or one of --world's."
WORLD_HELP = "World (built-in name or YAML path) whose sources it may run."
EXECUTOR_HELP = "Run the sources on local processes or on Ray; default: in this process, one at a time."
TIME_SCALE_HELP = ("Simulated seconds per wall second: stream each lab test's cycles as their hour comes "
                   "(3600 = one lab hour a second) and obey stop orders; default: post each result "
                   "when computed.")
LEASE_HELP = "Lease of each claim in seconds; a heartbeat renews it every quarter of it."
IDLE_HELP = "Exit after this long holding nothing with nothing to claim; default: wait for work."
CLAIMS_LOG_HELP = "Append each claim (request, worker, lease token, attempt) to FILE as a JSON line."
COMMAND_HELP = ("Run this command per request (no shell) instead of a source; placeholders: {design_json}, "
                "{protocol_json}, {seed}, {request_id}, {out_dir}. Needs --drop.")
DROP_HELP = "The cycler file the command writes, relative to {out_dir}, e.g. '*.csv'."
WORK_DIR_HELP = "Folder for the commands' run folders; default: one under the system's temporary folder."


def worker_command(
    ctx: typer.Context,
    source: Annotated[list[str], typer.Option(
        "--source", metavar="NAME", show_default=False, help=SOURCE_HELP)],
    world: Annotated[str | None, typer.Option("--world", show_default=False, help=WORLD_HELP)] = None,
    executor: Annotated[ExecutorKind | None, typer.Option(
        "--executor", show_default=False, help=EXECUTOR_HELP)] = None,
    slots: Annotated[int, typer.Option("--slots", help="Requests held at once.")] = 1,
    time_scale: Annotated[float | None, typer.Option(
        "--time-scale", metavar="X", show_default=False, help=TIME_SCALE_HELP)] = None,
    campaign: Annotated[str | None, typer.Option(
        "--campaign", show_default=False, help="Only claim this campaign's requests.")] = None,
    lease_seconds: Annotated[float, typer.Option("--lease-seconds", help=LEASE_HELP)] = REQUEST_LEASE_S,
    idle_exit: Annotated[float | None, typer.Option(
        "--idle-exit", metavar="SECONDS", show_default=False, help=IDLE_HELP)] = None,
    max_requests: Annotated[int | None, typer.Option(
        "--max-requests", metavar="N", show_default=False,
        help="Exit once N requests were claimed and settled.")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", show_default=False, help="Worker name in the status log; default HOST:pid=PID.")] = None,
    poll_seconds: Annotated[float, typer.Option(
        "--poll-seconds", help="How often to look for queued requests while a slot is free.")] = 1.0,
    claims_log: Annotated[Path | None, typer.Option(
        "--claims-log", metavar="FILE", show_default=False, help=CLAIMS_LOG_HELP)] = None,
    command: Annotated[str | None, typer.Option(
        "--command", metavar="TEMPLATE", show_default=False, help=COMMAND_HELP)] = None,
    drop: Annotated[str | None, typer.Option(
        "--drop", metavar="GLOB", show_default=False, help=DROP_HELP)] = None,
    drop_format: Annotated[CyclerFormat, typer.Option(  # type: ignore[valid-type]
        "--drop-format", help="Cycler format of the dropped file.")] = AUTO_FORMAT,
    work_dir: Annotated[Path | None, typer.Option(
        "--work-dir", show_default=False, help=WORK_DIR_HELP)] = None,
    command_timeout: Annotated[float | None, typer.Option(
        "--command-timeout", metavar="SECONDS", show_default=False,
        help="Kill a command that runs longer; its request fails (transient).")] = None,
) -> None:
    """Claim queued requests for the named sources, run them, and post their results.

    Stops on Ctrl-C (exit 130) or SIGTERM (exit 143), leaving what it holds to lapse back to the queue.
    """
    _check_numbers(slots=slots, time_scale=time_scale, lease_seconds=lease_seconds, idle_exit=idle_exit,
                   max_requests=max_requests, poll_seconds=poll_seconds, command_timeout=command_timeout)
    names = _unique(source)
    if command is not None or drop is not None:
        _check_instrument(command, drop, executor, time_scale)
    sources = {} if command is not None else resolve_sources(names, world)
    with open_store(ctx) as store:
        if campaign is not None and campaign not in {c.name for c in store.list_campaigns()}:
            print_line(f"note: campaign {campaign!r} is not in the store yet; its requests are claimed "
                       "once it starts", style="yellow")
        launcher = None
        if command is not None:
            from interphase.execution.command_instrument import CommandInstrument

            launcher = CommandInstrument(command, drop or "", _registered_specs(store, names),
                                         fmt=drop_format.value, work_dir=work_dir, timeout_s=command_timeout)
        else:
            _note_unregistered(store, names)
        with _executor(executor, slots) as running, _claims_writer(claims_log) as on_claim:
            worker = QueueWorker(store, sources, name=name or default_worker_name(), slots=slots,
                                 time_scale=time_scale, campaign=campaign, world=world, executor=running,
                                 launcher=launcher, lease_s=lease_seconds, poll_s=poll_seconds,
                                 on_claim=on_claim)
            try:
                stats, signum = _run_shown(worker, idle_exit_s=idle_exit, max_requests=max_requests)
            finally:
                if launcher is not None:
                    launcher.close()  # a command still running when the worker stopped is killed
    print_line(_summary(worker.name, stats))
    if signum == signal.SIGTERM:
        raise typer.Exit(TERMINATED_EXIT_CODE)
    if signum == signal.SIGINT:
        raise typer.Exit(INTERRUPTED_EXIT_CODE)


def resolve_sources(names: list[str], world: str | None) -> dict[str, Source]:
    """Build the named sources: the world's first (with ``world``), else the registry's.

    Raises:
        InvalidInputError: ``field="--source"`` for a name neither declares, listing the
            allowed names; ``field="world"`` for an unknown world.
    """
    from interphase.sources import resolve_source, source_names

    declared: list[str] = []
    if world is not None:
        from interphase.sources.world import load_world

        declared = list(load_world(world).sources)
    registry = source_names()
    unknown = [n for n in names if n not in declared and n not in registry]
    if unknown:
        allowed = f"registry: {', '.join(registry) or 'none'}"
        if world is not None:
            allowed += f"; world {world}: {', '.join(declared) or 'none'}"
        else:
            allowed += "; add --world WORLD for a world's sources"
        listed = ", ".join(map(repr, unknown))
        raise InvalidInputError("--source", f"unknown source(s) {listed}; allowed: {allowed}")
    return {n: resolve_source(n, world if n in declared else None) for n in names}


def _unique(names: list[str]) -> list[str]:
    unique = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not unique:
        raise InvalidInputError("--source", "give at least one source name")
    return unique


def _check_numbers(*, slots: int, time_scale: float | None, lease_seconds: float, idle_exit: float | None,
                   max_requests: int | None, poll_seconds: float, command_timeout: float | None) -> None:
    if slots < 1:
        raise InvalidInputError("--slots", f"{slots} is not allowed; expected a whole number >= 1")
    checks = (("--time-scale", time_scale, "simulated seconds per wall second"),
              ("--lease-seconds", lease_seconds, "seconds"), ("--poll-seconds", poll_seconds, "seconds"),
              ("--command-timeout", command_timeout, "seconds"))
    for option, value, unit in checks:
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise InvalidInputError(option, f"{value:g} is not allowed; expected a positive number of {unit}")
    if idle_exit is not None and not (idle_exit >= 0 and math.isfinite(idle_exit)):
        raise InvalidInputError("--idle-exit", f"{idle_exit:g} is not allowed; expected seconds >= 0")
    if max_requests is not None and max_requests < 1:
        raise InvalidInputError("--max-requests",
                                f"{max_requests} is not allowed; expected a whole number >= 1")


def _check_instrument(command: str | None, drop: str | None, executor: ExecutorKind | None,
                      time_scale: float | None) -> None:
    from interphase.execution.command_instrument import check_drop_pattern, command_arguments

    if command is None:
        raise InvalidInputError("--drop", "only applies with --command")
    if drop is None:
        raise InvalidInputError("--command", "needs --drop GLOB: the cycler file the command writes")
    if executor is not None:
        raise InvalidInputError("--executor", "does not apply with --command: the command runs the test")
    if time_scale is not None:
        raise InvalidInputError("--time-scale",
                                "does not apply with --command: an instrument runs in real time")
    command_arguments(command)
    check_drop_pattern(drop)


def _registered_specs(store: Store, names: list[str]) -> dict[str, SourceSpec]:
    specs: dict[str, SourceSpec] = {}
    for source_name in names:
        try:
            specs[source_name] = store.get_source(source_name).spec
        except NotFoundError:
            known = ", ".join(sorted({s.spec.name for s in store.list_sources()})) or "none"
            raise InvalidInputError("--source", f"source {source_name!r} is not registered in the store; "
                                                "an instrument posts for a registered source; "
                                                f"registered: {known}") from None
    return specs


def _note_unregistered(store: Store, names: list[str]) -> None:
    registered = {s.spec.name for s in store.list_sources()}
    for source_name in names:
        if source_name not in registered:
            print_line(f"note: source {source_name!r} is not registered in the store yet; "
                       "no request can be for it until a campaign registers it", style="yellow")


@contextmanager
def _executor(kind: ExecutorKind | None, slots: int) -> Iterator[Executor | None]:
    if kind is None:
        yield None
        return
    from interphase.execution import LocalExecutor, RayExecutor

    running: Executor = (LocalExecutor(slots, failure_limit=None) if kind is ExecutorKind.local
                         else RayExecutor(max_workers=slots, failure_limit=None))
    try:
        running.start()
        yield running
    finally:
        running.close()


@contextmanager
def _claims_writer(path: Path | None) -> Iterator[Callable[[Claim], None] | None]:
    if path is None:
        yield None
        return
    try:
        handle: TextIO = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError("--claims-log", f"{path}: {exc.strerror or exc}") from None
    lock = threading.Lock()

    def write(claim: Claim) -> None:
        line = json.dumps({"request_id": claim.request_id, "worker": claim.worker, "token": claim.token,
                           "attempt": claim.attempt, "source": claim.request.source,
                           "campaign": claim.request.campaign,
                           "expires_at": None if claim.expires_at is None else claim.expires_at.isoformat()})
        with lock:
            handle.write(line + "\n")
            handle.flush()

    try:
        yield write
    finally:
        handle.close()


def _run_shown(worker: QueueWorker, *, idle_exit_s: float | None,
               max_requests: int | None) -> tuple[WorkerStats, int | None]:
    """Run the worker with a live line on a terminal, plain lines otherwise; stop on a signal."""
    console = stdout_console()
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    live = Live(get_renderable=lambda: _status(worker), console=console, refresh_per_second=2,
                transient=False) if console.is_terminal else None
    worker.on_event = _printer(console)
    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        if live is not None:
            live.start()
        print_line(f"worker {worker.name}: claiming {', '.join(worker_sources(worker))}"
                   + (f" of campaign {worker.campaign}" if worker.campaign else ""))
        stats = worker.run(stop=stop, idle_exit_s=idle_exit_s, max_requests=max_requests)
    finally:
        if live is not None:
            live.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return stats, (received[0] if received else None)


def worker_sources(worker: QueueWorker) -> list[str]:
    """The source names a worker claims for."""
    if worker.launcher is not None:
        return list(worker.launcher.source_names)
    return sorted(worker.sources)


def _printer(console: Console) -> Callable[[str], None]:
    lock = threading.Lock()

    def emit(line: str) -> None:
        with lock:
            console.print(Text(line), soft_wrap=True)

    return emit


def _status(worker: QueueWorker) -> Text:
    stats = worker.stats
    return Text(f"{worker.name}: {worker.held}/{worker.slots} held, {stats.claimed} claimed, "
                f"{stats.posted} posted ({stats.stopped} stopped), {stats.refused} refused, "
                f"{stats.lost} lost", style="cyan")


def _summary(name: str, stats: WorkerStats) -> str:
    return (f"worker {name}: claimed {stats.claimed}, posted {stats.posted} ({stats.stopped} stopped), "
            f"refused {stats.refused}, lost {stats.lost} in {stats.wall_s:.1f} s")
