"""One engine per campaign, across real processes on a real SQLite store.

Each ``interphase run`` / ``resume`` is its own process (``python -m interphase.cli.main``), as a
user's would be. A running engine is paused with SIGSTOP at a moment it holds no write lock, so
that the store can be compared before and after another process tries the same campaign: that
process must exit 2 with one line naming the campaign, the holder's PID and host, and must
write nothing. ``--take-over`` takes a live holder's campaign, and the old holder, woken, stops
without writing; a holder killed with SIGKILL is taken over by a plain ``resume``; Ctrl-C
releases the lease.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from interphase.store import Store
from interphase.store.tables import RequestRow, StatusLogRow

pytestmark = pytest.mark.timeout(600)

CONFIG = """\
name: crash
world: electrolyte-conductivity
strategy: gp-qlogei
seed: 3
budget: {lab_hours: 30}
stop: {replicates: 2, until_verified: false}
"""


def interphase(db: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYBAMM_DISABLE_TELEMETRY": "true", "COLUMNS": "400"}
    return subprocess.Popen([sys.executable, "-m", "interphase.cli.main", "--db", str(db), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def finish(process: subprocess.Popen[bytes], timeout_s: float = 300.0) -> tuple[int, str]:
    """Wait for ``process``; its exit code and standard error."""
    _, err = process.communicate(timeout=timeout_s)
    return process.returncode, err.decode()


def decisions(db: Path) -> int:
    if not db.exists():
        return 0
    connection = sqlite3.connect(db, timeout=30)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "decisions" not in tables:
            return 0
        return connection.execute("SELECT count(*) FROM decisions").fetchone()[0]
    finally:
        connection.close()


def wait_for_progress(process: subprocess.Popen[bytes], db: Path, before: int,
                      timeout_s: float = 120.0) -> None:
    """Wait until ``process`` has logged a decision beyond ``before``."""
    deadline = time.monotonic() + timeout_s
    while decisions(db) <= before:
        assert process.poll() is None, finish(process)[1]
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, the lease included."""
    connection = sqlite3.connect(db, timeout=30)
    try:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {table: connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in tables}
    finally:
        connection.close()


def lease_pid(db: Path, campaign: str = "crash") -> int | None:
    connection = sqlite3.connect(db, timeout=30)
    try:
        row = connection.execute("SELECT pid FROM campaign_leases WHERE campaign = ?", (campaign,)).fetchone()
        return None if row is None else int(row[0])
    finally:
        connection.close()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def pause_outside_a_write(process: subprocess.Popen[bytes], db: Path) -> None:
    """SIGSTOP ``process`` at a moment it holds no write lock on ``db`` (else another writer would wait)."""
    for _ in range(200):
        process.send_signal(signal.SIGSTOP)
        while _state(process.pid) not in ("T", "t"):
            time.sleep(0.01)
        connection = sqlite3.connect(db, timeout=0.2, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            pass
        finally:
            connection.close()
        process.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("the engine always held a write lock")


def refusal(pid: int) -> re.Pattern[str]:
    return re.compile(rf"^error: campaign 'crash' is running in process {pid} on host "
                      rf"{re.escape(socket.gethostname())} since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC.*; "
                      r"wait or use --take-over after it is dead$")


def check_store(db: Path) -> None:
    """Sound, every request claimed once and answered once, and one ``finished`` decision."""
    store = Store(str(db))
    try:
        assert store.integrity_problems() == []
        with store.engine.connect() as connection:
            requests = connection.execute(select(RequestRow.id)).scalars().all()
            claims = connection.execute(select(StatusLogRow.entity_id).where(
                StatusLogRow.entity == "request", StatusLogRow.status == "claimed")).scalars().all()
        assert sorted(claims) == sorted(requests), "a request launched twice, or never"
        results = store.list_results(campaign="crash")
        assert sorted(r.request_id for r in results) == sorted(requests)
        assert [d.chosen["kind"] for d in store.list_decisions("crash")].count("finished") == 1
    finally:
        store.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crash.yaml"
    path.write_text(CONFIG)
    return path


def test_a_second_process_is_refused_a_live_holder_is_taken_over_and_a_dead_one_by_resume(
        config: Path, tmp_path: Path) -> None:
    db = tmp_path / "lease.db"
    report = ("--quiet", "--report", str(tmp_path / "report"))
    first = interphase(db, "run", str(config), *report)
    try:
        wait_for_progress(first, db, 0)
        pause_outside_a_write(first, db)
        before = snapshot(db)
        assert lease_pid(db) == first.pid

        # A second run and a resume of the held campaign: one line, exit 2, nothing written.
        for args in (("run", str(config)), ("resume", "crash")):
            code, err = finish(interphase(db, *args, *report), 120)
            assert code == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and refusal(first.pid).match(lines[0]), err
            assert "Traceback" not in err
            assert snapshot(db) == before

        # --take-over from the (paused, alive) holder; killed once it has made progress.
        taker = interphase(db, "resume", "crash", "--take-over", *report)
        wait_for_progress(taker, db, len(before["decisions"]))
        taker.send_signal(signal.SIGKILL)
        finish(taker)
        assert lease_pid(db) == taker.pid

        # The old holder, woken, finds its lease gone and stops without writing.
        after_taker = snapshot(db)
        first.send_signal(signal.SIGCONT)
        code, err = finish(first, 120)
        assert code == 2, err
        assert re.match(rf"^error: campaign 'crash' was taken over by process {taker.pid} on host ", err), err
        assert snapshot(db) == after_taker

        # The taker died (same host, PID gone): a plain resume takes the campaign and ends it.
        code, err = finish(interphase(db, "resume", "crash", *report))
        assert code == 0, err
        assert lease_pid(db) is None  # released at the normal end
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGCONT)
            first.kill()
            finish(first)
    check_store(db)


@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_releases_the_lease(config: Path, tmp_path: Path, stop: signal.Signals,
                                              exit_code: int) -> None:
    db = tmp_path / "interrupted.db"
    process = interphase(db, "run", str(config), "--quiet", "--report", str(tmp_path / "report"))
    try:
        wait_for_progress(process, db, 0)
        assert lease_pid(db) == process.pid
        process.send_signal(stop)
        code, err = finish(process, 120)
    finally:
        if process.poll() is None:
            process.kill()
            finish(process)
    # 130 is typer's exit code for Ctrl-C; 143 is 128 + SIGTERM, as a shell reports it
    assert code == exit_code and "Traceback" not in err, err
    assert lease_pid(db) is None
