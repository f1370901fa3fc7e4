"""The store: the single source of truth (SQLite by default, PostgreSQL when shared)."""

from __future__ import annotations

from interphase.store.records import (
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
    "TABLES", "StatusEntry", "Store", "StoredCampaign", "StoredDecision", "StoredDesign",
    "StoredArtifact", "StoredRequest", "StoredResult", "StoredSource", "design_id_for",
]
