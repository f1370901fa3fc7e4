"""The column map of a generic time-series CSV: which column holds what, in which unit.

One syntax everywhere: ``KEY=COLUMN`` or ``KEY=COLUMN[UNIT]``, on the command line
(``--map "time=Test_Time_h[h]"``) or as the values of a YAML file's ``columns:``. A
trailing ``[...]`` is the unit. When the whole text is itself a header (``"Time [h]"``),
that column is used, and the bracket is still its unit; to map a column whose name ends
in brackets to another unit, add one more: ``"Time [h][min]"``. In YAML a key may also
take ``{column: ..., unit: ...}``, which is read literally.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from interphase.schema import InvalidInputError, load_model_file
from interphase.schema.units import parse_unit

# key: (default unit or None for a plain integer column, what the column holds)
MAP_KEYS: dict[str, tuple[str | None, str]] = {
    "time": ("s", "test time; any origin, never decreasing"),
    "current": ("A", "current, signed as --current-sign says"),
    "voltage": ("V", "cell voltage"),
    "cycle": (None, "cycle index, integers, never decreasing"),
    "step": (None, "the cycler's step index, integers"),
    "temperature": ("degC", "cell temperature"),
    "internal_resistance": ("ohm", "internal resistance as the cycler reports it"),
    "charge_capacity": ("A.h", "charge capacity counter (per cycle or cumulative)"),
    "discharge_capacity": ("A.h", "discharge capacity counter"),
    "charge_energy": ("W.h", "charge energy counter"),
    "discharge_energy": ("W.h", "discharge energy counter"),
}
REQUIRED_KEYS = ("time", "current", "voltage", "cycle")
CURRENT_SIGNS = ("charge-positive", "charge-negative")
CurrentSign = Literal["charge-positive", "charge-negative"]
_ENTRY = re.compile(r"^\s*([A-Za-z_]+)\s*=(.*)$", re.DOTALL)
_UNIT_SUFFIX = re.compile(r"^(.*?)\s*\[([^\[\]]*)\]\s*$", re.DOTALL)


class ColumnSpec(BaseModel):
    """A YAML map entry written out: the column's exact name and its unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str = Field(min_length=1, max_length=500)
    unit: str | None = None


class MapFile(BaseModel):
    """A ``--map-file``: the ``columns`` to read and the current's sign convention."""

    model_config = ConfigDict(extra="forbid")
    columns: dict[str, str | ColumnSpec]
    current_sign: CurrentSign = "charge-positive"


@dataclass(frozen=True)
class MappedColumn:
    """Where one quantity is.

    Attributes:
        column: The column's name.
        unit: Its unit; None means the key's default unit.
        literal: The unsplit ``NAME [UNIT]`` text, used as the column when it is a header.

    """

    column: str
    unit: str | None = None
    literal: str | None = None

    def resolve(self, header: Sequence[str]) -> str:
        """The header column this entry names."""
        return self.literal if self.literal is not None and self.literal in header else self.column


