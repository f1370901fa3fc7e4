"""The ``interphase`` command: global options, sub-commands and error reporting.

Every error interphase raises on purpose (``InterphaseError``) and every usage error
ends as one red line on standard error and exit code 2; anything unexpected ends as
one line and exit code 1. ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from interphase.cli import (
    bench,
    campaign,
    db,
    demo,
    design,
    export,
    imports,
    ls,
    model,
    queue,
    report,
    run,
    source,
    worker,
    world,
)
from interphase.cli.output import print_error
from interphase.cli.state import CliState
from interphase.schema import InterphaseError

USAGE_EXIT_CODE = 2
UNEXPECTED_EXIT_CODE = 1


class ErrorReportingGroup(TyperGroup):
    """The top-level group: runs the command and turns any exception into one line."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        """Run the command line; exit (or return, outside standalone mode) with its code."""
        state = extra.setdefault("obj", CliState())
        try:
            outcome = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                   standalone_mode=False, windows_expand_args=windows_expand_args,
                                   **extra)
            code = outcome if isinstance(outcome, int) else 0
        except Exception as exc:  # noqa: BLE001 - this is the one place that reports errors
            code = report_error(exc, debug=getattr(state, "debug", False))
        if standalone_mode:
            sys.exit(code)
        return code


def report_error(exc: Exception, *, debug: bool) -> int:
    """Print one line for ``exc`` (and its traceback when ``debug``); return the exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)  # type: ignore[attr-defined]
    if isinstance(exc, typer.Abort):
        print_error("aborted")
        return UNEXPECTED_EXIT_CODE
    if _is_usage_error(exc):
        # newer typer validates choices with pydantic, which prefixes "Value error, "
        message = exc.format_message().replace(": Value error, ", ": ")  # type: ignore[attr-defined]
        context = getattr(exc, "ctx", None)
        if context is not None:
            message = f"{message} (see '{context.command_path} --help')"
        print_error(message)
        return int(exc.exit_code)  # type: ignore[attr-defined]
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, InterphaseError):
        hint = " (a retry may succeed)" if exc.retryable else ""
        print_error(f"{exc}{hint}")
        return USAGE_EXIT_CODE
    rerun = "" if debug else "; rerun with --debug for the traceback"
    print_error(f"unexpected {type(exc).__name__}: {exc}{rerun}")
    return UNEXPECTED_EXIT_CODE


def _is_usage_error(exc: Exception) -> bool:
    """Whether ``exc`` is a click/typer error (bad option value, missing argument, ...).

    Checked by shape, because typer vendors its own copy of click in newer releases.
    """
    return callable(getattr(exc, "format_message", None)) and isinstance(
        getattr(exc, "exit_code", None), int)


app = typer.Typer(
    cls=ErrorReportingGroup, name="interphase", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
    help="Closed-loop inverse design of battery interphases: store, import, export, campaigns.",
)
app.add_typer(db.app, name="db")
app.add_typer(campaign.app, name="campaign")
app.add_typer(design.app, name="design")
app.add_typer(source.app, name="source")
app.add_typer(world.app, name="world")
app.add_typer(model.app, name="model")
app.command("import")(imports.import_command)
app.command("export")(export.export_command)
app.command("ls")(ls.ls_command)
app.command("demo")(demo.demo_command)
app.command("queue")(queue.queue_command)
app.command("worker")(worker.worker_command)
app.command("run")(run.run_command)
app.command("resume")(run.resume_command)
app.command("report")(report.report_command)
app.command("bench")(bench.bench_command)


@app.callback()
def global_options(
    ctx: typer.Context,
    database: Annotated[str | None, typer.Option(
        "--db", envvar="INTERPHASE_DB", metavar="URL_OR_PATH", show_default=False,
        help="Database: a SQLite path, sqlite:///... or postgresql://...; "
        "default ./interphase.db.",
    )] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Closed-loop inverse design of battery interphases."""
    state = ctx.ensure_object(CliState)
    state.db = database
    state.debug = debug


def main() -> None:
    """Entry point of the ``interphase`` console script."""
    app(prog_name="interphase")


if __name__ == "__main__":
    main()
