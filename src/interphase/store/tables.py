"""SQLAlchemy table definitions. Migrations in ``migrations/versions`` create the same tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(32)
HASH = String(64)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored and returned as timezone-aware UTC on both back ends.

    SQLite keeps no zone, so values are normalised to UTC on the way in and tagged
    UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Normalise an aware timestamp to UTC before it is written."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Tag a timestamp read back as UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {datetime: UTCDateTime}


class CampaignRow(Base):
    """A campaign and its specification (design space, protocol, target)."""

    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column()


class DesignRow(Base):
    """A design; its id is derived from campaign, values and label, so it is content-addressed."""

    __tablename__ = "designs"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    values_hash: Mapped[str] = mapped_column(HASH)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()


class SourceRow(Base):
    """A source at one version."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    version: Mapped[str] = mapped_column(String(60))
    technique: Mapped[str] = mapped_column(String(30))
    fidelity: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column()


class RequestRow(Base):
    """A request to run a design on a source; ``status`` is claimed by compare-and-set."""

    __tablename__ = "requests"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    design_id: Mapped[str] = mapped_column(ForeignKey("designs.id"))
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"))
    protocol: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload_hash: Mapped[str] = mapped_column(HASH)
    status: Mapped[str] = mapped_column(String(20), index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_token: Mapped[str | None] = mapped_column(ID)
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()


class ResultRow(Base):
    """A result. Immutable: database triggers reject UPDATE and DELETE."""

    __tablename__ = "results"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"), index=True)
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    design_id: Mapped[str] = mapped_column(ForeignKey("designs.id"), index=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"))
    status: Mapped[str] = mapped_column(String(20))
    failure_kind: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    protocol: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cycles_run: Mapped[int | None] = mapped_column(Integer)
    cost_lab_hours: Mapped[float] = mapped_column(Float)
    cost_cpu_seconds: Mapped[float] = mapped_column(Float)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    params_hash: Mapped[str] = mapped_column(HASH)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    n_observations: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload_hash: Mapped[str] = mapped_column(HASH)
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("results.id"), unique=True)
    lease_token: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column()


class ObservationRow(Base):
    """One long-form value of a result. Immutable."""

    __tablename__ = "observations"
    __table_args__ = (UniqueConstraint("result_id", "observable", "index_unit", "index"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    result_id: Mapped[str] = mapped_column(ForeignKey("results.id"), index=True)
    observable: Mapped[str] = mapped_column(String(120))
    index: Mapped[float] = mapped_column(Float)
    index_unit: Mapped[str] = mapped_column(String(20))
    value: Mapped[float] = mapped_column(Float)
    std: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(40))


class ArtifactRow(Base):
    """A content-hashed blob: a model checkpoint, a raw cycler file. Immutable."""

    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(HASH, primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    media_type: Mapped[str] = mapped_column(String(120))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column()


class DecisionRow(Base):
    """One agent decision with the scores of the chosen option and its runners-up. Immutable."""

    __tablename__ = "decisions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"))
    chosen: Mapped[dict[str, Any]] = mapped_column(JSON)
    runners_up: Mapped[list[Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()


class StatusLogRow(Base):
    """Append-only log of every status change of requests, results and campaigns."""

    __tablename__ = "status_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column()


class CampaignLeaseRow(Base):
    """Which engine runs a campaign now: runtime state, changed by compare-and-set only.

    Keyed by the campaign's name, not its id: ``interphase run`` takes the lease before it
    stores the campaign, so that a refused second process writes nothing at all.
    """

    __tablename__ = "campaign_leases"
    campaign: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(ID)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column()
    heartbeat_at: Mapped[datetime] = mapped_column()


class CycleChunkRow(Base):
    """Cycles a running test has streamed: one row per request, attempt and cycle range (append-only)."""

    __tablename__ = "cycle_chunks"
    __table_args__ = (UniqueConstraint("request_id", "attempt", "first_cycle", "last_cycle",
                                       name="uq_cycle_chunk"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    first_cycle: Mapped[int] = mapped_column(Integer)
    last_cycle: Mapped[int] = mapped_column(Integer)
    observations: Mapped[list[Any]] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(HASH)
    created_at: Mapped[datetime] = mapped_column()


class StopOrderRow(Base):
    """The order to end a running test after a cycle: at most one per request (append-only)."""

    __tablename__ = "stop_orders"
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    after_cycle: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()


IMMUTABLE_TABLES = ("results", "observations", "artifacts", "decisions", "status_log", "cycle_chunks",
                    "stop_orders")
