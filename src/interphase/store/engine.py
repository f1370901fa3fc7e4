"""Engines for the two back ends: embedded SQLite (default) and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from interphase.schema.errors import InvalidInputError

DEFAULT_SQLITE_PATH = "interphase.db"
SQLITE_BUSY_TIMEOUT_S = 60.0


def resolve_url(url_or_path: str | os.PathLike[str] | None = None) -> str:
    """Turn a user's database choice into a SQLAlchemy URL.

    Order: the argument, then ``INTERPHASE_DB``, then ``./interphase.db``. A bare path
    means SQLite; ``postgresql://`` is given the psycopg 3 driver.

    Args:
        url_or_path: A URL (``sqlite:///x.db``, ``postgresql://...``) or a file path.

    Returns:
        A SQLAlchemy URL string.

    Raises:
        InvalidInputError: For a URL with an unsupported back end.

    """
    raw = str(url_or_path or os.environ.get("INTERPHASE_DB") or DEFAULT_SQLITE_PATH)
    if "://" not in raw:
        return f"sqlite:///{Path(raw).expanduser().resolve()}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise InvalidInputError("database", f"cannot parse URL {raw!r}") from None
    if url.get_backend_name() == "postgresql":
        if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    if url.get_backend_name() == "sqlite":
        return raw
    raise InvalidInputError(
        "database", f"unsupported back end {url.get_backend_name()!r}; use sqlite or postgresql"
    )


def make_engine(url: str) -> Engine:
    """Create an engine with the durability settings interphase relies on.

    SQLite: WAL journal, ``synchronous=FULL``, foreign keys on, and every transaction
    started with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy
    timeout instead of failing on a lock upgrade. PostgreSQL: psycopg 3, READ COMMITTED.

    Args:
        url: A URL from :func:`resolve_url`.

    Returns:
        The engine.

    """
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(
            url, poolclass=NullPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "isolation_level": None},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Without this, INSERT OR REPLACE deletes rows without firing the immutability triggers.
    cursor.execute("PRAGMA recursive_triggers=ON")
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:  # noqa: ANN001 - SQLAlchemy Connection
    connection.exec_driver_sql("BEGIN IMMEDIATE")
