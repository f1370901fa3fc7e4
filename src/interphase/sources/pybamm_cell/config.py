"""Settings of a PyBaMM cell source, as a world declares them, and the roles of design variables.

A world's ``sources`` section holds one mapping per PyBaMM source, read into a
:class:`CellModelConfig`::

    pybamm-spme:
      model: SPMe
      fidelity: 20
      parameter_set: OKane2022
      options: {SEI: solvent-diffusion limited, lithium plating: partially reversible}
      chunk_cycles: 50
      cost: {setup_seconds: 2.0, seconds_per_cycle: 0.08}

Every design variable has one of three roles (:func:`design_roles`): the ambient
temperature, a protocol control (charge and discharge C-rates, charge cut-off voltage),
or a parameter of the parameter set, which the built model takes as an ``"[input]"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from interphase.schema import DesignSpace, canonical_hash, parse_model
from interphase.schema.limits import Description
from interphase.sources.base import SourceError
from interphase.sources.world import World

AMBIENT_TEMPERATURE = "Ambient temperature [K]"
CHARGE_C_RATE = "Charge C-rate"
DISCHARGE_C_RATE = "Discharge C-rate"
CHARGE_CUTOFF_VOLTAGE = "Charge cut-off voltage [V]"
PROTOCOL_CONTROLS = (CHARGE_C_RATE, DISCHARGE_C_RATE, CHARGE_CUTOFF_VOLTAGE)

ModelName = Literal["SPM", "SPMe", "DFN"]


class CostModel(BaseModel):
    """CPU cost of a run, known before it starts: ``setup_seconds + seconds_per_cycle * n``.

    Attributes:
        setup_seconds: Building and discretising the model, paid once per process.
        seconds_per_cycle: Solving one cycle of the world's protocol (calibrated by
            ``benchmarks/sources.py`` on 2 cores).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    setup_seconds: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    seconds_per_cycle: float = Field(gt=0.0, allow_inf_nan=False)


class CellModelConfig(BaseModel):
    """One PyBaMM cell source in a world.

    Attributes:
        kind: Always ``"pybamm-cell"``: which kind of source a world's entry declares.
        model: ``"SPM"``, ``"SPMe"`` or ``"DFN"`` (``pybamm.lithium_ion``).
        fidelity: Rank among the world's sources; higher is closer to the truth.
        version: Version of these settings; part of the source's version.
        parameter_set: A PyBaMM parameter set, e.g. ``"OKane2022"``.
        options: PyBaMM model options, e.g. ``{"SEI": "solvent-diffusion limited"}``.
        parameters: Parameter values fixed for every run (SI), overriding the set.
        chunk_cycles: Cycles solved per chunk; each chunk restarts from the last state,
            so memory stays bounded whatever the horizon.
        rtol: Relative tolerance of the IDAKLU solver.
        atol: Absolute tolerance of the IDAKLU solver.
        cost: The CPU cost model of :meth:`PyBaMMCellSource.estimate_cost`.
        description: One line for people.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["pybamm-cell"] = "pybamm-cell"
    model: ModelName
    fidelity: int = Field(ge=0, le=100)
    version: str = Field(default="1", min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.\-]+$")
    parameter_set: str = Field(default="OKane2022", min_length=1, max_length=60)
    options: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, float] = Field(default_factory=dict)
    chunk_cycles: int = Field(default=100, ge=1, le=10_000)
    rtol: float = Field(default=1e-4, gt=0.0, lt=1.0)
    atol: float = Field(default=1e-6, gt=0.0, lt=1.0)
    cost: CostModel
    description: Description = ""

    @property
    def has_plating(self) -> bool:
        """Whether the model options switch lithium plating on."""
        return self.options.get("lithium plating", "none") != "none"

    def fingerprint(self) -> str:
        """Short hash of everything that shapes the numbers (not the cost model)."""
        payload = self.model_dump(mode="json", exclude={"kind", "cost", "description", "fidelity"})
        return canonical_hash(payload)[:10]


def config_from_world(world: World, source_name: str) -> CellModelConfig:
    """Read a source's settings from a world.

    Args:
        world: The world.
        source_name: The source's registry name, a key of ``world.sources``.

    Returns:
        The validated settings.

    Raises:
        SourceError: If the world has no settings for ``source_name``.
        InvalidInputError: If the settings are malformed; the message names the field.
    """
    settings: dict[str, Any] | None = world.sources.get(source_name)
    if settings is None:
        raise SourceError(
            f"world {world.name!r} has no settings for source {source_name!r}; "
            f"it declares: {', '.join(sorted(world.sources)) or 'none'}")
    return parse_model(CellModelConfig, settings, context=f"sources.{source_name}")


@dataclass(frozen=True)
class DesignRoles:
    """Where each design variable goes in the simulation.

    Attributes:
        temperature: Whether the design sets the ambient temperature (else the protocol does).
        controls: Protocol controls the design sets, in :data:`PROTOCOL_CONTROLS` order.
        parameters: Names of parameter-set parameters the design sets, in space order.
        rate_floors: Lower bound of each C-rate control, which caps the step durations.
    """

    temperature: bool
    controls: tuple[str, ...]
    parameters: tuple[str, ...]
    rate_floors: tuple[tuple[str, float], ...]


def design_roles(space: DesignSpace) -> DesignRoles:
    """Sort the variables of a design space into temperature, controls and parameters.

    Args:
        space: A design space whose variables are all continuous.

    Returns:
        The roles.

    Raises:
        SourceError: If a variable is not continuous.
    """
    names = space.names
    for variable in space.variables:
        if variable.kind != "continuous":
            raise SourceError(f"design variable {variable.name!r} must be continuous for a PyBaMM source")
    controls = tuple(name for name in PROTOCOL_CONTROLS if name in names)
    floors = tuple((name, float(space.variable(name).lower)) for name in controls
                   if name in (CHARGE_C_RATE, DISCHARGE_C_RATE))
    parameters = tuple(name for name in names if name != AMBIENT_TEMPERATURE and name not in controls)
    return DesignRoles(temperature=AMBIENT_TEMPERATURE in names, controls=controls,
                       parameters=parameters, rate_floors=floors)
