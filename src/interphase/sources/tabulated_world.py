"""Whether a tabulated source fits the world that declares it, checked when the world loads.

A campaign proposes designs in the world's design space and hands them to every source.
A table that names a variable the world lacks, gives a column a unit of another dimension
than its variable (``furlongs`` for a ``mol/kg`` molality), leaves a world variable without
a column, or measured a narrower range than the world spans would refuse the campaign's
designs only once they run, after the campaign is written. These checks refuse such a world
before anything is written, each naming the field and what it must be.
"""

from __future__ import annotations

from interphase.schema import CategoricalVariable, ContinuousVariable, DesignSpace, InvalidInputError
from interphase.schema.units import parse_unit, si_unit_of
from interphase.sources.tabulated_config import TabulatedConfig

BOUND_TOLERANCE = 1e-9
"""Relative slack when a world bound is compared with the measured one (both in SI)."""


def dimension_of(unit: str) -> str:
    """The physical dimension of a unit in words, e.g. ``"[length]"`` or ``"dimensionless"``."""
    parsed = parse_unit(unit)
    return "dimensionless" if parsed.dimensionless else str(parsed.dimensionality)


def check_columns_fit(config: TabulatedConfig, space: DesignSpace, context: str) -> None:
    """Refuse design columns that do not map one to one onto the world's numeric variables.

    Args:
        config: The tabulated source's declaration.
        space: The world's design space.
        context: Field prefix, e.g. ``"my-world.sources.robot"``.

    Raises:
        InvalidInputError: Naming ``<context>.design.<i>.name`` for a variable the world
            lacks or holds as categorical, ``<context>.design.<i>.unit`` for a unit of
            another dimension than the variable's, or ``<context>.design`` for a world
            variable without a column.
    """
    for index, column in enumerate(config.design):
        field = f"{context}.design.{index}"
        if column.name not in space.names:
            raise InvalidInputError(f"{field}.name", f"{column.name!r} is not a variable of the world's "
                                    f"design space; expected one of {', '.join(space.names)}")
        variable = space.variable(column.name)
        if isinstance(variable, CategoricalVariable):
            raise InvalidInputError(f"{field}.name", f"{column.name!r} is categorical in the world "
                                    f"({variable.allowed()}); a table column can only be a numeric variable")
        expected = variable.si_unit if isinstance(variable, ContinuousVariable) else si_unit_of(variable.unit)
        if si_unit_of(column.unit, f"{field}.unit") != expected:
            wanted = dimension_of(expected)
            example = getattr(variable, "unit", "") or expected
            raise InvalidInputError(
                f"{field}.unit", f"{column.unit or 'dimensionless'!r} is {dimension_of(column.unit)}, but "
                f"variable {column.name!r} is {wanted}; expected a unit of dimension {wanted}"
                + (f", e.g. {example!r}" if example else " (leave the unit out)"))
    missing = [name for name in space.names if name not in {c.name for c in config.design}]
    if missing:
        raise InvalidInputError(f"{context}.design", f"no column for the world's variable(s) "
                                f"{', '.join(repr(n) for n in missing)}; a tabulated source needs one "
                                "design column per variable of the world's design space")


def check_world_within_table(world_space: DesignSpace, table_space: DesignSpace, world_name: str,
                             table_name: str) -> None:
    """Refuse a world whose variables reach past what the table measured.

    Args:
        world_space: The world's design space.
        table_space: The source's space: each variable on its measured range, in SI.
        world_name: For the field, ``<world>.design_space.variables.<j>``.
        table_name: The table's file name, for the message.

    Raises:
        InvalidInputError: If a world bound lies outside the measured range; the message
            gives both ranges.
    """
    for position, variable in enumerate(world_space.variables):
        if isinstance(variable, CategoricalVariable):
            continue
        measured = table_space.variable(variable.name)
        assert isinstance(measured, ContinuousVariable)
        slack = BOUND_TOLERANCE * max(abs(measured.lower), abs(measured.upper), 1e-300)
        if variable.lower < measured.lower - slack or variable.upper > measured.upper + slack:
            unit = f" {measured.si_unit}".rstrip()
            raise InvalidInputError(
                f"{world_name}.design_space.variables.{position}",
                f"{variable.name!r} spans [{variable.lower:g}, {variable.upper:g}]{unit} (SI) but table "
                f"{table_name} measured [{measured.lower:g}, {measured.upper:g}]{unit}; narrow the variable "
                "to the measured range (designs outside it cannot be answered)")
