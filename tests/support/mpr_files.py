"""Minimal, well-formed BioLogic ``.mpr`` files for tests, parsed by galvani's real reader.

The layout is the one galvani reads: magic, a settings module and a data module
(version 2) holding a record array whose columns are named by galvani's column ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAGIC = b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\x00\x00\x00\x00"
MODULE_HEADER = np.dtype([("shortname", "S10"), ("longname", "S25"), ("length", "<u4"),
                          ("version", "<u4"), ("date", "S8")])
# galvani column ids: 4 time/s, 6 Ewe/V, 8 I/mA, 24 cycle number, 498 Q charge/mA.h,
# 499 Q discharge/mA.h, 123 Energy charge/W.h, 124 Energy discharge/W.h
COUNTER_COLUMNS = ((4, "<f8"), (6, "<f4"), (8, "<f4"), (24, "<f8"), (498, "<f8"), (499, "<f8"),
                   (123, "<f8"), (124, "<f8"))


def _module(shortname: bytes, data: bytes, version: int) -> bytes:
    head = np.zeros(1, dtype=MODULE_HEADER)
    head["shortname"], head["longname"] = shortname, shortname.strip()
    head["length"], head["version"], head["date"] = len(data), version, b"11/25/26"
    return b"MODULE" + head.tobytes() + data


def mpr_bytes(columns: Sequence[tuple[int, str]], rows: Sequence[Sequence[float]]) -> bytes:
    """The bytes of an ``.mpr`` holding ``rows``, one value per column of ``columns``."""
    dtype = np.dtype([(f"c{i}", kind) for i, (_, kind) in enumerate(columns)])
    records = np.array([tuple(row) for row in rows], dtype=dtype)
    ids = np.array([column for column, _ in columns], dtype="<u2").tobytes()
    head = np.array([len(records)], dtype="<u4").tobytes() + bytes([len(columns)]) + ids
    data = head.ljust(405, b"\x00") + records.tobytes()
    return MAGIC + _module(b"VMP Set   ", b"\x00" * 16, 0) + _module(b"VMP data  ", data, 2)


def two_cycles_with_counters() -> list[tuple[float, ...]]:
    """Two cycles at 100 mA, 1 h each way, whose EC-Lab counters restart every half cycle
    and deliberately disagree with the current (123 and 111 mA.h, not 100), so that their
    use is visible."""
    rows = []
    t = 0.0
    for cycle in range(2):
        for k in range(61):
            rows.append((t, 3.5 + k / 100, 100.0, float(cycle), 123.0 * k / 60, 0.0,
                         0.5 * k / 60, 0.0))
            t += 60.0
        for k in range(61):
            rows.append((t, 4.1 - k / 100, -100.0, float(cycle), 0.0, 111.0 * k / 60, 0.0,
                         0.4 * k / 60))
            t += 60.0
    return rows


def write_mpr(path: Path, columns: Sequence[tuple[int, str]] = COUNTER_COLUMNS,
              rows: Sequence[Sequence[float]] | None = None) -> Path:
    """Write an ``.mpr`` (by default :func:`two_cycles_with_counters`) and return its path."""
    path.write_bytes(mpr_bytes(columns, two_cycles_with_counters() if rows is None else rows))
    return path
