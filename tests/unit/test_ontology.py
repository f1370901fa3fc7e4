"""BattINFO/EMMO IRIs: every one comes from the curated maps shipped with the package."""

from __future__ import annotations

import ast
import json
import re
from importlib.resources import files
from pathlib import Path

import pytest

import interphase.schema
from interphase.schema import OBSERVABLES
from interphase.schema.ontology import (
    ELECTROCHEMISTRY_NAMESPACE,
    EMMO_NAMESPACE,
    PROJECT_NAMESPACE,
    project_term,
    property_iri,
    property_iris,
    unit_iri,
    unit_iris,
)

pytestmark = pytest.mark.timeout(60)

ONTOLOGY_DIR = files("interphase.schema").joinpath("ontology")
EMMO_IRI = re.compile(r"https://w3id\.org/emmo[^\s\"'<>]*")


def curated(name: str) -> dict:
    return json.loads(ONTOLOGY_DIR.joinpath(name).read_text("utf-8"))


@pytest.fixture(scope="module")
def curated_iris() -> set[str]:
    """Every IRI that appears anywhere in the shipped curated maps."""
    text = "".join(
        ONTOLOGY_DIR.joinpath(name).read_text("utf-8")
        for name in ("battinfo_property_map.curated.json", "battinfo_unit_map.curated.json")
    )
    return set(EMMO_IRI.findall(text))


def test_maps_and_licence_ship_with_the_package() -> None:
    names = {entry.name for entry in ONTOLOGY_DIR.iterdir()}
    assert {
        "battinfo_property_map.curated.json", "battinfo_unit_map.curated.json", "LICENSE-BattINFO",
    } <= names
    assert "Apache License" in ONTOLOGY_DIR.joinpath("LICENSE-BattINFO").read_text("utf-8")


def test_loaded_tables_equal_the_json_maps() -> None:
    properties = curated("battinfo_property_map.curated.json")["mappings"]
    units = curated("battinfo_unit_map.curated.json")["mappings"]
    assert property_iris() == {m["key"]: (m["class_iri"], m["class_qname"]) for m in properties}
    assert unit_iris() == {m["symbol"]: (m["unit_iri"], m["unit_qname"]) for m in units}
    assert len(property_iris()) == len(properties)  # keys are unique
    assert len(unit_iris()) == len(units)


def test_every_mapping_is_curated_and_names_a_w3id_iri() -> None:
    for entry in curated("battinfo_property_map.curated.json")["mappings"]:
        assert entry["status"] == "curated", entry["key"]
        assert entry["class_iri"].startswith((EMMO_NAMESPACE, "https://w3id.org/emmo/domain/"))
        assert entry["class_qname"].startswith("emmo:")


def test_known_lookups() -> None:
    assert unit_iri("Ah") == EMMO_NAMESPACE + "AmpereHour"
    assert unit_iri("V") == EMMO_NAMESPACE + "Volt"
    assert unit_iri("not-a-unit") is None
    assert unit_iri(None) is None
    assert property_iri(None) is None
    assert property_iri("internal_resistance").startswith(ELECTROCHEMISTRY_NAMESPACE)
    with pytest.raises(KeyError):
        property_iri("not_a_battinfo_key")


def test_observables_with_a_key_use_the_curated_class(curated_iris: set[str]) -> None:
    keyed = [OBSERVABLES.get(n) for n in OBSERVABLES.names if OBSERVABLES.get(n).battinfo_key]
    assert keyed, "the registry should map at least one observable to BattINFO"
    for observable in keyed:
        assert observable.iri == property_iris()[observable.battinfo_key][0]
        assert observable.iri in curated_iris
        assert observable.term_iri == observable.iri


def test_without_iri_lists_exactly_the_observables_without_a_class() -> None:
    expected = [n for n in OBSERVABLES.names if OBSERVABLES.get(n).battinfo_key is None]
    assert OBSERVABLES.without_iri() == expected
    assert "SEI thickness [m]" in expected
    assert "Capacity retention" not in expected
    for name in expected:
        assert OBSERVABLES.get(name).iri is None
        assert OBSERVABLES.get(name).term_iri == project_term(name)


def test_every_emmo_iri_of_the_registry_is_in_the_curated_maps(curated_iris: set[str]) -> None:
    referenced = set()
    for name in OBSERVABLES.names:
        observable = OBSERVABLES.get(name)
        referenced |= {iri for iri in (observable.iri, observable.unit_iri, observable.term_iri)
                       if iri and iri.startswith("https://w3id.org/emmo")}
    assert referenced, "expected some EMMO IRIs"
    assert referenced <= curated_iris


def test_unit_symbols_all_resolve() -> None:
    for name in OBSERVABLES.names:
        observable = OBSERVABLES.get(name)
        if observable.unit_symbol is not None:
            assert observable.unit_iri is not None, f"{name}: no IRI for {observable.unit_symbol!r}"


def test_schema_sources_contain_no_invented_emmo_iri(curated_iris: set[str]) -> None:
    """Only namespaces may be spelled out in code; full IRIs must come from the maps."""
    package = Path(interphase.schema.__file__).parent
    namespaces = {EMMO_NAMESPACE, ELECTROCHEMISTRY_NAMESPACE}
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for iri in EMMO_IRI.findall(node.value):
                    assert iri in namespaces or iri in curated_iris, f"{source.name}: {iri}"


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("SEI thickness [m]", "SEI_thickness_m"),
        ("Loss of lithium inventory [%]", "Loss_of_lithium_inventory"),
        ("Conductivity [S.m-1]", "Conductivity_S_m_1"),
        ("  __weird -- name__ ", "weird_name"),
    ],
)
def test_project_term_is_in_the_project_namespace(name: str, slug: str) -> None:
    assert project_term(name) == PROJECT_NAMESPACE + slug
    assert PROJECT_NAMESPACE == "https://w3id.org/interphase/terms#"


def test_project_terms_of_the_registry_are_distinct() -> None:
    terms = [project_term(name) for name in OBSERVABLES.without_iri()]
    assert len(set(terms)) == len(terms)
    assert all(re.fullmatch(re.escape(PROJECT_NAMESPACE) + r"[A-Za-z0-9_]+", t) for t in terms)
