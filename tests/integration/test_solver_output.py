"""What a solver prints goes into the result, not onto the terminal.

SUNDIALS writes its errors from C to file descriptor 2. The failing solve here is a real one: a
world whose SPM declares an absolute tolerance of 1e-200, which IDAS cannot work to (it prints
``[ERROR][rank 0][.../idas.c:...][IDASolve] ...`` and gives up in the first step). The command
runs in a subprocess, so that what reaches its fd 2 can be read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from interphase.agent.live import last_failure
from interphase.sources.pybamm_cell.solver_output import captured_solver_output, solver_summary
from interphase.sources.world import load_world
from interphase.store import Store

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def bad_tolerance_world(tmp_path: Path) -> Path:
    """sei-life with one source, an SPM whose solver is asked for an absolute tolerance of 1e-200."""
    world = load_world("sei-life").model_dump(mode="json", exclude_none=True)
    world["sources"] = {"pybamm-spm": {**world["sources"]["pybamm-spm"], "atol": 1e-200}}
    world["name"] = "bad-tolerance"
    world.pop("truth", None)
    path = tmp_path / "bad-tolerance.yaml"
    path.write_text(yaml.safe_dump(world))
    return path


def interphase(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process (the interpreter and import path of this one)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "COLUMNS": "240",
           "PYBAMM_DISABLE_TELEMETRY": "true"}
    return subprocess.run([sys.executable, "-m", "interphase.cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=150, check=False)


def test_a_failed_solve_keeps_the_solvers_text_in_its_result_and_off_the_terminal(
        tmp_path: Path, bad_tolerance_world: Path) -> None:
    db = tmp_path / "interphase.db"
    assert interphase("--db", str(db), "db", "init").returncode == 0
    completed = interphase("--db", str(db), "source", "run", "pybamm-spm",
                           "--world", str(bad_tolerance_world), "--cycles", "2")
    assert completed.returncode == 0, completed.stderr
    # Nothing of the solver on the terminal's error stream: not SUNDIALS's C output, not PyBaMM's log.
    assert "[ERROR]" not in completed.stderr and "IDASolve" not in completed.stderr, completed.stderr
    assert "[WARNING]" not in completed.stderr, completed.stderr
    # One line of the command's own output says what the solver said.
    message = [line for line in completed.stdout.splitlines() if line.startswith("message: ")]
    assert len(message) == 1 and "solver: IDASolve: The value tstop" in message[0], completed.stdout
    assert "[rank 0]" not in message[0]  # SUNDIALS's source-file prefix says nothing to a user

    store = Store(str(db))
    try:
        (stored,) = store.list_results()
        result = stored.result
    finally:
        store.close()
    assert result.status.value == "failed" and result.cycles_run == 0
    assert "solver: IDASolve" in result.message
    printed = result.metadata["solver_output"]
    assert any("[IDASolve]" in line and "tstop" in line for line in printed), printed
    # PyBaMM's log lines are kept without their clock time, so a rerun keeps the same record.
    assert all(not line[:4].isdigit() for line in printed), printed


def test_a_capture_takes_fd_2_and_hands_it_back(capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    with captured_solver_output() as printed:
        os.write(2, b"[ERROR][rank 0][/x/idas.c:1][IDAHandleFailure] At t = 5 and h = 1e-9, the corrector "
                    b"convergence failed repeatedly\n")
        os.write(2, b"\n  second line  \n")
        print("a spinner frame", file=sys.stderr)  # Python's stderr still reaches the terminal
    os.write(2, b"after\n")
    seen = capfd.readouterr().err
    assert "IDAHandleFailure" not in seen and "second line" not in seen
    assert "a spinner frame" in seen and "after" in seen
    assert printed.lines[1] == "second line" and len(printed.lines) == 2
    assert solver_summary(printed.lines) == ("IDAHandleFailure: At t = 5 and h = 1e-9, the corrector "
                                             "convergence failed repeatedly")


def test_the_live_view_shows_the_last_failed_run_in_one_line() -> None:
    def run(source: str, status: str, message: str, hour: float) -> SimpleNamespace:
        result = SimpleNamespace(status=SimpleNamespace(value=status), message=message)
        return SimpleNamespace(source=source, result=result, finished_h=hour)

    failed = run("pybamm-spme", "failed", "stopped in cycle 12:\nthe solver stopped; "
                 "solver: IDAHandleFailure: At t = 59157.48", 412.0)
    view = SimpleNamespace(completed=[run("lab-cell", "succeeded", "", 300.0), failed,
                                      run("pybamm-spm", "succeeded", "", 420.0)])
    line = last_failure(view)  # type: ignore[arg-type]
    assert line == ("1 failed run(s); last: pybamm-spme at 412 h: stopped in cycle 12: the solver stopped; "
                    "solver: IDAHandleFailure: At t = 59157.48")
    assert last_failure(SimpleNamespace(completed=[]), 80) is None  # type: ignore[arg-type]
    assert len(last_failure(view, max_chars=40) or "") == 40  # type: ignore[arg-type]
