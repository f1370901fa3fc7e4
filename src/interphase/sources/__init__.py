"""Sources: everything that produces data on request (simulations, the emulated lab, instruments)."""

from __future__ import annotations

from interphase.sources.base import Source, SourceError, design_hash, run_safely
from interphase.sources.catalog import (
    register_kind,
    resolve_source,
    source_kinds,
    world_source,
    world_sources,
)
from interphase.sources.registry import ENTRY_POINT_GROUP, get_source, register_source, source_names

__all__ = [
    "ENTRY_POINT_GROUP", "Source", "SourceError", "design_hash", "get_source", "register_source",
    "register_kind", "resolve_source", "run_safely", "source_kinds", "source_names", "world_source",
    "world_sources",
]
