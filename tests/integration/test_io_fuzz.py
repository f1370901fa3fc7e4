"""Fuzzing the import path: odd cycler files and column maps into a real SQLite store.

Every outcome must be one of two: a clean import whose observations are finite and
sane, or an ``InvalidInputError`` naming the file (or, for a broken column map, the map
option) with nothing written. Any other exception, or a write before the error, fails.
Files start from a plausible table and are then broken in the ways real exports are:
text and blanks in cells, NaN and infinities, huge numbers, time running backwards or
negative, cycles left empty, repeated or unicode headers, dropped columns, ragged rows,
truncation and random bytes.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from interphase.schema import InvalidInputError
from interphase.store import Store
from interphase.store.io import import_files
from interphase.store.io.column_map import MAP_KEYS, build_column_map
from support.mpr_files import COUNTER_COLUMNS, mpr_bytes, two_cycles_with_counters

pytestmark = pytest.mark.timeout(300)

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
OUTCOMES: Counter[str] = Counter()

ARBIN_COLUMNS = ["Data_Point", "Test_Time", "DateTime", "Step_Time", "Step_Index", "Cycle_Index",
                 "Current", "Voltage", "Charge_Capacity", "Discharge_Capacity", "Charge_Energy",
                 "Discharge_Energy", "Internal_Resistance", "Temperature"]
ODD_CELLS = ("", " ", "nan", "NaN", "inf", "-inf", "abc", "1e308", "-1e308", "1e400", "é",
             "0x10", "1,5", "True", "--1", "1e-320", "-0", "9" * 40, '"', "\x00")
NON_NEGATIVE = ("capacity", "energy", "Cycle duration", "Coulombic efficiency")
CAPACITY_LIKE = ("capacity", "energy", "duration", "efficiency")


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(str(tmp_path_factory.mktemp("fuzz") / "fuzz.db"))
    store.init()
    yield store
    store.close()
    print(f"\nimport fuzz outcomes: {dict(OUTCOMES)}")


@st.composite
def base_rows(draw: st.DrawFn, n_max: int = 25) -> list[list[float]]:
    """A plausible cycling log: time, cycle, step, current, voltage, four counters."""
    n = draw(st.integers(1, n_max))
    rows, t, cycle, counters = [], draw(st.floats(-1e6, 1e9)), 1, [0.0, 0.0, 0.0, 0.0]
    for _ in range(n):
        t += draw(st.sampled_from((0.0, 1.0, 10.0, 600.0, 3600.0)))
        cycle += draw(st.sampled_from((0, 0, 0, 1, 2)))  # 2 leaves a cycle without rows
        current = draw(st.sampled_from((-2.0, -0.5, 0.0, 0.5, 2.0)))
        voltage = draw(st.floats(2.5, 4.2))
        moved = abs(current) * 600.0 / 3600.0
        counters[0 if current > 0 else 1] += moved if current else 0.0
        counters[2 if current > 0 else 3] += moved * voltage if current else 0.0
        rows.append([t, float(cycle), float(draw(st.integers(1, 9))), current, voltage,
                     *counters])
    return rows


MUTATION = st.one_of(
    st.tuples(st.just("cell"), st.integers(0, 30), st.integers(0, 20), st.sampled_from(ODD_CELLS)),
    st.tuples(st.just("swap_rows"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("dup_header"), st.integers(0, 20)),
    st.tuples(st.just("rename_header"), st.integers(0, 20), st.text(min_size=0, max_size=8)),
    st.tuples(st.just("drop_column"), st.integers(0, 20)),
    st.tuples(st.just("ragged"), st.integers(0, 30)),
    st.tuples(st.just("trailing_delimiter")),
    st.tuples(st.just("blank_lines"), st.integers(0, 30)),
)
BYTE_MUTATION = st.one_of(  # half the files keep their bytes, so that many reach the readers
    st.tuples(st.just("none")),
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(st.just("none")),
    st.tuples(st.just("garbage"), st.floats(0.0, 1.0), st.binary(min_size=1, max_size=40)),
)


def mutate(header: list[str], cells: list[list[str]], mutations: list[tuple[Any, ...]]
           ) -> tuple[list[str], list[list[str]]]:
    header, cells = list(header), [list(row) for row in cells]
    for mutation in mutations:
        kind, *args = mutation
        if kind == "cell" and cells:
            row = cells[args[0] % len(cells)]
            if row:
                row[args[1] % len(row)] = args[2]
        elif kind == "swap_rows" and cells:
            i, j = args[0] % len(cells), args[1] % len(cells)
            cells[i], cells[j] = cells[j], cells[i]
        elif kind == "dup_header":
            header[(args[0] + 1) % len(header)] = header[args[0] % len(header)]
        elif kind == "rename_header":
            header[args[0] % len(header)] = args[1]
        elif kind == "drop_column" and len(header) > 1:
            k = args[0] % len(header)
            header.pop(k)
            for row in cells:
                row.pop(k) if k < len(row) else None
        elif kind == "ragged" and cells:
            cells[args[0] % len(cells)].append("1")
        elif kind == "trailing_delimiter":
            cells = [[*row, ""] for row in cells]
        elif kind == "blank_lines" and cells:
            cells.insert(args[0] % len(cells), [])
    return header, cells


def serialise(header: list[str], cells: list[list[str]], delimiter: str,
              byte_mutation: tuple[Any, ...]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(cells)
    data = buffer.getvalue().encode("utf-8", "surrogatepass")
    if byte_mutation[0] == "truncate":
        data = data[:int(len(data) * byte_mutation[1])]
    elif byte_mutation[0] == "garbage":
        at = int(len(data) * byte_mutation[1])
        data = data[:at] + byte_mutation[2] + data[at:]
    return data


def arbin_cells(rows: list[list[float]]) -> list[list[str]]:
    out = []
    for point, (t, cycle, step, current, voltage, qc, qd, ec, ed) in enumerate(rows, start=1):
        out.append([str(point), repr(t), repr(t), "0", repr(step), repr(cycle), repr(current),
                    repr(voltage), repr(qc), repr(qd), repr(ec), repr(ed), "0.02", "25"])
    return out


def check_outcome(store: Store, path: Path, fmt: str = "auto", **options: Any) -> str:
    """Import ``path``; return "imported" or "refused", failing on anything else."""
    before = store.counts()
    try:
        column_map = options.pop("map_builder", lambda: None)()
        reports = import_files(store, [path], fmt, column_map=column_map)
    except InvalidInputError as exc:
        assert exc.field == str(path) or exc.field.startswith("--map") or (
            exc.field.startswith("map")), exc
        assert store.counts() == before
        OUTCOMES["refused"] += 1
        return "refused"
    (report,) = reports
    stored = store.get_result(report.result_id).result
    max_rows = path.read_bytes().count(b"\n") + 300  # an .mpr's records are not lines
    assert 1 <= report.n_cycles <= max_rows
    for observation in stored.observations:
        name, value = observation.observable, observation.value
        assert math.isfinite(value), (name, value)
        # cycles count from 0 and a file cannot hold more cycles than rows
        assert 0 <= observation.index < max_rows and observation.index == int(observation.index)
        if any(word in name for word in CAPACITY_LIKE if word != "energy"):
            assert value >= 0.0, (name, value)
        if name == "Mean temperature [K]":
            assert value > 0.0
    assert all(math.isfinite(f.value) for f in report.flags)
    OUTCOMES["imported"] += 1
    return "imported"


# Found by this fuzz: with one field more on the data rows than in the header, pandas
# took the first column as the index and shifted every column; the import went through.
SHIFTING_ROWS = [[0.0, 1.0, 1.0, 0.5, 3.5, 0.1, 0.0, 0.3, 0.0],
                 [600.0, 1.0, 1.0, -0.5, 3.4, 0.1, 0.1, 0.3, 0.3],
                 [1200.0, 1.0, 1.0, 0.0, 3.4, 0.1, 0.1, 0.3, 0.3]]


@FUZZ
@given(rows=base_rows(), mutations=st.lists(MUTATION, max_size=2), byte_mutation=BYTE_MUTATION)
@example(rows=SHIFTING_ROWS, mutations=[("cell", 0, 0, "0"), ("cell", 1, 0, "1"),
                                        ("cell", 2, 0, "2"), ("trailing_delimiter",)],
         byte_mutation=("none",))
def test_fuzzed_arbin_files(fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory,
                            rows: list[list[float]], mutations: list[tuple[Any, ...]],
                            byte_mutation: tuple[Any, ...]) -> None:
    header, cells = mutate(ARBIN_COLUMNS, arbin_cells(rows), mutations)
    path = tmp_path_factory.mktemp("arbin") / "cell.csv"
    path.write_bytes(serialise(header, cells, ",", byte_mutation))
    check_outcome(fuzz_store, path)


MAP_COLUMNS = ("time", "cycle", "step", "current", "voltage", "charge_capacity",
               "discharge_capacity", "charge_energy", "discharge_energy")
# Mostly right units, so that most maps reach the file; a few of the wrong kind.
UNITS = {"time": ("", "", "[s]", "[h]", "[min]", "[ms]", "[V]", "[bogus]"),
         "current": ("", "", "[mA]", "[A]", "[kA]", "[s]"),
         "voltage": ("", "", "[V]", "[mV]", "[degC]"),
         "charge_capacity": ("", "", "[mA.h]", "[C]", "[W.h]"),
         "discharge_capacity": ("", "[A.h]", "[mA*h]"),
         "charge_energy": ("", "[W.h]", "[J]", "[kW*h]"),
         "discharge_energy": ("", "", "[mW.h]", "[A]"),
         "cycle": ("", "", "", "[s]"), "step": ("", "", "", "[1]")}


@FUZZ
@given(rows=base_rows(), mutations=st.lists(MUTATION, max_size=2), byte_mutation=BYTE_MUTATION,
       names=st.lists(st.text(min_size=1, max_size=10), min_size=9, max_size=9),
       units=st.tuples(*(st.sampled_from(UNITS[key]) for key in MAP_COLUMNS)),
       dropped=st.sets(st.sampled_from(MAP_COLUMNS), max_size=2),
       delimiter=st.sampled_from((",", ";", "\t")),
       sign=st.sampled_from(("charge-positive", "charge-negative")))
def test_fuzzed_mapped_csv(fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory,
                           rows: list[list[float]], mutations: list[tuple[Any, ...]],
                           byte_mutation: tuple[Any, ...], names: list[str],
                           units: tuple[str, ...], dropped: set[str], delimiter: str,
                           sign: str) -> None:
    cells = [[repr(value) for value in row] for row in rows]
    header, cells = mutate(names, cells, mutations)
    path = tmp_path_factory.mktemp("csv") / "cells.csv"
    path.write_bytes(serialise(header, cells, delimiter, byte_mutation))
    entries = [f"{key}={name}{unit}" for key, name, unit in zip(MAP_COLUMNS, names, units,
                                                                  strict=True)
               if key not in dropped]
    assert set(MAP_COLUMNS) <= set(MAP_KEYS)
    check_outcome(fuzz_store, path, "csv",
                  map_builder=lambda: build_column_map(entries, current_sign=sign))


@FUZZ
@given(content=st.binary(max_size=600), name=st.sampled_from(("x.csv", "x.001", "x.mpr", "x")),
       fmt=st.sampled_from(("auto", "arbin", "maccor", "biologic")))
def test_random_bytes(fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory,
                      content: bytes, name: str, fmt: str) -> None:
    path = tmp_path_factory.mktemp("bytes") / name
    path.write_bytes(content)
    assert check_outcome(fuzz_store, path, fmt) == "refused"


MACCOR_HEADER = ["Rec#", "Cyc#", "Step", "Test (Min)", "Step (Min)", "Amp-hr", "Watt-hr", "Amps",
                 "Volts", "State", "ES", "DPt Time"]


@FUZZ
@given(rows=base_rows(), mutations=st.lists(MUTATION, max_size=2), byte_mutation=BYTE_MUTATION)
def test_fuzzed_maccor_files(fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory,
                             rows: list[list[float]], mutations: list[tuple[Any, ...]],
                             byte_mutation: tuple[Any, ...]) -> None:
    cells = []
    for n, (t, cycle, step, current, voltage, qc, qd, ec, ed) in enumerate(rows, start=1):
        state = "C" if current > 0 else "D" if current < 0 else "R"
        cells.append([str(n), repr(cycle - 1), repr(step), repr(t / 60), "0",
                      repr(qc if current > 0 else qd), repr(ec if current > 0 else ed),
                      repr(abs(current)), repr(voltage), state, "0", "03/31/2016 16:05:31"])
    header, cells = mutate(MACCOR_HEADER, cells, mutations)
    path = tmp_path_factory.mktemp("maccor") / "run.001"
    path.write_bytes(b"Today's Date 04/04/2016\n" + serialise(header, cells, "\t", byte_mutation))
    check_outcome(fuzz_store, path)


ODD_NUMBERS = (math.nan, math.inf, -math.inf, 1e300, -1e300, -5.0, 0.0, 1e-300, 7.5)


@FUZZ
@given(n_rows=st.integers(0, 40),
       edits=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 7),
                                st.sampled_from(ODD_NUMBERS)), max_size=4),
       byte_mutation=BYTE_MUTATION)
def test_fuzzed_biologic_files(fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory,
                               n_rows: int, edits: list[tuple[int, int, float]],
                               byte_mutation: tuple[Any, ...]) -> None:
    rows = [list(row) for row in two_cycles_with_counters()[::244 // max(n_rows, 1) or 1]]
    rows = rows[:n_rows]
    for row, column, value in edits:
        if rows:
            rows[row % len(rows)][column] = value
    with np.errstate(over="ignore"):  # 1e300 in a float32 column is stored as inf: also odd
        data = mpr_bytes(COUNTER_COLUMNS, rows)
    if byte_mutation[0] == "truncate":
        data = data[:int(len(data) * byte_mutation[1])]
    elif byte_mutation[0] == "garbage":
        at = int(len(data) * byte_mutation[1])
        data = data[:at] + byte_mutation[2] + data[at + len(byte_mutation[2]):]
    path = tmp_path_factory.mktemp("mpr") / "cell.mpr"
    path.write_bytes(data)
    check_outcome(fuzz_store, path)


@FUZZ
@given(entries=st.lists(st.one_of(
    st.text(max_size=30),
    st.builds(lambda key, column, unit: f"{key}={column}{unit}",
              st.sampled_from((*MAP_KEYS, "Time", "volts", "")), st.text(max_size=12),
              st.sampled_from(("", "[s]", "[]", "[[h]]", "[h", "[m**99**99]", "[A.h]", "[°C]"))),
), max_size=8), complete=st.booleans(),
       sign=st.sampled_from((None, "charge-positive", "charge-negative", "up")))
def test_fuzzed_column_map_text(entries: list[str], complete: bool, sign: str | None) -> None:
    required = ["time=t", "current=i", "voltage=v", "cycle=c"] if complete else []
    try:
        column_map = build_column_map(required + entries, current_sign=sign)
    except InvalidInputError as exc:
        assert exc.field.startswith(("--map", "--current-sign")), exc
        OUTCOMES["map refused"] += 1
        return
    assert set(column_map.columns) >= {"time", "current", "voltage", "cycle"}
    OUTCOMES["map accepted"] += 1


def test_fuzz_explored_both_outcomes(fuzz_store: Store) -> None:
    """Runs after the fuzz tests in this module: both outcomes must have been reached."""
    assert OUTCOMES["imported"] >= 20 and OUTCOMES["refused"] >= 60, OUTCOMES
