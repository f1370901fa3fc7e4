"""Stored records: observations, results, requests, sources, provenance."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from typing import Any

import pytest

from interphase.schema import (
    Cost,
    Design,
    FailureKind,
    InvalidInputError,
    Observation,
    Provenance,
    Request,
    Result,
    ResultStatus,
    SourceSpec,
    Technique,
    canonical_hash,
    canonical_json,
    parse_model,
)

pytestmark = pytest.mark.timeout(60)


def provenance(**changes: Any) -> dict[str, Any]:
    return {
        "source_name": "pybamm-spm", "source_version": "26.10", "seed": 1,
        "params_hash": "a" * 64, "package_versions": {"numpy": "2.0"}, "git_sha": "b" * 40,
        **changes,
    }


def observation(**changes: Any) -> dict[str, Any]:
    return {"observable": "SEI thickness [m]", "index": 10, "value": 2.5e-9, "unit": "m", **changes}


def result(**changes: Any) -> Result:
    data = {
        "source": "pybamm-spm",
        "design": {"values": {"T": 298.15, "n": 3, "additive": "VC"}},
        "provenance": provenance(),
        "observations": [observation(), observation(index=20, value=3.0e-9)],
        **changes,
    }
    return parse_model(Result, data)


class TestObservation:
    def test_valid(self) -> None:
        obs = parse_model(Observation, observation(std=1e-10))
        assert (obs.value, obs.index, obs.index_unit, obs.std) == (2.5e-9, 10.0, "cycle", 1e-10)

    @pytest.mark.parametrize("unit", ["nm", "meter", "", "m "])
    def test_unit_must_equal_the_canonical_unit(self, unit: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            parse_model(Observation, observation(unit=unit))
        assert info.value.field == "unit"
        assert info.value.problem == f"'SEI thickness [m]' is stored in 'm', got {unit!r}"

    def test_canonical_units_of_other_observables(self) -> None:
        parse_model(Observation, observation(observable="Discharge capacity [A.h]", unit="A*h",
                                             value=4.8))
        parse_model(Observation, observation(observable="Capacity retention", unit="", value=0.93))
        with pytest.raises(InvalidInputError, match="stored in 'A\\*h'"):
            parse_model(Observation, observation(observable="Discharge capacity [A.h]",
                                                 unit="mA*h", value=4800.0))

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan"])
    def test_non_finite_values_are_rejected(self, value: Any) -> None:
        with pytest.raises(InvalidInputError) as info:
            parse_model(Observation, observation(value=value))
        assert info.value.field == "value"
        assert "must be finite" in info.value.problem

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"index": math.nan}, "index"),
            ({"index_unit": "h"}, "index_unit"),
            ({"std": -1.0}, "std"),
            ({"std": math.nan}, "std"),
            ({"observable": "Happiness"}, "observable"),
            ({"colour": "blue"}, "colour"),
        ],
    )
    def test_other_constraints(self, changes: dict[str, Any], field: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            parse_model(Observation, observation(**changes))
        assert info.value.field == field

    @pytest.mark.parametrize("index_unit", ["cycle", "s", "K"])
    def test_index_units(self, index_unit: str) -> None:
        assert parse_model(Observation, observation(index_unit=index_unit)).index_unit == index_unit

    def test_constructor_rejects_nan_too(self) -> None:
        with pytest.raises(ValueError, match="must be finite"):
            Observation(observable="SEI thickness [m]", index=1, value=math.nan, unit="m")


class TestResultStatus:
    def test_succeeded_by_default(self) -> None:
        assert result().status is ResultStatus.SUCCEEDED
        assert result().failure_kind is None

    @pytest.mark.parametrize("kind", ["transient", "deterministic"])
    def test_failed_with_a_kind(self, kind: str) -> None:
        failed = result(status="failed", failure_kind=kind, observations=[])
        assert failed.failure_kind is FailureKind(kind)

    def test_failed_needs_a_kind(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            result(status="failed")
        assert info.value.field == "failure_kind"
        assert "must be set when status is 'failed'" in info.value.problem

    @pytest.mark.parametrize("status", ["succeeded", "stopped"])
    def test_only_failed_takes_a_kind(self, status: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            result(status=status, failure_kind="transient")
        assert info.value.field == "failure_kind"

    def test_observations_are_validated_in_place(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            result(observations=[observation(), observation(value=math.nan)])
        assert info.value.field == "observations.1.value"


class TestResultPayloadHash:
    def test_hash_is_hex_sha256_and_repeatable(self) -> None:
        digest = result().payload_hash()
        assert len(digest) == 64 and int(digest, 16) >= 0
        assert result().payload_hash() == digest

    def test_environment_fields_are_ignored(self) -> None:
        upgraded = result(provenance=provenance(package_versions={"numpy": "3.0", "torch": "9"},
                                                git_sha=None))
        assert upgraded.payload_hash() == result().payload_hash()

    @pytest.mark.parametrize(
        "changes",
        [
            {"observations": [observation()]},
            {"observations": [observation(), observation(index=20, value=3.1e-9)]},
            {"observations": [observation(index=20, value=3.0e-9), observation()]},
            {"provenance": provenance(seed=2)},
            {"provenance": provenance(params_hash="c" * 64)},
            {"design": {"values": {"T": 298.16, "n": 3, "additive": "VC"}}},
            {"source": "cycler:arbin"},
            {"cycles_run": 20},
            {"metadata": {"file": "cell7.res"}},
        ],
    )
    def test_scientific_payload_changes_the_hash(self, changes: dict[str, Any]) -> None:
        assert result(**changes).payload_hash() != result().payload_hash()

    def test_metadata_key_order_does_not_matter(self) -> None:
        first = result(metadata={"a": 1, "b": [1, 2]})
        second = result(metadata={"b": [1, 2], "a": 1})
        assert first.payload_hash() == second.payload_hash()

    def test_hash_is_the_same_in_another_process(self) -> None:
        code = (
            "from interphase.schema import Result\n"
            f"print(Result.model_validate_json({result().model_dump_json()!r}).payload_hash())\n"
        )
        env = {**os.environ, "PYTHONHASHSEED": "12345"}
        completed = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
            check=True,
        )
        assert completed.stdout.strip() == result().payload_hash()

    def test_hash_does_not_mutate_the_result(self) -> None:
        record = result()
        record.payload_hash()
        assert record.provenance.package_versions == {"numpy": "2.0"}
        assert record.provenance.git_sha == "b" * 40


def test_canonical_hash_is_sha256_of_compact_sorted_json() -> None:
    payload = {"b": 1.5, "a": ["x", None]}
    assert canonical_json(payload) == '{"a":["x",null],"b":1.5}'
    assert canonical_hash(payload) == hashlib.sha256(b'{"a":["x",null],"b":1.5}').hexdigest()


def request(**changes: Any) -> Request:
    data = {
        "campaign": "sei-demo", "design_id": "d1", "source": "pybamm-spm",
        "protocol": {"steps": ["Rest for 10 minutes"], "n_cycles": 1,
                     "ambient_temperature_k": 298.15},
        "seed": 4, "idempotency_key": "k-1", **changes,
    }
    return parse_model(Request, data)


def test_request_hash_ignores_the_key_only() -> None:
    assert request(idempotency_key="k-2").payload_hash() == request().payload_hash()
    assert request(seed=5).payload_hash() != request().payload_hash()
    assert request(design_id="d2").payload_hash() != request().payload_hash()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_request_constraints(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        request(**changes)
    assert info.value.field == field


class TestSourceSpec:
    def spec(self, **changes: Any) -> dict[str, Any]:
        return {"name": "pybamm-spm", "version": "26.10", "technique": "simulation",
                "fidelity": 10, "observables": ["SEI thickness [m]"], **changes}

    def test_valid(self) -> None:
        source = parse_model(SourceSpec, self.spec(name="cycler:arbin.bt2000"))
        assert source.technique is Technique.SIMULATION
        assert source.observables == ("SEI thickness [m]",)

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"name": "PyBaMM"}, "name"),
            ({"name": "-spm"}, "name"),
            ({"name": ""}, "name"),
            ({"fidelity": 101}, "fidelity"),
            ({"fidelity": -1}, "fidelity"),
            ({"technique": "guess"}, "technique"),
            ({"version": ""}, "version"),
        ],
    )
    def test_constraints(self, changes: dict[str, Any], field: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            parse_model(SourceSpec, self.spec(**changes))
        assert info.value.field == field

    def test_unknown_observable_is_rejected(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            parse_model(SourceSpec, self.spec(observables=["SEI thickness [m]", "Happiness"]))
        assert info.value.field == "observables.1"
        assert "unknown observable 'Happiness'" in info.value.problem


def test_cost_is_non_negative() -> None:
    assert Cost() == Cost(lab_hours=0.0, cpu_seconds=0.0)
    with pytest.raises(InvalidInputError) as info:
        parse_model(Cost, {"lab_hours": -1.0})
    assert info.value.field == "lab_hours"


def test_provenance_capture_records_this_environment() -> None:
    params = {"design": {"T": 298.15}, "solver": "casadi"}
    captured = Provenance.capture("pybamm-spm", "26.10", params, seed=3)
    assert captured.params_hash == canonical_hash(params)
    assert captured.seed == 3
    assert {"interphase", "numpy", "pydantic"} <= set(captured.package_versions)
    assert captured.git_sha is None or len(captured.git_sha) == 40


def test_provenance_hash_must_be_sha256_hex() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_model(Provenance, provenance(params_hash="ABC"))
    assert info.value.field == "params_hash"


def test_records_are_immutable() -> None:
    record = result()
    with pytest.raises(ValueError):
        record.status = ResultStatus.FAILED  # type: ignore[misc]
    with pytest.raises(ValueError):
        Design(values={"x": 1.0}).label = "x"  # type: ignore[misc]
