"""JSON-LD export: results and their observations as linked data typed with EMMO classes.

Every observation node is typed with its observable's class IRI from the curated
BattINFO map (``Observable.term_iri``), or with a term in the project namespace
when BattINFO has no class; its unit is the EMMO unit IRI where the curated unit
map has one. No EMMO IRI is written here that does not come from
:mod:`interphase.schema.ontology`: the curated maps hold classes and units but no
relations, so the properties linking the nodes (``hasNumericalPart``,
``hasMeasurementUnit``, ...) and the result types (one per
:class:`~interphase.schema.Technique`) are project-namespace terms, named after
their BattINFO counterparts. The context is inline, so no network is needed to read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interphase.schema import OBSERVABLES, Technique
from interphase.schema.ontology import (
    ELECTROCHEMISTRY_NAMESPACE,
    EMMO_NAMESPACE,
    PROJECT_NAMESPACE,
    project_term,
)
from interphase.store.records import StoredResult
from interphase.store.sql import Store

XSD = "http://www.w3.org/2001/XMLSchema#"
RESULT_IRI_PREFIX = "urn:interphase:result:"


def jsonld_context() -> dict[str, Any]:
    """Return the inline ``@context``: namespace prefixes and project-namespace properties."""
    def term(name: str, kind: str | None = None) -> dict[str, str]:
        entry = {"@id": f"ip:{name}"}
        if kind is not None:
            entry["@type"] = kind
        return entry

    return {
        "emmo": EMMO_NAMESPACE, "echem": ELECTROCHEMISTRY_NAMESPACE, "ip": PROJECT_NAMESPACE,
        "xsd": XSD, "label": "http://www.w3.org/2000/01/rdf-schema#label",
        "hasObservation": term("hasObservation"),
        "hasNumericalPart": term("hasNumericalPart", "xsd:double"),
        "hasStandardDeviation": term("hasStandardDeviation", "xsd:double"),
        "hasMeasurementUnit": term("hasMeasurementUnit", "@id"),
        "unitText": term("unitText"),
        "observable": term("observable"),
        "hasIndex": term("hasIndex", "xsd:double"),
        "indexUnit": term("indexUnit"),
        "source": term("source"), "sourceVersion": term("sourceVersion"),
        "status": term("status"), "campaign": term("campaign"),
        "designLabel": term("designLabel"), "designId": term("designId"),
        "idempotencyKey": term("idempotencyKey"),
        "supersedes": term("supersedes", "@id"),
        "cyclesRun": term("cyclesRun", "xsd:integer"),
        "createdAt": term("createdAt", "xsd:dateTime"),
    }


def technique_iri(technique: Technique) -> str:
    """Return the class of a result produced by ``technique``, e.g. ``ip:Experiment``."""
    return project_term(technique.value.capitalize())


def export_jsonld(store: Store, out_path: str | Path, campaign: str | None = None, *,
                  include_superseded: bool = False) -> Path:
    """Write results and observations as one JSON-LD document.

    Args:
        store: The store to read.
        out_path: The ``.jsonld`` file to write (parent directories are created).
        campaign: Only this campaign's results; None exports all.
        include_superseded: Also export results that a correction replaced.

    Returns:
        The path written.

    Raises:
        NotFoundError: If ``campaign`` does not exist.

    """
    if campaign is not None:
        store.get_campaign(campaign)
    techniques = {(s.spec.name, s.spec.version): s.spec.technique for s in store.list_sources()}
    results = store.list_results(campaign=campaign, include_superseded=include_superseded)
    document = {
        "@context": jsonld_context(),
        "@graph": [
            _result_node(s, techniques[(s.result.source, s.result.provenance.source_version)])
            for s in results
        ],
    }
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, allow_nan=False), encoding="utf-8")
    return path


def _result_node(stored: StoredResult, technique: Technique) -> dict[str, Any]:
    result = stored.result
    iri = f"{RESULT_IRI_PREFIX}{stored.id}"
    node: dict[str, Any] = {
        "@id": iri, "@type": technique_iri(technique),
        "source": result.source, "sourceVersion": result.provenance.source_version,
        "status": result.status.value, "designId": stored.design_id,
        "idempotencyKey": stored.idempotency_key, "createdAt": stored.created_at.isoformat(),
    }
    supersedes = stored.supersedes_id
    optional = {"campaign": stored.campaign, "designLabel": result.design.label,
                "cyclesRun": result.cycles_run,
                "supersedes": f"{RESULT_IRI_PREFIX}{supersedes}" if supersedes else None}
    node.update({k: v for k, v in optional.items() if v is not None})
    observations = []
    for position, obs in enumerate(result.observations):
        observable = OBSERVABLES.get(obs.observable)
        entry: dict[str, Any] = {
            "@id": f"{iri}/observation/{position}", "@type": observable.term_iri,
            "observable": obs.observable, "hasNumericalPart": obs.value,
            "unitText": obs.unit, "hasIndex": obs.index, "indexUnit": obs.index_unit,
        }
        if observable.unit_iri is not None:
            entry["hasMeasurementUnit"] = observable.unit_iri
        if obs.std is not None:
            entry["hasStandardDeviation"] = obs.std
        observations.append(entry)
    if observations:
        node["hasObservation"] = observations
    return node
