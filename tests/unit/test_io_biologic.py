"""BioLogic ``.mpr`` through galvani's real parser.

No BioLogic file can ship with the package (galvani's own test files are LFS
objects), so the test writes a minimal, well-formed ``.mpr``: the module layout
galvani reads (settings and data modules, data module version 2) with a
two-cycle galvanostatic record array. The parsing itself is galvani's.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from interphase.schema import InvalidInputError
from interphase.store.io import read_cycler_file

MPR_MAGIC = b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\x00\x00\x00\x00"
MODULE_HEADER = np.dtype([("shortname", "S10"), ("longname", "S25"), ("length", "<u4"),
                          ("version", "<u4"), ("date", "S8")])
# galvani's column ids: time/s, Ewe/V, I/mA, cycle number, Temperature/°C
COLUMNS = ((4, "<f8"), (6, "<f4"), (8, "<f4"), (24, "<f8"), (462, "<f4"))
CURRENT_MA = 100.0
CHARGE_S, DISCHARGE_S, STEP_S = 3600.0, 3000.0, 60.0


def module(shortname: bytes, data: bytes, module_version: int) -> bytes:
    header = np.zeros(1, dtype=MODULE_HEADER)
    header["shortname"], header["longname"] = shortname, shortname.strip()
    header["length"], header["version"], header["date"] = len(data), module_version, b"11/25/26"
    return b"MODULE" + header.tobytes() + data


def galvanostatic_records(n_cycles: int) -> np.ndarray:
    rows = []
    t = 0.0
    for cycle in range(n_cycles):
        for phase, (duration, current, v0, v1) in enumerate(
                ((CHARGE_S, CURRENT_MA, 3.5, 4.1), (DISCHARGE_S, -CURRENT_MA, 4.1, 3.0))):
            steps = int(duration / STEP_S)
            for k in range(steps + (phase == 1 and cycle == n_cycles - 1)):
                rows.append((t, v0 + (v1 - v0) * k / steps, current, float(cycle), 25.0))
                t += STEP_S
    dtype = np.dtype([(f"c{i}", kind) for i, (_, kind) in enumerate(COLUMNS)])
    return np.array(rows, dtype=dtype)


def write_mpr(path: Path, records: np.ndarray) -> Path:
    ids = np.array([column for column, _ in COLUMNS], dtype="<u2").tobytes()
    head = np.array([len(records)], dtype="<u4").tobytes() + bytes([len(COLUMNS)]) + ids
    data = head.ljust(405, b"\x00") + records.tobytes()
    path.write_bytes(MPR_MAGIC + module(b"VMP Set   ", b"\x00" * 16, 0)
                     + module(b"VMP data  ", data, 2))
    return path


def test_mpr_is_read_with_galvani_and_summarised_by_battdat(tmp_path: Path) -> None:
    parsed = read_cycler_file(write_mpr(tmp_path / "cell_C01.mpr", galvanostatic_records(2)))
    assert parsed.fmt == "biologic"
    assert (parsed.reader, parsed.reader_version) == ("galvani", version("galvani"))
    assert parsed.source_spec().name == "cycler-biologic"
    assert parsed.n_cycles == 2
    values = {(o.observable, o.index): o.value for o in parsed.observations}
    charge_ah = CURRENT_MA / 1000 * CHARGE_S / 3600
    discharge_ah = CURRENT_MA / 1000 * DISCHARGE_S / 3600
    for cycle in (0.0, 1.0):
        assert values[("Charge capacity [A.h]", cycle)] == pytest.approx(charge_ah, rel=0.03)
        assert values[("Discharge capacity [A.h]", cycle)] == pytest.approx(discharge_ah, rel=0.03)
        assert values[("Coulombic efficiency", cycle)] == pytest.approx(
            discharge_ah / charge_ah, rel=0.05)
        assert 3.0 < values[("Mean discharge voltage [V]", cycle)] < 4.1
        assert values[("Mean temperature [K]", cycle)] == pytest.approx(298.15)
    assert ("Internal resistance [Ohm]", 0.0) not in values
    result = parsed.to_result()
    assert result.metadata["reader"] == "galvani" and result.cycles_run == 2


def test_mpr_without_data_rows_is_rejected(tmp_path: Path) -> None:
    empty = write_mpr(tmp_path / "empty.mpr", galvanostatic_records(0))
    with pytest.raises(InvalidInputError) as caught:
        read_cycler_file(empty)
    assert caught.value.field == str(empty)


def test_truncated_mpr_is_rejected(tmp_path: Path) -> None:
    good = write_mpr(tmp_path / "good.mpr", galvanostatic_records(1))
    cut = tmp_path / "cut.mpr"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(InvalidInputError) as caught:
        read_cycler_file(cut, fmt="biologic")
    assert caught.value.field == str(cut) and "biologic" in caught.value.problem
