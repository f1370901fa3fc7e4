"""Write ``coarse_arbin.csv``: a cycling export shaped like a real, coarsely logged test.

Run ``python tests/data/cyclers/make_coarse_arbin.py`` to rewrite the committed file; the
output is deterministic (no random numbers). The test it stands for is a 2.5 A.h cell:

- cycle 1 and 8: capacity checks at C/5, logged every 600 s on the test clock only, so
  rows fall wherever the clock says, never at step ends;
- cycles 2-6, 9-14: 1C cycles with a C/10 top-off, logged every 60 s and at each step end;
- cycle 7: an HPPC test (10 s pulses, 10 % discharges, 1 h rests), logged every 600 s;
- cycle 11: the cycler's discharge counters jump by 2 A.h and 7.4 W.h mid-discharge,
  an artefact a real channel restart leaves; the file's own per-cycle value is then 1.7x
  the cell's capacity, and an importer must flag it, not hide it;
- cycle 12: the discharge is cut short after 6 min, a legitimately low cycle.

Capacity and energy counters (``Charge_Capacity(Ah)`` ...) are cumulative over the whole
test (``csv_text(reset_each_cycle=True)`` gives the other convention: back to zero at
each cycle start) and exact: they are the closed-form integrals of the piecewise-constant current, so
they are what the cycler measured, whatever the logging interval. Integrating the logged
rows instead is what goes wrong on such a file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

NOMINAL_AH = 2.5
EPOCH_S = 1_600_000_000
COLUMNS = ("Data_Point", "Test_Time", "DateTime", "Step_Time", "Step_Index", "Cycle_Index",
           "Current", "Voltage", "Charge_Capacity(Ah)", "Discharge_Capacity(Ah)",
           "Charge_Energy(Wh)", "Discharge_Energy(Wh)", "Internal_Resistance", "Temperature")
RESISTANCE_OHM = 0.03
GLITCH_CYCLE, GLITCH_AH, GLITCH_WH = 11, 2.0, 7.4
CUT_SHORT_CYCLE = 12


@dataclass
class Segment:
    """One step at constant current: ``[t0_s, t1_s]`` with charge ``q0_ah`` stored at t0."""

    t0_s: float
    t1_s: float
    current_a: float
    q0_ah: float
    q_max_ah: float
    cycle: int
    step: int
    log_every_s: float
    log_step_end: bool


def voltage_v(q_ah: float, q_max_ah: float, current_a: float) -> float:
    """Terminal voltage: a linear open-circuit curve plus the ohmic drop."""
    return 3.0 + 1.2 * q_ah / q_max_ah + current_a * RESISTANCE_OHM


class Schedule:
    """Builds the segments of the test, tracking the charge stored in the cell."""

    def __init__(self) -> None:
        self.t_s = 0.0
        self.q_ah = 0.0
        self.segments: list[Segment] = []

    def step(self, cycle: int, step: int, current_a: float, duration_s: float, q_max_ah: float,
             log_every_s: float, log_step_end: bool) -> None:
        self.segments.append(Segment(self.t_s, self.t_s + duration_s, current_a, self.q_ah,
                                     q_max_ah, cycle, step, log_every_s, log_step_end))
        self.t_s += duration_s
        self.q_ah += current_a * duration_s / 3600.0

    def to_charge(self, cycle: int, step: int, current_a: float, q_target_ah: float,
                  q_max_ah: float, log_every_s: float, log_step_end: bool) -> None:
        duration_s = round(max(q_target_ah - self.q_ah, 0.0) / abs(current_a) * 3600.0)
        if duration_s > 0:
            sign = 1.0 if q_target_ah > self.q_ah else -1.0
            self.step(cycle, step, sign * abs(current_a), duration_s, q_max_ah, log_every_s,
                      log_step_end)

    def discharge_to(self, cycle: int, step: int, current_a: float, q_target_ah: float,
                     q_max_ah: float, log_every_s: float, log_step_end: bool) -> None:
        duration_s = round(max(self.q_ah - q_target_ah, 0.0) / abs(current_a) * 3600.0)
        if duration_s > 0:
            self.step(cycle, step, -abs(current_a), duration_s, q_max_ah, log_every_s,
                      log_step_end)


def build_schedule() -> Schedule:
    """The whole test as constant-current steps."""
    s = Schedule()
    for cycle in range(1, 15):
        q_max = 2.56 - 0.004 * cycle
        if cycle in (1, 8):  # capacity check at C/5, time-triggered logging only
            log = {"log_every_s": 600.0, "log_step_end": False}
            s.to_charge(cycle, 1, 0.5, q_max, q_max, **log)
            s.step(cycle, 2, 0.0, 3600.0, q_max, **log)
            s.discharge_to(cycle, 3, 0.5, 0.01, q_max, **log)
            s.step(cycle, 4, 0.0, 3600.0, q_max, **log)
        elif cycle == 7:  # HPPC from full, 10 % steps, 1 h rests
            log = {"log_every_s": 600.0, "log_step_end": False}
            s.to_charge(cycle, 1, 1.25, q_max, q_max, **log)
            for _ in range(9):
                s.step(cycle, 2, 0.0, 3600.0, q_max, **log)
                s.step(cycle, 3, -5.0, 10.0, q_max, **log)
                s.step(cycle, 4, 0.0, 40.0, q_max, **log)
                s.step(cycle, 5, 1.875, 10.0, q_max, **log)
                s.step(cycle, 6, 0.0, 40.0, q_max, **log)
                s.step(cycle, 7, -2.5, 360.0, q_max, **log)
            s.discharge_to(cycle, 8, 0.5, 0.01, q_max, **log)
            s.step(cycle, 9, 0.0, 3600.0, q_max, **log)
        else:  # 1C with a C/10 top-off, fine logging and a row at every step end
            log = {"log_every_s": 60.0, "log_step_end": True}
            s.to_charge(cycle, 1, 2.5, 0.92 * q_max, q_max, **log)
            s.to_charge(cycle, 2, 0.25, q_max, q_max, **log)
            s.step(cycle, 3, 0.0, 1200.0, q_max, **log)
            if cycle == CUT_SHORT_CYCLE:
                s.step(cycle, 4, -2.5, 360.0, q_max, **log)
            else:
                s.discharge_to(cycle, 4, 2.5, 0.12, q_max, **log)
            s.step(cycle, 5, 0.0, 1200.0, q_max, **log)
    return s


def sample_times(segment: Segment, first: bool) -> list[float]:
    """Logging instants inside ``(t0, t1]`` (and t0 for the very first step)."""
    every = segment.log_every_s
    k = int(segment.t0_s // every) + 1
    times = [0.0] if first else []
    while k * every < segment.t1_s:
        times.append(k * every)
        k += 1
    if segment.log_step_end or (segment.t1_s % every == 0):
        times.append(segment.t1_s)
    return times


def rows(reset_each_cycle: bool = False) -> list[tuple[float, ...]]:
    """Every logged row, with exact counters at its instant (cumulative, or reset each cycle)."""
    out: list[tuple[float, ...]] = []
    charge_ah = discharge_ah = charge_wh = discharge_wh = 0.0
    glitched = False
    cycle_start = (0.0, 0.0, 0.0, 0.0)
    previous_cycle = None
    for index, seg in enumerate(build_schedule().segments):
        if seg.cycle != previous_cycle:
            previous_cycle = seg.cycle
            cycle_start = (charge_ah, discharge_ah + GLITCH_AH * glitched, charge_wh,
                           discharge_wh + GLITCH_WH * glitched)
        for t in sample_times(seg, index == 0):
            dt_h = (t - seg.t0_s) / 3600.0
            q = seg.q0_ah + seg.current_a * dt_h
            v0 = voltage_v(seg.q0_ah, seg.q_max_ah, seg.current_a)
            v = voltage_v(q, seg.q_max_ah, seg.current_a)
            moved_ah = abs(seg.current_a) * dt_h
            moved_wh = moved_ah * (v0 + v) / 2.0  # V is linear in t within a step: exact
            c_ah, d_ah, c_wh, d_wh = charge_ah, discharge_ah, charge_wh, discharge_wh
            if seg.current_a > 0:
                c_ah, c_wh = c_ah + moved_ah, c_wh + moved_wh
            elif seg.current_a < 0:
                d_ah, d_wh = d_ah + moved_ah, d_wh + moved_wh
            if seg.cycle == GLITCH_CYCLE and seg.step == 4 and t - seg.t0_s >= 1800.0:
                glitched = True
            if glitched:
                d_ah, d_wh = d_ah + GLITCH_AH, d_wh + GLITCH_WH
            if reset_each_cycle:
                c_ah, d_ah, c_wh, d_wh = (now - start for now, start in zip(
                    (c_ah, d_ah, c_wh, d_wh), cycle_start, strict=True))
            out.append((t, seg.cycle, seg.step, t - seg.t0_s, seg.current_a, v,
                        c_ah, d_ah, c_wh, d_wh))
        moved_ah = abs(seg.current_a) * (seg.t1_s - seg.t0_s) / 3600.0
        v_mean = (voltage_v(seg.q0_ah, seg.q_max_ah, seg.current_a) + voltage_v(
            seg.q0_ah + seg.current_a * (seg.t1_s - seg.t0_s) / 3600.0, seg.q_max_ah,
            seg.current_a)) / 2.0
        if seg.current_a > 0:
            charge_ah, charge_wh = charge_ah + moved_ah, charge_wh + moved_ah * v_mean
        elif seg.current_a < 0:
            discharge_ah, discharge_wh = discharge_ah + moved_ah, discharge_wh + moved_ah * v_mean
    return out


def csv_text(reset_each_cycle: bool = False) -> str:
    """The file's text, Arbin's column names, one row per logged instant."""
    lines = [",".join(COLUMNS)]
    for point, (t, cycle, step, step_t, current, v, c_ah, d_ah, c_wh, d_wh) in enumerate(
            rows(reset_each_cycle), start=1):
        temperature_c = 25.0 + 0.2 * abs(current)
        lines.append(
            f"{point},{t:.1f},{EPOCH_S + t:.1f},{step_t:.1f},{step},{cycle},{current:.4f},"
            f"{v:.5f},{c_ah:.6f},{d_ah:.6f},{c_wh:.6f},{d_wh:.6f},{RESISTANCE_OHM},"
            f"{temperature_c:.2f}")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Write the CSV beside this script (or to the path given)."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name(
        "coarse_arbin.csv")
    target.write_text(csv_text())


if __name__ == "__main__":
    main()
