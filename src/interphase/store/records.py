"""What the store hands back: stored records with their ids and timestamps."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from interphase.schema import CampaignSpec, Design, Protocol, RequestStatus, Result, SourceSpec


class _Stored(BaseModel):
    model_config = ConfigDict(frozen=True)


class StoredCampaign(_Stored):
    """A campaign row."""

    id: str
    spec: CampaignSpec
    created_at: datetime

    @property
    def name(self) -> str:
        """The campaign's unique name."""
        return self.spec.name


class StoredDesign(_Stored):
    """A design row; ``campaign`` is None for cells imported without a campaign."""

    id: str
    campaign: str | None
    design: Design
    created_at: datetime


class StoredSource(_Stored):
    """A source row at one version."""

    id: str
    spec: SourceSpec
    created_at: datetime


class StoredRequest(_Stored):
    """A request row with its current status."""

    id: str
    campaign: str
    design_id: str
    source: str
    protocol: Protocol
    seed: int
    idempotency_key: str
    status: RequestStatus
    claimed_by: str | None
    created_at: datetime
    attempts: int = 0
    claimed_at: datetime | None = None
    heartbeat_at: datetime | None = None
    lease_expires_at: datetime | None = None


class StoredResult(_Stored):
    """A result row with its observations.

    Attributes:
        superseded_by: Id of the correction that replaced this result, if any.

    """

    id: str
    request_id: str | None
    campaign: str | None
    design_id: str
    idempotency_key: str
    supersedes_id: str | None
    superseded_by: str | None = None
    result: Result
    created_at: datetime


class StoredDecision(_Stored):
    """An agent decision."""

    id: str
    campaign: str
    request_id: str | None
    chosen: dict
    runners_up: list
    reason: str
    created_at: datetime


class StoredArtifact(_Stored):
    """An artifact's description (its bytes come from ``Store.get_artifact``)."""

    sha256: str
    kind: str
    media_type: str
    size_bytes: int
    metadata: dict
    created_at: datetime


class StatusEntry(_Stored):
    """One line of the append-only status log."""

    entity: str
    entity_id: str
    status: str
    detail: str
    at: datetime


class CampaignLease(_Stored):
    """The engine that holds a campaign: who, where, since when, and its last sign of life.

    Attributes:
        campaign: Campaign name.
        holder: A random token of one engine; a renewal or a release must present it.
        host: Host name of the holding process.
        pid: Process id of the holding process on ``host``.
        acquired_at: When it took the lease (UTC; the database server's clock on PostgreSQL).
        heartbeat_at: Its last renewal (same clock).
    """

    campaign: str
    holder: str
    host: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime
