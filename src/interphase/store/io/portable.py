"""The portable view of a store: plain rows keyed by identities that survive a copy.

Store-local ids (the uuids of campaigns and results, and design ids derived from
a campaign's uuid) differ between two stores holding the same records, so the
rows here use ids that are the same everywhere:

* campaign: its unique ``name``;
* source: ``name@version``, as the store itself does;
* design: :func:`portable_design_key`, a hash of campaign name, values and label;
* result: its idempotency key (``result_key``); links to the result it corrects,
  the correction that replaced it and the request it answered are keys too.

``Store`` stamps ``created_at`` itself and has no way to take a given time, so an
imported result keeps its original time and request key in its metadata under
:data:`IMPORT_METADATA_KEY`; :func:`result_row` reads them from there and leaves
that entry out of ``metadata_json``. Rows for campaigns, designs and sources carry
no time stamps for the same reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interphase.schema import (
    Cost,
    Design,
    Observation,
    Protocol,
    Provenance,
    Result,
    canonical_json,
)
from interphase.store.records import StoredResult
from interphase.store.sql import Store

IMPORT_METADATA_KEY = "interphase:import"
_OBSERVATION_FIELDS = ("observable", "index", "index_unit", "value", "std", "unit")


@dataclass(frozen=True)
class PortableTables:
    """Rows of the five exported tables, each a list of column → value dicts, in export order."""

    campaigns: list[dict[str, Any]]
    designs: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    results: list[dict[str, Any]]
    observations: list[dict[str, Any]]


def portable_design_key(campaign: str | None, design: Design) -> str:
    """Return a design id that is the same in every store: hash of campaign, values, label."""
    key = f"{campaign or ''}|{design.content_hash()}|{design.label or ''}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` as aware UTC; a naive time is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def portable_tables(store: Store, campaign: str | None = None) -> PortableTables:
    """Read a store, or one campaign of it, as portable rows.

    Args:
        store: The store.
        campaign: Only this campaign (its designs, results, and the sources they use
            or the campaign names); None takes everything, cells without a campaign too.

    Returns:
        The rows; results include superseded ones, ordered by creation time then key.

    """
    campaigns = [store.get_campaign(campaign)] if campaign is not None else store.list_campaigns()
    stored = store.list_results(campaign=campaign, include_superseded=True)
    key_by_id = {s.id: s.idempotency_key for s in stored}
    request_keys = {r.id: r.idempotency_key for r in store.list_requests(campaign=campaign)}

    def key_of(result_id: str | None) -> str | None:
        if result_id is None:
            return None
        if result_id not in key_by_id:  # a link that leaves the exported campaign
            key_by_id[result_id] = store.get_result(result_id).idempotency_key
        return key_by_id[result_id]

    results = sorted((result_row(s, key_of, request_keys) for s in stored),
                     key=lambda row: (row["created_at"], row["result_key"]))
    order = {row["result_key"]: position for position, row in enumerate(results)}
    observations = [obs for s in sorted(stored, key=lambda s: order[s.idempotency_key])
                    for obs in observation_rows(s.idempotency_key, s.result.observations)]
    used = {(row["source"], row["source_version"]) for row in results}
    named = {name for c in campaigns for name in c.spec.sources}
    sources = [
        {"source_id": s.id, "name": s.spec.name, "version": s.spec.version,
         "technique": s.spec.technique.value, "fidelity": s.spec.fidelity,
         "spec_json": canonical_json(s.spec.model_dump(mode="json"))}
        for s in store.list_sources()
        if campaign is None or (s.spec.name, s.spec.version) in used or s.spec.name in named
    ]
    designs = [
        {"design_key": portable_design_key(d.campaign, d.design), "campaign": d.campaign,
         "label": d.design.label, "values_json": canonical_json(d.design.values)}
        for d in store.list_designs(campaign)
    ]
    return PortableTables(
        campaigns=sorted(
            ({"name": c.name, "spec_json": canonical_json(c.spec.model_dump(mode="json"))}
             for c in campaigns), key=lambda row: row["name"]),
        designs=sorted(designs, key=lambda row: (row["campaign"] or "", row["design_key"])),
        sources=sorted(sources, key=lambda row: (row["name"], row["version"])),
        results=results, observations=observations,
    )


def result_row(stored: StoredResult, key_of: Callable[[str | None], str | None],
               request_keys: dict[str, str]) -> dict[str, Any]:
    """One result as a portable row.

    Args:
        stored: The stored result.
        key_of: Maps a result id (or None) to its idempotency key (or None).
        request_keys: Request id → request idempotency key.

    Returns:
        Column → value; JSON columns hold canonical JSON (sorted keys, no spaces).

    """
    result = stored.result
    metadata = dict(result.metadata)
    origin = metadata.pop(IMPORT_METADATA_KEY, None)
    if isinstance(origin, dict) and "created_at" in origin:
        created_at = as_utc(datetime.fromisoformat(origin["created_at"]))
        request_key = origin.get("request_key")
    else:
        created_at = as_utc(stored.created_at)
        request_key = request_keys.get(stored.request_id) if stored.request_id else None
    return {
        "result_key": stored.idempotency_key, "campaign": stored.campaign,
        "design_key": portable_design_key(stored.campaign, result.design),
        "source": result.source, "source_version": result.provenance.source_version,
        "status": result.status.value,
        "failure_kind": result.failure_kind.value if result.failure_kind else None,
        "message": result.message,
        "protocol_json": (canonical_json(result.protocol.model_dump(mode="json"))
                          if result.protocol else None),
        "cycles_run": result.cycles_run,
        "cost_lab_hours": result.cost.lab_hours, "cost_cpu_seconds": result.cost.cpu_seconds,
        "provenance_json": canonical_json(result.provenance.model_dump(mode="json")),
        "metadata_json": canonical_json(metadata),
        "n_observations": len(result.observations),
        "request_key": request_key,
        "supersedes_key": key_of(stored.supersedes_id),
        "superseded_by_key": key_of(stored.superseded_by),
        "created_at": created_at,
    }


def observation_rows(result_key: str,
                     observations: tuple[Observation, ...]) -> list[dict[str, Any]]:
    """Return a result's observations as long-form rows, in stored order."""
    return [{"result_key": result_key, "observable": o.observable, "index": o.index,
             "index_unit": o.index_unit, "value": o.value, "std": o.std, "unit": o.unit}
            for o in observations]


def result_from_row(row: dict[str, Any], design: Design,
                    observations: list[dict[str, Any]]) -> Result:
    """Rebuild the result to store from a portable row.

    The original creation time and request key go into the metadata under
    :data:`IMPORT_METADATA_KEY`, so that exporting the new store gives the same row.

    Raises:
        InvalidInputError, pydantic.ValidationError: If a field breaks the schema.

    """
    metadata = json.loads(row["metadata_json"])
    metadata[IMPORT_METADATA_KEY] = {"created_at": as_utc(row["created_at"]).isoformat(),
                                     "request_key": row["request_key"]}
    protocol = json.loads(row["protocol_json"]) if row["protocol_json"] is not None else None
    return Result(
        source=row["source"], design=design,
        protocol=Protocol.model_validate(protocol) if protocol is not None else None,
        status=row["status"], failure_kind=row["failure_kind"], message=row["message"],
        observations=tuple(Observation(**{k: o[k] for k in _OBSERVATION_FIELDS})
                           for o in observations),
        provenance=Provenance.model_validate(json.loads(row["provenance_json"])),
        cost=Cost(lab_hours=row["cost_lab_hours"], cpu_seconds=row["cost_cpu_seconds"]),
        cycles_run=row["cycles_run"], metadata=metadata,
    )
