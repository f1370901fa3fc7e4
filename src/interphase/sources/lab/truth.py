"""The hidden truth of an emulated lab, as a world's ``truth`` section declares it.

Only the lab sources read it. Nothing here reaches a result, the store, the CLI or the
API: results carry what a cycler or a post-mortem would measure, and the source's
version carries a hash of the truth, never its values. Example (``sei-life``)::

    truth:
      simulator:                 # the cell as it really behaves
        model: SPM
        parameter_set: OKane2022
        options: {SEI: solvent-diffusion limited, lithium plating: partially reversible,
                  loss of active material: reaction-driven}
        parameters: {"Negative electrode reaction-driven LAM factor [m3.mol-1]": 5.0e-5}
      parameter_factors:         # hidden offsets on parameters the design or the set gives
        SEI solvent diffusivity [m2.s-1]: 1.4
      cell_spread: {sigma: 0.05, parameters: [...]}   # log-normal, one draw per cell
      noise: {capacity_relative: 0.002, resistance_relative: 0.01}
      failures: {assembly_defect_rate: 0.03, short_circuit_plated_capacity_ah: 0.25}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from interphase.schema import canonical_hash, parse_model
from interphase.sources.pybamm_cell.config import CellModelConfig, CostModel, ModelName


class TruthSimulator(BaseModel):
    """The PyBaMM model that stands for the real cell.

    Attributes:
        model: ``"SPM"``, ``"SPMe"`` or ``"DFN"``.
        parameter_set: A PyBaMM parameter set.
        options: PyBaMM model options; a mechanism the simulators lack goes here (e.g.
            ``loss of active material``).
        parameters: Parameter values fixed for every cell (SI), overriding the set.
        chunk_cycles: Cycles per solver call.
        rtol: Relative tolerance of the IDAKLU solver.
        atol: Absolute tolerance of the IDAKLU solver.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelName
    parameter_set: str = Field(default="OKane2022", min_length=1, max_length=60)
    options: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, float] = Field(default_factory=dict)
    chunk_cycles: int = Field(default=100, ge=1, le=10_000)
    rtol: float = Field(default=1e-4, gt=0.0, lt=1.0)
    atol: float = Field(default=1e-6, gt=0.0, lt=1.0)

    def cell_model(self) -> CellModelConfig:
        """These settings as a cell-model config (fidelity and cost do not apply to the truth)."""
        return CellModelConfig(
            model=self.model, fidelity=0, parameter_set=self.parameter_set, options=self.options,
            parameters=self.parameters, chunk_cycles=self.chunk_cycles, rtol=self.rtol, atol=self.atol,
            cost=CostModel(seconds_per_cycle=1.0))


class CellSpread(BaseModel):
    """Cell-to-cell variation: each listed parameter is multiplied by its own log-normal draw.

    Attributes:
        sigma: Standard deviation of the log of each factor (0.05 is about 5 %).
        parameters: Parameters of the set (or design parameters) that vary from cell to cell.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sigma: float = Field(default=0.05, ge=0.0, le=1.0, allow_inf_nan=False)
    parameters: tuple[str, ...] = ()


class MeasurementNoise(BaseModel):
    """Relative Gaussian noise of the cycler's readings, independent per cycle.

    Attributes:
        capacity_relative: Standard deviation of discharge capacity, as a fraction.
        resistance_relative: Standard deviation of resistance, as a fraction.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity_relative: float = Field(default=0.002, ge=0.0, le=0.5, allow_inf_nan=False)
    resistance_relative: float = Field(default=0.01, ge=0.0, le=0.5, allow_inf_nan=False)


class FailureModel(BaseModel):
    """How cells fail.

    Attributes:
        assembly_defect_rate: Probability that a cell is defective and fails formation.
        short_circuit_plated_capacity_ah: A cell shorts (dendrites through the separator)
            in the first cycle at whose end the capacity lost to lithium plating so far
            (PyBaMM's ``"Loss of capacity to negative lithium plating [A.h]"``, plated and
            dead lithium together) reaches this many A.h; None: plating never shorts a cell.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    assembly_defect_rate: float = Field(default=0.03, ge=0.0, le=1.0, allow_inf_nan=False)
    short_circuit_plated_capacity_ah: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)


class LabTruth(BaseModel):
    """Everything the emulated lab hides.

    Attributes:
        simulator: The model that stands for the real cell.
        parameter_factors: Hidden offsets: parameter name → factor (> 0) applied to the
            value the design or the parameter set gives.
        cell_spread: Cell-to-cell variation.
        noise: Measurement noise of the cycler.
        failures: Assembly defects and plating short circuits.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    simulator: TruthSimulator
    parameter_factors: dict[str, float] = Field(default_factory=dict)
    cell_spread: CellSpread = CellSpread()
    noise: MeasurementNoise = MeasurementNoise()
    failures: FailureModel = FailureModel()

    @field_validator("parameter_factors")
    @classmethod
    def _positive(cls, factors: dict[str, float]) -> dict[str, float]:
        for name, factor in factors.items():
            if not factor > 0 or factor != factor or factor == float("inf"):
                raise ValueError(f"factor of {name!r} must be a finite number > 0, got {factor!r}")
        return factors

    def fingerprint(self) -> str:
        """Short hash of the truth: it tells truths apart without revealing them."""
        return canonical_hash(self.model_dump(mode="json"))[:10]


def truth_from_world(truth: dict[str, Any], world_name: str) -> LabTruth:
    """Validate a world's ``truth`` section.

    Raises:
        InvalidInputError: If it is missing or malformed; the message names the field.
    """
    return parse_model(LabTruth, truth, context=f"{world_name}.truth")
