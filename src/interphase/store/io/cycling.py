"""The parsed time series of one cycler file, whatever its format.

Each format's loader returns a :class:`ParsedCycling`: battdat's ``raw_data`` table, which
battdat's summarisers read, and the cycler's own counters, which override the
integrated capacities and energies where present. The helpers here are shared by the
loaders: CSV parsing into a table, and counters read only when they are usable.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from interphase.schema import InvalidInputError
from interphase.store.io.counters import CounterColumn
from interphase.store.io.detect import bad_file
from interphase.store.io.timeseries import check_range, numeric_column


@dataclass(frozen=True, eq=False)
class ParsedCycling:
    """A file read into battdat's raw-data schema, checked, with its counters.

    Attributes:
        raw: battdat ``raw_data``: ``cycle_number`` (int, from 0), ``test_time`` [s],
            ``current`` [A, charge positive], ``voltage`` [V], optionally
            ``temperature`` [°C] and ``internal_resistance`` [Ohm].
        counters: The cycler's capacity and energy counters the file holds, usable ones only.
        reader: Distribution that parsed the file.
        first_file_cycle: The file's own number of its first cycle (battdat's cycle 0).
        notes: Problems met on the way that did not stop the import, e.g. an unusable
            counter column; shown and stored like reader warnings.
        column_map: For a mapped CSV, key to ``[column, unit]`` as resolved; else None.
        map_digest: For a mapped CSV, a short hash of ``column_map`` and the sign convention.

    """

    raw: pd.DataFrame
    counters: tuple[CounterColumn, ...]
    reader: str
    first_file_cycle: int = 0
    notes: tuple[str, ...] = ()
    column_map: dict[str, list[str | None]] | None = None
    map_digest: str | None = None


def read_csv_table(path: Path, data: bytes, **options: object) -> pd.DataFrame:
    """Parse CSV bytes with pandas, turning its many exception types into one input error.

    Args:
        path: The file, named in errors.
        data: Its bytes.
        **options: Passed to :func:`pandas.read_csv`.

    Returns:
        The table; its index counts data rows from 0.

    Raises:
        InvalidInputError: Naming the file, with pandas' own reason.

    """
    try:
        return pd.read_csv(io.BytesIO(data), **options)  # type: ignore[call-overload]
    except Exception as exc:  # pandas raises ParserError, UnicodeDecodeError, ValueError...
        raise bad_file(path, f"cannot be parsed as a table ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None


def text_line(data: bytes, number: int) -> bytes:
    """Line ``number`` (from 0) of ``data``, without copying the rest; empty if absent."""
    start = 0
    for _ in range(number):
        end = data.find(b"\n", start)
        if end < 0:
            return b""
        start = end + 1
    end = data.find(b"\n", start)
    return data[start:] if end < 0 else data[start:end]


def header_names(path: Path, line: str, delimiter: str) -> list[str]:
    """The column names of a header line as the ``csv`` module splits them, stripped."""
    try:
        return [name.strip() for name in next(csv.reader([line], delimiter=delimiter))]
    except (csv.Error, StopIteration) as exc:
        raise bad_file(path, f"has a header line that cannot be split ({exc})") from None


def refuse_duplicates(path: Path, names: list[str], used: list[str]) -> None:
    """Refuse a header that repeats a column the import reads, as the one meant is unknown.

    Raises:
        InvalidInputError: Naming the file and the repeated column.

    """
    for name in used:
        if names.count(name) > 1:
            raise bad_file(path, f"header names column {name!r} {names.count(name)} times; "
                                 "rename the copies so that each column is named once")


def optional_counter(table: pd.DataFrame, column: str, summary_column: str, cycles: np.ndarray,
                     path: Path, *, scale: float = 1.0, counts: np.ndarray | None = None,
                     ) -> tuple[CounterColumn | None, str | None]:
    """Read a counter column the format may have, or explain why it is not used.

    Args:
        table: The parsed file.
        column: The counter's column name.
        summary_column: The ``cycle_stats`` column it supplies.
        cycles: Shape ``(n_rows,)``, cycle numbers of the table's rows.
        path: The file.
        scale: Factor to A.h or W.h.
        counts: Rows whose increments count (see :class:`CounterColumn`).

    Returns:
        ``(counter, None)`` when usable, ``(None, note)`` when the column is there but
        holds text, blanks, infinities or negative values, ``(None, None)`` when absent.

    """
    if column not in table.columns:
        return None, None
    try:
        values = numeric_column(table, column, path) * scale
        check_range(values, "capacity" if summary_column.startswith("capacity") else "energy",
                    column, path)
    except InvalidInputError as exc:
        return None, (f"counter column {column!r} not used ({exc.problem}); "
                      f"{summary_column.replace('_', ' ')} integrated from the current instead")
    return CounterColumn(summary_column, column, values, cycles, counts), None
