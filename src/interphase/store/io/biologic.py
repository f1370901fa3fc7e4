"""BioLogic ``.mpr`` files, read by galvani and handed to battdat as raw time series.

galvani parses the binary file; this module only renames its columns to
battdat's raw-data schema (seconds, amperes, volts, °C) so that the same
battdat summarisers compute per-cycle values for every cycler, and picks out
EC-Lab's own charge and energy counters (``Q charge/mA.h``, ``Energy charge/W.h``
...), which are used instead of integrating the current when the file has them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from interphase.store.io.cycling import ParsedCycling, optional_counter
from interphase.store.io.limits import check_row_count
from interphase.store.io.timeseries import check_index, check_range, check_time, numeric_column

# galvani names a column differently depending on the EC-Lab version and technique.
_TIME_COLUMNS = ("time/s",)
_VOLTAGE_COLUMNS = ("Ewe/V", "<Ewe>/V", "Ecell/V", "<Ewe/V>")
_CURRENT_MA_COLUMNS = ("I/mA", "<I>/mA")
_CYCLE_COLUMNS = ("cycle number",)
_TEMPERATURE_C_COLUMNS = ("Temperature/°C",)
# battdat cycle_stats column: (galvani column, factor to A.h or W.h)
COUNTER_COLUMNS = {
    "capacity_charge": ("Q charge/mA.h", 1e-3),
    "capacity_discharge": ("Q discharge/mA.h", 1e-3),
    "energy_charge": ("Energy charge/W.h", 1.0),
    "energy_discharge": ("Energy discharge/W.h", 1.0),
}


def read_mpr_raw_data(data: bytes) -> pd.DataFrame:
    """Parse ``.mpr`` bytes with galvani into battdat's raw-data columns.

    Args:
        data: The whole file.

    Returns:
        A frame with ``test_time`` [s], ``current`` [A] (positive = charge, as
        BioLogic and battdat both sign it), ``voltage`` [V], ``cycle_number``
        (0-based, as floats) and, when the file has it, ``temperature`` [°C]. One row per
        data point, in file order. Counters of :data:`COUNTER_COLUMNS` that the file
        holds are added under their galvani names, converted to A.h and W.h.

    Raises:
        ValueError: If galvani cannot parse the bytes or the file lacks a time,
            voltage or current column. Other exception types galvani raises on
            corrupt files (``AssertionError``, ``OSError``, ``NotImplementedError``)
            pass through; the caller turns them into an input error.

    """
    from galvani import BioLogic

    # A file object, not a path: galvani leaves a path's handle open (ResourceWarning).
    mpr = BioLogic.MPRfile(io.BytesIO(data))
    records = mpr.data
    names = tuple(records.dtype.names or ())
    time_col = _first_present(names, _TIME_COLUMNS)
    voltage_col = _first_present(names, _VOLTAGE_COLUMNS)
    current_col = _first_present(names, _CURRENT_MA_COLUMNS)
    if time_col is None or voltage_col is None or current_col is None:
        raise ValueError(
            "the data module lacks a time, voltage or current column "
            f"(found: {', '.join(names) or 'none'}); "
            "only galvanostatic cycling data can be imported"
        )
    frame = pd.DataFrame({
        "test_time": np.asarray(records[time_col], dtype=np.float64),
        "current": np.asarray(records[current_col], dtype=np.float64) / 1000.0,
        "voltage": np.asarray(records[voltage_col], dtype=np.float64),
    })
    cycle_col = _first_present(names, _CYCLE_COLUMNS)
    cycles = (np.asarray(records[cycle_col], dtype=np.float64) if cycle_col is not None
              else np.zeros(len(frame)))
    frame.attrs["file_columns"] = {"test_time": time_col, "current": current_col,
                                   "voltage": voltage_col, "cycle_number": cycle_col or ""}
    frame.insert(0, "cycle_number", cycles)  # float as read: the caller checks it is whole
    temperature_col = _first_present(names, _TEMPERATURE_C_COLUMNS)
    if temperature_col is not None:
        frame["temperature"] = np.asarray(records[temperature_col], dtype=np.float64)
        frame.attrs["file_columns"]["temperature"] = temperature_col
    for column, factor in COUNTER_COLUMNS.values():
        if column in names:
            frame[column] = np.asarray(records[column], dtype=np.float64) * factor
    return frame


def _first_present(names: tuple[str, ...], candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if candidate in names:
            return candidate
    return None


def load_biologic(path: Path, data: bytes) -> ParsedCycling:
    """Parse a ``.mpr`` with galvani, check its columns and collect EC-Lab's counters.

    Raises:
        InvalidInputError: Naming the file (and column and row) for a file over the row
            limit or a column that is not finite, plausible and (time, cycle) monotone.
        ValueError: And galvani's own exception types, for a file it cannot parse.

    """
    raw = read_mpr_raw_data(data)
    check_row_count(path, len(raw))
    names = raw.attrs["file_columns"]
    file_cycles = check_index(numeric_column(raw, "cycle_number", path,
                                             label=names["cycle_number"]),
                              "cycle", names["cycle_number"], path, monotone=True)
    check_time(numeric_column(raw, "test_time", path, label=names["test_time"]),
               names["test_time"], path)
    for column in ("current", "voltage"):
        check_range(numeric_column(raw, column, path, label=names[column]), column,
                    names[column], path)
    if "temperature" in raw:
        check_range(numeric_column(raw, "temperature", path, allow_missing=True,
                                   label=names["temperature"]),
                    "temperature", names["temperature"], path)
    cycles = file_cycles - (file_cycles.min() if len(file_cycles) else 0)
    counters, notes = [], []
    for summary_column, (column, _) in COUNTER_COLUMNS.items():
        counter, note = optional_counter(raw, column, summary_column, cycles, path)
        counters += [counter] if counter is not None else []
        notes += [note] if note is not None else []
    kept = [c for c in raw.columns if c not in {column for column, _ in COUNTER_COLUMNS.values()}]
    table = raw[kept].assign(cycle_number=cycles)
    return ParsedCycling(raw=table, counters=tuple(counters), reader="galvani",
                         first_file_cycle=int(file_cycles.min()) if len(file_cycles) else 0,
                         notes=tuple(notes))
