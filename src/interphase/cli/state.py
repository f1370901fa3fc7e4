"""What the global options hand to every command: the database choice and the debug flag."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from sqlalchemy.exc import DatabaseError

from interphase.schema import InvalidInputError, NotFoundError, StoreUnavailableError
from interphase.store import Store
from interphase.store.location import sqlite_path_problem, write_problem


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
def open_store(ctx: typer.Context, *, initialised: bool = True, create: bool = False) -> Iterator[Store]:
    """Open the store the global ``--db`` option names, and close it afterwards.

    Args:
        ctx: The command's context.
        initialised: Require a database at the current schema revision.
        create: The command may create a missing SQLite file (``db init``, ``run``). Every
            other command reports a missing file instead of leaving an empty one behind.

    Yields:
        The store.

    Raises:
        NotFoundError: If the SQLite file is missing and may not be created, or if
            ``initialised`` and the database has no current schema.
        InvalidInputError: ``field="--db"``, for a path that can never work: a folder, a
            missing folder, a read-only file system, no permission, a file that is not a
            database. None of these is worth a retry.
        StoreUnavailableError: If the database cannot be reached for a reason a retry may
            cure (a lock held too long, a server down); the message names it.

    """
    store = Store(cli_state(ctx).db)
    try:
        _check_sqlite_path(store, create=create)
        if initialised:
            store.require_initialised()
        yield store
    except StoreUnavailableError as exc:
        cause = _lasting_cause(store)
        if cause is not None:
            raise InvalidInputError("--db", cause) from exc
        raise StoreUnavailableError(f"database {store.display_url()}: {exc}") from exc
    except DatabaseError as exc:
        message = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
        if not any(sign in message for sign in _DAMAGED):
            raise
        raise InvalidInputError("--db", f"{store.display_url()}: {message}; the file is damaged "
                                        "or is not an interphase database") from exc
    finally:
        store.close()


_DAMAGED = ("file is not a database", "database disk image is malformed")


def _sqlite_file(store: Store) -> Path | None:
    """The SQLite database file of ``store``; None for PostgreSQL or an in-memory database."""
    if store.backend != "sqlite":
        return None
    database = store.engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _check_sqlite_path(store: Store, *, create: bool) -> None:
    """Refuse a path that cannot work, and a missing file unless the command creates one."""
    path = _sqlite_file(store)
    if path is None:
        return
    problem = sqlite_path_problem(path, create=create)
    if problem is not None:
        raise InvalidInputError("--db", problem)
    if not create and not path.exists():
        raise NotFoundError(
            f"database {store.display_url()} does not exist; check the path, or create it with "
            "'interphase db init'")


def _lasting_cause(store: Store) -> str | None:
    """Why the SQLite file cannot be used at all (read-only, permission), if that is the cause."""
    path = _sqlite_file(store)
    if path is None:
        return None
    return sqlite_path_problem(path, create=False) or write_problem(path.parent)
