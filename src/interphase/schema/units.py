"""Unit parsing with pint; everything stored is converted to SI first.

One module-level registry is shared by the whole package, because pint
quantities from different registries cannot be combined.
"""

from __future__ import annotations

from functools import lru_cache

import pint

from interphase.schema.errors import InvalidInputError

UREG = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
UREG.define("C_rate = [c_rate] = C-rate")  # a C-rate is its own dimension, never converted

# Named SI units to prefer over raw base units ("V" rather than "kg*m**2/A/s**3").
_PREFERRED_SI = (
    "K", "m", "s", "kg", "mol", "A", "V", "ohm", "S", "W", "J", "C", "Pa", "F", "Hz",
    "S/m", "ohm*m", "mol/m**3", "mol/kg", "m**2/s", "m/s", "J/mol", "A/m**2", "W/m**2",
    "C/m**3", "kg/m**3", "1/s",
)


@lru_cache(maxsize=512)
def parse_unit(unit: str, field: str = "unit") -> pint.Unit:
    """Parse a unit string such as ``"degC"``, ``"m**2/s"`` or ``"mol/m**3"``.

    Args:
        unit: The unit as text; ``""`` or ``"1"`` means dimensionless.
        field: Name of the field being parsed, used in error messages.

    Returns:
        The pint unit.

    Raises:
        InvalidInputError: If pint cannot parse the text.
    """
    text = unit.strip()
    if text in ("", "1", "-"):
        return UREG.dimensionless
    try:
        return UREG.Unit(text)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError,
            AttributeError, TypeError) as exc:
        raise InvalidInputError(field, f"unknown unit {unit!r} ({exc})") from None


def si_unit_of(unit: str, field: str = "unit") -> str:
    """Name the SI unit that values in ``unit`` are stored in.

    Args:
        unit: A unit string, e.g. ``"degC"`` or ``"mS/cm"``.
        field: Name of the field, for error messages.

    Returns:
        The SI unit in pint's compact form, e.g. ``"kelvin"`` or ``"siemens / meter"``.
    """
    parsed = parse_unit(unit, field)
    if parsed.dimensionless:
        return ""
    for name in _PREFERRED_SI:
        if UREG.Unit(name).dimensionality == parsed.dimensionality:
            return name
    return f"{UREG.Quantity(1.0, parsed).to_base_units().units:C}"


def to_si(value: float, unit: str, field: str = "value") -> float:
    """Convert a value in ``unit`` to SI base units.

    Offset units are handled correctly: ``to_si(25, "degC") == 298.15``.

    Args:
        value: The number in ``unit``.
        unit: Its unit.
        field: Name of the field, for error messages.

    Returns:
        The value in SI base units.
    """
    return convert(value, unit, si_unit_of(unit, field) or "1", field)


def from_si(value_si: float, unit: str, field: str = "value") -> float:
    """Convert a value in SI base units back to ``unit``.

    Args:
        value_si: The number in SI base units.
        unit: The unit to express it in.
        field: Name of the field, for error messages.

    Returns:
        The value in ``unit``.
    """
    return convert(value_si, si_unit_of(unit, field) or "1", unit, field)


def convert(value: float, from_unit: str, to_unit: str, field: str = "value") -> float:
    """Convert between two compatible units.

    Args:
        value: The number in ``from_unit``.
        from_unit: Unit of ``value``.
        to_unit: Unit to convert to.
        field: Name of the field, for error messages.

    Returns:
        The value in ``to_unit``.

    Raises:
        InvalidInputError: If the units have different dimensions.
    """
    try:
        return float(
            UREG.Quantity(value, parse_unit(from_unit, field)).to(parse_unit(to_unit, field)).magnitude
        )
    except pint.errors.DimensionalityError:
        raise InvalidInputError(
            field, f"unit {from_unit!r} cannot be converted to {to_unit!r}"
        ) from None


def quantity_to_si(text: str, si_unit: str, field: str = "value") -> float:
    """Parse a quantity string such as ``"25 degC"`` and return its value in ``si_unit``.

    Args:
        text: Number and unit, e.g. ``"1.5e-21 m**2/s"``.
        si_unit: The SI unit the field is stored in; the quantity must share its dimension.
        field: Name of the field, for error messages.

    Returns:
        The magnitude in ``si_unit``.

    Raises:
        InvalidInputError: If the text is not a quantity or has the wrong dimension.
    """
    try:
        quantity = UREG.Quantity(text)
    except Exception:  # pint raises many unrelated types on garbage input
        raise InvalidInputError(field, f"cannot read {text!r} as a number with a unit") from None
    if isinstance(quantity, int | float):
        return float(quantity)
    try:
        return float(quantity.to(parse_unit(si_unit or "1", field)).magnitude)
    except pint.errors.DimensionalityError:
        raise InvalidInputError(
            field, f"{text!r} has the wrong dimension; expected a value in {si_unit or 'dimensionless'}"
        ) from None
