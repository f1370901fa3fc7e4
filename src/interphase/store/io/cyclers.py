"""Cycler files (Arbin, Maccor, BioLogic, or any CSV with a column map) as per-cycle records.

No parser lives here. battery-data-toolkit (battdat) reads Arbin CSV and Maccor ASCII
files, galvani reads BioLogic ``.mpr`` files, pandas reads a mapped CSV; each format's
loader checks the columns and collects the cycler's own capacity and energy counters.
This module checks the file against the limits, picks the loader, summarises per
cycle (:mod:`interphase.store.io.cycle_summary`) and flags implausible cycles. The cycle
index is battdat's ``cycle_number``: 0 is the first cycle in the file, whatever the
cycler calls it (the file's own number is kept as ``first_file_cycle``).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from interphase.schema import (
    OBSERVABLES,
    Cost,
    Design,
    InvalidInputError,
    Observation,
    Provenance,
    Result,
    ResultStatus,
    SourceSpec,
    Technique,
)
from interphase.store.io.biologic import load_biologic
from interphase.store.io.column_map import ColumnMap
from interphase.store.io.cycle_summary import (
    CHARGE_CAPACITY,
    CHARGE_ENERGY,
    COULOMBIC_EFFICIENCY,
    CYCLE_DURATION,
    DISCHARGE_CAPACITY,
    DISCHARGE_ENERGY,
    INTERNAL_RESISTANCE,
    MEAN_DISCHARGE_VOLTAGE,
    MEAN_TEMPERATURE,
    cycle_observations,
    summarise,
)
from interphase.store.io.cycling import ParsedCycling
from interphase.store.io.detect import (
    CYCLER_FORMATS,
    bad_file,
    check_header,
    count_rows,
    detect_format,
    read_bytes,
)
from interphase.store.io.flags import CycleFlag, flag_cycles
from interphase.store.io.generic_csv import load_mapped_csv
from interphase.store.io.limits import check_row_count
from interphase.store.io.text_cyclers import load_arbin, load_maccor

READ_FORMATS = (*CYCLER_FORMATS, "csv")
MEDIA_TYPES = {"arbin": "text/csv", "maccor": "text/plain", "biologic": "application/octet-stream",
               "csv": "text/csv"}

_COMMON = (DISCHARGE_CAPACITY, CHARGE_CAPACITY, DISCHARGE_ENERGY, CHARGE_ENERGY,
           COULOMBIC_EFFICIENCY, MEAN_DISCHARGE_VOLTAGE)
# What each reader can produce. A source spec declares these, not what one file held,
# so two files of one format never register the same source@version differently.
FORMAT_OBSERVABLES: dict[str, tuple[str, ...]] = {
    "arbin": (*_COMMON, MEAN_TEMPERATURE, INTERNAL_RESISTANCE, CYCLE_DURATION),
    "maccor": (*_COMMON, CYCLE_DURATION),
    "biologic": (*_COMMON, MEAN_TEMPERATURE, CYCLE_DURATION),
    "csv": (*_COMMON, MEAN_TEMPERATURE, INTERNAL_RESISTANCE, CYCLE_DURATION),
}


@dataclass(frozen=True, eq=False)
class CyclerImport:
    """One parsed cycler file.

    Attributes:
        fmt: ``"arbin"``, ``"maccor"``, ``"biologic"`` or ``"csv"``.
        path: The file read.
        sha256: SHA-256 of the file's bytes.
        reader: Distribution that parsed it (``"battery-data-toolkit"``, ``"galvani"``,
            ``"pandas"``).
        reader_version: Its installed version; also the source version.
        cycle_summary: One row per cycle with ``capacity_*`` [A.h], ``energy_*`` [W.h],
            ``cycle_start`` and ``cycle_duration`` [s].
        observations: Per-cycle observations, NaN values left out.
        warnings: Warnings the readers raised (``"Category: message"``) and problems the
            import met but got past, e.g. an unusable counter column.
        data: The file's bytes, kept so the stored artifact is exactly what was hashed.
        lab_hours: Test duration in hours (last minus first time stamp).
        flags: Cycles whose capacity is implausible (:mod:`interphase.store.io.flags`).
        observable_sources: Per observable, how its values were obtained.
        first_file_cycle: The file's own number of cycle 0.
        nominal_capacity_ah: The nominal capacity the flags were checked against, if given.
        column_map: For ``csv``, key to ``[column, unit]`` as read.
        map_digest: For ``csv``, a short hash of the column map.

    """

    fmt: str
    path: Path
    sha256: str
    reader: str
    reader_version: str
    cycle_summary: pd.DataFrame = field(repr=False)
    observations: tuple[Observation, ...] = field(repr=False)
    warnings: tuple[str, ...] = ()
    data: bytes = field(default=b"", repr=False)
    lab_hours: float = 0.0
    flags: tuple[CycleFlag, ...] = ()
    observable_sources: dict[str, str] = field(default_factory=dict, repr=False)
    first_file_cycle: int = 0
    nominal_capacity_ah: float | None = None
    column_map: dict[str, list[str | None]] | None = None
    map_digest: str | None = None

    @property
    def source_name(self) -> str:
        """Registry name of the source, e.g. ``"cycler-arbin"``."""
        return f"cycler-{self.fmt}"

    @property
    def n_cycles(self) -> int:
        """Number of cycles in the file (rows of :attr:`cycle_summary`)."""
        return len(self.cycle_summary)

    @property
    def media_type(self) -> str:
        """MIME type of the raw file, for the stored artifact."""
        return MEDIA_TYPES[self.fmt]

    @property
    def observables_produced(self) -> tuple[str, ...]:
        """Observable names that this file actually yielded, in registry order."""
        present = {o.observable for o in self.observations}
        return tuple(name for name in OBSERVABLES.names if name in present)

    def source_spec(self) -> SourceSpec:
        """Describe the source this file comes from: the format's reader at its version."""
        return SourceSpec(
            name=self.source_name, version=self.reader_version, technique=Technique.EXPERIMENT,
            fidelity=100, observables=FORMAT_OBSERVABLES[self.fmt],
            cost_model={"reader": self.reader},
        )

    def metadata(self) -> dict[str, Any]:
        """File, reader, how each observable was obtained, warnings and flags, as stored."""
        meta: dict[str, Any] = {
            "file_name": self.path.name, "file_sha256": self.sha256, "format": self.fmt,
            "reader": self.reader, "reader_version": self.reader_version,
            "summariser": f"battery-data-toolkit {version('battery-data-toolkit')}",
            "cycle_index": "battdat cycle_number (0 = first cycle in the file)",
            "first_file_cycle": self.first_file_cycle,
            "observable_sources": dict(self.observable_sources),
            "warnings": list(self.warnings),
            "flags": [flag.to_dict() for flag in self.flags],
        }
        if self.nominal_capacity_ah is not None:
            meta["nominal_capacity_ah"] = self.nominal_capacity_ah
        if self.column_map is not None:
            meta["column_map"] = self.column_map
        return meta

    def to_result(self) -> Result:
        """Build the result: a succeeded experiment on a design labelled by the file stem."""
        params: dict[str, Any] = {"file_sha256": self.sha256, "format": self.fmt}
        if self.map_digest is not None:
            params["column_map_digest"] = self.map_digest
        return Result(
            source=self.source_name, design=Design(values={}, label=self.path.stem),
            status=ResultStatus.SUCCEEDED, observations=self.observations,
            provenance=Provenance.capture(self.source_name, self.reader_version, params=params),
            cost=Cost(lab_hours=self.lab_hours), cycles_run=self.n_cycles,
            metadata=self.metadata(),
        )


