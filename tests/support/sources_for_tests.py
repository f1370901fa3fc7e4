"""Small real sources for the executor tests and benchmarks (fixtures, not mocks).

``test-analytic-cell`` integrates diffusion-limited SEI growth (dL/dt = k(T, C)/L) with
explicit Euler steps in pure Python, so ``substeps`` sets how CPU-bound a run is, and
``hold_s`` emulates an instrument that answers late (it sleeps). Capacity fades with the
SEI thickness; measurement noise comes from the seed only. ``fault`` makes a run fail
on purpose in each of the ways an executor must handle.

``test-flaky-cell`` is the same cell behind a channel that drops the first attempt of
each (design, seed): it leaves a marker file in the directory named by
``INTERPHASE_TEST_MARKER_DIR``, so the retry that follows (in any process) succeeds.

Workers register these with :func:`register_test_sources`, passed as ``worker_setup``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from interphase.schema import (
    CategoricalVariable,
    ContinuousVariable,
    Cost,
    Design,
    DesignSpace,
    FailureKind,
    IntegerVariable,
    Observation,
    Protocol,
    Result,
    SourceSpec,
    Technique,
)
from interphase.sources import Source, design_hash, register_source, source_names

CELL = "test-analytic-cell"
FLAKY_CELL = "test-flaky-cell"
MARKER_DIR_ENV = "INTERPHASE_TEST_MARKER_DIR"
CAPACITY = "Discharge capacity [A.h]"
SEI = "SEI thickness [m]"
FAULTS = ("none", "deterministic", "transient", "exception", "crash")

NOMINAL_CAPACITY_AH = 5.0
INITIAL_SEI_M = 5e-9
SEI_RATE_M2_PER_S = 1.7e-22  # at 298.15 K and 1C: about 50 nm after 1,000 cycles
ACTIVATION_K = 4000.0  # Ea / R
CAPACITY_LOSS_PER_M = 4.4e6  # fraction of capacity lost per metre of SEI growth
NOISE_STD_AH = 1e-3
CPU_SECONDS_PER_SUBSTEP = 4e-8  # measured: about 35 ns per Euler step on this machine


def cell_design_space() -> DesignSpace:
    """The test cell's variables, in SI."""
    return DesignSpace(variables=(
        ContinuousVariable(name="temperature_k", lower=283.15, upper=318.15, unit="K"),
        ContinuousVariable(name="c_rate", lower=0.2, upper=3.0),
        ContinuousVariable(name="hold_s", lower=0.0, upper=120.0, unit="s"),
        IntegerVariable(name="substeps", lower=1, upper=10_000_000),
        CategoricalVariable(name="fault", choices=FAULTS),
    ))


def cell_design(temperature_k: float = 298.15, c_rate: float = 1.0, hold_s: float = 0.0,
                substeps: int = 10, fault: str = "none") -> Design:
    """A design of :func:`cell_design_space`."""
    return Design(values={"temperature_k": temperature_k, "c_rate": c_rate, "hold_s": hold_s,
                          "substeps": substeps, "fault": fault})


def cell_protocol(n_cycles: int = 50) -> Protocol:
    """One-C cycling at 25 °C."""
    return Protocol(steps=("Charge at 1C until 4.2 V", "Discharge at 1C until 2.5 V"),
                    n_cycles=n_cycles, ambient_temperature_k=298.15)


class AnalyticCellSource(Source):
    """Capacity fade from diffusion-limited SEI growth, with seeded measurement noise."""

    spec = SourceSpec(name=CELL, version="1.0", technique=Technique.SIMULATION, fidelity=1,
                      observables=(CAPACITY, SEI),
                      cost_model={"cpu_seconds_per_substep": CPU_SECONDS_PER_SUBSTEP})
    design_space = cell_design_space()

    def estimate_cost(self, design: Design, protocol: Protocol) -> Cost:
        """CPU time grows with substeps x cycles; the hold is wall time, not CPU."""
        substeps = int(design.values["substeps"])
        return Cost(cpu_seconds=CPU_SECONDS_PER_SUBSTEP * substeps * protocol.n_cycles)

    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        fault = design.values["fault"]
        if fault == "deterministic":
            return self.failed(design, protocol, seed, FailureKind.DETERMINISTIC,
                               "short circuit in cycle 3", cycles_run=2)
        if fault == "transient":
            return self.failed(design, protocol, seed, FailureKind.TRANSIENT, "channel lost contact")
        if fault == "exception":
            raise RuntimeError("solver diverged")
        if fault == "crash":
            os._exit(3)  # a segfaulting solver, as the executor sees it
        time.sleep(float(design.values["hold_s"]))
        return self._cycle(design, protocol, seed)

    def _cycle(self, design: Design, protocol: Protocol, seed: int) -> Result:
        temperature_k, c_rate = float(design.values["temperature_k"]), float(design.values["c_rate"])
        substeps = int(design.values["substeps"])
        rate = (SEI_RATE_M2_PER_S * math.exp(-ACTIVATION_K * (1 / temperature_k - 1 / 298.15))
                * (1 + 0.3 * c_rate))
        dt_s = 2 * 3600 / c_rate / substeps
        noise = np.random.default_rng(seed).normal(0.0, NOISE_STD_AH, protocol.n_cycles)
        thickness_m = INITIAL_SEI_M
        observations = []
        for cycle in range(1, protocol.n_cycles + 1):
            for _ in range(substeps):  # pure-Python Euler steps: the CPU-bound part
                thickness_m += rate / thickness_m * dt_s
            capacity_ah = NOMINAL_CAPACITY_AH * (1 - CAPACITY_LOSS_PER_M * (thickness_m - INITIAL_SEI_M))
            observations.append(Observation(observable=CAPACITY, index=cycle, value=capacity_ah
                                            + float(noise[cycle - 1]), std=NOISE_STD_AH, unit="A*h"))
            observations.append(Observation(observable=SEI, index=cycle, value=thickness_m, unit="m"))
        return Result(source=self.spec.name, design=design, protocol=protocol,
                      observations=tuple(observations), provenance=self.provenance(design, protocol, seed),
                      cost=self.estimate_cost(design, protocol), cycles_run=protocol.n_cycles)


class FlakyCellSource(AnalyticCellSource):
    """The analytic cell on a channel that drops the first attempt of each (design, seed)."""

    spec = AnalyticCellSource.spec.model_copy(update={"name": FLAKY_CELL})

    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        marker_dir = os.environ.get(MARKER_DIR_ENV)
        if not marker_dir:
            raise RuntimeError(f"{MARKER_DIR_ENV} is not set; register_test_sources(marker_dir=...) sets it")
        marker = Path(marker_dir) / f"{design_hash(design)}-{seed}.attempted"
        marker.parent.mkdir(parents=True, exist_ok=True)
        try:
            marker.open("x").close()  # atomic: exactly one attempt, in any process, creates it
        except FileExistsError:
            return super()._run(design, protocol, seed)
        return self.failed(design, protocol, seed, FailureKind.TRANSIENT, "channel dropped the first attempt")


def register_test_sources(marker_dir: str | None = None) -> None:
    """Register the test sources in this process (idempotent); a worker set-up.

    Args:
        marker_dir: Directory for the flaky source's marker files; exported as
            ``INTERPHASE_TEST_MARKER_DIR`` in this process.
    """
    if marker_dir is not None:
        os.environ[MARKER_DIR_ENV] = marker_dir
    known = set(source_names())
    for name, factory in ((CELL, AnalyticCellSource), (FLAKY_CELL, FlakyCellSource)):
        if name not in known:
            register_source(name, factory)