@dataclass(frozen=True)
class ColumnMap:
    """A validated column map: every required key present, every unit of the right kind."""

    columns: dict[str, MappedColumn] = field(hash=False)
    current_sign: CurrentSign = "charge-positive"

    def unit_of(self, key: str) -> str | None:
        """The unit of the column mapped to ``key``: its own, or the key's default."""
        unit = self.columns[key].unit
        return unit if unit is not None else MAP_KEYS[key][0]

    def digest(self, header: Sequence[str]) -> str:
        """Hash the map as resolved against ``header``: another map makes another record."""
        resolved = {k: [m.resolve(header), self.unit_of(k)] for k, m in sorted(self.columns.items())}
        text = json.dumps({"columns": resolved, "current_sign": self.current_sign}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def allowed_keys_text() -> str:
    """The keys a map may use, required ones first, for error messages."""
    return (f"required keys: {', '.join(REQUIRED_KEYS)}; allowed keys: "
            f"{', '.join(MAP_KEYS)}")


def parse_map_entry(text: str, field_name: str = "--map") -> tuple[str, MappedColumn]:
    """Read one ``KEY=COLUMN[UNIT]`` entry.

    Raises:
        InvalidInputError: For a text without ``=``, an empty column or an unknown key.

    """
    match = _ENTRY.match(text)
    if match is None:
        raise InvalidInputError(field_name, f"expected KEY=COLUMN or KEY=COLUMN[UNIT], got "
                                            f"{text!r}; {allowed_keys_text()}")
    key, spec = match.group(1), match.group(2).strip()
    _check_key(key, field_name)
    where = f"{field_name} {key}"
    return key, _checked(_parse_spec(spec, where), key, where)


def build_column_map(entries: Sequence[str] = (), map_file: Path | None = None,
                     current_sign: str | None = None) -> ColumnMap:
    """Merge a map file and ``--map`` entries (which win) into a checked map.

    Args:
        entries: ``KEY=COLUMN[UNIT]`` texts.
        map_file: A YAML file with ``columns:`` and optionally ``current_sign:``.
        current_sign: ``"charge-positive"`` or ``"charge-negative"``; None takes the
            file's, else charge-positive.

    Returns:
        The map.

    Raises:
        InvalidInputError: Naming the entry or file field at fault, or the missing key,
            with the allowed keys.

    """
    columns: dict[str, MappedColumn] = {}
    sign = "charge-positive"
    if map_file is not None:
        loaded = load_model_file(MapFile, map_file)
        sign = loaded.current_sign
        for key, value in loaded.columns.items():
            where = f"{map_file.name}.columns.{key}"
            _check_key(key, where)
            mapped = (_parse_spec(value, where) if isinstance(value, str)
                      else MappedColumn(value.column, value.unit))
            columns[key] = _checked(mapped, key, where)
    for text in entries:
        key, mapped = parse_map_entry(text)
        columns[key] = mapped
    if current_sign is not None:
        if current_sign not in CURRENT_SIGNS:
            raise InvalidInputError("--current-sign", f"{current_sign!r} is not allowed; "
                                                      f"expected {' or '.join(CURRENT_SIGNS)}")
        sign = current_sign
    missing = [key for key in REQUIRED_KEYS if key not in columns]
    if missing:
        where = f"{map_file.name}.columns" if map_file is not None and not entries else "--map"
        raise InvalidInputError(where, f"no column mapped to {', '.join(missing)}; "
                                       f"{allowed_keys_text()}")
    return ColumnMap(columns=columns, current_sign=sign)  # type: ignore[arg-type]


def _check_key(key: str, field_name: str) -> None:
    if key not in MAP_KEYS:
        raise InvalidInputError(field_name, f"unknown key {key!r}; {allowed_keys_text()}")


def _parse_spec(spec: str, field_name: str) -> MappedColumn:
    spec = spec.strip()
    match = _UNIT_SUFFIX.match(spec)
    column, unit, literal = (spec, None, None) if match is None else (
        match.group(1).strip(), match.group(2).strip(), spec)
    if not column:
        raise InvalidInputError(field_name, f"no column name in {spec!r}; expected COLUMN or "
                                            "COLUMN[UNIT], e.g. Test_Time_h[h]")
    return MappedColumn(column, unit, literal)


def _checked(mapped: MappedColumn, key: str, field_name: str) -> MappedColumn:
    default = MAP_KEYS[key][0]
    if mapped.unit is None:
        return mapped
    if default is None:
        raise InvalidInputError(field_name, f"{key} is a plain integer column and takes no unit, "
                                            f"got [{mapped.unit}]")
    unit = parse_unit(mapped.unit, field_name)
    if unit.dimensionality != parse_unit(default).dimensionality:
        raise InvalidInputError(field_name, f"unit {mapped.unit!r} is not a unit of {key}; "
                                            f"expected one convertible to {default}")
    return mapped
