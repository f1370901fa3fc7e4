"""Cycler files (Arbin, Maccor, BioLogic) turned into per-cycle observations.

No parser lives here. battery-data-toolkit (battdat) reads Arbin CSV and Maccor
ASCII files, galvani reads BioLogic ``.mpr`` files, and battdat's own summarisers
(``CapacityPerCycle``, ``CycleTimesSummarizer``) compute capacity, energy and
duration per cycle for all three. This module checks the file, picks the reader,
and maps the summary onto the observable registry. The cycle index is battdat's
``cycle_number``: 0 is the first cycle in the file, whatever the cycler calls it.
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
from interphase.schema.units import convert
from interphase.store.io.biologic import read_mpr_raw_data
from interphase.store.io.detect import (
    CYCLER_FORMATS,
    bad_file,
    check_header,
    detect_format,
    read_bytes,
)

MEDIA_TYPES = {"arbin": "text/csv", "maccor": "text/plain", "biologic": "application/octet-stream"}

DISCHARGE_CAPACITY = "Discharge capacity [A.h]"
CHARGE_CAPACITY = "Charge capacity [A.h]"
DISCHARGE_ENERGY = "Discharge energy [W.h]"
CHARGE_ENERGY = "Charge energy [W.h]"
COULOMBIC_EFFICIENCY = "Coulombic efficiency"
MEAN_DISCHARGE_VOLTAGE = "Mean discharge voltage [V]"
MEAN_TEMPERATURE = "Mean temperature [K]"
INTERNAL_RESISTANCE = "Internal resistance [Ohm]"
CYCLE_DURATION = "Cycle duration [s]"

_COMMON = (DISCHARGE_CAPACITY, CHARGE_CAPACITY, DISCHARGE_ENERGY, CHARGE_ENERGY,
           COULOMBIC_EFFICIENCY, MEAN_DISCHARGE_VOLTAGE)
# What each reader can produce. A source spec declares these, not what one file held,
# so two files of one format never register the same source@version differently.
FORMAT_OBSERVABLES: dict[str, tuple[str, ...]] = {
    "arbin": (*_COMMON, MEAN_TEMPERATURE, INTERNAL_RESISTANCE, CYCLE_DURATION),
    "maccor": (*_COMMON, CYCLE_DURATION),
    "biologic": (*_COMMON, MEAN_TEMPERATURE, CYCLE_DURATION),
}


@dataclass(frozen=True, eq=False)
class CyclerImport:
    """One parsed cycler file.

    Attributes:
        fmt: ``"arbin"``, ``"maccor"`` or ``"biologic"``.
        path: The file read.
        sha256: SHA-256 of the file's bytes.
        reader: Distribution that parsed it (``"battery-data-toolkit"`` or ``"galvani"``).
        reader_version: Its installed version; also the source version.
        cycle_summary: battdat's ``cycle_stats`` table: one row per cycle with
            ``capacity_*`` [A.h], ``energy_*`` [W.h], ``cycle_start`` and ``cycle_duration`` [s].
        observations: Per-cycle observations, NaN values left out.
        warnings: Warnings the readers raised, as ``"Category: message"``.
        data: The file's bytes, kept so the stored artifact is exactly what was hashed.
        lab_hours: Test duration in hours (last minus first time stamp).

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
        """File name, hash, reader and warnings, as stored in the result's metadata."""
        return {
            "file_name": self.path.name, "file_sha256": self.sha256, "format": self.fmt,
            "reader": self.reader, "reader_version": self.reader_version,
            "summariser": f"battery-data-toolkit {version('battery-data-toolkit')}",
            "cycle_index": "battdat cycle_number (0 = first cycle in the file)",
            "warnings": list(self.warnings),
        }

    def to_result(self) -> Result:
        """Build the result: a succeeded experiment on a design labelled by the file stem."""
        return Result(
            source=self.source_name, design=Design(values={}, label=self.path.stem),
            status=ResultStatus.SUCCEEDED, observations=self.observations,
            provenance=Provenance.capture(self.source_name, self.reader_version,
                                          params={"file_sha256": self.sha256, "format": self.fmt}),
            cost=Cost(lab_hours=self.lab_hours), cycles_run=self.n_cycles,
            metadata=self.metadata(),
        )


