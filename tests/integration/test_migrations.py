"""The Alembic migrations build exactly the tables the ORM declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from interphase.store import Store
from interphase.store.migrate import head_revision
from interphase.store.tables import Base


def _diff(store: Store) -> list:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_fresh_sqlite_database_is_not_initialised(tmp_path) -> None:
    store = Store(str(tmp_path / "fresh.db"))
    try:
        assert store.revision() is None
        assert store.init() == head_revision()
        assert store.revision() == head_revision()
        assert store.init() == head_revision()  # idempotent
    finally:
        store.close()


def test_migrated_sqlite_schema_matches_the_orm(tmp_path) -> None:
    store = Store(str(tmp_path / "schema.db"))
    try:
        store.init()
        assert _diff(store) == []
    finally:
        store.close()
