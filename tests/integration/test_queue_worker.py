"""Queue workers against a real store and the emulated lab: results, paced cycles, stop orders, the CLI.

The store tests run on SQLite and PostgreSQL; the CLI tests on a SQLite file.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from interphase.execution import LocalExecutor
from interphase.execution.launch import RUN_THREAD_PREFIX
from interphase.execution.pacing import pace_of
from interphase.execution.queue_worker import QueueWorker, WorkerStats
from interphase.schema import (
    Cost,
    Design,
    FailureKind,
    Protocol,
    RequestStatus,
    Result,
    ResultStatus,
    StopRule,
)
from interphase.sources import Source
from interphase.store import Store
from interphase.store.io.cyclers import read_cycler_file
from interphase.store.queue import Claim, WorkQueue
from interphase.store.tables import CycleChunkRow, RequestRow
from support import factories
from support.cli import cli, counts
from support.queue_lab import LAB, WORLD, LabRequests, queue_lab_requests

MACCOR_FILE = Path(__file__).resolve().parents[2] / "src/interphase/data/cyclers/maccor_example.001"
DAY_PER_SECOND = 24 * 3600.0
"""A time scale at which the lab's 24 h of set-up take a second and a cycle about a tenth."""


def same_run(stored: Result, own: Result) -> None:
    """The stored result is the source's own result (provenance and the emulator's CPU time aside)."""
    assert stored.status is own.status and stored.cycles_run == own.cycles_run
    assert stored.observations == own.observations
    assert stored.cost == own.cost and stored.message == own.message
    assert without_timing(stored.metadata) == without_timing(own.metadata)


def without_timing(metadata: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in metadata.items() if key != "emulator_cpu_seconds"}


def result_of(store: Store, request_id: str) -> Result:
    (stored,) = [r for r in store.list_results() if r.request_id == request_id]
    return stored.result


