"""The storage contract: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from interphase.schema import (
    ConflictError,
    Design,
    InvalidInputError,
    NotFoundError,
    RequestStatus,
)
from interphase.store import TABLES, Store
from interphase.store.tables import Base
from support import factories


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key."""
    with store.engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.execute(
                select(table).order_by(*table.primary_key.columns))]
            for name in TABLES
            for table in [Base.metadata.tables[name]]
        }


def queue(store: Store, seeded: factories.SeededCampaign, n: int, source: str = "sim-fast",
          prefix: str = "req") -> list[str]:
    """Create ``n`` requests over the seeded designs; returns their ids in creation order."""
    ids = []
    for i in range(n):
        design_id = seeded.design_ids[i % len(seeded.design_ids)]
        stored = store.create_request(factories.request(
            seeded.campaign, design_id, source=source, key=f"{prefix}-{i}", seed=i))
        ids.append(stored.id)
    return ids


# ------------------------------------------------------------------ schema


def test_fresh_database_is_not_initialised(database_url: str) -> None:
    fresh = Store(database_url)
    try:
        assert fresh.revision() is None
        assert set(fresh.counts().values()) == {0}
        with pytest.raises(NotFoundError, match="interphase db init"):
            fresh.require_initialised()
        fresh.init()
        fresh.require_initialised()
    finally:
        fresh.close()


def test_counts_follow_writes(store: Store) -> None:
    assert set(store.counts().values()) == {0}
    seeded = factories.seed_campaign(store, n_designs=4)
    queue(store, seeded, 2)
    store.submit_result(factories.result(design_=seeded.designs[0], n_observations=7),
                        idempotency_key="r-0", campaign=seeded.campaign)
    assert store.counts() == {
        "campaigns": 1, "designs": 4, "sources": 1, "requests": 2, "results": 1,
        "observations": 7, "artifacts": 0, "decisions": 0,
        "status_log": 1 + 2 + 1,  # campaign created, two requests queued, one result
        "cycle_chunks": 0, "stop_orders": 0,
    }


# --------------------------------------------------------------- campaigns


def test_campaign_create_is_idempotent(store: Store) -> None:
    first = store.create_campaign(factories.campaign_spec("alpha"))
    again = store.create_campaign(factories.campaign_spec("alpha"))
    assert again.id == first.id
    assert again.spec == factories.campaign_spec("alpha")
    assert store.get_campaign("alpha").id == first.id
    assert store.counts()["campaigns"] == 1


def test_campaign_same_name_other_spec_conflicts(store: Store) -> None:
    store.create_campaign(factories.campaign_spec("alpha", seed=1))
    before = dump(store)
    with pytest.raises(ConflictError, match="alpha"):
        store.create_campaign(factories.campaign_spec("alpha", seed=2))
    assert dump(store) == before
    assert store.get_campaign("alpha").spec.seed == 1


def test_unknown_campaign_lists_known_names(store: Store) -> None:
    with pytest.raises(NotFoundError, match="known: none"):
        store.get_campaign("missing")
    for name in ("beta", "alpha"):
        store.create_campaign(factories.campaign_spec(name))
    with pytest.raises(NotFoundError, match="'missing'; known: alpha, beta"):
        store.get_campaign("missing")
    assert [c.name for c in store.list_campaigns()] == ["beta", "alpha"]


# ----------------------------------------------------------------- designs


def test_designs_are_content_addressed(store: Store) -> None:
    store.create_campaign(factories.campaign_spec("alpha"))
    store.create_campaign(factories.campaign_spec("beta"))
    first = store.add_designs("alpha", factories.designs(3))
    again = store.add_designs("alpha", [factories.design(1), factories.design(0)])
    assert [d.id for d in again] == [first[1].id, first[0].id]
    assert store.counts()["designs"] == 3
    other_campaign = store.add_designs("beta", [factories.design(0)])[0]
    labelled = store.add_designs("alpha", [factories.design(0, label="cell-17")])[0]
    assert len({first[0].id, other_campaign.id, labelled.id}) == 3
    assert store.get_design(first[2].id).design == factories.design(2)
    assert [d.id for d in store.list_designs("beta")] == [other_campaign.id]


def test_designs_are_stored_in_si(store: Store) -> None:
    store.create_campaign(factories.campaign_spec("alpha"))
    stored = store.add_designs("alpha", [factories.design(0, temperature_k="25 degC")])[0]
    assert stored.design.values["temperature_k"] == pytest.approx(298.15)
    assert store.get_design(stored.id).design.values["temperature_k"] == pytest.approx(298.15)


