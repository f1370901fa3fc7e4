"""Consoles, tables and number formatting shared by the commands.

Consoles are made per call, so that they pick up the streams and the terminal width
of the invocation (a test runner swaps both). Markup is off: observable names such
as ``"SEI thickness [m]"`` would otherwise be read as rich style tags.
"""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table
from rich.text import Text

MISSING = "-"
UNBROKEN = ("id", "record id", "file")
PIPE_WIDTH = 160  # columns when writing to a file or a pipe and COLUMNS is unset


def stdout_console() -> Console:
    """Make a console on standard output for results (tables, paths).

    Rich assumes 80 columns off a terminal, which folds every id; files and pipes get
    :data:`PIPE_WIDTH` instead unless ``COLUMNS`` says otherwise.
    """
    console = Console(markup=False, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def stderr_console() -> Console:
    """Make a console on standard error for progress and errors."""
    return Console(stderr=True, markup=False, highlight=False)


def one_line(message: str) -> str:
    """Join a message's non-empty lines with single spaces."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def print_error(message: str) -> None:
    """Print ``error: message`` as one red line on standard error, never wrapped."""
    stderr_console().print(Text(f"error: {one_line(message)}", style="bold red"), soft_wrap=True)


def print_line(message: str, style: str = "") -> None:
    """Print one line on standard output, never wrapped."""
    stdout_console().print(Text(message, style=style), soft_wrap=True)


def new_table(title: str, *columns: str, numeric: tuple[str, ...] = (),
              unbroken: tuple[str, ...] = UNBROKEN) -> Table:
    """Make a table with the given column headers.

    Args:
        title: Shown above the table.
        columns: Column headers.
        numeric: Headers of right-aligned columns.
        unbroken: Headers of columns kept on one line while others wrap (ids, names).

    Returns:
        The empty table; cells that still do not fit fold rather than being cut short.

    """
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left",
                         no_wrap=column in unbroken, overflow="fold")
    return table


def fmt_number(value: float | None, digits: int = 4) -> str:
    """Format a number with ``digits`` significant digits, or a dash when missing."""
    return MISSING if value is None else f"{value:.{digits}g}"


def fmt_count(value: int | None) -> str:
    """Format a count in full, or a dash when missing."""
    return MISSING if value is None else str(value)


def fmt_values(values: dict[str, float | int | str]) -> str:
    """Format a design's values as ``name=value`` pairs."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in values.items())
