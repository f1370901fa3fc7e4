"""What a table of measurements must declare to become an emulated instrument.

A :class:`TabulatedConfig` names the table file, which columns are design variables,
which one is the condition that indexes the observations (a temperature, a time), which
columns are observables with their units and noise, and what a request costs. It is the
YAML a user writes; :class:`~interphase.sources.tabulated.TabulatedSource` reads it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interphase.schema import OBSERVABLES, InvalidInputError, Technique
from interphase.schema.limits import Description
from interphase.schema.units import convert, parse_unit

PACKAGE_PREFIX = "package:"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableFile(_Frozen):
    r"""Where the table is and how its columns are separated.

    Attributes:
        path: A path relative to the YAML file that declares it (or absolute), or a
            package resource written ``package:<package>/<path inside it>``, e.g.
            ``package:interphase/data/electrolytes/hte_conductivity_EC_PC_EMC_LiPF6.csv``.
        separator: Column separator; a tab (YAML ``"\t"``) for tab-separated files.
    """

    path: str = Field(min_length=1, max_length=1000)
    separator: str = Field(default=",", min_length=1, max_length=5)


class DesignColumn(_Frozen):
    """A column whose values are a design variable.

    Attributes:
        name: The design variable's name, e.g. ``"c [mol/kg]"``.
        column: The column header in the table.
        unit: The column's unit (pint syntax, ``""`` for a ratio); values are stored in SI.
        log_scale: Interpolate (and search) in log10 of the value; needs positive values.
        description: One line for people (at most 4,000 characters).
    """

    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z_][A-Za-z0-9_\-\. \[\]/]*$")
    column: str = Field(min_length=1, max_length=200)
    unit: str = ""
    log_scale: bool = False
    description: Description = ""

    @field_validator("unit")
    @classmethod
    def _parses(cls, unit: str) -> str:
        parse_unit(unit, "unit")
        return unit


class ConditionColumn(_Frozen):
    """The column that indexes the observations of one design (a temperature, a time).

    Attributes:
        column: The column header.
        unit: The column's unit.
        index_unit: The observation index unit: ``"K"``, ``"s"`` or ``"cycle"``; the column
            is converted to it (``"cycle"`` needs a dimensionless column).
    """

    column: str = Field(min_length=1, max_length=200)
    unit: str = ""
    index_unit: Literal["K", "s", "cycle"]

    @model_validator(mode="after")
    def _convertible(self) -> ConditionColumn:
        target = "" if self.index_unit == "cycle" else self.index_unit
        convert(1.0, self.unit, target, "unit")
        return self


class AdditiveNoise(_Frozen):
    """Gaussian noise with a fixed standard deviation, in the observable column's unit."""

    model: Literal["additive"]
    std: float = Field(ge=0.0, allow_inf_nan=False)


class RelativeNoise(_Frozen):
    """Gaussian noise whose standard deviation is a fraction of the value (0.03 = 3 %)."""

    model: Literal["relative"]
    std: float = Field(ge=0.0, lt=1.0, allow_inf_nan=False)


class ReplicateNoise(_Frozen):
    """Gaussian noise whose standard deviation is estimated from the table's replicates.

    Replicates are rows with the same design and condition. Their scatter about their
    mean is pooled over every replicate group (degrees of freedom ``n - 1`` each).

    Attributes:
        scale: ``"relative"`` pools deviations divided by the group mean (scatter that
            grows with the value); ``"absolute"`` pools the deviations themselves.
    """

    model: Literal["replicates"]
    scale: Literal["absolute", "relative"]


NoiseModel = Annotated[AdditiveNoise | RelativeNoise | ReplicateNoise, Field(discriminator="model")]


class ObservableColumn(_Frozen):
    """A measured column, mapped to a registered observable.

    Attributes:
        observable: Registered observable name, e.g. ``"Conductivity [S.m-1]"``.
        column: The column header.
        unit: The column's unit, e.g. ``"mS/cm"``; converted to the observable's unit.
        noise: How a request's value scatters about the interpolated measurement.
        condition_correlation: Correlation of the noise between two condition values of
            one request (one sample measured across a temperature sweep errs the same way
            at every temperature), in [0, 1); or ``"replicates"`` to estimate it from the
            table. Replicate ``k`` of a design is its ``k``-th row at each condition, in
            file order, so a sweep written as consecutive rows is one series.
    """

    observable: str
    column: str = Field(min_length=1, max_length=200)
    unit: str = ""
    noise: NoiseModel
    condition_correlation: Annotated[float, Field(ge=0.0, lt=1.0)] | Literal["replicates"] = 0.0

    @model_validator(mode="after")
    def _convertible(self) -> ObservableColumn:
        canonical = OBSERVABLES.get(self.observable).unit
        convert(1.0, self.unit, canonical, "unit")
        return self


class CostPerRequest(_Frozen):
    """What one request (one design, every condition) costs."""

    lab_hours: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    cpu_seconds: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)


class TabulatedConfig(_Frozen):
    """A table of real measurements declared as an instrument.

    Attributes:
        kind: Always ``"tabulated"``; marks the settings for readers of a world file.
        name: Source registry name.
        version: Version of the data set behind it.
        technique: How the table's data were produced.
        fidelity: Rank among the sources of a world (higher is closer to the truth).
        channels: Requests that can run at once; None for CPU-bound sources.
        description: What the table is and where it comes from (at most 4,000 characters).
        table: The file.
        design: Design-variable columns, in design-space order.
        condition: The column that indexes each design's observations.
        observables: Measured columns.
        cost: Cost of one request.
        outside_hull: What a request outside the measured convex hull gets: ``"fail"``
            returns a failed result (``FailureKind.DETERMINISTIC``) whose message names the
            variable and its measured range; ``"raise"`` raises that ``InvalidInputError``.
            Stated explicitly: there is no default failure policy.
    """

    kind: Literal["tabulated"] = "tabulated"
    name: str = Field(min_length=1, max_length=120, pattern=r"^[a-z0-9][a-z0-9_\-:.]*$")
    version: str = Field(min_length=1, max_length=60)
    technique: Technique = Technique.EXPERIMENT
    fidelity: int = Field(ge=0, le=100)
    channels: int | None = Field(default=None, ge=1, le=10_000)
    description: Description = ""
    table: TableFile
    design: tuple[DesignColumn, ...] = Field(min_length=1)
    condition: ConditionColumn
    observables: tuple[ObservableColumn, ...] = Field(min_length=1)
    cost: CostPerRequest
    outside_hull: Literal["fail", "raise"]

    @model_validator(mode="after")
    def _distinct(self) -> TabulatedConfig:
        names = [d.name for d in self.design]
        if len(set(names)) != len(names):
            raise InvalidInputError("design", f"design variable names must be distinct, got {names}")
        observables = [o.observable for o in self.observables]
        if len(set(observables)) != len(observables):
            raise InvalidInputError("observables", f"each observable may appear once, got {observables}")
        columns = [d.column for d in self.design] + [self.condition.column]
        columns += [o.column for o in self.observables]
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise InvalidInputError(
                "table", f"column {repeated[0]!r} is used twice; each column has one role")
        return self
