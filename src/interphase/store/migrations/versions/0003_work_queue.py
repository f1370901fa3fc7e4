"""The store as a work queue: request leases, streamed cycles and stop orders.

``requests`` gains the lease a worker holds while it runs one (a random token, its expiry
and the number of claims so far); ``results`` records the lease token its poster held, so a
re-sent post is recognised and a late one refused. Two append-only tables, under the same
immutability triggers as the other records: ``cycle_chunks`` (cycles streamed while a test
runs, one row per request, attempt and cycle range) and ``stop_orders`` (one per request).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY = ("cycle_chunks", "stop_orders")


def upgrade() -> None:
    op.add_column("requests", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("requests", sa.Column("lease_token", sa.String(32), nullable=True))
    op.add_column("requests", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("results", sa.Column("lease_token", sa.String(32), nullable=True))
    op.create_table(
        "cycle_chunks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(32), sa.ForeignKey("requests.id"), nullable=False, index=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("first_cycle", sa.Integer, nullable=False),
        sa.Column("last_cycle", sa.Integer, nullable=False),
        sa.Column("observations", sa.JSON, nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("request_id", "attempt", "first_cycle", "last_cycle", name="uq_cycle_chunk"),
    )
    op.create_table(
        "stop_orders",
        sa.Column("request_id", sa.String(32), sa.ForeignKey("requests.id"), primary_key=True),
        sa.Column("after_cycle", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    _append_only(APPEND_ONLY)


def _append_only(tables: tuple[str, ...]) -> None:
    """Reject UPDATE and DELETE on ``tables``, as the first revision does for the other records."""
    dialect = op.get_bind().dialect.name
    for table in tables:
        if dialect == "sqlite":
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, 'interphase: {table} is immutable'); END")
        elif dialect == "postgresql":
            op.execute(f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION interphase_reject_change()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION interphase_reject_change()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        op.drop_table(table)
    op.drop_column("results", "lease_token")
    for column in ("lease_expires_at", "lease_token", "attempts"):
        op.drop_column("requests", column)