@pytest.mark.parametrize(("bad_values", "field"), [
    ({"temperature_k": 400.0}, "designs.1.temperature_k"),
    ({"formation_cycles": 2.5}, "designs.1.formation_cycles"),
    ({"additive": "LiNO3"}, "designs.1.additive"),
    ({"pressure_pa": 1e5}, "designs.1.pressure_pa"),
])
def test_invalid_design_names_its_field_and_writes_nothing(
        store: Store, bad_values: dict[str, Any], field: str) -> None:
    store.create_campaign(factories.campaign_spec("alpha"))
    before = dump(store)
    batch = [factories.design(0), factories.design(1, **bad_values), factories.design(2)]
    with pytest.raises(InvalidInputError) as caught:
        store.add_designs("alpha", batch)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert dump(store) == before


def test_missing_design_variable_is_named(store: Store) -> None:
    store.create_campaign(factories.campaign_spec("alpha"))
    values = dict(factories.design(0).values)
    del values["additive"]
    with pytest.raises(InvalidInputError, match=r"^designs\.0\.additive: missing"):
        store.add_designs("alpha", [Design(values=values)])
    assert store.counts()["designs"] == 0


# ----------------------------------------------------------------- sources


def test_source_registration_is_idempotent(store: Store) -> None:
    first = store.register_source(factories.source_spec())
    before = dump(store)
    again = store.register_source(factories.source_spec())
    assert again == first
    assert dump(store) == before


def test_source_same_version_other_spec_conflicts(store: Store) -> None:
    store.register_source(factories.source_spec(fidelity=1))
    before = dump(store)
    with pytest.raises(ConflictError, match="sim-fast@1.0"):
        store.register_source(factories.source_spec(fidelity=2))
    assert dump(store) == before
    bumped = store.register_source(factories.source_spec(version="1.1", fidelity=2))
    assert store.get_source("sim-fast").id == bumped.id == "sim-fast@1.1"
    assert store.get_source("sim-fast", "1.0").spec.fidelity == 1


def test_unknown_source_lists_known_names(store: Store) -> None:
    store.register_source(factories.source_spec())
    with pytest.raises(NotFoundError, match="known: sim-fast"):
        store.get_source("lab-cell")


# ---------------------------------------------------------------- requests


