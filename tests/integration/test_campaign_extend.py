"""More budget for a campaign that spent its own: ``extend_campaign`` and ``interphase resume --add-*``.

The conductivity world (real robot data, half-hour tests) on a real store: a campaign ends on
its lab-hour or wall-clock budget, gets more, and goes on from where it stopped, keeping every
result it had and launching no request twice. Bad requests name the field and write nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from interphase.agent.campaign import extend_campaign, resume_campaign, run_campaign
from interphase.agent.plan import resolve
from interphase.schema import InvalidInputError
from interphase.schema.run_config import RunConfig
from interphase.store import Store
from interphase.store.tables import RequestRow, StatusLogRow
from support.cli import cli

pytestmark = pytest.mark.timeout(300)
WORLD = "electrolyte-conductivity"


def _run(store: Store, **config: Any) -> Any:
    return run_campaign(store, resolve(RunConfig(**config)))


def _claims_and_requests(store: Store) -> tuple[list[str], list[str]]:
    with store.engine.connect() as connection:
        requests = connection.execute(select(RequestRow.id)).scalars().all()
        claims = connection.execute(select(StatusLogRow.entity_id).where(
            StatusLogRow.entity == "request", StatusLogRow.status == "claimed")).scalars().all()
    return sorted(claims), sorted(requests)


def test_more_lab_hours_continue_a_campaign_that_spent_its_budget(store: Store) -> None:
    first = _run(store, name="more", world=WORLD, strategy="trial-and-error", seed=2,
                 stop={"until_verified": False}, budget={"lab_hours": 6})
    assert first.status == "budget"
    kept = {r.id: r.result.payload_hash() for r in store.list_results(campaign="more")}

    second = extend_campaign(store, "more", add_lab_hours=6)

    assert second.status == "budget"
    assert first.spent["lab_hours"] < second.spent["lab_hours"] <= 12 + 4 * 0.5
    assert second.runs > first.runs and second.clock_h > first.clock_h
    now = {r.id: r.result.payload_hash() for r in store.list_results(campaign="more")}
    assert {k: now[k] for k in kept} == kept  # every earlier result still there, unchanged
    claims, requests = _claims_and_requests(store)
    assert claims == requests  # each request launched exactly once
    kinds = [d.chosen["kind"] for d in store.list_decisions("more")]
    assert kinds.count("finished") == 2 and kinds[-1] == "finished"
    extended = [d for d in store.list_decisions("more") if d.chosen["kind"] == "extended"]
    assert len(extended) == 1
    assert extended[0].chosen["budget"]["lab_hours"] == 12 and extended[0].chosen["ended"] == "budget"
    assert "6 lab hours (now 12)" in extended[0].reason
    # A plain resume of the extended, finished campaign changes nothing; a second extension adds again.
    counts = store.counts()
    again = resume_campaign(store, "more")
    assert store.counts() == counts and (again.status, again.runs) == (second.status, second.runs)
    third = extend_campaign(store, "more", add_lab_hours=3)
    assert second.spent["lab_hours"] < third.spent["lab_hours"] <= 15 + 4 * 0.5


def test_more_wall_hours_continue_a_campaign_that_ran_out_of_time(store: Store) -> None:
    first = _run(store, name="late", world=WORLD, strategy="trial-and-error", seed=3,
                 stop={"until_verified": False}, budget={"lab_hours": 4, "wall_hours": 1e-9})
    assert first.status == "wall" and first.runs == 0

    second = extend_campaign(store, "late", add_wall_hours=1.0)

    assert second.status == "budget" and second.runs > 0  # now the lab hours end it
    claims, requests = _claims_and_requests(store)
    assert claims == requests


def test_extensions_that_cannot_be_granted_name_their_field_and_write_nothing(store: Store) -> None:
    _run(store, name="spent", world=WORLD, strategy="trial-and-error", seed=2,
         stop={"until_verified": False}, budget={"lab_hours": 3})
    verified = _run(store, name="found", world=WORLD, strategy="trial-and-error", seed=1,
                    stop={"replicates": 2}, budget={"lab_hours": 400})
    assert verified.status == "verified"
    counts = store.counts()
    cases = [("spent", {}, "add_wall_hours"),
             ("spent", {"add_lab_hours": -1.0}, "add_lab_hours"),
             ("spent", {"add_lab_hours": float("nan")}, "add_lab_hours"),
             ("spent", {"add_cpu_hours": 1.0}, "add_cpu_hours"),  # no CPU limit to raise
             ("spent", {"add_lab_hours": 1e300}, "add_lab_hours"),  # past the budget's limit
             ("found", {"add_lab_hours": 10.0}, "campaign")]
    for campaign, added, field in cases:
        with pytest.raises(InvalidInputError) as error:
            extend_campaign(store, campaign, **added)
        assert error.value.field == field, (campaign, added)
    assert store.counts() == counts


def test_the_cli_says_how_to_go_on_and_resume_adds_the_hours(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(f"name: cli-more\nworld: {WORLD}\nstrategy: trial-and-error\nseed: 2\n"
                      "stop: {until_verified: false}\nbudget: {lab_hours: 4}\n")
    db = tmp_path / "cli.db"
    report = str(tmp_path / "report")
    first = cli(db, "run", str(config), "--quiet", "--report", report)
    assert first.exit_code == 0, first.output
    assert "interphase resume cli-more --add-lab-hours" in first.output
    bad = cli(db, "resume", "cli-more", "--add-lab-hours", "-2", "--quiet")
    assert bad.exit_code == 2 and "add_lab_hours" in bad.output
    more = cli(db, "resume", "cli-more", "--add-lab-hours", "4", "--quiet", "--report", report)
    assert more.exit_code == 0, more.output
    html = (tmp_path / "report" / "report.html").read_text()
    assert "budget extended by 4 lab hours (now 8)" in html
    assert "of 8 h" in html  # the header's budget is the extended one
