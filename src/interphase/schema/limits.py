"""The limits on what a user may hand interphase: text lengths, file sizes, nesting, counts.

Every limit is a named constant, so that the models that enforce it, the docs that state
it (``docs/limits.md``) and the tests that probe it read the same number. Input over a
limit is refused with an :class:`~interphase.schema.errors.InvalidInputError` naming the
field or file and the limit; nothing is truncated silently.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_DESCRIPTION_CHARS = 4_000
"""A description (campaign, run configuration, world, variable): one paragraph or a few."""
MAX_LABEL_CHARS = 256
"""A design's label, such as a cell's barcode or a file name."""
MAX_NAME_CHARS = 200
"""A short name or one protocol step (``"Charge at 1C until 4.2 V"``), a category's name."""
MAX_VARIABLES = 100
"""Variables of a design space."""
MAX_CHOICES = 1_000
"""Choices of one categorical variable."""
MAX_STEPS = 100
"""Steps of one protocol cycle."""
MAX_BUDGET_HOURS = 10_000_000.0
"""A campaign's lab-hour or CPU-hour budget: about 1,100 channel-years."""
MAX_WALL_HOURS = 87_600.0
"""A campaign's wall-clock budget: ten years."""
MAX_STRUCTURED_FILE_BYTES = 10 * 1024 * 1024
"""A configuration, world, protocol or designs file (YAML or JSON)."""
MAX_NESTING_DEPTH = 64
"""Levels of mappings and lists in a YAML or JSON file; real configurations use fewer than 10."""
MAX_VALUES = 2_000_000
"""Values (scalars, mappings, lists) in a YAML or JSON file, counted with aliases expanded."""

Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)]
"""A free-text description within :data:`MAX_DESCRIPTION_CHARS`."""
ShortText = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
"""A name or a protocol step within :data:`MAX_NAME_CHARS`."""
Label = Annotated[str, Field(max_length=MAX_LABEL_CHARS)]
"""A label within :data:`MAX_LABEL_CHARS`."""


def structure_problem(data: object) -> str | None:
    """Say what makes parsed YAML/JSON too deep or too big to validate, or None when it is fine.

    The tree is walked as validation would walk it, aliases expanded, without recursion,
    so that a YAML alias bomb or an alias that refers to itself is refused in bounded time.

    Args:
        data: Parsed YAML or JSON.

    Returns:
        The problem, worded for a message that names the file; None within the limits.
    """
    values = 0
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            return (f"holds more than {MAX_VALUES:,} values once its aliases are expanded "
                    "(or an alias refers to itself)")
        if isinstance(node, dict | list):
            if depth + 1 > MAX_NESTING_DEPTH:
                return f"nests mappings and lists deeper than {MAX_NESTING_DEPTH} levels"
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return None
