"""Checks on a cycler's time series, before any summariser sees it.

battdat and galvani take what they are given: a text cell turns a column into strings,
a time that runs backwards makes negative durations, 1e300 A integrates to infinity.
Each column is checked here instead, and the error names the file, the column, the
data row (1 = the first row after the header) and what is allowed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from interphase.schema import InvalidInputError

# Plausible magnitudes, generous enough for packs and for epoch time stamps; beyond them
# a value is a unit mistake or garbage, not a measurement.
LIMITS: dict[str, tuple[float, float, str]] = {
    "time": (-1e11, 1e11, "s"),
    "current": (-1e5, 1e5, "A"),
    "voltage": (-1e4, 1e4, "V"),
    "cycle": (-1e9, 1e9, ""),
    "step": (-1e9, 1e9, ""),
    "temperature": (-273.15, 1e4, "degC"),
    "internal_resistance": (-1e6, 1e6, "ohm"),
    "capacity": (0.0, 1e7, "A.h"),
    "energy": (0.0, 1e9, "W.h"),
}


def numeric_column(frame: pd.DataFrame, column: str, path: Path, *,
                   allow_missing: bool = False, label: str | None = None) -> np.ndarray:
    """Read a column as float64, refusing text, infinities and (unless allowed) blanks.

    Args:
        frame: The parsed table; its index counts data rows from 0.
        column: The column to read.
        path: The file, named in errors.
        allow_missing: Whether blank cells (NaN) may stay.
        label: The column's name in the file, for errors, when ``column`` is not it.

    Returns:
        The column, shape ``(n_rows,)``.

    Raises:
        InvalidInputError: Naming the file, the column and the first bad row.

    """
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = np.isnan(values) & raw.notna().to_numpy()
    if text.any():
        row = int(np.argmax(text))
        raise _bad(path, label or column, row, f"{str(raw.iloc[row])[:40]!r} is not a number")
    bad = np.isinf(values) | (np.isnan(values) & (not allow_missing))
    if bad.any():
        row = int(np.argmax(bad))
        what = "is empty" if np.isnan(values[row]) else "is not finite"
        raise _bad(path, label or column, row, f"{what}; every row needs a finite number")
    return values


def check_range(values: np.ndarray, kind: str, column: str, path: Path) -> None:
    """Refuse values outside :data:`LIMITS` for ``kind`` (NaN cells are skipped).

    Raises:
        InvalidInputError: Naming the file, the column and the first bad row.

    """
    low, high, unit = LIMITS[kind]
    outside = (values < low) | (values > high)
    if outside.any():
        row = int(np.argmax(outside))
        unit_text = f" {unit}" if unit else ""
        raise _bad(path, column, row, f"{values[row]:g}{unit_text} is outside the plausible "
                                      f"range [{low:g}, {high:g}]{unit_text} for {kind}")


def check_time(time_s: np.ndarray, column: str, path: Path) -> None:
    """Refuse a time column that decreases or is implausible.

    Raises:
        InvalidInputError: Naming the file, the column and the row where time goes back.

    """
    check_range(time_s, "time", column, path)
    back = np.flatnonzero(np.diff(time_s) < 0)
    if back.size:
        row = int(back[0]) + 1
        raise _bad(path, column, row, f"time goes back from {time_s[row - 1]:.10g} to "
                                      f"{time_s[row]:.10g}; it must never decrease")


def check_index(values: np.ndarray, kind: str, column: str, path: Path, *,
                monotone: bool) -> np.ndarray:
    """Check an integer index column (cycle or step) and return it as int64.

    Raises:
        InvalidInputError: For non-integers, implausible values, or (``monotone``) a decrease.

    """
    check_range(values, kind, column, path)
    fractional = values != np.round(values)
    if fractional.any():
        row = int(np.argmax(fractional))
        raise _bad(path, column, row, f"{values[row]:g} is not a whole number")
    if monotone:
        back = np.flatnonzero(np.diff(values) < 0)
        if back.size:
            row = int(back[0]) + 1
            raise _bad(path, column, row, f"the {kind} index goes back from "
                                          f"{values[row - 1]:g} to {values[row]:g}; it must "
                                          "never decrease")
    return values.astype(np.int64)


def _bad(path: Path, column: str, row: int, problem: str) -> InvalidInputError:
    return InvalidInputError(str(path), f"column {column!r}, data row {row + 1}: {problem}")
