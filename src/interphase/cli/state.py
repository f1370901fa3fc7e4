"""What the global options hand to every command: the database choice and the debug flag."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer

from interphase.schema import NotFoundError, StoreUnavailableError
from interphase.store import Store


@dataclass
class CliState:
    """Global options, filled in by the top-level callback.

    Attributes:
        db: Database URL or SQLite path; None means ``INTERPHASE_DB`` or ``./interphase.db``.
        debug: Show tracebacks for errors.

    """

    db: str | None = None
    debug: bool = False


def cli_state(ctx: typer.Context) -> CliState:
    """Return the global options of this invocation (defaults outside the top-level app)."""
    return ctx.find_object(CliState) or CliState()


@contextmanager
def open_store(ctx: typer.Context, *, initialised: bool = True) -> Iterator[Store]:
    """Open the store the global ``--db`` option names, and close it afterwards.

    Args:
        ctx: The command's context.
        initialised: Require a database at the current schema revision. A SQLite file
            that does not exist is reported instead of being created empty.

    Yields:
        The store.

    Raises:
        NotFoundError: If ``initialised`` and the database is missing or not initialised.
        StoreUnavailableError: If the database cannot be reached; the message names it.

    """
    store = Store(cli_state(ctx).db)
    try:
        if initialised:
            _require_sqlite_file(store)
            store.require_initialised()
        yield store
    except StoreUnavailableError as exc:
        raise StoreUnavailableError(f"database {store.display_url()}: {exc}") from exc
    finally:
        store.close()


def _require_sqlite_file(store: Store) -> None:
    """Refuse to create an empty SQLite file as a side effect of a read or an import."""
    if store.backend != "sqlite":
        return
    database = store.engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    if not Path(database).exists():
        raise NotFoundError(
            f"database {store.display_url()} does not exist; run 'interphase db init'")
