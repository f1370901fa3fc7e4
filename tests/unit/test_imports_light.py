"""The core packages import without the heavy optional stacks (PyBaMM's habit)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)

HEAVY = ("torch", "pybamm", "botorch", "gpytorch", "casadi", "sqlalchemy", "alembic", "pandas")


def modules_loaded_by(statement: str) -> set[str]:
    """Top-level packages from HEAVY present in ``sys.modules`` after ``statement``, fresh."""
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=100, check=True
    )
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_the_probe_sees_heavy_imports() -> None:
    # Guards against a probe that can never fail.
    assert "sqlalchemy" in modules_loaded_by("import sqlalchemy")


def test_schema_imports_no_heavy_stack() -> None:
    loaded = modules_loaded_by("import interphase.schema")
    assert not loaded & {"torch", "pybamm", "botorch", "sqlalchemy"}, loaded


def test_schema_building_a_campaign_space_imports_no_heavy_stack() -> None:
    # Design spaces and records are used by every layer; only a Protocol needs PyBaMM.
    loaded = modules_loaded_by(
        "from interphase.schema import DesignSpace\n"
        "space = DesignSpace(variables=[{'kind': 'continuous', 'name': 'T', 'lower': 10,"
        " 'upper': 45, 'unit': 'degC'}])\n"
        "space.sample_sobol(4, seed=0)"
    )
    assert not loaded & {"torch", "pybamm", "botorch", "sqlalchemy"}, loaded


def test_store_imports_neither_pybamm_nor_torch() -> None:
    loaded = modules_loaded_by("import interphase.store")
    assert not loaded & {"torch", "pybamm", "botorch"}, loaded
    assert "sqlalchemy" in loaded  # the store is the layer that owns the database