def read_cycler_file(path: str | Path, fmt: str = "auto", *, column_map: ColumnMap | None = None,
                     nominal_capacity_ah: float | None = None) -> CyclerImport:
    """Parse a cycler file, summarise it per cycle and flag implausible cycles.

    Args:
        path: The file.
        fmt: ``"auto"`` (by content and extension; never ``csv``), ``"arbin"``,
            ``"maccor"``, ``"biologic"`` or ``"csv"`` (needs ``column_map``).
        column_map: Which column holds what, for ``fmt="csv"`` only.
        nominal_capacity_ah: The cell's nominal capacity [A.h]; cycles over it are
            flagged. None flags only jumps between neighbouring cycles.

    Returns:
        The parsed file with its per-cycle observations.

    Raises:
        InvalidInputError: ``field="fmt"`` for an unknown ``fmt``; ``"--map"`` for a
            column map without ``csv`` or the reverse; ``"nominal_capacity_ah"`` for a
            capacity that is not a positive finite number; otherwise ``field`` is the
            file path and the message says what is wrong (missing, empty, over the size
            limits, undetectable, wrong columns, unparseable, no data rows, bad cells).

    """
    file_path = Path(path)
    check_read_options(fmt, column_map, nominal_capacity_ah)
    data = read_bytes(file_path)
    resolved = detect_format(file_path, data) if fmt == "auto" else fmt
    check_header(file_path, data, resolved)
    if resolved != "biologic":
        check_row_count(file_path, count_rows(data, resolved))
    _import_readers()  # outside the capture: import-time warnings are no file's business
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parsed = _load(file_path, data, resolved, column_map)
            if parsed.raw.empty:
                raise bad_file(file_path, f"has no rows that the {resolved} reader understands")
            from battdat.data import BatteryDataset

            dataset = BatteryDataset.make_cell_dataset(raw_data=parsed.raw)
            summary, sources = summarise(dataset, parsed)
        except InvalidInputError:
            raise
        except Exception as exc:  # third-party parsers raise many unrelated types on bad files
            problem = f"cannot be read as {resolved} ({type(exc).__name__}: {exc})"
            raise bad_file(file_path, problem) from None
    messages = tuple(dict.fromkeys(
        [f"{w.category.__name__}: {w.message}" for w in caught] + list(parsed.notes)))
    raw = parsed.raw
    elapsed = float(raw["test_time"].max() - raw["test_time"].min())
    by_cycle = summary.set_index("cycle_number")
    capacities = {DISCHARGE_CAPACITY: by_cycle["capacity_discharge"],
                  CHARGE_CAPACITY: by_cycle["capacity_charge"]}
    return CyclerImport(
        fmt=resolved, path=file_path, sha256=hashlib.sha256(data).hexdigest(),
        reader=parsed.reader, reader_version=version(parsed.reader), cycle_summary=summary,
        observations=cycle_observations(summary, raw), warnings=messages, data=data,
        lab_hours=elapsed / 3600.0 if math.isfinite(elapsed) and elapsed > 0 else 0.0,
        flags=flag_cycles(capacities, nominal_capacity_ah, parsed.first_file_cycle),
        observable_sources=sources, first_file_cycle=parsed.first_file_cycle,
        nominal_capacity_ah=nominal_capacity_ah, column_map=parsed.column_map,
        map_digest=parsed.map_digest,
    )


