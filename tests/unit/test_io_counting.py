"""Per-cycle values from cycler counters, and the flags on implausible cycles."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interphase.store.io.counters import (
    CUMULATIVE,
    RESET_EACH_CYCLE,
    UNDETERMINED,
    CounterColumn,
    apply_counters,
    per_cycle,
    row_increments,
)
from interphase.store.io.flags import flag_cycles
from support.mpr_files import write_mpr

pytestmark = pytest.mark.timeout(60)

CYCLES = np.array([0, 0, 0, 1, 1, 1, 2, 2])


def test_cumulative_counter_takes_the_increment_since_the_previous_cycle() -> None:
    # The second cycle's first row is already 0.4 A.h in: max - min would say 0.6, not 1.0.
    values = np.array([0.0, 0.5, 1.0, 1.4, 1.8, 2.0, 2.9, 3.0])
    increments, convention = row_increments(values, CYCLES)
    assert convention == CUMULATIVE
    sums, _ = per_cycle(CounterColumn("capacity_charge", "Q", values, CYCLES))
    assert sums.to_dict() == pytest.approx({0: 1.0, 1: 1.0, 2: 1.0})
    assert increments.min() >= 0.0


def test_counter_reset_each_cycle_counts_from_zero() -> None:
    # Cycle 2's first row (1.2) is above cycle 1's last (1.1): no visible drop, still a reset.
    values = np.array([0.2, 0.6, 1.0, 0.3, 0.9, 1.1, 1.2, 1.3])
    _, convention = row_increments(values, np.array([0, 0, 0, 1, 1, 1, 2, 2]))
    assert convention == RESET_EACH_CYCLE
    sums, _ = per_cycle(CounterColumn("capacity_charge", "Q", values, CYCLES))
    assert sums.to_dict() == pytest.approx({0: 1.0, 1: 1.1, 2: 1.3})


def test_resets_within_a_cycle_restart_the_count() -> None:
    # BioLogic-style half-cycle counter: back to zero at each half cycle.
    values = np.array([0.0, 0.5, 1.0, 0.0, 0.0, 0.4, 0.8, 0.1])
    cycles = np.zeros(8, dtype=np.int64)
    sums, convention = per_cycle(CounterColumn("capacity_charge", "Q", values, cycles))
    assert convention == UNDETERMINED
    assert sums[0] == pytest.approx(1.0 + 0.8 + 0.1)


def test_counts_mask_splits_one_counter_by_state() -> None:
    # Maccor: one Amp-hr counter per step; the state says charge or discharge.
    values = np.array([0.0, 0.5, 1.0, 0.3, 0.9])
    state = np.array(["C", "C", "C", "D", "D"])
    cycles = np.zeros(5, dtype=np.int64)
    charge, _ = per_cycle(CounterColumn("capacity_charge", "Amp-hr", values, cycles, state == "C"))
    discharge, _ = per_cycle(CounterColumn("capacity_discharge", "Amp-hr", values, cycles,
                                           state == "D"))
    assert (charge[0], discharge[0]) == pytest.approx((1.0, 0.9))


def test_apply_counters_replaces_only_counted_columns() -> None:
    summary = pd.DataFrame({"cycle_number": [0, 1], "capacity_charge": [9.0, 9.0],
                            "capacity_discharge": [7.0, 7.0]})
    counter = CounterColumn("capacity_charge", "Charge_Capacity(Ah)",
                            np.array([0.0, 1.0, 1.5, 2.0]), np.array([0, 0, 1, 1]))
    out, methods = apply_counters(summary, [counter])
    assert out["capacity_charge"].tolist() == pytest.approx([1.0, 1.0])
    assert out["capacity_discharge"].tolist() == [7.0, 7.0]
    assert summary["capacity_charge"].tolist() == [9.0, 9.0]  # the input is left alone
    assert methods == {"capacity_charge": "cycler column 'Charge_Capacity(Ah)' "
                                          "(cumulative over the test)"}


def capacities(values: list[float]) -> dict[str, pd.Series]:
    return {"Discharge capacity [A.h]": pd.Series(values, index=range(len(values)))}


def test_flags_over_nominal_and_jumps() -> None:
    values = [2.5, 2.4, 2.4, 4.4, 2.4, 0.0, 2.4, 2.6, 2.4, math.nan]
    flags = flag_cycles(capacities(values), nominal_capacity_ah=2.5, first_file_cycle=1)
    by_cycle = {f.cycle: f for f in flags}
    assert set(by_cycle) == {3, 5}
    assert "exceeds the nominal 2.5 A.h" in by_cycle[3].reason
    assert "times the median of its neighbours (2.4 A.h)" in by_cycle[3].reason
    assert by_cycle[5].reason.startswith("only 0 of the median")
    assert by_cycle[3].file_cycle == 4
    assert by_cycle[3].to_dict()["value"] == 4.4


def test_no_jump_flags_without_enough_neighbours() -> None:
    assert flag_cycles(capacities([1.0, 5.0]), None) == ()
    assert flag_cycles(capacities([0.0, 0.0, 0.0, 2.0]), None) == ()
    over = flag_cycles(capacities([3.0]), nominal_capacity_ah=2.5)
    assert [f.cycle for f in over] == [0]


def test_slow_capacity_check_is_not_a_jump() -> None:
    assert flag_cycles(capacities([2.4, 2.4, 2.4, 2.6, 2.4, 2.4, 2.4]), 2.5) == ()


def test_counter_columns_from_an_mpr(tmp_path: Path) -> None:
    """EC-Lab's Q charge/discharge counters, read through galvani, win over integration."""
    from interphase.store.io import read_cycler_file

    path = write_mpr(tmp_path / "counters.mpr")
    parsed = read_cycler_file(path)
    values = {(o.observable, o.index): o.value for o in parsed.observations}
    assert values[("Charge capacity [A.h]", 0.0)] == pytest.approx(0.123)
    assert values[("Discharge capacity [A.h]", 0.0)] == pytest.approx(0.111)
    assert values[("Charge energy [W.h]", 1.0)] == pytest.approx(0.5)
    assert parsed.observable_sources["Charge capacity [A.h]"].startswith(
        "cycler column 'Q charge/mA.h'")
