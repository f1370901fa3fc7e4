"""BattINFO/EMMO IRIs, read from the curated maps that ship with the package.

The maps come from BIG-MAP/BattINFO (commit a600a72, Apache-2.0; the licence
sits beside them in ``schema/ontology/``). No IRI is invented here: a term the
maps do not hold is exported in the project namespace :data:`PROJECT_NAMESPACE`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

PROJECT_NAMESPACE = "https://w3id.org/interphase/terms#"
EMMO_NAMESPACE = "https://w3id.org/emmo#"
ELECTROCHEMISTRY_NAMESPACE = "https://w3id.org/emmo/domain/electrochemistry#"


def _load(name: str) -> dict:
    return json.loads(files("interphase.schema").joinpath("ontology").joinpath(name).read_text("utf-8"))


@lru_cache(maxsize=1)
def property_iris() -> dict[str, tuple[str, str]]:
    """BattINFO property key → (class IRI, qualified name), e.g. ``internal_resistance``."""
    data = _load("battinfo_property_map.curated.json")
    return {m["key"]: (m["class_iri"], m["class_qname"]) for m in data["mappings"]}


@lru_cache(maxsize=1)
def unit_iris() -> dict[str, tuple[str, str]]:
    """Unit symbol → (unit IRI, qualified name), e.g. ``"Ah"`` → ``emmo:AmpereHour``."""
    data = _load("battinfo_unit_map.curated.json")
    return {m["symbol"]: (m["unit_iri"], m["unit_qname"]) for m in data["mappings"]}


def property_iri(key: str | None) -> str | None:
    """The EMMO class IRI of a BattINFO property key, or None when the key is None.

    Raises:
        KeyError: If ``key`` is not in the curated map (a programming error).

    """
    return None if key is None else property_iris()[key][0]


def unit_iri(symbol: str | None) -> str | None:
    """The EMMO unit IRI for a unit symbol in the curated map, or None."""
    if symbol is None:
        return None
    entry = unit_iris().get(symbol)
    return entry[0] if entry else None


def project_term(name: str) -> str:
    """The project-namespace IRI used for a term that has no EMMO class."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
    while "__" in slug:
        slug = slug.replace("__", "_")
    return PROJECT_NAMESPACE + slug
