"""Read a table of measurements: convert units, average replicates, estimate the noise.

Every design and condition value goes through :func:`interphase.schema.units.to_si` /
:func:`~interphase.schema.units.convert` one distinct value at a time, so that the
measured bounds equal, bit for bit, the bounds a design variable declared in the same
unit converts to.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import Literal

import numpy as np

from interphase.schema import OBSERVABLES, InvalidInputError
from interphase.schema.units import convert, to_si
from interphase.sources.tabulated_config import (
    PACKAGE_PREFIX,
    AdditiveNoise,
    ObservableColumn,
    RelativeNoise,
    TabulatedConfig,
)

MAX_TABLE_FILE_BYTES = 100 * 1024 * 1024
"""A table file: read whole into memory and reduced there, so its size is bounded."""


@dataclass(frozen=True)
class NoiseLevel:
    """The standard deviation of the noise added to one observable.

    Attributes:
        scale: ``"absolute"``: ``std`` is in the observable's canonical unit;
            ``"relative"``: ``std`` is a fraction of the value.
        std: The standard deviation.
        origin: ``"declared"``, or how it was estimated (groups, degrees of freedom).
        correlation: Correlation of the noise between two conditions of one request.
    """

    scale: Literal["absolute", "relative"]
    std: float
    origin: str
    correlation: float = 0.0

    def std_at(self, value: float) -> float:
        """The absolute standard deviation at ``value`` (canonical unit)."""
        return self.std * abs(value) if self.scale == "relative" else self.std


@dataclass(frozen=True)
class MeasuredSlice:
    """One observable at one condition value: the distinct designs measured there.

    Attributes:
        points: Designs in SI, shape ``n x d`` (columns in design order).
        values: Mean of the replicates at each design, canonical unit, shape ``n``.
        counts: Number of replicates behind each mean, shape ``n``.
    """

    points: np.ndarray
    values: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class MeasuredTable:
    """A table read and reduced to what interpolation needs.

    Attributes:
        file_name: The table's file name, for provenance.
        sha256: SHA-256 of the file's bytes.
        n_rows: Rows read.
        conditions: Distinct condition values in the index unit, ascending.
        slices: ``(observable, condition)`` → the measurements there.
        noise: Observable → its noise level.
        raw_bounds: Design name → (min, max) in the column's own unit.
    """

    file_name: str
    sha256: str
    n_rows: int
    conditions: tuple[float, ...]
    slices: dict[tuple[str, float], MeasuredSlice]
    noise: dict[str, NoiseLevel]
    raw_bounds: dict[str, tuple[float, float]]


def table_bytes(path: str, base_dir: Path | None) -> tuple[str, bytes]:
    """Read the table file named in a config.

    Args:
        path: ``package:<package>/<path>``, an absolute path, or a path relative to ``base_dir``.
        base_dir: Folder of the YAML that declared the path (None: the working directory).

    Returns:
        The file name and its bytes.

    Raises:
        InvalidInputError: If the file or package does not exist, the path is a folder, or
            the file is larger than :data:`MAX_TABLE_FILE_BYTES`.
    """
    if path.startswith(PACKAGE_PREFIX):
        package, _, inner = path.removeprefix(PACKAGE_PREFIX).partition("/")
        try:
            resource = files(package).joinpath(inner)
        except (ModuleNotFoundError, ValueError, TypeError):
            raise InvalidInputError("table.path", f"no installed package {package!r} in {path!r}") from None
        if not inner or not resource.is_file():
            raise InvalidInputError("table.path", f"package {package!r} has no file {inner!r}")
        data = resource.read_bytes()
        if len(data) > MAX_TABLE_FILE_BYTES:
            raise InvalidInputError("table.path", f"{path} is {len(data) / 2**20:.1f} MiB; tables of at "
                                    f"most {MAX_TABLE_FILE_BYTES // 2**20} MiB are read")
        return resource.name, data
    file = Path(path)
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    where = "" if file.is_absolute() else f" (relative paths start at the working directory, {Path.cwd()})"
    if file.is_dir():
        raise InvalidInputError("table.path", f"{file} is a folder; give the table file inside it")
    if not file.is_file():
        problem = "file not found" if not file.exists() else "not a regular file"
        raise InvalidInputError("table.path", f"{problem}: {file}{where}")
    size = file.stat().st_size
    if size > MAX_TABLE_FILE_BYTES:
        raise InvalidInputError("table.path", f"{file} is {size / 2**20:.1f} MiB; tables of at most "
                                f"{MAX_TABLE_FILE_BYTES // 2**20} MiB are read")
    try:
        return file.name, file.read_bytes()
    except OSError as exc:
        raise InvalidInputError("table.path", f"cannot read {file} ({exc.strerror or exc})") from None


def read_table(config: TabulatedConfig, base_dir: Path | None = None) -> MeasuredTable:
    """Read, convert and reduce the table a config names.

    Args:
        config: The source's config.
        base_dir: Folder relative table paths start from.

    Returns:
        The reduced table.

    Raises:
        InvalidInputError: On a missing column, a non-numeric or missing design or
            condition value, a design variable that never varies, or replicate noise
            without replicates. The message names the column.
    """
    import pandas as pd  # heavy; only building a tabulated source needs it

    name, data = table_bytes(config.table.path, base_dir)
    engine = "c" if len(config.table.separator) == 1 else "python"
    try:
        frame = pd.read_csv(io.BytesIO(data), sep=config.table.separator, engine=engine)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"table {name}", f"cannot read as a table ({exc})") from None
    if frame.empty:
        raise InvalidInputError(f"table {name}", "has a header but no rows; expected one row per "
                                "measurement (design, condition, observables)")

    def numbers(column: str, allow_missing: bool) -> np.ndarray:
        if column not in frame.columns:
            known = ", ".join(repr(c) for c in frame.columns if not str(c).startswith("Unnamed"))
            raise InvalidInputError(f"table {name}", f"no column {column!r}; columns: {known}")
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) & (frame[column].notna().to_numpy() | (not allow_missing))
        if bad.any():
            row = int(np.argmax(bad))
            raise InvalidInputError(
                f"table {name}", f"column {column!r}, row {row + 1}: {frame[column].iloc[row]!r} "
                "is not a finite number")
        return values

    raw_bounds: dict[str, tuple[float, float]] = {}
    design_columns = []
    for variable in config.design:
        raw = numbers(variable.column, allow_missing=False)
        low, high = float(raw.min()), float(raw.max())
        if not low < high:
            raise InvalidInputError(
                f"table {name}", f"design column {variable.column!r} takes one value ({low:g}); "
                "a design variable must vary")
        if variable.log_scale and low <= 0:
            raise InvalidInputError(
                f"table {name}", f"design column {variable.column!r} has log_scale but a value <= 0")
        raw_bounds[variable.name] = (low, high)
        design_columns.append(_each_distinct(raw, lambda v, u=variable.unit: to_si(v, u, "design")))
    points = np.column_stack(design_columns)
    index_unit = "" if config.condition.index_unit == "cycle" else config.condition.index_unit
    conditions = _each_distinct(numbers(config.condition.column, allow_missing=False),
                                lambda v: convert(v, config.condition.unit, index_unit, "condition"))

    slices: dict[tuple[str, float], MeasuredSlice] = {}
    noise: dict[str, NoiseLevel] = {}
    for position, column in enumerate(config.observables):
        values = _to_canonical(numbers(column.column, allow_missing=True), column)
        kept = np.isfinite(values)
        keys = np.column_stack([points[kept], conditions[kept]])
        unique, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        means = np.bincount(inverse, weights=values[kept]) / counts
        for condition in np.unique(unique[:, -1]):
            rows = unique[:, -1] == condition
            slices[(column.observable, float(condition))] = MeasuredSlice(
                points=unique[rows, :-1], values=means[rows], counts=counts[rows])
        field = f"observables.{position}"
        level = _noise_level(column, values[kept], means, counts, inverse, f"{field}.noise")
        correlation = column.condition_correlation
        if correlation == "replicates":
            deviations = values[kept] - means[inverse]
            if level.scale == "relative":
                deviations = deviations / np.where(means[inverse] == 0, np.nan, np.abs(means[inverse]))
            replicated = counts[inverse] >= 2
            correlation = _series_correlation(deviations, inverse, points[kept], replicated,
                                              f"{field}.condition_correlation")
        noise[column.observable] = replace(level, correlation=float(correlation))
    return MeasuredTable(
        file_name=name, sha256=hashlib.sha256(data).hexdigest(), n_rows=len(frame),
        conditions=tuple(float(c) for c in np.unique(conditions)), slices=slices, noise=noise,
        raw_bounds=raw_bounds)


def _each_distinct(values: np.ndarray, function) -> np.ndarray:  # noqa: ANN001 - float -> float
    """Apply a scalar conversion once per distinct value."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array([function(float(v)) for v in distinct], dtype=float)[inverse.reshape(-1)]