def test_request_same_key_same_payload_returns_the_same_record(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    request = factories.request(seeded.campaign, seeded.design_ids[0], key="k-1", seed=3)
    first = store.create_request(request)
    before = dump(store)
    again = store.create_request(request)
    assert again == first
    assert first.status is RequestStatus.QUEUED
    assert dump(store) == before


def test_request_same_key_other_payload_conflicts(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    store.create_request(factories.request(seeded.campaign, seeded.design_ids[0], key="k-1"))
    before = dump(store)
    with pytest.raises(ConflictError, match="k-1"):
        store.create_request(factories.request(seeded.campaign, seeded.design_ids[1], key="k-1"))
    with pytest.raises(ConflictError, match="k-1"):
        store.create_request(factories.request(seeded.campaign, seeded.design_ids[0], key="k-1",
                                               seed=99))
    assert dump(store) == before


def test_request_for_unknown_records_is_rejected(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    store.create_campaign(factories.campaign_spec("other"))
    other_design = store.add_designs("other", [factories.design(9)])[0]
    before = dump(store)
    with pytest.raises(NotFoundError):
        store.create_request(factories.request("missing", seeded.design_ids[0], key="a"))
    with pytest.raises(NotFoundError):
        store.create_request(factories.request(seeded.campaign, "0" * 32, key="b"))
    with pytest.raises(NotFoundError):
        store.create_request(factories.request(seeded.campaign, seeded.design_ids[0],
                                               source="lab-cell", key="c"))
    with pytest.raises(InvalidInputError, match="design_id"):
        store.create_request(factories.request(seeded.campaign, other_design.id, key="d"))
    assert dump(store) == before


# ------------------------------------------------------------------ claims


def test_claims_come_oldest_first_then_none(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    ids = queue(store, seeded, 4)
    claimed = [store.claim_next_request("worker-a") for _ in ids]
    assert [c.id for c in claimed if c is not None] == ids
    assert all(c is not None and c.status is RequestStatus.CLAIMED for c in claimed)
    assert all(c is not None and c.claimed_by == "worker-a" for c in claimed)
    assert store.claim_next_request("worker-a") is None
    assert store.list_requests(seeded.campaign, RequestStatus.QUEUED) == []
    assert len(store.list_requests(seeded.campaign, RequestStatus.CLAIMED)) == 4


def test_claims_filter_by_source_and_campaign(store: Store) -> None:
    lab = factories.source_spec("lab-cell", technique="experiment", fidelity=3)
    seeded = factories.seed_campaign(store, sources=(factories.source_spec(), lab))
    fast_ids = queue(store, seeded, 3, source="sim-fast", prefix="fast")
    lab_ids = queue(store, seeded, 2, source="lab-cell", prefix="lab")
    assert store.claim_next_request("w", sources=["lab-cell"]).id == lab_ids[0]
    assert store.claim_next_request("w", sources=["lab-cell"]).id == lab_ids[1]
    assert store.claim_next_request("w", sources=["lab-cell"]) is None
    assert store.claim_next_request("w", campaign="elsewhere") is None
    assert store.claim_next_request("w", sources=["sim-fast"], campaign="demo").id == fast_ids[0]
    assert store.claim_next_request("w").id == fast_ids[1]


def test_heartbeat_only_by_the_claiming_worker(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    queue(store, seeded, 1)
    claimed = store.claim_next_request("worker-a")
    assert claimed is not None
    store.heartbeat(claimed.id, "worker-a")
    with pytest.raises(ConflictError, match="worker-b"):
        store.heartbeat(claimed.id, "worker-b")


# ----------------------------------------------------------------- results


def test_result_is_stored_with_every_observation_and_provenance(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    submitted = factories.result(design_=seeded.designs[0], n_observations=120, seed=42)
    stored = store.submit_result(submitted, idempotency_key="r-1", campaign=seeded.campaign)
    fetched = store.get_result(stored.id)
    assert fetched.result == submitted
    assert len(fetched.result.observations) == 120
    assert fetched.design_id == seeded.design_ids[0]
    assert fetched.campaign == seeded.campaign
    provenance = fetched.result.provenance
    assert provenance.package_versions == factories.PACKAGE_VERSIONS
    assert (provenance.source_name, provenance.source_version) == ("sim-fast", "1.0")
    assert provenance.seed == 42
    assert provenance.params_hash == submitted.provenance.params_hash
    with store.engine.connect() as connection:
        row = connection.execute(text(
            "SELECT seed, params_hash, source_id, n_observations FROM results WHERE id = :id"),
            {"id": stored.id}).one()
    assert tuple(row) == (42, submitted.provenance.params_hash, "sim-fast@1.0", 120)


def test_result_resubmission_is_idempotent(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    submitted = factories.result(design_=seeded.designs[0])
    first = store.submit_result(submitted, idempotency_key="r-1", campaign=seeded.campaign)
    before = dump(store)
    again = store.submit_result(submitted, idempotency_key="r-1", campaign=seeded.campaign)
    # Environment fields of the provenance are not part of the payload.
    upgraded = submitted.model_copy(update={"provenance": factories.provenance(
        factories.source_spec(), seed=0, package_versions={"numpy": "9.9"})})
    from_upgraded_install = store.submit_result(upgraded, idempotency_key="r-1",
                                                campaign=seeded.campaign)
    assert again.id == from_upgraded_install.id == first.id
    assert dump(store) == before


def test_result_same_key_other_payload_conflicts(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    store.submit_result(factories.result(design_=seeded.designs[0]), idempotency_key="r-1",
                        campaign=seeded.campaign)
    before = dump(store)
    with pytest.raises(ConflictError, match="r-1"):
        store.submit_result(factories.result(design_=seeded.designs[0], n_observations=11),
                            idempotency_key="r-1", campaign=seeded.campaign)
    assert dump(store) == before


def test_result_key_reused_for_another_target_conflicts(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    first_id, second_id = queue(store, seeded, 2)
    store.claim_next_request("w")
    store.claim_next_request("w")
    submitted = factories.result(design_=seeded.designs[0])
    original = store.submit_result(submitted, idempotency_key="r-1", request_id=first_id)
    before = dump(store)
    with pytest.raises(ConflictError, match="r-1"):
        store.submit_result(submitted, idempotency_key="r-1", request_id=second_id)
    with pytest.raises(ConflictError, match="r-1"):
        store.correct_result(original.id, submitted, idempotency_key="r-1")
    assert dump(store) == before


def test_result_for_unknown_source_writes_nothing(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    before = dump(store)
    with pytest.raises(NotFoundError, match="lab-cell"):
        store.submit_result(
            factories.result(factories.source_spec("lab-cell"), design_=seeded.designs[0]),
            idempotency_key="r-1", campaign=seeded.campaign)
    assert dump(store) == before


def test_request_life_cycle_is_logged(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    done_id, failed_id = queue(store, seeded, 2)
    claimed = store.claim_next_request("worker-a")
    assert claimed is not None and claimed.id == done_id
    result = store.submit_result(factories.result(design_=seeded.designs[0]),
                                 idempotency_key="r-done", request_id=done_id)
    store.claim_next_request("worker-a")
    store.submit_result(factories.failed_result(design_=seeded.designs[1]),
                        idempotency_key="r-failed", request_id=failed_id)
    assert store.get_request(done_id).status is RequestStatus.DONE
    assert [e.status for e in store.status_history(done_id)] == ["queued", "claimed", "done"]
    assert store.status_history(done_id)[1].detail == "worker-a (attempt 1)"
    assert store.status_history(done_id)[2].detail == result.id
    assert [e.status for e in store.status_history(failed_id)] == ["queued", "claimed", "failed"]
    assert [e.status for e in store.status_history(result.id)] == ["succeeded"]
    history = store.status_history(done_id)
    assert [e.at for e in history] == sorted(e.at for e in history)
    campaign_id = store.get_campaign(seeded.campaign).id
    assert [e.status for e in store.status_history(campaign_id)] == ["created"]


def test_result_design_must_match_its_request(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    request_id = queue(store, seeded, 1)[0]
    before = dump(store)
    with pytest.raises(InvalidInputError, match="design"):
        store.submit_result(factories.result(design_=seeded.designs[1]),
                            idempotency_key="r-1", request_id=request_id)
    assert dump(store) == before


# ----------------------------------------------------------- immutability


def _populate_immutables(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    queue(store, seeded, 1)
    store.submit_result(factories.result(design_=seeded.designs[0], n_observations=5),
                        idempotency_key="r-1", campaign=seeded.campaign)
    store.put_artifact(b"raw cycler bytes", kind="cycler-file")
    store.log_decision(seeded.campaign, {"design": seeded.design_ids[0], "score": 1.0}, [],
                       "highest expected improvement")


FORBIDDEN = [
    "UPDATE results SET message = 'x'",
    "DELETE FROM results",
    "DELETE FROM observations",
    "UPDATE observations SET value = value + 1",
    "UPDATE artifacts SET kind = 'x'",
    "DELETE FROM artifacts",
    "UPDATE decisions SET reason = 'x'",
    "DELETE FROM decisions",
    "UPDATE status_log SET status = 'done'",
    "DELETE FROM status_log",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_immutable_tables_reject_raw_changes(store: Store, statement: str) -> None:
    _populate_immutables(store)
    before = dump(store)
    with pytest.raises(DBAPIError, match="is immutable"):
        with store.engine.begin() as connection:
            # A permitted change first: the rejection must roll it back as well.
            connection.execute(text("UPDATE requests SET status = 'cancelled'"))
            connection.execute(text(statement))
    assert dump(store) == before
    assert store.integrity_problems() == []


POSTGRESQL_ONLY = [pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", POSTGRESQL_ONLY)
def test_postgresql_rejects_truncate(store: Store) -> None:
    _populate_immutables(store)
    before = dump(store)
    with pytest.raises(DBAPIError, match="is immutable"):
        with store.engine.begin() as connection:
            connection.execute(text("TRUNCATE observations, results CASCADE"))
    assert dump(store) == before


def _replace_statement(backend: str) -> str:
    columns = '(id, result_id, observable, "index", index_unit, value, std, unit)'
    values = "SELECT id, result_id, observable, \"index\", index_unit, value + 1, std, unit"
    if backend == "sqlite":
        return f"INSERT OR REPLACE INTO observations {columns} {values} FROM observations"
    return (f"INSERT INTO observations {columns} {values} FROM observations "
            "ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value")


def test_upsert_cannot_rewrite_observations(store: Store) -> None:
    _populate_immutables(store)
    before = dump(store)
    with pytest.raises(DBAPIError, match="is immutable"):
        with store.engine.begin() as connection:
            connection.execute(text(_replace_statement(store.backend)))
    assert dump(store) == before


def test_integrity_check_reports_a_partial_result(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    stored = store.submit_result(factories.result(design_=seeded.designs[0], n_observations=3),
                                 idempotency_key="r-1", campaign=seeded.campaign)
    assert store.integrity_problems() == []
    with store.engine.begin() as connection:
        # Inserting is allowed; a result row that claims observations it lacks is partial.
        connection.execute(text(
            "INSERT INTO results (id, campaign_id, design_id, source_id, status, message, "
            "cost_lab_hours, cost_cpu_seconds, params_hash, provenance, metadata, "
            "n_observations, idempotency_key, payload_hash, created_at) "
            "SELECT :id, campaign_id, design_id, source_id, status, message, cost_lab_hours, "
            "cost_cpu_seconds, params_hash, provenance, metadata, 4, 'partial', payload_hash, "
            "created_at FROM results WHERE id = :old"), {"id": "f" * 32, "old": stored.id})
    assert store.integrity_problems() == [f"result {'f' * 32}: 0 of 4 observations"]


# -------------------------------------------------------------- corrections


def test_correction_is_a_new_record_that_supersedes_the_old(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    original = factories.result(design_=seeded.designs[0], n_observations=5)
    old = store.submit_result(original, idempotency_key="r-1", campaign=seeded.campaign)
    with store.engine.connect() as connection:
        old_row = connection.execute(text("SELECT * FROM results WHERE id = :id"),
                                     {"id": old.id}).one()
    fixed = factories.result(design_=seeded.designs[0], n_observations=5,
                             metadata={"channel": 3, "note": "capacity re-calibrated"})
    new = store.correct_result(old.id, fixed, idempotency_key="r-1-fix")

    assert new.id != old.id
    assert new.supersedes_id == old.id
    assert new.campaign == seeded.campaign
    reread_old = store.get_result(old.id)
    assert reread_old.result == original
    assert reread_old.superseded_by == new.id
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT * FROM results WHERE id = :id"),
                                  {"id": old.id}).one() == old_row
    assert [r.id for r in store.list_results(seeded.campaign)] == [new.id]
    assert [r.id for r in store.list_results(seeded.campaign, include_superseded=True)] == [
        old.id, new.id]
    assert store.correct_result(old.id, fixed, idempotency_key="r-1-fix").id == new.id
    assert store.integrity_problems() == []


def test_correcting_twice_conflicts(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    old = store.submit_result(factories.result(design_=seeded.designs[0]),
                              idempotency_key="r-1", campaign=seeded.campaign)
    first_fix = store.correct_result(old.id, factories.result(design_=seeded.designs[0], seed=1),
                                     idempotency_key="fix-1")
    before = dump(store)
    with pytest.raises(ConflictError, match=old.id):
        store.correct_result(old.id, factories.result(design_=seeded.designs[0], seed=2),
                             idempotency_key="fix-2")
    assert dump(store) == before
    second_fix = store.correct_result(first_fix.id,
                                      factories.result(design_=seeded.designs[0], seed=2),
                                      idempotency_key="fix-2")
    assert [r.id for r in store.list_results()] == [second_fix.id]
    with pytest.raises(NotFoundError):
        store.correct_result("0" * 32, factories.result(design_=seeded.designs[0]),
                             idempotency_key="fix-3")


# --------------------------------------------------------- artifacts, decisions


def test_artifacts_are_content_hashed(store: Store) -> None:
    data = bytes(range(256)) * 40
    digest = store.put_artifact(data, kind="checkpoint", metadata={"epoch": 3})
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.put_artifact(data, kind="checkpoint") == digest
    assert store.counts()["artifacts"] == 1
    assert store.get_artifact(digest) == data
    store.put_artifact(data + b"\x00", kind="checkpoint")
    assert store.counts()["artifacts"] == 2
    with pytest.raises(NotFoundError):
        store.get_artifact("0" * 64)


def test_decisions_are_logged_in_order(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    request_id = queue(store, seeded, 1)[0]
    first = store.log_decision(seeded.campaign, {"design": seeded.design_ids[0], "ei": 0.4},
                               [{"design": seeded.design_ids[1], "ei": 0.3}], "best EI",
                               request_id=request_id)
    second = store.log_decision(seeded.campaign, {"design": seeded.design_ids[2], "ei": 0.2}, [],
                                "only option left")
    listed = store.list_decisions(seeded.campaign)
    assert [d.id for d in listed] == [first.id, second.id]
    assert listed[0].chosen == {"design": seeded.design_ids[0], "ei": 0.4}
    assert listed[0].runners_up == [{"design": seeded.design_ids[1], "ei": 0.3}]
    assert listed[0].request_id == request_id
    assert listed[1].reason == "only option left"
    with pytest.raises(NotFoundError):
        store.log_decision("missing", {}, [], "x")


def test_healthy_store_has_no_integrity_problems(store: Store) -> None:
    assert store.integrity_problems() == []
    seeded = factories.seed_campaign(store, n_designs=5)
    for i, request_id in enumerate(queue(store, seeded, 5)):
        store.claim_next_request("w")
        store.submit_result(factories.result(design_=seeded.designs[i], n_observations=20 + i),
                            idempotency_key=f"r-{i}", request_id=request_id)
    store.put_artifact(b"x", kind="blob")
    assert store.integrity_problems() == []
