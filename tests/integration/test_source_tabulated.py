"""A user-written table becomes an instrument through YAML alone: values, hull, noise, errors."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from interphase.schema import Design, FailureKind, InvalidInputError, ResultStatus
from interphase.sources import get_source
from interphase.sources.tabulated import TabulatedSource, register_tabulated_source

pytestmark = pytest.mark.timeout(60)

RESISTANCE = "Resistance [Ohm]"
# Three designs (a triangle in thickness x porosity) at two temperatures, each measured
# twice; resistance in mOhm. Replicate deviations are +-1 and +-3 mOhm.
ROWS = [
    # thickness [um], porosity, T [degC], R [mOhm]
    (10.0, 0.2, 25.0, 101.0), (10.0, 0.2, 25.0, 99.0), (10.0, 0.2, 45.0, 81.0), (10.0, 0.2, 45.0, 79.0),
    (30.0, 0.2, 25.0, 203.0), (30.0, 0.2, 25.0, 197.0), (30.0, 0.2, 45.0, 163.0), (30.0, 0.2, 45.0, 157.0),
    (10.0, 0.6, 25.0, 51.0), (10.0, 0.6, 25.0, 49.0), (10.0, 0.6, 45.0, 41.0), (10.0, 0.6, 45.0, 39.0),
]
MEANS_OHM = {(10e-6, 0.2): (0.100, 0.080), (30e-6, 0.2): (0.200, 0.160), (10e-6, 0.6): (0.050, 0.040)}


def write_table(folder: Path, rows: list[tuple[float, ...]] = ROWS) -> Path:
    table = folder / "cells.csv"
    lines = ["thickness [um];porosity;T [degC];R [mOhm]"]
    lines += [";".join(f"{v:g}" for v in row) for row in rows]
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table


def settings(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": f"user-table-{uuid.uuid4().hex[:8]}",
        "version": "2026-01",
        "technique": "characterisation",
        "fidelity": 50,
        "channels": 2,
        "table": {"path": "cells.csv", "separator": ";"},
        "design": [
            {"name": "thickness [m]", "column": "thickness [um]", "unit": "um"},
            {"name": "porosity", "column": "porosity"},
        ],
        "condition": {"column": "T [degC]", "unit": "degC", "index_unit": "K"},
        "observables": [{"observable": RESISTANCE, "column": "R [mOhm]", "unit": "milliohm",
                         "noise": {"model": "additive", "std": 2.0}}],
        "cost": {"lab_hours": 2.0, "cpu_seconds": 1.0},
        "outside_hull": "fail",
    }
    config.update(overrides)
    return config


def write_yaml(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "source.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def build(folder: Path, rows: list[tuple[float, ...]] = ROWS, **overrides: Any) -> TabulatedSource:
    write_table(folder, rows)
    return TabulatedSource.from_yaml(write_yaml(folder, settings(**overrides)))


def by_kelvin(observations: tuple) -> dict[float, Any]:
    return {round(o.index, 6): o for o in observations}


def test_user_yaml_source_works_without_code_changes(tmp_path: Path) -> None:
    source = build(tmp_path)
    assert source.spec.observables == (RESISTANCE,)
    assert source.channels == 2
    assert source.design_space.bounds_si() == {"thickness [m]": pytest.approx((10e-6, 30e-6)),
                                               "porosity": (0.2, 0.6)}
    anywhere = source.design_space.sample_sobol(1, 0)[0]
    assert source.estimate_cost(anywhere, source.default_protocol).lab_hours == 2
    for (thickness, porosity), (at_25, at_45) in MEANS_OHM.items():
        design = Design(values={"thickness [m]": thickness, "porosity": porosity})
        expected = by_kelvin(source.expected(design))
        assert sorted(expected) == [298.15, 318.15]
        assert {o.index_unit for o in expected.values()} == {"K"}
        assert {o.unit for o in expected.values()} == {"ohm"}
        assert expected[298.15].value == pytest.approx(at_25, rel=1e-12)
        assert expected[318.15].value == pytest.approx(at_45, rel=1e-12)
        assert expected[298.15].std == pytest.approx(0.002)
        result = source.run(design, source.default_protocol, seed=5)
        assert result.status is ResultStatus.SUCCEEDED
        assert result.metadata["measured_design"] is True


def test_registered_yaml_source_is_found_by_name(tmp_path: Path) -> None:
    write_table(tmp_path)
    name = register_tabulated_source(write_yaml(tmp_path, settings()))
    source = get_source(name)
    assert isinstance(source, TabulatedSource) and source.name == name


def test_between_points_is_linear_and_bounded(tmp_path: Path) -> None:
    source = build(tmp_path)
    centroid = Design(values={"thickness [m]": 50e-6 / 3, "porosity": 1.0 / 3})
    values = by_kelvin(source.expected(centroid))
    assert values[298.15].value == pytest.approx((0.100 + 0.200 + 0.050) / 3, rel=1e-9)
    assert values[318.15].value == pytest.approx((0.080 + 0.160 + 0.040) / 3, rel=1e-9)
    support = source.support(centroid, RESISTANCE, 298.15)
    assert [round(p.weight, 9) for p in support] == [round(1 / 3, 9)] * 3
    assert sum(p.weight * p.measured for p in support) == pytest.approx(values[298.15].value)


def test_outside_the_hull_fails_naming_the_variable_and_range(tmp_path: Path) -> None:
    source = build(tmp_path)
    corner = Design(values={"thickness [m]": 30e-6, "porosity": 0.6})  # in the box, off the triangle
    result = source.run(corner, source.default_protocol, seed=0)
    assert result.status is ResultStatus.FAILED
    assert result.failure_kind is FailureKind.DETERMINISTIC
    assert "convex hull" in result.message and "measured range" in result.message
    assert result.message.startswith(("porosity", "thickness [m]"))
    assert result.observations == ()

    strict = build(tmp_path, outside_hull="raise")
    with pytest.raises(InvalidInputError, match="measured range") as caught:
        strict.run(corner, strict.default_protocol, seed=0)
    assert caught.value.field in {"porosity", "thickness [m]"}
    with pytest.raises(InvalidInputError, match="porosity"):
        strict.run(Design(values={"thickness [m]": 20e-6, "porosity": 0.9}), strict.default_protocol, seed=0)


def test_same_seed_same_values_other_seed_other_noise(tmp_path: Path) -> None:
    source = build(tmp_path)
    design = Design(values={"thickness [m]": 15e-6, "porosity": 0.3})
    first = source.run(design, source.default_protocol, seed=11)
    again = source.run(design, source.default_protocol, seed=11)
    other = source.run(design, source.default_protocol, seed=12)
    assert first.observations == again.observations
    assert [o.value for o in first.observations] != [o.value for o in other.observations]
    means = source.expected(design)
    for noisy, mean in zip(other.observations, means, strict=True):
        assert abs(noisy.value - mean.value) < 6 * mean.std


@pytest.mark.parametrize(("noise", "expected_std"), [
    ({"model": "additive", "std": 2.0}, lambda value: 0.002),
    ({"model": "relative", "std": 0.05}, lambda value: 0.05 * value),
    # Six replicate pairs, four deviating by +-1 mOhm and two by +-3 mOhm from their mean:
    # 12 squared deviations summing to 8 + 36, over 6 degrees of freedom.
    ({"model": "replicates", "scale": "absolute"},
     lambda value: math.sqrt((8 * 1.0**2 + 4 * 3.0**2) / 6) * 1e-3),
    ({"model": "replicates", "scale": "relative"}, None),
])
def test_noise_models(tmp_path: Path, noise: dict[str, Any], expected_std: Any) -> None:
    config = settings()
    config["observables"][0]["noise"] = noise
    write_table(tmp_path)
    source = TabulatedSource.from_yaml(write_yaml(tmp_path, config))
    design = Design(values={"thickness [m]": 30e-6, "porosity": 0.2})
    if expected_std is None:  # relative replicates: deviation / group mean, pooled
        groups = [(1, 100), (1, 80), (3, 200), (3, 160), (1, 50), (1, 40)]
        relative = math.sqrt(sum(2 * (d / m) ** 2 for d, m in groups) / 6)
        expected_std = lambda value: relative * value  # noqa: E731
    for observation in source.expected(design):
        assert observation.std == pytest.approx(expected_std(observation.value), rel=1e-9)
    draws = np.array([[o.value for o in source.run(design, source.default_protocol, seed=s).observations]
                      for s in range(400)])
    means = np.array([o.value for o in source.expected(design)])
    stds = np.array([o.std for o in source.expected(design)])
    z = (draws - means) / stds
    assert abs(z.mean()) < 0.15
    assert 0.85 < z.std() < 1.15


def test_condition_correlation_is_applied(tmp_path: Path) -> None:
    config = settings()
    config["observables"][0]["condition_correlation"] = 0.9
    write_table(tmp_path)
    source = TabulatedSource.from_yaml(write_yaml(tmp_path, config))
    design = Design(values={"thickness [m]": 20e-6, "porosity": 0.3})
    means = np.array([o.value for o in source.expected(design)])
    draws = np.array([[o.value for o in source.run(design, source.default_protocol, seed=s).observations]
                      for s in range(400)]) - means
    assert np.corrcoef(draws.T)[0, 1] == pytest.approx(0.9, abs=0.05)


def test_replicate_series_correlation_is_estimated(tmp_path: Path) -> None:
    # Each series errs the same way at both temperatures: estimated correlation is high.
    config = settings()
    config["observables"][0]["noise"] = {"model": "replicates", "scale": "absolute"}
    config["observables"][0]["condition_correlation"] = "replicates"
    write_table(tmp_path)
    source = TabulatedSource.from_yaml(write_yaml(tmp_path, config))
    assert source.table.noise[RESISTANCE].correlation == pytest.approx(0.99)


def test_one_design_variable_interpolates_on_a_line(tmp_path: Path) -> None:
    rows = [(10.0, 0.2, 25.0, 100.0), (20.0, 0.2, 25.0, 150.0), (30.0, 0.2, 25.0, 300.0)]
    table = tmp_path / "cells.csv"
    table.write_text("thickness [um];T [degC];R [mOhm]\n" + "\n".join(
        f"{t:g};{c:g};{r:g}" for t, _, c, r in rows) + "\n", encoding="utf-8")
    config = settings(design=[{"name": "thickness [m]", "column": "thickness [um]", "unit": "um"}])
    source = TabulatedSource.from_yaml(write_yaml(tmp_path, config))
    (value,) = source.expected(Design(values={"thickness [m]": 25e-6}))
    assert value.value == pytest.approx(0.225)
    assert value.index == pytest.approx(298.15)


@pytest.mark.parametrize(("change", "field_part", "message_part"), [
    ({"outside_hull": None}, "outside_hull", "missing"),
    ({"observables": [{"observable": "Conductivity [S.m-1]", "column": "R [mOhm]", "unit": "milliohm",
                       "noise": {"model": "additive", "std": 1.0}}]}, "observables.0.unit", "converted"),
    ({"observables": [{"observable": "Nope", "column": "R [mOhm]", "unit": "milliohm",
                       "noise": {"model": "additive", "std": 1.0}}]}, "observables.0", "unknown observable"),
    ({"observables": [{"observable": RESISTANCE, "column": "R [mOhm]", "unit": "milliohm",
                       "noise": {"model": "gaussian", "std": 1.0}}]}, "observables.0.noise", ""),
    ({"condition": {"column": "porosity", "unit": "degC", "index_unit": "K"}}, "table", "used twice"),
])
def test_malformed_config_names_the_field(tmp_path: Path, change: dict[str, Any], field_part: str,
                                          message_part: str) -> None:
    config = settings(**change)
    config = {k: v for k, v in config.items() if v is not None}
    write_table(tmp_path)
    with pytest.raises(InvalidInputError) as caught:
        TabulatedSource.from_yaml(write_yaml(tmp_path, config))
    assert field_part in caught.value.field
    assert message_part in caught.value.problem


def test_table_problems_name_the_column(tmp_path: Path) -> None:
    write_table(tmp_path)
    config = settings()
    config["design"][1]["column"] = "porosity [%]"
    with pytest.raises(InvalidInputError, match="no column 'porosity \\[%\\]'"):
        TabulatedSource.from_yaml(write_yaml(tmp_path, config))
    with pytest.raises(InvalidInputError, match="file not found"):
        TabulatedSource.from_yaml(write_yaml(tmp_path, settings(table={"path": "missing.csv"})))
    collinear = [(t, p, c, 1.0) for t, p in ((10.0, 0.2), (20.0, 0.4), (30.0, 0.6)) for c in (25.0, 45.0)]
    with pytest.raises(InvalidInputError, match="do not span 2 dimensions"):
        build(tmp_path, rows=collinear)
    config = settings()
    config["observables"][0]["noise"] = {"model": "replicates", "scale": "absolute"}
    write_table(tmp_path, [row for i, row in enumerate(ROWS) if i % 2 == 0])
    with pytest.raises(InvalidInputError, match="no replicates") as caught:
        TabulatedSource.from_yaml(write_yaml(tmp_path, config))
    assert caught.value.field.endswith("observables.0.noise")