def _to_canonical(values: np.ndarray, column: ObservableColumn) -> np.ndarray:
    """Convert an observable column to its registry unit (missing values stay NaN)."""
    canonical = OBSERVABLES.get(column.observable).unit
    zero = convert(0.0, column.unit, canonical, column.column)
    if zero == 0.0:  # a pure scale factor: one multiplication, exact enough for measured values
        return values * convert(1.0, column.unit, canonical, column.column)
    finite = np.isfinite(values)
    out = np.full_like(values, np.nan)
    out[finite] = _each_distinct(values[finite], lambda v: convert(v, column.unit, canonical))
    return out


def _noise_level(column: ObservableColumn, values: np.ndarray, means: np.ndarray, counts: np.ndarray,
                 inverse: np.ndarray, field: str) -> NoiseLevel:
    """The declared noise, or the pooled scatter of the replicate groups."""
    noise = column.noise
    if isinstance(noise, RelativeNoise):
        return NoiseLevel("relative", noise.std, "declared")
    if isinstance(noise, AdditiveNoise):
        scale = abs(convert(1.0, column.unit, OBSERVABLES.get(column.observable).unit)
                    - convert(0.0, column.unit, OBSERVABLES.get(column.observable).unit))
        return NoiseLevel("absolute", noise.std * scale, "declared")
    replicated = counts[inverse] >= 2
    dof = int((counts[counts >= 2] - 1).sum())
    if dof == 0:
        raise InvalidInputError(
            field, f"column {column.column!r} has no replicates (no design measured twice at one "
            "condition); declare additive or relative noise instead")
    deviations = values[replicated] - means[inverse[replicated]]
    if noise.scale == "relative":
        group_means = means[inverse[replicated]]
        if np.any(group_means == 0):
            raise InvalidInputError(field, "relative replicate noise needs non-zero group means")
        deviations = deviations / np.abs(group_means)
    std = float(np.sqrt(np.sum(deviations**2) / dof))
    groups = int((counts >= 2).sum())
    return NoiseLevel(noise.scale, std, f"pooled over {groups} replicate groups, {dof} degrees of freedom")