def read_cycler_file(path: str | Path, fmt: str = "auto") -> CyclerImport:
    """Parse a cycler file and summarise it per cycle.

    Args:
        path: The file.
        fmt: ``"auto"`` (by content and extension), ``"arbin"``, ``"maccor"`` or ``"biologic"``.

    Returns:
        The parsed file with its per-cycle observations.

    Raises:
        InvalidInputError: ``field="fmt"`` for an unknown ``fmt``; otherwise ``field`` is the
            file path and the message says what is wrong and names the allowed formats
            (missing, empty, undetectable, wrong columns, unparseable, no data rows).

    """
    file_path = Path(path)
    if fmt not in ("auto", *CYCLER_FORMATS):
        raise InvalidInputError("fmt", f"unknown cycler format {fmt!r}; expected auto, "
                                       f"{', '.join(CYCLER_FORMATS)}")
    data = read_bytes(file_path)
    resolved = detect_format(file_path, data) if fmt == "auto" else fmt
    check_header(file_path, data, resolved)
    _import_readers()  # outside the capture: import-time warnings are no file's business
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dataset, reader = _load_dataset(file_path, data, resolved)
            raw = dataset.tables["raw_data"]
            if raw.empty:
                raise bad_file(file_path, f"has no rows that the {resolved} reader understands")
            summary = _summarise(dataset)
        except InvalidInputError:
            raise
        except Exception as exc:  # third-party parsers raise many unrelated types on bad files
            problem = f"cannot be read as {resolved} ({type(exc).__name__}: {exc})"
            raise bad_file(file_path, problem) from None
    messages = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    elapsed = float(raw["test_time"].max() - raw["test_time"].min())
    return CyclerImport(
        fmt=resolved, path=file_path, sha256=hashlib.sha256(data).hexdigest(), reader=reader,
        reader_version=version(reader), cycle_summary=summary,
        observations=cycle_observations(summary, raw), warnings=messages, data=data,
        lab_hours=elapsed / 3600.0 if math.isfinite(elapsed) and elapsed > 0 else 0.0,
    )


def cycle_observations(summary: pd.DataFrame, raw: pd.DataFrame) -> tuple[Observation, ...]:
    """Map battdat's per-cycle summary and raw data onto registered observables.

    Args:
        summary: battdat ``cycle_stats`` with ``capacity_*`` [A.h], ``energy_*`` [W.h]
            and ``cycle_duration`` [s].
        raw: battdat ``raw_data``; ``temperature`` [°C] and ``internal_resistance``
            [Ohm] are averaged per cycle when present.

    Returns:
        Observations indexed by cycle; non-finite values are left out, Coulombic
        efficiency only where charge capacity > 0, mean discharge voltage only where
        discharge capacity > 0.

    """
    by_cycle = raw.groupby("cycle_number")
    empty = pd.Series(dtype=float)
    temperature_c = by_cycle["temperature"].mean() if "temperature" in raw else empty
    resistance = by_cycle["internal_resistance"].mean() if "internal_resistance" in raw else empty
    out: list[Observation] = []
    for row in summary.itertuples(index=False):
        cycle = int(row.cycle_number)
        q_dis, q_chg = float(row.capacity_discharge), float(row.capacity_charge)
        e_dis, e_chg = float(row.energy_discharge), float(row.energy_charge)
        t_c = float(temperature_c.get(cycle, math.nan))
        values = {
            DISCHARGE_CAPACITY: q_dis, CHARGE_CAPACITY: q_chg,
            DISCHARGE_ENERGY: e_dis, CHARGE_ENERGY: e_chg,
            COULOMBIC_EFFICIENCY: q_dis / q_chg if q_chg > 0 else math.nan,
            MEAN_DISCHARGE_VOLTAGE: e_dis / q_dis if q_dis > 0 else math.nan,
            MEAN_TEMPERATURE: convert(t_c, "degC", "K") if math.isfinite(t_c) else math.nan,
            INTERNAL_RESISTANCE: float(resistance.get(cycle, math.nan)),
            CYCLE_DURATION: float(row.cycle_duration),
        }
        out.extend(
            Observation(observable=name, index=float(cycle), index_unit="cycle", value=value,
                        unit=OBSERVABLES.get(name).unit)
            for name, value in values.items() if math.isfinite(value)
        )
    return tuple(out)


def _import_readers() -> None:
    import battdat.io.arbin  # noqa: F401 - heavy (scipy.signal); loaded on first use
    import battdat.io.maccor  # noqa: F401
    import battdat.postprocess.integral  # noqa: F401
    import battdat.postprocess.timing  # noqa: F401
    import galvani.BioLogic  # noqa: F401


def _summarise(dataset: Any) -> pd.DataFrame:
    from battdat.postprocess.integral import CapacityPerCycle
    from battdat.postprocess.timing import CycleTimesSummarizer

    CapacityPerCycle().compute_features(dataset)
    CycleTimesSummarizer().compute_features(dataset)
    return dataset.tables["cycle_stats"].copy()


def _load_dataset(path: Path, data: bytes, fmt: str) -> tuple[Any, str]:
    """Read with the format's reader; returns the battdat dataset and the reader's name."""
    from battdat.data import BatteryDataset

    if fmt == "arbin":
        from battdat.io.arbin import ArbinReader

        return ArbinReader().read_dataset([str(path)]), "battery-data-toolkit"
    if fmt == "maccor":
        from battdat.io.maccor import MACCORReader

        return MACCORReader().read_dataset([str(path)]), "battery-data-toolkit"
    return BatteryDataset.make_cell_dataset(raw_data=read_mpr_raw_data(data)), "galvani"
