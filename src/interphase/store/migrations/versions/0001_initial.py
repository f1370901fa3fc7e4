"""Initial schema: campaigns, designs, sources, requests, results, observations,
artifacts, decisions and the status log, with immutability triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

IMMUTABLE = ("results", "observations", "artifacts", "decisions", "status_log")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _big_id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                     autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("spec", sa.JSON, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "designs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("campaign_id", sa.String(32), sa.ForeignKey("campaigns.id"), index=True),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("values_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200)),
        _ts("created_at"),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, index=True),
        sa.Column("version", sa.String(60), nullable=False),
        sa.Column("technique", sa.String(30), nullable=False),
        sa.Column("fidelity", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("name", "version"),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("campaign_id", sa.String(32), sa.ForeignKey("campaigns.id"), nullable=False,
                  index=True),
        sa.Column("design_id", sa.String(32), sa.ForeignKey("designs.id"), nullable=False),
        sa.Column("source_id", sa.String(200), sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("protocol", sa.JSON, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("claimed_by", sa.String(200)),
        _ts("claimed_at", nullable=True),
        _ts("heartbeat_at", nullable=True),
        _ts("created_at"),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(32), sa.ForeignKey("requests.id"), index=True),
        sa.Column("campaign_id", sa.String(32), sa.ForeignKey("campaigns.id"), index=True),
        sa.Column("design_id", sa.String(32), sa.ForeignKey("designs.id"), nullable=False,
                  index=True),
        sa.Column("source_id", sa.String(200), sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("failure_kind", sa.String(20)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("protocol", sa.JSON),
        sa.Column("cycles_run", sa.Integer),
        sa.Column("cost_lab_hours", sa.Float, nullable=False),
        sa.Column("cost_cpu_seconds", sa.Float, nullable=False),
        sa.Column("seed", sa.BigInteger),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("provenance", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("n_observations", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("supersedes_id", sa.String(32), sa.ForeignKey("results.id"), unique=True),
        _ts("created_at"),
    )
    op.create_table(
        "observations",
        _big_id(),
        sa.Column("result_id", sa.String(32), sa.ForeignKey("results.id"), nullable=False,
                  index=True),
        sa.Column("observable", sa.String(120), nullable=False),
        sa.Column("index", sa.Float, nullable=False),
        sa.Column("index_unit", sa.String(20), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("std", sa.Float),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.UniqueConstraint("result_id", "observable", "index_unit", "index"),
    )
    op.create_table(
        "artifacts",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("media_type", sa.String(120), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("campaign_id", sa.String(32), sa.ForeignKey("campaigns.id"), nullable=False,
                  index=True),
        sa.Column("request_id", sa.String(32), sa.ForeignKey("requests.id")),
        sa.Column("chosen", sa.JSON, nullable=False),
        sa.Column("runners_up", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "status_log",
        _big_id(),
        sa.Column("entity", sa.String(20), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        _ts("at"),
    )
    _create_immutability_triggers()


def _create_immutability_triggers() -> None:
    """Reject UPDATE and DELETE in the database itself, whatever client connects."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in IMMUTABLE:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'interphase: {table} is immutable'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION interphase_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'interphase: % is immutable', TG_TABLE_NAME "
            "USING ERRCODE = 'restrict_violation'; END $$"
        )
        for table in IMMUTABLE:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION interphase_reject_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION interphase_reject_change()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in reversed(("campaigns", "designs", "sources", "requests", *IMMUTABLE)):
        if dialect == "sqlite" and table in IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS interphase_reject_change()")