def check_read_options(fmt: str, column_map: ColumnMap | None,
                       nominal_capacity_ah: float | None) -> None:
    """Refuse options that do not go together, before any file is read.

    Raises:
        InvalidInputError: Naming the option at fault and what is allowed.

    """
    if fmt not in ("auto", *READ_FORMATS):
        raise InvalidInputError("fmt", f"unknown cycler format {fmt!r}; expected auto, "
                                       f"{', '.join(READ_FORMATS)}")
    if fmt == "csv" and column_map is None:
        raise InvalidInputError("--map", "--format csv needs a column map (--map KEY=COLUMN "
                                         "or --map-file); see docs/import.md")
    if fmt != "csv" and column_map is not None:
        raise InvalidInputError("--map", f"a column map is read with --format csv only, "
                                         f"not {fmt}")
    if nominal_capacity_ah is not None and not (
            math.isfinite(nominal_capacity_ah) and nominal_capacity_ah > 0):
        raise InvalidInputError("nominal_capacity_ah", f"{nominal_capacity_ah!r} is not "
                                                       "allowed; expected a positive number of A.h")


def _import_readers() -> None:
    import battdat.io.arbin  # noqa: F401 - heavy (scipy.signal); loaded on first use
    import battdat.io.maccor  # noqa: F401
    import battdat.postprocess.integral  # noqa: F401
    import battdat.postprocess.timing  # noqa: F401
    import galvani.BioLogic  # noqa: F401


def _load(path: Path, data: bytes, fmt: str, column_map: ColumnMap | None) -> ParsedCycling:
    if fmt == "arbin":
        return load_arbin(path, data)
    if fmt == "maccor":
        return load_maccor(path, data)
    if column_map is not None:  # check_read_options made sure: fmt is csv
        return load_mapped_csv(path, data, column_map)
    return load_biologic(path, data)