def _series_correlation(deviations: np.ndarray, groups: np.ndarray, points: np.ndarray,
                        replicated: np.ndarray, field: str) -> float:
    """Pooled correlation of replicate deviations between conditions of one series.

    Series ``k`` of a design is its ``k``-th row at each condition, in file order. Over
    every series and every pair of its conditions, ``sum(e_i e_j) / sum((e_i² + e_j²) / 2)``;
    clipped to [0, 0.99].
    """
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    run_starts = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    rank = np.empty_like(groups)
    rank[order] = np.arange(len(groups)) - run_starts
    _, design_ids = np.unique(points, axis=0, return_inverse=True)
    keys = np.column_stack([design_ids.reshape(-1), rank])[replicated]
    _, series = np.unique(keys, axis=0, return_inverse=True)
    series = series.reshape(-1)
    kept = np.isfinite(deviations[replicated])
    e, series = deviations[replicated][kept], series[kept]
    sums = np.bincount(series, weights=e)
    squares = np.bincount(series, weights=e**2)
    sizes = np.bincount(series)
    numerator = float(np.sum(sums**2 - squares))
    denominator = float(np.sum((sizes - 1) * squares))
    if denominator <= 0:
        raise InvalidInputError(field, "no replicate measured at two conditions; declare a number instead")
    return float(np.clip(numerator / denominator, 0.0, 0.99))
