"""PyBaMM cell sources of the ``sei-life`` world: ``pybamm-spm``, ``pybamm-spme``, ``pybamm-dfn``.

Each is a :class:`PyBaMMCellSource` built from the world's settings (model, options,
parameter set, chunking, cost model). In short:

* design → experiment (:mod:`.experiment`): the protocol gives the cycle's steps, the
  horizon and the rests; the design's charge and discharge C-rates, charge cut-off
  voltage and ambient temperature override the protocol's, and every other design
  variable is a parameter of the parameter set. All of them are ``"[input]"``
  parameters, so one built simulation per process serves every design
  (:mod:`.model_cache`).
* solving (:mod:`.simulate`): IDAKLU, in chunks from the last state, keeping only the
  variables the observables need.
* observables (:mod:`.observables`): per cycle, discharge capacity, retention against
  cycle 2, LLI, LAM, SEI thickness, plating thickness (with plating) and resistance.

Importing this package does not import PyBaMM; the first run does.
"""

from __future__ import annotations

import os

# PyBaMM reads this on its first import, which the submodules that solve make.
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from interphase.sources.pybamm_cell.config import CellModelConfig, CostModel  # noqa: E402
from interphase.sources.pybamm_cell.model_cache import SIMULATIONS, SimulationCache  # noqa: E402
from interphase.sources.pybamm_cell.source import PyBaMMCellSource  # noqa: E402
from interphase.sources.world import load_world  # noqa: E402

WORLD_NAME = "sei-life"
SPM_NAME = "pybamm-spm"
SPME_NAME = "pybamm-spme"
DFN_NAME = "pybamm-dfn"


def spm_source() -> PyBaMMCellSource:
    """``pybamm-spm``: SPM with SEI growth and no plating, the cheapest fidelity of ``sei-life``."""
    return PyBaMMCellSource(load_world(WORLD_NAME), SPM_NAME)


def spme_source() -> PyBaMMCellSource:
    """``pybamm-spme``: SPMe with SEI growth and partially reversible plating."""
    return PyBaMMCellSource(load_world(WORLD_NAME), SPME_NAME)


def dfn_source() -> PyBaMMCellSource:
    """``pybamm-dfn``: DFN with SEI growth and partially reversible plating, the top simulated fidelity."""
    return PyBaMMCellSource(load_world(WORLD_NAME), DFN_NAME)


__all__ = [
    "DFN_NAME", "SIMULATIONS", "SPME_NAME", "SPM_NAME", "WORLD_NAME", "CellModelConfig", "CostModel",
    "PyBaMMCellSource", "SimulationCache", "dfn_source", "spm_source", "spme_source",
]
