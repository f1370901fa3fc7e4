"""Unit parsing with pint; everything stored is converted to SI first.

One module-level registry is shared by the whole package, because pint
quantities from different registries cannot be combined.
"""

from __future__ import annotations

import math
import re
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


# pint evaluates powers while parsing, so "9**9**9 K" would compute for ever. Unit text from
# a user's file may hold only exponents that are plain, small number literals ("m**2",
# "m^-3"); magnitudes are read with float(), never by pint.
_POWER_OPERATOR = re.compile(r"\*\*|\^")
_PLAIN_EXPONENT = re.compile(
    r"\s*(\(\s*[+-]?\d{1,2}(\.\d+)?\s*\)|[+-]?\d{1,2}(\.\d+)?)(?![\d_.eE(])(?!\s*(\*\*|\^))")
_LEADING_NUMBER = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![\d_])\s*(.*)$")
MAX_TEXT_LENGTH = 200


def _check_safe(text: str, field: str) -> None:
    """Reject unit text whose exponents are not plain small literals, before pint sees it."""
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInputError(field, f"text longer than {MAX_TEXT_LENGTH} characters")
    for match in _POWER_OPERATOR.finditer(text):
        if not _PLAIN_EXPONENT.match(text, match.end()):
            raise InvalidInputError(
                field, f"exponents in {text!r} must be plain numbers below 100, e.g. m**2 or m^-3")


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
    if not isinstance(unit, str):
        raise InvalidInputError(field, f"expected a unit as text, got {unit!r}")
    text = unit.strip()
    if text in ("", "1", "-"):
        return UREG.dimensionless
    _check_safe(text, field)
    try:
        return UREG.Unit(text)
    except Exception as exc:  # pint raises many unrelated types (TokenError, ZeroDivision...)
        raise InvalidInputError(field, f"unknown unit {unit!r} ({type(exc).__name__}: {exc})") from None


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
    except OverflowError:
        raise InvalidInputError(field, f"{value!r} {from_unit} is too large to convert") from None


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
    match = _LEADING_NUMBER.match(text)
    if match is None or match.group(2).startswith(("*", "^", "/")):
        raise InvalidInputError(
            field, f"cannot read {text!r} as a number with a unit; write e.g. '25 degC' or '1.5e-21 m**2/s'")
    magnitude, unit_text = float(match.group(1)), match.group(2)
    try:
        quantity = UREG.Quantity(magnitude, parse_unit(unit_text, field))
        value = float(quantity.to(parse_unit(si_unit or "1", field)).magnitude)
    except pint.errors.DimensionalityError:
        raise InvalidInputError(
            field, f"{text!r} has the wrong dimension; expected a value in {si_unit or 'dimensionless'}"
        ) from None
    except (OverflowError, TypeError, ValueError):
        raise InvalidInputError(field, f"cannot read {text!r} as a finite number with a unit") from None
    if not math.isfinite(value):
        raise InvalidInputError(field, f"{text!r} is not a finite number")
    return value
