"""Alembic glue: upgrade a database to the newest schema, report its revision."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _config(connection=None) -> Config:  # noqa: ANN001 - SQLAlchemy Connection
    config = Config()
    config.set_main_option("script_location", "interphase.store:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this package ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at, or None when it was never initialised."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate a database to ``revision`` inside one transaction.

    Args:
        engine: Engine of the target database.
        revision: Alembic revision, ``"head"`` for the newest.

    """
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)
