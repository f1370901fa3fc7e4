"""The store: the single source of truth (SQLite by default, PostgreSQL when shared)."""

from __future__ import annotations

from interphase.store.held_lease import HeldLease, hold_campaign
from interphase.store.leases import CampaignBusyError, LeaseLostError
from interphase.store.records import (
    CampaignLease,
    StatusEntry,
    StoredArtifact,
    StoredCampaign,
    StoredDecision,
    StoredDesign,
    StoredRequest,
    StoredResult,
    StoredSource,
)
from interphase.store.sql import TABLES, Store, design_id_for

__all__ = [
    "TABLES", "CampaignBusyError", "CampaignLease", "HeldLease", "LeaseLostError", "StatusEntry", "Store",
    "StoredArtifact", "StoredCampaign", "StoredDecision", "StoredDesign", "StoredRequest", "StoredResult",
    "StoredSource", "design_id_for", "hold_campaign",
]
