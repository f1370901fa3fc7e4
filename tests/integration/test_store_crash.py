"""A writer killed with SIGKILL at random moments loses no acknowledged result.

Each trial starts a writer process, lets it submit results (50 observations each,
one transaction per result) for a random 0.05–1.5 s, then kills it. Afterwards every
id the writer acknowledged must be stored with all its observations, nothing may be
half-written, and retrying the result that was in flight with its idempotency key
stores it exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from interphase.store import Store
from support import factories
from support.crash_writer import nth_result

N_TRIALS = 20
N_OBSERVATIONS = 50
KILL_AFTER_S = (0.05, 1.5)
TESTS_DIR = Path(__file__).resolve().parents[1]


def _start_writer(database_url: str, prefix: str, log_dir: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    with (log_dir / f"{prefix}.err").open("w") as errors:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "support.crash_writer", database_url, prefix,
             str(N_OBSERVATIONS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True, env=env,
            cwd=TESTS_DIR,
        )


def _acknowledged(writer: subprocess.Popen[str], log_dir: Path, prefix: str) -> list[str]:
    """Kill-safe read of the writer's acks: only complete lines count."""
    assert writer.stdout is not None
    output = writer.stdout.read()
    lines = output.split("\n")
    complete = lines[:-1]  # text after the last newline was cut off by the kill
    if writer.returncode != -signal.SIGKILL:
        errors = (log_dir / f"{prefix}.err").read_text()
        raise AssertionError(f"writer {prefix} exited with {writer.returncode}:\n{errors}")
    return complete


def test_sigkilled_writer_loses_no_acknowledged_result(store: Store, database_url: str,
                                                       tmp_path: Path, fixed_seeds: int) -> None:
    store.register_source(factories.source_spec())
    timing = random.Random(fixed_seeds)
    acked: dict[str, str] = {}  # result id -> trial
    began = time.monotonic()
    upcoming = _start_writer(database_url, "trial-0", tmp_path)
    for trial in range(N_TRIALS):
        prefix, writer = f"trial-{trial}", upcoming
        with writer:
            assert writer.stdin is not None and writer.stdout is not None
            ready = writer.stdout.readline()
            assert ready == "ready\n", (tmp_path / f"{prefix}.err").read_text()
            writer.stdin.write("go\n")
            writer.stdin.flush()
            if trial + 1 < N_TRIALS:  # the next writer starts up while this one writes
                upcoming = _start_writer(database_url, f"trial-{trial + 1}", tmp_path)
            time.sleep(timing.uniform(*KILL_AFTER_S))
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            acked.update((rid, prefix) for rid in _acknowledged(writer, tmp_path, prefix))
    elapsed = time.monotonic() - began

    with store.engine.connect() as connection:
        stored = {row[0]: (row[1], row[2], row[3]) for row in connection.execute(text(
            "SELECT r.id, r.idempotency_key, r.n_observations, COUNT(o.id) FROM results r "
            "LEFT JOIN observations o ON o.result_id = r.id "
            "GROUP BY r.id, r.idempotency_key, r.n_observations"))}
    lost = sorted(set(acked) - set(stored))
    partial = sorted(rid for rid, (_, want, have) in stored.items()
                     if have != want or want != N_OBSERVATIONS)
    unacked = len(set(stored) - set(acked))  # committed, killed before the ack: allowed
    summary = (f"{N_TRIALS} trials in {elapsed:.1f} s on {store.backend}: {len(acked)} acked, "
               f"{len(lost)} lost, {len(partial)} partial, {unacked} committed but not acked")
    assert acked, f"no writer got to acknowledge a result; {summary}"
    assert not lost, f"acknowledged results missing: {lost[:5]}; {summary}"
    assert not partial, f"results with missing observations: {partial[:5]}; {summary}"
    assert store.integrity_problems() == [], summary
    print(summary)
    last_of_each_trial = {trial: rid for rid, trial in acked.items()}
    for rid in last_of_each_trial.values():
        assert store.get_result(rid).result.observations == factories.observations(N_OBSERVATIONS)

    # Recovery as a client does it: resend the result that was in flight, same key.
    for trial in range(N_TRIALS):
        prefix = f"trial-{trial}"
        in_flight = sum(1 for t in acked.values() if t == prefix)
        store.submit_result(nth_result(in_flight, N_OBSERVATIONS),
                            idempotency_key=f"{prefix}-{in_flight}")
    with store.engine.connect() as connection:
        keys = sorted(connection.execute(text("SELECT idempotency_key FROM results")).scalars())
    expected = sorted(f"trial-{trial}-{i}" for trial in range(N_TRIALS)
                      for i in range(1 + sum(1 for t in acked.values() if t == f"trial-{trial}")))
    assert keys == expected, summary
    assert store.integrity_problems() == [], summary
