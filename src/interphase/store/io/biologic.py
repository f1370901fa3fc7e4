"""BioLogic ``.mpr`` files, read by galvani and handed to battdat as raw time series.

galvani parses the binary file; this module only renames its columns to
battdat's raw-data schema (seconds, amperes, volts, °C) so that the same
battdat summarisers compute per-cycle capacity and energy for every cycler.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

# galvani names a column differently depending on the EC-Lab version and technique.
_TIME_COLUMNS = ("time/s",)
_VOLTAGE_COLUMNS = ("Ewe/V", "<Ewe>/V", "Ecell/V", "<Ewe/V>")
_CURRENT_MA_COLUMNS = ("I/mA", "<I>/mA")
_CYCLE_COLUMNS = ("cycle number",)
_TEMPERATURE_C_COLUMNS = ("Temperature/°C",)


def read_mpr_raw_data(data: bytes) -> pd.DataFrame:
    """Parse ``.mpr`` bytes with galvani into battdat's raw-data columns.

    Args:
        data: The whole file.

    Returns:
        A frame with ``test_time`` [s], ``current`` [A] (positive = charge, as
        BioLogic and battdat both sign it), ``voltage`` [V], ``cycle_number``
        (0-based) and, when the file has it, ``temperature`` [°C]. One row per
        data point, in file order.

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
    frame.insert(0, "cycle_number", np.rint(cycles).astype(np.int64))
    temperature_col = _first_present(names, _TEMPERATURE_C_COLUMNS)
    if temperature_col is not None:
        frame["temperature"] = np.asarray(records[temperature_col], dtype=np.float64)
    return frame


def _first_present(names: tuple[str, ...], candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if candidate in names:
            return candidate
    return None
