"""Values made fit for strict JSON: the store's JSON columns and the benchmarks' result files."""

from __future__ import annotations

import math
from typing import Any


def plain_json(value: Any) -> Any:
    """``value`` with NaN and infinite floats as None, tuples as lists and NumPy/torch scalars as numbers.

    Args:
        value: Nested dicts, lists, tuples and scalars.

    Returns:
        The same structure, every key a string, serialisable by ``json.dumps(allow_nan=False)``.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return plain_json(value.item())
    return value
