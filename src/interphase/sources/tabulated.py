"""``TabulatedSource``: a table of real measurements, run as an emulated instrument.

A request names a design; the source answers with every observable at every condition
value of the table (e.g. the conductivity at each of ten temperatures), indexed by the
condition. At a measured design the answer is the mean of its replicates; between
measured designs it is linear on the Delaunay simplices of the measured designs in the
unit cube of the design space (see :mod:`interphase.sources.tabulated_mesh`). Gaussian
noise, seeded by the request's seed and the design, is added on top.

Outside the convex hull of the measured designs there is nothing to report. The config's
``outside_hull`` states what happens then: ``"fail"`` returns a failed result of kind
``DETERMINISTIC`` (asking again cannot help, and a campaign learns where the data end)
whose message is the :class:`OutsideHullError` text, naming the variable to move and
its measured range there; ``"raise"`` raises that error (an ``InvalidInputError``).
Either way the request costs nothing: the robot never doses it.

The protocol is recorded but changes nothing: the table holds one measurement series
per design, not a cycling test.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

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
    load_model_file,
    parse_model,
)
from interphase.sources.base import ConditionRange, Source, design_hash
from interphase.sources.registry import register_source
from interphase.sources.tabulated_config import TabulatedConfig
from interphase.sources.tabulated_mesh import LinearMesh, Support
from interphase.sources.tabulated_table import MeasuredSlice, MeasuredTable, read_table
from interphase.sources.tabulated_world import check_columns_fit, check_world_within_table
from interphase.sources.world import World

NO_CYCLING_STEPS = ("Rest for 1 hour",)


def no_cycling_protocol(ambient_temperature_k: float = 298.15) -> Protocol:
    """A one-step placeholder protocol for sources that do not cycle a cell."""
    return Protocol(steps=NO_CYCLING_STEPS, n_cycles=1, ambient_temperature_k=ambient_temperature_k)


class OutsideHullError(InvalidInputError):
    """A design inside the design space but outside the convex hull of the measured designs."""


@dataclass(frozen=True)
class SupportPoint:
    """A measured design that an interpolated value leans on.

    Attributes:
        values: The measured design, variable name → SI value.
        measured: The mean of its replicates, canonical unit.
        weight: Its barycentric weight in the interpolated value.
    """

    values: dict[str, float]
    measured: float
    weight: float


class TabulatedSource(Source):
    """A table of measurements as an instrument; build it with a ``from_*`` constructor.

    Args:
        config: The declaration (table, columns, noise, cost, hull policy).
        table: The table, read by :func:`~interphase.sources.tabulated_table.read_table`.
        default_protocol: The protocol ``interphase source run`` uses; None gives a
            one-step rest (this source does not cycle).

    Attributes:
        config: The declaration.
        table: The reduced table (replicate means, noise levels, file hash).
    """

    def __init__(self, config: TabulatedConfig, table: MeasuredTable,
                 default_protocol: Protocol | None = None) -> None:
        self.config = config
        self.table = table
        self.spec = SourceSpec(
            name=config.name, version=config.version, technique=config.technique,
            fidelity=config.fidelity, observables=tuple(o.observable for o in config.observables),
            cost_model={"lab_hours_per_request": config.cost.lab_hours,
                        "cpu_seconds_per_request": config.cost.cpu_seconds},
        )
        self.design_space = DesignSpace(variables=tuple(
            ContinuousVariable(name=d.name, lower=table.raw_bounds[d.name][0],
                               upper=table.raw_bounds[d.name][1], unit=d.unit,
                               log_scale=d.log_scale, description=d.description)
            for d in config.design))
        self.default_protocol = default_protocol or no_cycling_protocol()
        self.channels = config.channels  # per instance: set by the config

    @classmethod
    def from_config(cls, config: TabulatedConfig, base_dir: Path | None = None,
                    default_protocol: Protocol | None = None) -> TabulatedSource:
        """Read the table a config names and build the source.

        Args:
            config: The declaration.
            base_dir: Folder a relative table path starts from.
            default_protocol: See the class.

        Raises:
            InvalidInputError: If the table cannot be read, does not fit the config, or its
                designs cannot be triangulated (fewer than ``d + 1`` off one hyperplane).
        """
        source = cls(config, read_table(config, base_dir), default_protocol)
        source._meshes  # noqa: B018 - triangulate now: a degenerate table is a config error
        return source

    @classmethod
    def from_yaml(cls, path: str | Path, default_protocol: Protocol | None = None) -> TabulatedSource:
        """Build the source a YAML (or JSON) file declares; relative table paths start at its folder.

        Raises:
            InvalidInputError: If the file is malformed (the message names the field) or the
                table does not fit it.
        """
        config = load_model_file(TabulatedConfig, path)
        return cls.from_config(config, Path(path).resolve().parent, default_protocol)

    @classmethod
    def from_world(cls, world: World, name: str, base_dir: Path | None = None) -> TabulatedSource:
        """Build the source that ``world.sources[name]`` declares, with the world's protocol.

        The source must answer every design of the world: each design column names a
        numeric variable of the world in a unit of its dimension, every variable has a
        column, and the table spans the world's bounds (see :mod:`.tabulated_world`).

        Args:
            world: The world.
            name: The source's name in the world; it is the source's registry name.
            base_dir: Folder relative table paths start from; None: the world's
                :attr:`~interphase.sources.world.World.folder` (the world file's folder).

        Raises:
            InvalidInputError: If the world has no such source, its settings are malformed,
                its table cannot be read, or it does not fit the world's design space; the
                field starts ``<world>.sources.<name>``.
        """
        if name not in world.sources:
            raise InvalidInputError(
                f"{world.name}.sources", f"no source {name!r}; it has {', '.join(world.sources) or 'none'}")
        context = f"{world.name}.sources.{name}"
        config = parse_model(TabulatedConfig, {"name": name, **world.sources[name]}, context=context)
        if config.name != name:
            raise InvalidInputError(f"{context}.name", f"must be {name!r} or left out")
        check_columns_fit(config, world.design_space, context)
        folder = base_dir if base_dir is not None else world.folder
        try:
            source = cls.from_config(config, folder, world.protocol)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{context}.{exc.field}", exc.problem) from None
        check_world_within_table(world.design_space, source.design_space, world.name, source.table.file_name)
        return source

    def condition_range(self) -> ConditionRange | None:
        """The table's condition values; None when they are cycles (then it reports per cycle)."""
        unit = self.config.condition.index_unit
        return None if unit == "cycle" else ConditionRange(unit=unit, values=self.table.conditions)

    def estimate_cost(self, design: Design, protocol: Protocol) -> Cost:
        """The configured cost of one request, whatever the design and protocol."""
        return Cost(lab_hours=self.config.cost.lab_hours, cpu_seconds=self.config.cost.cpu_seconds)

    def expected(self, design: Design) -> tuple[Observation, ...]:
        """The noiseless answer: interpolated measurements, with the noise std as ``std``.

        Args:
            design: A design of :attr:`design_space`, SI.

        Returns:
            One observation per observable and condition value, conditions ascending.

        Raises:
            InvalidInputError: If the design is not in the space.
            OutsideHullError: If it is outside the convex hull of the measured designs; the
                message names the variable and its measured range.
        """
        checked = self.design_space.validate_design(design.values, design.label)
        x = self._to_cube(self._as_row(checked))[0]
        observations = []
        for (observable, condition), (mesh, measured) in self._meshes.items():
            value = self._interpolate(mesh, measured, x, checked, condition)
            observations.append(Observation(
                observable=observable, index=condition, index_unit=self.config.condition.index_unit,
                value=value, std=self.table.noise[observable].std_at(value),
                unit=OBSERVABLES.get(observable).unit))
        return tuple(observations)

    def support(self, design: Design, observable: str, condition: float) -> list[SupportPoint]:
        """The measured designs an interpolated value is made of, with their weights.

        Args:
            design: A design of :attr:`design_space`, SI.
            observable: One of the source's observables.
            condition: One of the table's condition values, in the index unit.

        Raises:
            InvalidInputError: For an unknown observable or condition, or a design outside
                the measured hull.
        """
        key = (observable, float(condition))
        if key not in self._meshes:
            raise InvalidInputError(
                "condition", f"no measurements of {observable!r} at {condition!r}; conditions: "
                f"{', '.join(f'{c:g}' for c in self.table.conditions)}")
        checked = self.design_space.validate_design(design.values, design.label)
        mesh, measured = self._meshes[key]
        found = self._locate(mesh, measured, self._to_cube(self._as_row(checked))[0], checked, key[1])
        return [SupportPoint(dict(zip(self.design_space.names, map(float, measured.points[i]), strict=True)),
                             float(measured.values[i]), float(w))
                for i, w in zip(found.vertices, found.weights, strict=True) if w > 0]

    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        try:
            means = self.expected(design)
        except OutsideHullError as exc:
            if self.config.outside_hull == "raise":
                raise
            return self.failed(design, protocol, seed, FailureKind.DETERMINISTIC, str(exc))
        # The design enters the seed so that one campaign seed does not repeat the same
        # noise draw on every design.
        rng = np.random.default_rng([seed, int(design_hash(design), 16)])
        draws = []
        for observable in self.spec.observables:
            count = sum(1 for m in means if m.observable == observable)
            correlation = self.table.noise[observable].correlation
            common = rng.standard_normal()  # shared by every condition of this observable
            own = rng.standard_normal(count)
            draws.extend(np.sqrt(correlation) * common + np.sqrt(1.0 - correlation) * own)
        observations = tuple(m.model_copy(update={"value": m.value + (m.std or 0.0) * float(z)})
                             for m, z in zip(means, draws, strict=True))
        return Result(
            source=self.spec.name, design=design, protocol=protocol, observations=observations,
            provenance=self.provenance(design, protocol, seed, extra={"table_sha256": self.table.sha256}),
            cost=self.estimate_cost(design, protocol),
            metadata={"table": self.table.file_name, "table_sha256": self.table.sha256,
                      "measured_design": self._is_measured(design)},
        )

    @cached_property
    def _meshes(self) -> dict[tuple[str, float], tuple[LinearMesh, MeasuredSlice]]:
        """A mesh per (observable, condition); slices measured at the same designs share one."""
        built: dict[bytes, LinearMesh] = {}
        meshes = {}
        for observable in self.spec.observables:
            for condition in self.table.conditions:
                measured = self.table.slices.get((observable, condition))
                if measured is None:
                    continue
                key = np.ascontiguousarray(measured.points).tobytes()
                if key not in built:
                    built[key] = LinearMesh(self._to_cube(measured.points))
                meshes[(observable, condition)] = (built[key], measured)
        return meshes

    def _as_row(self, design: Design) -> np.ndarray:
        return np.array([[float(design.values[name]) for name in self.design_space.names]])

    def _to_cube(self, points: np.ndarray) -> np.ndarray:
        """Map SI points (``n x d``) to the design space's unit cube (``n x d``), as the optimiser sees it."""
        cube = np.empty_like(points, dtype=float)
        for column, variable in enumerate(self.design_space.variables):
            assert isinstance(variable, ContinuousVariable)
            values, low, high = points[:, column], variable.lower, variable.upper
            if variable.log_scale:
                values, low, high = np.log10(values), np.log10(low), np.log10(high)
            cube[:, column] = (values - low) / (high - low)
        return cube

    def _interpolate(self, mesh: LinearMesh, measured: MeasuredSlice, x: np.ndarray, design: Design,
                     condition: float) -> float:
        found = self._locate(mesh, measured, x, design, condition)
        top = int(np.argmax(found.weights))
        if found.weights[top] >= 1.0 - 1e-12:  # a measured design: its measurement, exactly
            return float(measured.values[found.vertices[top]])
        return float(found.weights @ measured.values[found.vertices])

    def _locate(self, mesh: LinearMesh, measured: MeasuredSlice, x: np.ndarray, design: Design,
                condition: float) -> Support:
        found = mesh.locate(x)
        if found is None:
            raise self._outside_hull(mesh, measured, x, design, condition)
        return found

    def _is_measured(self, design: Design) -> bool:
        x = self._to_cube(self._as_row(design))[0]
        return all(float(np.max(m.locate(x).weights)) >= 1.0 - 1e-12  # type: ignore[union-attr]
                   for m, _ in self._meshes.values())

    def _outside_hull(self, mesh: LinearMesh, measured: MeasuredSlice, x: np.ndarray, design: Design,
                      condition: float) -> OutsideHullError:
        """The error for a design outside the measured hull, naming the variable to move."""
        missing = sorted({c for (_, c), (m, _) in self._meshes.items() if m.locate(x) is None})
        where = f"table {self.table.file_name}"
        if len(missing) < len(self.table.conditions):
            unit = self.config.condition.index_unit
            where += f" at {', '.join(f'{c:g}' for c in missing)} {unit}"
        variables = [v for v in self.design_space.variables if isinstance(v, ContinuousVariable)]
        for column, variable in enumerate(variables):
            value = float(design.values[variable.name])
            low, high = measured.points[:, column].min(), measured.points[:, column].max()
            if not low <= value <= high:
                return OutsideHullError(variable.name, f"{_quantity(value, variable)} is outside the "
                                         f"measured range {_interval(low, high, variable)} ({where})")
        ranges = []
        for column, variable in enumerate(variables):
            section = mesh.section(x, column)
            if section is not None:
                distance = min(abs(x[column] - section[0]), abs(x[column] - section[1]))
                ranges.append((distance, variable, *(variable.from_unit(u) for u in section)))
        if not ranges:
            return OutsideHullError(self.design_space.names[0], f"design {design.values} is outside "
                                     f"the convex hull of the measured designs ({where})")
        _, variable, low, high = min(ranges, key=lambda item: item[0])
        others = ", ".join(f"{n} = {float(v):g}" for n, v in design.values.items() if n != variable.name)
        return OutsideHullError(
            variable.name, f"{_quantity(float(design.values[variable.name]), variable)} is outside "
            f"the convex hull of the measured designs ({where}); with {others} the measured range "
            f"is {_interval(low, high, variable)}")


def _quantity(value: float, variable: ContinuousVariable) -> str:
    return f"{value:g} {variable.si_unit}".rstrip()


def _interval(low: float, high: float, variable: ContinuousVariable) -> str:
    return f"[{low:g}, {high:g}] {variable.si_unit}".rstrip()


def register_tabulated_source(path: str | Path) -> str:
    """Register the source a TabulatedConfig YAML declares, under its ``name``.

    The table is read when the source is first asked for, by
    :func:`interphase.sources.get_source`.

    Args:
        path: The YAML (or JSON) file.

    Returns:
        The registered name.

    Raises:
        InvalidInputError: If the file is malformed.
        SourceError: If the name is already registered.
    """
    config = load_model_file(TabulatedConfig, path)
    resolved = Path(path).resolve()
    register_source(config.name, lambda: TabulatedSource.from_yaml(resolved))
    return config.name