def status_at(store: Store, request_id: str, status: str) -> datetime:
    return next(e.at for e in store.status_history(request_id) if e.status == status)


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def run_in_thread(worker: QueueWorker, **kwargs: object) -> tuple[threading.Thread, list[WorkerStats]]:
    out: list[WorkerStats] = []
    thread = threading.Thread(target=lambda: out.append(worker.run(**kwargs)), daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread, out


@pytest.mark.timeout(60)
def test_an_unpaced_worker_posts_each_source_result_for_its_seed(store: Store) -> None:
    lab = queue_lab_requests(store, 3)
    lines: list[str] = []
    worker = QueueWorker(store, {LAB: lab.source}, name="sim-worker", slots=2, lease_s=10, poll_s=0.1,
                         on_event=lines.append)
    stats = worker.run(max_requests=3)
    assert (stats.claimed, stats.posted, stats.stopped, stats.refused, stats.lost) == (3, 3, 0, 0, 0)
    work = WorkQueue(store)
    for i, request_id in enumerate(lab.request_ids):
        same_run(result_of(store, request_id), lab.own_result(i))
        history = [e.status for e in store.status_history(request_id)]
        assert history == ["queued", "claimed", "running", "done"]
        assert store.get_request(request_id).claimed_by == "sim-worker"
        assert work.streamed(request_id) == (0, [])  # only paced runs stream
    assert sum(line.startswith("posted ") for line in lines) == 3


@pytest.mark.timeout(60)
def test_paced_cycles_stream_in_order_when_due_and_equal_the_result(store: Store) -> None:
    lab = queue_lab_requests(store, 1, n_cycles=8)
    (request_id,) = lab.request_ids
    own = lab.own_result(0)
    assert own.status is ResultStatus.SUCCEEDED and own.cycles_run == 8
    seen: list[int] = []  # cycles streamed, as the test saw them grow while the request ran
    scale = DAY_PER_SECOND / 2  # 2 s of set-up, then a cycle about every 0.2 s
    worker = QueueWorker(store, {LAB: lab.source}, time_scale=scale, lease_s=5, poll_s=0.1)
    thread, out = run_in_thread(worker, max_requests=1)
    work = WorkQueue(store)
    while thread.is_alive():
        _, observations = work.streamed(request_id)
        if observations and store.get_request(request_id).status is RequestStatus.RUNNING:
            seen.append(int(max(o.index for o in observations)))
        time.sleep(0.05)
    thread.join()
    assert out[0].posted == 1
    same_run(result_of(store, request_id), own)
    assert seen == sorted(seen) and 0 < seen[0] < 8  # cycles arrived before the result, in order
    attempt, streamed = work.streamed(request_id)
    assert attempt == 1 and streamed == sorted((o for o in own.observations if o.index_unit == "cycle"),
                                               key=lambda o: (o.index, o.observable))
    pace = pace_of(own, scale)
    claimed_at = status_at(store, request_id, "claimed")
    with store._session() as session:
        chunks = session.scalars(select(CycleChunkRow).where(CycleChunkRow.request_id == request_id)
                                 .order_by(CycleChunkRow.created_at)).all()
        ranges = [(c.first_cycle, c.last_cycle, (c.created_at - claimed_at).total_seconds()) for c in chunks]
    assert ranges[0][0] == 1 and ranges[-1][1] == 8
    assert all(later[0] == earlier[1] + 1 for earlier, later in zip(ranges, ranges[1:], strict=False))
    assert all(after_s >= pace.cycle_due_s(last) - 0.05 for _, last, after_s in ranges)  # none early
    posted_s = (status_at(store, request_id, "done") - claimed_at).total_seconds()
    assert posted_s >= pace.end_s - 0.05


@pytest.mark.timeout(60)
def test_a_stop_order_mid_run_posts_the_stopped_test_with_the_cycles_up_to_it(store: Store) -> None:
    lab = queue_lab_requests(store, 1, n_cycles=8)
    (request_id,) = lab.request_ids
    full = lab.own_result(0)  # also warms the source up, so that the worker's run is quick
    assert full.status is ResultStatus.SUCCEEDED and full.cycles_run == 8
    scale = DAY_PER_SECOND / 2
    worker = QueueWorker(store, {LAB: lab.source}, time_scale=scale, lease_s=3, beat_s=0.2, poll_s=0.1)
    thread, out = run_in_thread(worker, max_requests=1)
    work = WorkQueue(store)
    wait_until(lambda: store.get_request(request_id).status is RequestStatus.RUNNING)
    assert work.order_stop(request_id, 3, "test: predicted to miss")  # the test is in its set-up (2 s)
    thread.join()
    assert (out[0].posted, out[0].stopped) == (1, 1)
    stopped = result_of(store, request_id)
    assert stopped.status is ResultStatus.STOPPED and stopped.cycles_run == 3
    assert {o.index for o in stopped.observations} == {1, 2, 3}
    cut = lab.protocol.model_copy(update={"stop": StopRule(at_cycle=3)})
    same_run(stopped, lab.own_result(0, cut))
    assert stopped.observations == tuple(o for o in full.observations if o.index <= 3)
    assert store.get_request(request_id).status is RequestStatus.STOPPED
    claimed_at = status_at(store, request_id, "claimed")
    posted_s = (status_at(store, request_id, "stopped") - claimed_at).total_seconds()
    assert posted_s >= pace_of(full, scale).cycle_due_s(3) - 0.05  # when cycle 3 ended, not before


@pytest.mark.timeout(60)
def test_a_stop_order_past_the_last_cycle_lets_the_test_finish(store: Store) -> None:
    lab = queue_lab_requests(store, 1, n_cycles=4)
    (request_id,) = lab.request_ids
    WorkQueue(store).order_stop(request_id, 10, "test: beyond the protocol")
    stats = QueueWorker(store, {LAB: lab.source}, time_scale=4 * DAY_PER_SECOND, lease_s=3, beat_s=0.1,
                        poll_s=0.1).run(max_requests=1)
    assert (stats.posted, stats.stopped) == (1, 0)
    same_run(result_of(store, request_id), lab.own_result(0))


@pytest.mark.timeout(60)
def test_stopping_the_worker_leaves_its_claims_unposted_for_their_leases_to_lapse(store: Store) -> None:
    lab = queue_lab_requests(store, 2)
    stop = threading.Event()
    worker = QueueWorker(store, {LAB: lab.source}, slots=2, time_scale=3600.0, lease_s=5, poll_s=0.1)
    thread, out = run_in_thread(worker, stop=stop)
    while worker.held < 2:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert (out[0].claimed, out[0].posted, out[0].lost) == (2, 0, 0)
    # The run computing as the worker stopped ends in the background; it must end before the
    # next test, because the lab's solver points sys.stderr elsewhere while it computes, and the
    # CLI tests' runner swaps sys.stderr too.
    for thread in [t for t in threading.enumerate() if t.name.startswith(RUN_THREAD_PREFIX)]:
        thread.join(timeout=30)
    assert store.list_results() == []
    held = {RequestStatus.CLAIMED, RequestStatus.RUNNING}
    assert {store.get_request(i).status for i in lab.request_ids} <= held


@pytest.mark.timeout(30)
def test_the_worker_refuses_bad_settings_by_field_before_claiming(store: Store) -> None:
    lab = queue_lab_requests(store, 1)
    for settings, field in (({"slots": 0}, "slots"), ({"time_scale": -1.0}, "time_scale"),
                            ({"lease_s": 2, "beat_s": 3}, "beat_s")):
        with pytest.raises(Exception, match=field) as caught:
            QueueWorker(store, {LAB: lab.source}, **settings).run(max_requests=1)  # type: ignore[arg-type]
        assert getattr(caught.value, "field", None) == field
    assert store.get_request(lab.request_ids[0]).status is RequestStatus.QUEUED


class GatedLab(Source):
    """The lab source, whose runs wait for the test to open the gate (a run the test can hold)."""

    def __init__(self, lab: Source) -> None:
        self.lab = lab
        self.spec = lab.spec
        self.design_space = lab.design_space
        self.gate = threading.Event()

    def estimate_cost(self, design: Design, protocol: Protocol) -> Cost:
        return self.lab.estimate_cost(design, protocol)

    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        assert self.gate.wait(timeout=30)
        return self.lab.run(design, protocol, seed=seed)


def lapse_and_steal(store: Store, request_id: str) -> Claim:
    """End the holder's lease now (as if its beats had stopped) and claim the request as ``thief``."""
    with store._session() as session:
        session.execute(update(RequestRow).where(RequestRow.id == request_id)
                        .values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    (stolen,) = WorkQueue(store, lease_s=30).claim("thief")
    assert stolen.request_id == request_id and stolen.attempt == 2
    return stolen


@pytest.mark.timeout(60)
def test_a_result_posted_after_the_lease_moved_on_is_refused_and_counted(store: Store) -> None:
    lab = queue_lab_requests(store, 1)
    (request_id,) = lab.request_ids
    gated = GatedLab(lab.source)
    lines: list[str] = []
    worker = QueueWorker(store, {LAB: gated}, name="slow-worker", lease_s=30, beat_s=20, poll_s=0.1,
                         on_event=lines.append)
    thread, out = run_in_thread(worker, max_requests=1)
    wait_until(lambda: store.get_request(request_id).status is RequestStatus.RUNNING)
    stolen = lapse_and_steal(store, request_id)
    gated.gate.set()  # the run ends; no heartbeat falls between the theft and the post
    thread.join()
    assert (out[0].claimed, out[0].posted, out[0].refused, out[0].lost) == (1, 0, 1, 0)
    assert any(line.startswith(f"refused {request_id}: ") and "now held by 'thief'" in line for line in lines)
    history = store.status_history(request_id)
    assert history[-1].status == "refused" and history[-1].detail.startswith("slow-worker: ")
    WorkQueue(store).post(stolen, lab.own_result(0))
    same_run(result_of(store, request_id), lab.own_result(0))


@pytest.mark.timeout(60)
def test_a_claim_lost_at_a_heartbeat_is_dropped_without_a_post(store: Store) -> None:
    lab = queue_lab_requests(store, 1)
    (request_id,) = lab.request_ids
    gated = GatedLab(lab.source)
    worker = QueueWorker(store, {LAB: gated}, lease_s=30, beat_s=0.2, poll_s=0.1)
    thread, out = run_in_thread(worker, max_requests=1)
    wait_until(lambda: store.get_request(request_id).status is RequestStatus.RUNNING)
    lapse_and_steal(store, request_id)
    thread.join()  # the next beat finds the request held by the thief
    gated.gate.set()
    assert (out[0].claimed, out[0].posted, out[0].refused, out[0].lost) == (1, 0, 0, 1)
    assert store.list_results() == [] and store.get_request(request_id).claimed_by == "thief"
    for thread in [t for t in threading.enumerate() if t.name.startswith(RUN_THREAD_PREFIX)]:
        thread.join(timeout=30)


@pytest.mark.timeout(120)
def test_a_worker_on_local_processes_posts_the_same_results(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "executor.db"))
    try:
        store.init()
        lab = queue_lab_requests(store, 3)
        with LocalExecutor(2, failure_limit=None) as executor:
            worker = QueueWorker(store, {LAB: lab.source}, slots=2, world=WORLD, executor=executor,
                                 lease_s=30, poll_s=0.1)
            stats = worker.run(max_requests=3)
        assert (stats.claimed, stats.posted, stats.lost) == (3, 3, 0)
        for i, request_id in enumerate(lab.request_ids):
            same_run(result_of(store, request_id), lab.own_result(i))
    finally:
        store.close()


# ---------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def lab_db(tmp_path: Path) -> tuple[Path, LabRequests]:
    db = tmp_path / "lab.db"
    store = Store(str(db))
    try:
        store.init()
        return db, queue_lab_requests(store, 2)
    finally:
        store.close()


@pytest.mark.timeout(60)
def test_cli_worker_runs_the_queue_and_keeps_a_claims_log(lab_db: tuple[Path, LabRequests],
                                                           tmp_path: Path) -> None:
    db, lab = lab_db
    log = tmp_path / "claims.jsonl"
    ran = cli(db, "worker", "--source", LAB, "--world", WORLD, "--slots", "2", "--max-requests", "2",
              "--poll-seconds", "0.1", "--name", "cli-worker", "--claims-log", str(log))
    assert ran.exit_code == 0, ran.output
    assert "worker cli-worker: claimed 2, posted 2 (0 stopped), refused 0, lost 0" in ran.stdout
    store = Store(str(db))
    try:
        for i, request_id in enumerate(lab.request_ids):
            same_run(result_of(store, request_id), lab.own_result(i))
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        assert sorted(e["request_id"] for e in entries) == sorted(lab.request_ids)
        assert {(e["worker"], e["attempt"], e["source"], len(e["token"])) for e in entries} == {
            ("cli-worker", 1, LAB, 32)}
    finally:
        store.close()


@pytest.mark.timeout(30)
def test_cli_unknown_source_exits_2_naming_the_allowed_ones_and_writes_nothing(
        lab_db: tuple[Path, LabRequests], tmp_path: Path) -> None:
    db, _ = lab_db
    before = counts(db)
    log = tmp_path / "claims.jsonl"
    ran = cli(db, "worker", "--source", "lab-cel", "--world", WORLD, "--claims-log", str(log))
    assert ran.exit_code == 2
    assert ran.stderr.startswith("error: --source: unknown source(s) 'lab-cel'; allowed: registry: ")
    assert f"world {WORLD}: pybamm-spm, pybamm-spme, pybamm-dfn, lab-cell, post-mortem" in ran.stderr
    assert counts(db) == before and not log.exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("args", "message"), [
    (("--slots", "0"), "error: --slots: 0 is not allowed"),
    (("--time-scale", "-2"), "error: --time-scale: -2 is not allowed"),
    (("--lease-seconds", "0"), "error: --lease-seconds: 0 is not allowed"),
    (("--executor", "foo"), "'foo' is not one of 'local', 'ray'"),
    (("--drop", "*.csv"), "error: --drop: only applies with --command"),
    (("--command", "cycle {out_dir}"), "error: --command: needs --drop GLOB"),
    (("--command", "cycle {outdir}", "--drop", "*.csv"), "error: --command: unknown placeholder(s) {outdir}"),
    (("--command", "cycle", "--drop", "../x.csv"), "error: --drop: '../x.csv' must be relative"),
    (("--command", "cycle", "--drop", "x.csv", "--executor", "local"), "error: --executor: does not apply"),
])
def test_cli_bad_options_exit_2_naming_the_option(lab_db: tuple[Path, LabRequests], args: tuple[str, ...],
                                                  message: str) -> None:
    db, _ = lab_db
    before = counts(db)
    ran = cli(db, "worker", "--source", LAB, "--world", WORLD, *args)
    assert ran.exit_code == 2 and message in ran.stderr
    assert counts(db) == before


