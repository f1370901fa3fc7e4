"""``interphase db``: create, inspect and migrate the database."""

from __future__ import annotations

import typer

from interphase.cli.output import new_table, print_line, stdout_console
from interphase.cli.state import open_store
from interphase.store.migrate import head_revision

app = typer.Typer(help="Create, inspect and migrate the database.", no_args_is_help=True)


@app.command("init")
def init(ctx: typer.Context) -> None:
    """Create the database schema, or upgrade it to the newest revision."""
    with open_store(ctx, initialised=False, create=True) as store:
        revision = store.init()
        print_line(f"initialised {store.display_url()} at schema revision {revision}",
                   style="green")


@app.command("info")
def info(ctx: typer.Context) -> None:
    """Show the database URL, back end, schema revision and row counts."""
    with open_store(ctx, initialised=False) as store:
        revision = store.revision()
        counts = store.counts()
        head = head_revision()
        if revision is None:
            state = "not initialised; run 'interphase db init'"
        elif revision == head:
            state = f"{revision} (up to date)"
        else:
            state = f"{revision}; this interphase needs {head}; run 'interphase db migrate'"
        print_line(f"database: {store.display_url()}")
        print_line(f"back end: {store.backend}")
        print_line(f"schema:   {state}")
    table = new_table("Rows per table", "table", "rows", numeric=("rows",))
    for name, rows in counts.items():
        table.add_row(name, str(rows))
    stdout_console().print(table)


@app.command("migrate")
def migrate(ctx: typer.Context) -> None:
    """Upgrade the database schema to the newest revision."""
    with open_store(ctx, initialised=False) as store:
        before = store.revision()
        after = store.init()
        if before == after:
            print_line(f"{store.display_url()} is already at schema revision {after}")
        else:
            print_line(f"migrated {store.display_url()} from {before or 'empty'} to {after}",
                       style="green")
