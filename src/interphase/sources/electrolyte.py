"""The sources of the ``electrolyte-conductivity`` world.

``hte-robot``: the Münster robot's real measurements as a :class:`TabulatedSource`
(declared in the world YAML). ``electrolyte-empirical``: a cheap, biased low-fidelity
model, the electrolyte conductivity function of one of PyBaMM's parameter sets (by
default ORegan2022's, i.e. Landesfeind & Gasteiger 2019 for LiPF6 in EC:EMC 3:7 w:w). It
knows nothing of the solvent ratio and was fitted to another solvent, which is its bias.

PyBaMM's functions take a concentration in mol/m³; the data give a molality in mol/kg.
One kilogram of solvent holding ``b`` mol of LiPF6 weighs ``1 + b M`` kg, so at solution
density ``rho`` the concentration is ``c = b rho / (1 + b M)``. The density is an assumed
constant (1200 kg/m³ in the world, typical of 1 M LiPF6 in carbonates); it ignores how
composition, salt content and temperature change it, which the low fidelity tolerates.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from functools import cached_property
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from interphase.schema import (
    OBSERVABLES,
    ContinuousVariable,
    Cost,
    Design,
    DesignSpace,
    FailureKind,
    InvalidInputError,
    Observation,
    Protocol,
    Result,
    SourceSpec,
    Technique,
    parse_model,
)
from interphase.sources.base import ConditionRange, Source
from interphase.sources.tabulated import TabulatedSource
from interphase.sources.world import World, load_world

WORLD_NAME = "electrolyte-conductivity"
ROBOT_NAME = "hte-robot"
EMPIRICAL_NAME = "electrolyte-empirical"
CONDUCTIVITY = "Conductivity [S.m-1]"
LIPF6_MOLAR_MASS_KG_MOL = 0.151905
PYBAMM_CONDUCTIVITY = "Electrolyte conductivity [S.m-1]"


def molality_to_concentration(molality_mol_kg: float, solution_density_kg_m3: float,
                              salt_molar_mass_kg_mol: float = LIPF6_MOLAR_MASS_KG_MOL) -> float:
    """Convert a salt molality to a concentration at an assumed solution density.

    Args:
        molality_mol_kg: Moles of salt per kilogram of solvent.
        solution_density_kg_m3: Density of the solution (solvent and salt).
        salt_molar_mass_kg_mol: Molar mass of the salt (LiPF6: 0.151905 kg/mol).

    Returns:
        Moles of salt per cubic metre of solution, ``b rho / (1 + b M)``.
    """
    return molality_mol_kg * solution_density_kg_m3 / (1.0 + molality_mol_kg * salt_molar_mass_kg_mol)


class EmpiricalConductivityConfig(BaseModel):
    """Settings of the empirical conductivity model in a world.

    Attributes:
        kind: Always ``"empirical-conductivity"``: which kind of source a world's entry declares.
        name: Registry name.
        version: Version of this model's settings.
        fidelity: Rank; below the robot's.
        parameter_set: PyBaMM parameter set whose ``"Electrolyte conductivity [S.m-1]"``
            function is used, e.g. ``"ORegan2022"`` (Landesfeind 2019, EC:EMC 3:7) or
            ``"Xu2019"`` (Valøen 2005).
        molality_variable: The design variable holding the LiPF6 molality, in mol/kg.
        solution_density_kg_m3: Assumed solution density for molality → concentration.
        salt_molar_mass_kg_mol: Molar mass of the salt.
        temperatures_k: Temperatures to report, in K (the world's measurement temperatures).
        cpu_seconds: Cost of one request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["empirical-conductivity"] = "empirical-conductivity"
    name: str = Field(default=EMPIRICAL_NAME, pattern=r"^[a-z0-9][a-z0-9_\-:.]*$")
    version: str = Field(min_length=1, max_length=60)
    fidelity: int = Field(ge=0, le=100)
    parameter_set: str = Field(default="ORegan2022", min_length=1, max_length=100)
    molality_variable: str = Field(min_length=1)
    solution_density_kg_m3: float = Field(gt=0.0, allow_inf_nan=False)
    salt_molar_mass_kg_mol: float = Field(default=LIPF6_MOLAR_MASS_KG_MOL, gt=0.0, allow_inf_nan=False)
    temperatures_k: tuple[float, ...] = Field(min_length=1)
    cpu_seconds: float = Field(gt=0.0, allow_inf_nan=False)

    @field_validator("temperatures_k")
    @classmethod
    def _positive_distinct(cls, temperatures: tuple[float, ...]) -> tuple[float, ...]:
        for index, temperature in enumerate(temperatures):
            if not (math.isfinite(temperature) and temperature > 0):
                raise InvalidInputError(str(index), f"must be a positive temperature in K, "
                                        f"got {temperature!r}")
        if len(set(temperatures)) != len(temperatures):
            raise InvalidInputError("", "temperatures must be distinct")
        return temperatures


class EmpiricalConductivitySource(Source):
    """An empirical LiPF6 conductivity function from PyBaMM, at every world temperature.

    Args:
        config: The settings.
        design_space: The world's design space; it must hold ``config.molality_variable``.
        default_protocol: The world's protocol (recorded, ignored: nothing is cycled).
    """

    def __init__(self, config: EmpiricalConductivityConfig, design_space: DesignSpace,
                 default_protocol: Protocol | None = None) -> None:
        self.config = config
        self.design_space = design_space
        self.default_protocol = default_protocol
        self.spec = SourceSpec(
            name=config.name, version=config.version, technique=Technique.MODEL, fidelity=config.fidelity,
            observables=(CONDUCTIVITY,),
            cost_model={"cpu_seconds_per_request": config.cpu_seconds,
                        "parameter_set": config.parameter_set,
                        "solution_density_kg_m3": config.solution_density_kg_m3},
        )

    @classmethod
    def from_world(cls, world: World, name: str = EMPIRICAL_NAME) -> EmpiricalConductivitySource:
        """Build the source ``world.sources[name]`` declares, over the world's design space.

        Raises:
            InvalidInputError: If the settings are malformed, the molality variable is not a
                continuous variable of the world, or PyBaMM has no such parameter set.
        """
        if name not in world.sources:
            raise InvalidInputError(f"{world.name}.sources", f"no source {name!r}")
        context = f"{world.name}.sources.{name}"
        config = parse_model(EmpiricalConductivityConfig, {"name": name, **world.sources[name]}, context)
        variable = world.design_space.variable(config.molality_variable)
        if not isinstance(variable, ContinuousVariable) or variable.si_unit != "mol/kg":
            raise InvalidInputError(f"{context}.molality_variable",
                                    f"{variable.name!r} must be a continuous variable in mol/kg")
        source = cls(config, world.design_space, world.protocol)
        source.conductivity_function  # noqa: B018 - fail now on an unknown parameter set
        return source

    @cached_property
    def conductivity_function(self) -> Callable[..., Any]:
        """PyBaMM's ``(c_e [mol.m-3], T [K]) -> S/m`` function of the configured parameter set.

        Raises:
            InvalidInputError: If PyBaMM has no such parameter set or it has no function.
        """
        os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
        import pybamm  # heavy: only this model needs it

        name = self.config.parameter_set
        if name not in pybamm.parameter_sets:
            raise InvalidInputError("parameter_set", f"PyBaMM has no parameter set {name!r}; "
                                    f"known: {', '.join(sorted(pybamm.parameter_sets))}")
        function = pybamm.ParameterValues(name).get(PYBAMM_CONDUCTIVITY)
        if not callable(function):
            raise InvalidInputError("parameter_set", f"{name!r} has no {PYBAMM_CONDUCTIVITY!r} function")
        return function

    def conductivity(self, molality_mol_kg: float, temperature_k: float) -> float:
        """The model's conductivity in S/m at a molality (mol/kg) and temperature (K)."""
        import pybamm

        concentration = molality_to_concentration(
            molality_mol_kg, self.config.solution_density_kg_m3, self.config.salt_molar_mass_kg_mol)
        value = self.conductivity_function(pybamm.Scalar(concentration), pybamm.Scalar(temperature_k))
        if isinstance(value, pybamm.Symbol):
            value = value.evaluate()
        return float(np.asarray(value, dtype=float).reshape(-1)[0])

    def condition_range(self) -> ConditionRange:
        """The declared temperatures (K), the only ones it reports at."""
        return ConditionRange(unit="K", values=tuple(sorted(self.config.temperatures_k)))

    def estimate_cost(self, design: Design, protocol: Protocol) -> Cost:
        """The configured CPU seconds of one request."""
        return Cost(cpu_seconds=self.config.cpu_seconds)

    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        molality = float(design.values[self.config.molality_variable])
        unit = OBSERVABLES.get(CONDUCTIVITY).unit
        observations = []
        for temperature in self.config.temperatures_k:
            value = self.conductivity(molality, temperature)
            if not (math.isfinite(value) and value > 0):
                return self.failed(
                    design, protocol, seed, FailureKind.DETERMINISTIC,
                    f"{self.config.parameter_set}'s conductivity is {value!r} S/m at {temperature:g} K "
                    f"and {molality:g} mol/kg: outside the range the function was fitted to",
                    cost=self.estimate_cost(design, protocol))
            observations.append(Observation(observable=CONDUCTIVITY, index=temperature, index_unit="K",
                                            value=value, unit=unit))
        return Result(
            source=self.spec.name, design=design, protocol=protocol, observations=tuple(observations),
            provenance=self.provenance(design, protocol, seed), cost=self.estimate_cost(design, protocol),
            metadata={"parameter_set": self.config.parameter_set,
                      "concentration_mol_m3": molality_to_concentration(
                          molality, self.config.solution_density_kg_m3, self.config.salt_molar_mass_kg_mol)},
        )


def hte_robot_source() -> TabulatedSource:
    """The ``hte-robot`` source of the built-in ``electrolyte-conductivity`` world."""
    return TabulatedSource.from_world(load_world(WORLD_NAME), ROBOT_NAME)


def empirical_conductivity_source() -> EmpiricalConductivitySource:
    """The ``electrolyte-empirical`` source of the built-in ``electrolyte-conductivity`` world."""
    return EmpiricalConductivitySource.from_world(load_world(WORLD_NAME), EMPIRICAL_NAME)
