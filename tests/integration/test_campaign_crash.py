"""A campaign killed with SIGKILL at random points, then resumed, 20 times: nothing lost, nothing twice.

(``make test`` kills it five times on SQLite; ``make test-slow`` twenty times on each backend.)

The campaign runs in a real ``interphase run`` process over a real store (SQLite and
PostgreSQL); each kill comes a random moment after the process has made progress (a new
decision in the store), and each restart is ``interphase resume``. The world is the
conductivity one (real robot data; a test takes half an hour of simulated time and
milliseconds of CPU), the strategy the GP baseline, so a campaign is dozens of decisions.

Counted through the store: every result acknowledged before a kill is still there after it,
unchanged; every request has exactly one ``claimed`` entry in the status log and at most one
result; every decision's runs have their requests; the store is consistent; and the killed
campaign ends with exactly the runs of the same campaign run without interruption (the
strategy and the sources are deterministic), so a resume neither skips nor repeats work.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from interphase.store import Store
from interphase.store.tables import RequestRow, ResultRow, StatusLogRow
from support.campaign_processes import acknowledged, interphase

pytestmark = pytest.mark.timeout(600)

KILLS = 20
CONFIG = """\
name: crash
world: electrolyte-conductivity
strategy: gp-qlogei
seed: 3
budget: {lab_hours: LAB_HOURS}
stop: {replicates: 2, until_verified: false}
"""


def decisions(db: str) -> int:
    store = Store(db)
    try:
        return store.counts().get("decisions", 0) if store.revision() else 0
    finally:
        store.close()


def runs(db: str) -> list[tuple[str, str, int, str]]:
    """(source, design hash, seed, payload hash) of every result of the campaign, sorted.

    Design ids include the campaign's id, which differs between stores; the design's content
    hash does not.
    """
    store = Store(db)
    try:
        return sorted((r.result.source, r.result.design.content_hash(), r.result.provenance.seed,
                       r.result.payload_hash()) for r in store.list_results(campaign="crash"))
    finally:
        store.close()


def run_once(db: str, config: Path) -> None:
    process = interphase(db, "run", str(config), "--quiet", "--report", str(config.parent / "report"))
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The campaign's file, with a lab budget of ``request.param`` hours."""
    path = tmp_path / "crash.yaml"
    path.write_text(CONFIG.replace("LAB_HOURS", str(request.param)))
    return path


# Twenty kills of a 60-lab-hour campaign (52 decisions) took 205-283 s on SQLite and 330 s on
# PostgreSQL here: those run in `make test-slow`. `make test` kills a 20-hour campaign (16
# decisions, 25 s uninterrupted) five times, so that it stays under 15 minutes on 2 cores.
@pytest.mark.parametrize(("backend", "kills", "config"),
                         [("sqlite", 5, 20), pytest.param("sqlite", KILLS, 60, marks=pytest.mark.slow),
                          pytest.param("postgresql", KILLS, 60, marks=pytest.mark.slow)],
                         indirect=["backend", "config"])
def test_kills_lose_nothing_and_launch_nothing_twice(database_url: str, config: Path, tmp_path: Path,
                                                     kills: int) -> None:
    wanted = kills
    rng = random.Random(20261201)
    seen: dict[str, str] = {}
    kills = 0
    started = time.monotonic()
    command = ("run", str(config), "--quiet", "--report", str(tmp_path / "report"))
    while True:
        before = decisions(database_url)
        process = interphase(database_url, *command)
        delay = rng.uniform(0.0, 0.6)
        finished = False
        while True:
            if process.poll() is not None:
                finished = True
                break
            if kills < wanted and decisions(database_url) > before:
                time.sleep(delay)
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    kills += 1
                break
            time.sleep(0.05)
        errors = process.stderr.read().decode() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
        if finished:
            assert process.returncode == 0, errors
        now = acknowledged(database_url)
        lost = {rid for rid in seen if rid not in now or now[rid] != seen[rid]}
        assert not lost, f"acknowledged results lost or changed after kill {kills}: {lost}"
        seen = now
        if finished:
            break
        command = ("resume", "crash", "--quiet", "--report", str(tmp_path / "report"))
        assert time.monotonic() - started < 500, "the campaign did not finish"
    assert kills == wanted

    store = Store(database_url)
    try:
        assert store.integrity_problems() == []
        with store.engine.connect() as connection:
            requests = connection.execute(select(RequestRow.id, RequestRow.status)).all()
            claims = connection.execute(select(StatusLogRow.entity_id).where(
                StatusLogRow.entity == "request", StatusLogRow.status == "claimed")).scalars().all()
            answered = connection.execute(select(ResultRow.request_id)).scalars().all()
        assert sorted(claims) == sorted(r.id for r in requests), "a request launched twice, or never"
        assert len(answered) == len(set(answered)), "a request answered twice"
        assert {r.id for r in requests} == set(answered), "a launched request without its result"
        assert all(r.status in ("done", "failed") for r in requests)
        launched = [run["request_id"] for d in store.list_decisions("crash")
                    if d.chosen["kind"] in ("launch", "replicate") for run in d.chosen["runs"]]
        assert sorted(launched) == sorted(r.id for r in requests)
        assert [d.chosen["kind"] for d in store.list_decisions("crash")].count("finished") == 1
    finally:
        store.close()

    clean = str(tmp_path / "clean.db")
    run_once(f"sqlite:///{clean}", config)
    assert runs(database_url) == runs(f"sqlite:///{clean}")
