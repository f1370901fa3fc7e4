"""Any time-series CSV, read through a column map into battdat's raw-data schema.

The map (:mod:`interphase.store.io.column_map`) names the columns and their units;
values are converted with pint to battdat's units (s, A, V, °C, Ohm; counters in A.h
and W.h), the current is signed charge-positive as battdat expects, and the table
goes through battdat's own duplicate-row filter like its readers' output. The
delimiter is whichever of comma, semicolon and tab the header line holds most of.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from interphase.schema import InvalidInputError
from interphase.schema.units import convert
from interphase.store.io.column_map import MAP_KEYS, ColumnMap
from interphase.store.io.counters import CounterColumn
from interphase.store.io.cycling import (
    ParsedCycling,
    header_names,
    read_csv_table,
    refuse_duplicates,
    text_line,
)
from interphase.store.io.timeseries import check_index, check_range, check_time, numeric_column

DELIMITERS = (",", ";", "\t")
_COUNTER_KEYS = {"charge_capacity": "capacity_charge", "discharge_capacity": "capacity_discharge",
                 "charge_energy": "energy_charge", "discharge_energy": "energy_discharge"}
_CANONICAL_UNITS = {key: unit for key, (unit, _) in MAP_KEYS.items()}


def load_mapped_csv(path: Path, data: bytes, column_map: ColumnMap) -> ParsedCycling:
    """Read a CSV with a column map.

    Args:
        path: The file, named in errors.
        data: Its bytes.
        column_map: Which column holds what.

    Returns:
        The checked time series; ``reader`` is ``"pandas"``.

    Raises:
        InvalidInputError: Naming the file for a mapped column missing from the header,
            a repeated header, a cell that is not a finite number, a value outside the
            plausible range, time or cycle index that decreases.

    """
    encoding = "utf-8-sig"
    first_line = text_line(data, 0)
    try:
        header_line = first_line.decode(encoding)
    except UnicodeDecodeError:
        encoding = "latin-1"
        header_line = first_line.decode(encoding)
    delimiter = max(DELIMITERS, key=header_line.count)
    names = header_names(path, header_line, delimiter)
    columns = {key: mapped.resolve(names) for key, mapped in column_map.columns.items()}
    absent = {key: column for key, column in columns.items() if column not in names}
    if absent:
        key, column = next(iter(absent.items()))
        shown = ", ".join(repr(n) for n in names[:20]) + (" ..." if len(names) > 20 else "")
        raise InvalidInputError(str(path), f"column {column!r} mapped to {key} is not in the "
                                           f"header; its columns are {shown}")
    refuse_duplicates(path, names, list(columns.values()))
    positions = {key: names.index(column) for key, column in columns.items()}
    table = read_csv_table(path, data, sep=delimiter, header=None, skiprows=1,
                           usecols=sorted(set(positions.values())), encoding=encoding)
    by_key = {key: table[position].rename(columns[key]) for key, position in positions.items()}
    values = {key: _converted(by_key[key], key, column_map, path) for key in by_key}

    time_s = values["time"]
    check_time(time_s, columns["time"], path)
    file_cycles = check_index(values["cycle"], "cycle", columns["cycle"], path, monotone=True)
    cycles = file_cycles - file_cycles.min()
    sign = 1.0 if column_map.current_sign == "charge-positive" else -1.0
    raw = pd.DataFrame({"cycle_number": cycles, "test_time": time_s - time_s[0],
                        "current": sign * values["current"], "voltage": values["voltage"]})
    if "step" in values:
        raw["step_index"] = check_index(values["step"], "step", columns["step"], path,
                                        monotone=False)
    for key in ("temperature", "internal_resistance"):
        if key in values:
            raw[key] = values[key]
    counters = tuple(CounterColumn(summary, columns[key], values[key], cycles)
                     for key, summary in _COUNTER_KEYS.items() if key in values)
    resolved = {key: [columns[key], column_map.unit_of(key)] for key in columns}
    return ParsedCycling(raw=_drop_duplicate_rows(raw), counters=counters, reader="pandas",
                         first_file_cycle=int(file_cycles.min()), column_map=resolved,
                         map_digest=column_map.digest(names))


def _converted(cells: pd.Series, key: str, column_map: ColumnMap, path: Path) -> np.ndarray:
    """One mapped column as numbers in battdat's unit, checked for plausibility."""
    optional = key in ("temperature", "internal_resistance")
    values = numeric_column(cells.reset_index(drop=True).to_frame(), str(cells.name), path,
                            allow_missing=optional)
    unit, target = column_map.unit_of(key), _CANONICAL_UNITS[key]
    if unit is not None and target is not None and unit != target:
        # Affine, so two points convert the whole column (degF to degC included).
        offset = convert(0.0, unit, target, f"--map {key}")
        values = offset + values * (convert(1.0, unit, target, f"--map {key}") - offset)
    kind = {"charge_capacity": "capacity", "discharge_capacity": "capacity",
            "charge_energy": "energy", "discharge_energy": "energy"}.get(key, key)
    if kind not in ("time", "cycle", "step"):
        check_range(values, kind, str(cells.name), path)
    return values


def _drop_duplicate_rows(raw: pd.DataFrame) -> pd.DataFrame:
    from battdat.utils import drop_cycles

    return drop_cycles(raw)
