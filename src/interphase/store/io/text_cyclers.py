"""Arbin CSV and Maccor ASCII files: checked here with pandas, parsed by battdat.

battdat's readers keep time, current, voltage (and Arbin's temperature and internal
resistance) but drop the cycler's capacity and energy counters, so the file is also
read here: to check every column battdat will use (numbers, finite, plausible, time
and cycle never decreasing) and to collect the counters. battdat then parses the same
bytes that were hashed, never the path again.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from interphase.store.io.counters import CounterColumn
from interphase.store.io.cycling import (
    ParsedCycling,
    header_names,
    optional_counter,
    read_csv_table,
    refuse_duplicates,
    text_line,
)
from interphase.store.io.detect import ARBIN_COLUMNS, MACCOR_COLUMNS, bad_file
from interphase.store.io.timeseries import check_index, check_range, check_time, numeric_column

# battdat cycle_stats column: Arbin's names for its counters, newer exports first
ARBIN_COUNTERS = {
    "capacity_charge": ("Charge_Capacity(Ah)", "Charge_Capacity"),
    "capacity_discharge": ("Discharge_Capacity(Ah)", "Discharge_Capacity"),
    "energy_charge": ("Charge_Energy(Wh)", "Charge_Energy"),
    "energy_discharge": ("Discharge_Energy(Wh)", "Discharge_Energy"),
}
# Maccor logs one capacity and one energy counter; the row's State says which way.
MACCOR_COUNTERS = {"capacity": "Amp-hr", "energy": "Watt-hr"}
MACCOR_STATES = ("C", "D", "R", "O", "S")
_BOM = b"\xef\xbb\xbf"


def load_arbin(path: Path, data: bytes) -> ParsedCycling:
    """Check an Arbin CSV, parse it with battdat and collect its counters.

    Raises:
        InvalidInputError: Naming the file (and column and row) for anything unusable.

    """
    from battdat.io.arbin import ArbinReader

    data = data.removeprefix(_BOM)
    names = header_names(path, text_line(data, 0).decode("utf-8", "replace"), ",")
    counter_names = [name for pair in ARBIN_COUNTERS.values() for name in pair]
    refuse_duplicates(path, names, [*ARBIN_COLUMNS, *counter_names])
    table = read_csv_table(path, data)  # pandas' defaults, as battdat's reader uses them
    if not isinstance(table.index, pd.RangeIndex):
        # pandas then takes the first column as the index and shifts every other one.
        raise bad_file(path, "has data rows with one field more than the header (a trailing "
                             "comma?), which would shift every column by one")
    missing = [c for c in ARBIN_COLUMNS if c not in table.columns]
    if missing:
        raise bad_file(path, f"CSV header lacks the Arbin columns {', '.join(missing)}")
    file_cycles = check_index(numeric_column(table, "Cycle_Index", path), "cycle",
                              "Cycle_Index", path, monotone=True)
    check_time(numeric_column(table, "DateTime", path), "DateTime", path)
    for column, kind in (("Current", "current"), ("Voltage", "voltage")):
        check_range(numeric_column(table, column, path), kind, column, path)
    for column, kind in (("Temperature", "temperature"),
                         ("Internal_Resistance", "internal_resistance")):
        check_range(numeric_column(table, column, path, allow_missing=True), kind, column, path)
    cycles = file_cycles - file_cycles.min()
    counters, notes = [], []
    for summary_column, candidates in ARBIN_COUNTERS.items():
        column = next((c for c in candidates if c in table.columns), candidates[0])
        counter, note = optional_counter(table, column, summary_column, cycles, path)
        counters += [counter] if counter is not None else []
        notes += [note] if note is not None else []
    raw = ArbinReader().read_file(io.BytesIO(data))  # type: ignore[arg-type]
    return ParsedCycling(raw=raw, counters=tuple(counters), reader="battery-data-toolkit",
                         first_file_cycle=int(file_cycles.min()), notes=tuple(notes))


def load_maccor(path: Path, data: bytes) -> ParsedCycling:
    """Check a Maccor ASCII export, parse it with battdat and collect its counters.

    Raises:
        InvalidInputError: Naming the file (and column and row) for anything unusable.

    """
    from battdat.io.maccor import MACCORReader

    names = header_names(path, text_line(data, 1).decode("iso-8859-1"), "\t")
    refuse_duplicates(path, names, [*MACCOR_COLUMNS, *MACCOR_COUNTERS.values()])
    table = read_csv_table(path, data, skiprows=1, sep="\t", index_col=False,
                           encoding="ISO-8859-1")
    missing = [c for c in MACCOR_COLUMNS if c not in table.columns]
    if missing:
        raise bad_file(path, f"second line lacks the Maccor columns {', '.join(missing)}")
    file_cycles = check_index(numeric_column(table, "Cyc#", path), "cycle", "Cyc#", path,
                              monotone=True)
    check_time(numeric_column(table, "Test (Min)", path) * 60.0, "Test (Min)", path)
    for column, kind in (("Amps", "current"), ("Volts", "voltage")):
        check_range(numeric_column(table, column, path), kind, column, path)
    state = _states(table, path)
    cycles = file_cycles - file_cycles.min()
    counters: list[CounterColumn] = []
    notes: list[str] = []
    for kind, column in MACCOR_COUNTERS.items():
        for letter, direction in (("C", "charge"), ("D", "discharge")):
            counter, note = optional_counter(table, column, f"{kind}_{direction}", cycles, path,
                                             counts=state == letter)
            counters += [counter] if counter is not None else []
            notes += [note] if note is not None and letter == "C" else []
    raw = MACCORReader().read_file(io.BytesIO(data))  # type: ignore[arg-type]
    return ParsedCycling(raw=raw, counters=tuple(counters), reader="battery-data-toolkit",
                         first_file_cycle=int(file_cycles.min()), notes=tuple(notes))


def _states(table: pd.DataFrame, path: Path) -> np.ndarray:
    state = table["State"].astype(str).to_numpy()  # battdat matches the letters exactly
    bad = ~np.isin(state, MACCOR_STATES)
    if bad.any():
        row = int(np.argmax(bad))
        raise bad_file(path, f"column 'State', data row {row + 1}: {state[row][:20]!r} is not a "
                             f"Maccor state ({', '.join(MACCOR_STATES)})")
    return state