def queue_instrument_request(db: Path) -> tuple[str, tuple[str, ...]]:
    """A campaign whose one request is for a registered cycler instrument; returns its id and observables."""
    observables = ("Discharge capacity [A.h]", "Charge capacity [A.h]")
    spec = factories.source_spec("bench-cycler", technique="experiment", observables=observables)
    store = Store(str(db))
    try:
        store.init()
        seeded = factories.seed_campaign(store, name="bench", n_designs=1, sources=(spec,))
        request = store.create_request(factories.request("bench", seeded.design_ids[0], source="bench-cycler",
                                                         seed=5, protocol_=factories.protocol(n_cycles=1)))
        return request.id, observables
    finally:
        store.close()


@pytest.mark.timeout(60)
def test_cli_command_instrument_imports_the_dropped_file_as_the_result(tmp_path: Path) -> None:
    db = tmp_path / "instrument.db"
    request_id, observables = queue_instrument_request(db)
    copy = "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2] + '/cell.001')"
    template = f'"{sys.executable}" -c "{copy}" "{MACCOR_FILE}" {{out_dir}}'
    ran = cli(db, "worker", "--source", "bench-cycler", "--command", template, "--drop", "*.001",
              "--work-dir", str(tmp_path / "runs"), "--max-requests", "1", "--poll-seconds", "0.1")
    assert ran.exit_code == 0, ran.output
    assert "posted 1" in ran.stdout
    store = Store(str(db))
    try:
        result = result_of(store, request_id)
    finally:
        store.close()
    parsed = read_cycler_file(MACCOR_FILE)
    assert result.status is ResultStatus.SUCCEEDED and result.source == "bench-cycler"
    assert result.observations == tuple(o for o in parsed.observations if o.observable in observables)
    assert result.cost.lab_hours == pytest.approx(parsed.lab_hours) and result.cycles_run == parsed.n_cycles
    assert result.metadata["file_sha256"] == parsed.sha256 and result.provenance.seed == 5
    assert result.metadata["undeclared_observables_left_out"] == [
        "Charge energy [W.h]", "Cycle duration [s]", "Discharge energy [W.h]"]
    assert Path(result.metadata["out_dir"]).parent == tmp_path / "runs"


@pytest.mark.timeout(60)
def test_cli_command_instrument_that_fails_posts_a_failed_result_saying_why(tmp_path: Path) -> None:
    db = tmp_path / "instrument.db"
    request_id, _ = queue_instrument_request(db)
    fail = "import sys; print('cycler channel 3 offline', file=sys.stderr); sys.exit(3)"
    ran = cli(db, "worker", "--source", "bench-cycler", "--command", f'"{sys.executable}" -c "{fail}"',
              "--drop", "*.001", "--work-dir", str(tmp_path / "runs"), "--max-requests", "1",
              "--poll-seconds", "0.1")
    assert ran.exit_code == 0, ran.output
    store = Store(str(db))
    try:
        result = result_of(store, request_id)
    finally:
        store.close()
    assert result.status is ResultStatus.FAILED and result.failure_kind is FailureKind.TRANSIENT
    assert result.message == "the command exited with code 3: cycler channel 3 offline"
