"""Run the CLI in-process and read a store's row counts, for the CLI tests."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from interphase.cli.main import app
from interphase.store import Store


def cli(db: Path | None, *args: str) -> Result:
    """Run the CLI in-process with a wide console so that table cells are not folded."""
    prefix = ["--db", str(db)] if db is not None else []
    return CliRunner().invoke(app, [*prefix, *args], env={"COLUMNS": "240"})


def counts(db: Path) -> dict[str, int]:
    """Row count of every table of the SQLite store at ``db``."""
    store = Store(str(db))
    try:
        return store.counts()
    finally:
        store.close()
