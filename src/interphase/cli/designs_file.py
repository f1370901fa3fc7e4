"""Read a file of designs for a batch run: a YAML/JSON list of mappings, or a CSV with a header.

Each design maps variable names to values, numbers in SI or quantity strings such as
``"25 degC"`` (as ``--design`` takes them), with an optional ``label``. Nothing here knows
a design space: rows come back as raw mappings, numbered from 1 in file order, for the
caller to validate all of them before anything runs.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interphase.schema import InvalidInputError
from interphase.schema.limits import MAX_LABEL_CHARS, MAX_STRUCTURED_FILE_BYTES
from interphase.schema.loading import read_structured_file

LABEL_KEY = "label"
SUFFIXES = (".csv", ".yaml", ".yml", ".json")


@dataclass(frozen=True)
class DesignRow:
    """One design as the file gives it.

    Attributes:
        row: Its position, from 1: the list entry (YAML/JSON) or the data row after the
            header (CSV).
        values: Variable name -> number or text, as written.
        label: The ``label`` entry (at most :data:`~interphase.schema.limits.MAX_LABEL_CHARS`
            characters), or None.
    """

    row: int
    values: dict[str, float | str]
    label: str | None


def row_field(path: Path, row: int, name: str | None = None) -> str:
    """The field an error about ``row`` (and variable ``name``) names, e.g. ``"d.csv row 3, c"``."""
    return f"{path} row {row}" + (f", {name}" if name else "")


def read_design_rows(path: Path) -> list[DesignRow]:
    """Read every design of a ``.csv``, ``.yaml``/``.yml`` or ``.json`` file.

    Args:
        path: The file.

    Returns:
        The rows, in file order (at least one).

    Raises:
        InvalidInputError: Naming the file (and row and column) for a missing, oversized
            or unreadable file, another suffix, a file with no designs (a CSV header
            alone), an entry that is not a mapping, an empty CSV cell, a row with more
            cells than the header, or a value that is neither a number nor text.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInputError(str(path), f"expected a designs file ending in {', '.join(SUFFIXES)}")
    rows = _read_csv(path) if suffix == ".csv" else _read_structured(path)
    if not rows:
        raise InvalidInputError(str(path), "holds no designs; expected one design per row (CSV: a header "
                                "line of variable names, then one line per design)")
    return rows


def _read_structured(path: Path) -> list[DesignRow]:
    data = read_structured_file(path)
    if data is None:
        return []
    if not isinstance(data, list):
        raise InvalidInputError(str(path), f"expected a list of designs (mappings of variable to value), "
                                f"got a {type(data).__name__}")
    rows = []
    for position, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise InvalidInputError(row_field(path, position), "expected a mapping of variable to value, "
                                    f"got {type(item).__name__}")
        values: dict[str, float | str] = {}
        for key, value in item.items():
            if key == LABEL_KEY:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidInputError(row_field(path, position, str(key)),
                                        f"expected a number or a quantity such as '25 degC', got {value!r}")
            values[str(key)] = float(value) if isinstance(value, int | float) else value
        rows.append(DesignRow(position, values, _label(item.get(LABEL_KEY), path, position)))
    return rows


def _read_csv(path: Path) -> list[DesignRow]:
    if path.is_dir():
        raise InvalidInputError(str(path), "is a folder; give a CSV file")
    if not path.is_file():
        raise InvalidInputError(str(path), "file not found" if not path.exists() else "is not a regular file")
    size = path.stat().st_size
    if size > MAX_STRUCTURED_FILE_BYTES:
        raise InvalidInputError(str(path), f"is {size / 2**20:.1f} MiB; files of at most "
                                f"{MAX_STRUCTURED_FILE_BYTES // 2**20} MiB are read")
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(str(path), f"cannot read as UTF-8 text ({exc})") from None
    try:
        table = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InvalidInputError(str(path), f"not valid CSV ({exc})") from None
    table = [line for line in table if any(cell.strip() for cell in line)]
    if not table:
        return []
    header = [cell.strip() for cell in table[0]]
    for column, name in enumerate(header):
        if not name:
            raise InvalidInputError(f"{path} header", f"column {column + 1} has no name")
        if header.index(name) != column:
            raise InvalidInputError(f"{path} header", f"column {name!r} appears twice")
    rows = []
    for position, line in enumerate(table[1:], start=1):
        if len(line) > len(header):
            raise InvalidInputError(row_field(path, position), f"has {len(line)} cells but the header has "
                                    f"{len(header)} columns")
        cells = dict(zip(header, [cell.strip() for cell in line] + [""] * (len(header) - len(line)),
                         strict=True))
        values: dict[str, float | str] = {}
        for name, cell in cells.items():
            if name == LABEL_KEY:
                continue
            if not cell:
                raise InvalidInputError(row_field(path, position, name), "empty; give a value (leave the "
                                        "column out to put the variable at the centre of the space)")
            try:
                values[name] = float(cell)
            except ValueError:
                values[name] = cell
        rows.append(DesignRow(position, values, _label(cells.get(LABEL_KEY) or None, path, position)))
    return rows


def _label(value: Any, path: Path, row: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(row_field(path, row, LABEL_KEY), f"must be text, got {value!r}")
    if len(str(value)) > MAX_LABEL_CHARS:
        raise InvalidInputError(row_field(path, row, LABEL_KEY), f"longer than {MAX_LABEL_CHARS} characters")
    return str(value)
