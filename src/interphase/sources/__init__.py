"""Sources: everything that produces data on request (simulations, the emulated lab, instruments)."""

from __future__ import annotations

from interphase.sources.base import Source, SourceError, design_hash, run_safely
from interphase.sources.registry import ENTRY_POINT_GROUP, get_source, register_source, source_names

__all__ = [
    "ENTRY_POINT_GROUP", "Source", "SourceError", "design_hash", "get_source", "register_source",
    "run_safely", "source_names",
]
