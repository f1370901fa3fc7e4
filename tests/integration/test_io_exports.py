"""CSV and JSON-LD exports of a real store holding an Arbin import and a campaign."""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

import pytest
import rdflib

from interphase.schema import OBSERVABLES, Observation
from interphase.schema.ontology import PROJECT_NAMESPACE, property_iris, unit_iris
from interphase.store import Store
from interphase.store.io import export_csv, export_jsonld, import_files
from interphase.store.io.tabular import CSV_COLUMNS
from support import factories

INTERNAL_RESISTANCE_IRI = ("https://w3id.org/emmo/domain/electrochemistry#"
                           "electrochemistry_9bf40017_3f58_4030_ada7_cb37a3dfda2d")
PROJECT = rdflib.Namespace("https://w3id.org/interphase/terms#")


@pytest.fixture
def arbin_file() -> Iterator[Path]:
    with as_file(files("interphase").joinpath("data/cyclers/arbin_example.csv")) as path:
        yield Path(path)


def parse_jsonld(text: str) -> rdflib.Graph:
    with warnings.catch_warnings():
        # rdflib's own JSON-LD parser builds a ConjunctiveGraph internally and warns about it.
        warnings.filterwarnings("ignore", message="ConjunctiveGraph is deprecated",
                                category=DeprecationWarning)
        return rdflib.Graph().parse(data=text, format="json-ld")


def test_csv_export(store: Store, arbin_file: Path, tmp_path: Path) -> None:
    (report,) = import_files(store, [arbin_file])
    seeded = factories.seed_campaign(store, n_designs=1)
    with_std = factories.result(seeded.sources[0], seeded.designs[0], n_observations=3)
    store.submit_result(with_std, idempotency_key="run-0", campaign=seeded.campaign)
    store.submit_result(factories.failed_result(seeded.sources[0], seeded.designs[0]),
                        idempotency_key="run-1", campaign=seeded.campaign)

    path = export_csv(store, tmp_path / "out" / "all.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == report.n_observations + 3  # the failed run has no observations
    stored = {(s.id, o.observable, o.index): o
              for s in store.list_results() for o in s.result.observations}
    for row in rows:
        obs = stored[(row["result_id"], row["observable"], float(row["index"]))]
        assert float(row["value"]) == obs.value  # bit-exact through repr
        assert (row["std"] == "") == (obs.std is None)
        assert row["unit"] == obs.unit
    arbin_rows = [r for r in rows if r["source"] == "cycler-arbin"]
    assert {r["design_label"] for r in arbin_rows} == {"arbin_example"}
    assert {r["campaign"] for r in arbin_rows} == {""}

    only = export_csv(store, tmp_path / "demo.csv", campaign=seeded.campaign)
    assert len(only.read_text(encoding="utf-8").splitlines()) == 1 + 3


def test_jsonld_export_parses_with_rdflib(store: Store, arbin_file: Path, tmp_path: Path) -> None:
    (report,) = import_files(store, [arbin_file])
    seeded = factories.seed_campaign(store, n_designs=1)
    observations = (Observation(observable="Discharge capacity [A.h]", index=1.0, value=4.9,
                                std=0.01, unit="A*h"),)
    store.submit_result(factories.result(seeded.sources[0], seeded.designs[0],
                                         observations=observations, cycles_run=1),
                        idempotency_key="run-0", campaign=seeded.campaign)

    path = export_jsonld(store, tmp_path / "store.jsonld")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert "@context" in document
    graph = parse_jsonld(path.read_text(encoding="utf-8"))

    result_iri = rdflib.URIRef(f"urn:interphase:result:{report.result_id}")
    assert (result_iri, rdflib.RDF.type, PROJECT.Experiment) in graph
    resistance = set(graph.subjects(rdflib.RDF.type, rdflib.URIRef(INTERNAL_RESISTANCE_IRI)))
    assert len(resistance) == 2  # one per cycle of the Arbin file
    assert resistance <= set(graph.objects(result_iri, PROJECT.hasObservation))
    for node in resistance:
        assert graph.value(node, PROJECT.hasMeasurementUnit) == rdflib.URIRef(
            OBSERVABLES.get("Internal resistance [Ohm]").unit_iri)
        assert graph.value(node, PROJECT.indexUnit) == rdflib.Literal("cycle")

    stored = store.get_result(report.result_id).result.observations
    assert len(list(graph.objects(result_iri, PROJECT.hasObservation))) == len(stored)
    nodes = list(graph.objects(result_iri, PROJECT.hasObservation))
    values = sorted(float(v.toPython()) for node in nodes
                    for v in graph.objects(node, PROJECT.hasNumericalPart))
    assert values == sorted(o.value for o in stored)
    # Every type is a curated EMMO class or a project term: nothing invented.
    for observable in {o.observable for o in stored}:
        iri = rdflib.URIRef(OBSERVABLES.get(observable).term_iri)
        assert any(graph.subjects(rdflib.RDF.type, iri))
    curated_classes = {iri for iri, _ in property_iris().values()}
    curated_units = {iri for iri, _ in unit_iris().values()}
    for type_iri in set(graph.objects(None, rdflib.RDF.type)):
        assert str(type_iri) in curated_classes or str(type_iri).startswith(PROJECT_NAMESPACE)
    for unit in set(graph.objects(None, PROJECT.hasMeasurementUnit)):
        assert str(unit) in curated_units
    simulated = list(graph.subjects(rdflib.RDF.type, PROJECT.Simulation))
    assert len(simulated) == 1
    (obs_node,) = graph.objects(simulated[0], PROJECT.hasObservation)
    assert graph.value(obs_node, PROJECT.hasStandardDeviation).toPython() == 0.01
