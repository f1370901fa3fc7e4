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


def test_a_0001_store_gains_the_lease_and_queue_tables_and_keeps_its_records(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from interphase.store import migrate
    from interphase.store.leases import acquire_lease
    from interphase.store.queue import WorkQueue
    from support import factories

    store = Store(database_url)
    try:
        migrate.upgrade(store.engine, "0001")
        assert "campaign_leases" not in inspect(store.engine).get_table_names()
        seeded = factories.seed_campaign(store)
        counts = store.counts()
        assert store.init() == head_revision() == "0003"
        assert store.counts() == counts and store.get_campaign(seeded.campaign).name == seeded.campaign
        assert acquire_lease(store, seeded.campaign).campaign == seeded.campaign
        assert _diff(store) == []
        request = store.create_request(factories.request(seeded.campaign, seeded.design_ids[0]))
        (claim,) = WorkQueue(store).claim("worker-a")
        assert claim.request_id == request.id and claim.attempt == 1
        with store.engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0002")
        assert {"cycle_chunks", "stop_orders"}.isdisjoint(inspect(store.engine).get_table_names())
        assert "lease_token" not in {c["name"] for c in inspect(store.engine).get_columns("requests")}
        with store.engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0001")
        assert "campaign_leases" not in inspect(store.engine).get_table_names()
        assert store.revision() == "0001" and store.counts() == {**counts, "requests": 1, "status_log": 3}
    finally:
        store.close()
