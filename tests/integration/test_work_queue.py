"""The store as the work queue: leases, heartbeats, streamed cycles, stop orders, one result per request.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import math
import time

import pytest

from interphase.schema import ConflictError, InvalidInputError, Observation, RequestStatus, ResultStatus
from interphase.store import Store
from interphase.store.queue import Claim, ClaimLostError, ResultRefusedError, WorkQueue
from support import factories


def seeded(store: Store, n: int = 1) -> tuple[factories.SeededCampaign, list[str]]:
    campaign = factories.seed_campaign(store, n_designs=max(n, 1))
    ids = [store.create_request(factories.request(campaign.campaign, campaign.design_ids[i], key=f"req-{i}",
                                                  seed=i)).id for i in range(n)]
    return campaign, ids


def result_for(campaign: factories.SeededCampaign, i: int = 0, **overrides: object):
    return factories.result(campaign.sources[0], campaign.designs[i], **overrides)


def statuses(store: Store, request_id: str) -> list[str]:
    return [entry.status for entry in store.status_history(request_id)]


def test_claim_heartbeat_post_walks_the_request_through_its_statuses(store: Store) -> None:
    campaign, (request_id,) = seeded(store)
    queue = WorkQueue(store, lease_s=30)
    (claim,) = queue.claim("worker-a")
    assert claim.request_id == request_id and claim.attempt == 1 and claim.worker == "worker-a"
    assert store.get_request(request_id).status is RequestStatus.CLAIMED
    beat = queue.heartbeat(claim)
    assert beat.stop_after is None and beat.expires_at >= claim.expires_at
    assert store.get_request(request_id).status is RequestStatus.RUNNING
    stored = queue.post(claim, result_for(campaign))
    assert stored.request_id == request_id
    assert store.get_request(request_id).status is RequestStatus.DONE
    assert statuses(store, request_id) == ["queued", "claimed", "running", "done"]
    # re-sending the accepted post (its answer was lost) returns the same result, writes nothing
    assert queue.post(claim, result_for(campaign)).id == stored.id
    assert statuses(store, request_id) == ["queued", "claimed", "running", "done"]


def test_an_expired_lease_requeues_the_request_and_the_late_result_is_refused(store: Store) -> None:
    campaign, (request_id,) = seeded(store)
    queue = WorkQueue(store, lease_s=0.3)
    (zombie,) = queue.claim("worker-a")
    queue.heartbeat(zombie)
    time.sleep(0.6)
    (second,) = WorkQueue(store, lease_s=30).claim("worker-b")
    assert second.request_id == request_id and second.attempt == 2
    with pytest.raises(ClaimLostError, match="no longer held by 'worker-a'"):
        queue.heartbeat(zombie)
    with pytest.raises(ResultRefusedError, match="now held by 'worker-b'"):
        queue.post(zombie, result_for(campaign))
    accepted = queue.post(second, result_for(campaign))
    with pytest.raises(ResultRefusedError, match="ended"):
        queue.post(zombie, result_for(campaign))
    history = store.status_history(request_id)
    assert [e.status for e in history] == ["queued", "claimed", "running", "queued", "claimed", "refused",
                                           "done", "refused"]
    assert "expired" in history[3].detail and "worker-a" in history[3].detail
    assert history[7].detail.startswith("worker-a:")
    assert [r.id for r in store.list_results() if r.request_id == request_id] == [accepted.id]


def test_retries_are_capped_and_the_request_fails_with_a_result_that_says_why(store: Store) -> None:
    campaign, (request_id,) = seeded(store)
    queue = WorkQueue(store, lease_s=0.2, max_attempts=2)
    for attempt in (1, 2):
        (claim,) = queue.claim(f"worker-{attempt}")
        assert claim.attempt == attempt
        time.sleep(0.4)
    assert queue.claim("worker-3") == []  # the expiry ran first: out of attempts, so failed
    request = store.get_request(request_id)
    assert request.status is RequestStatus.FAILED and request.attempts == 2
    (failed,) = [r for r in store.list_results() if r.request_id == request_id]
    assert failed.result.status is ResultStatus.FAILED and failed.result.metadata["abandoned"] is True
    assert "2 attempts" in failed.result.message
    assert statuses(store, request_id) == ["queued", "claimed", "queued", "claimed", "abandoned", "failed"]


def test_streamed_cycles_are_idempotent_per_range_and_read_back_in_order(store: Store) -> None:
    campaign, (request_id,) = seeded(store)
    queue = WorkQueue(store, lease_s=30)
    (claim,) = queue.claim("worker-a")
    cycles = factories.observations(6)
    assert queue.stream(claim, cycles[3:]) is True
    assert queue.stream(claim, cycles[:3]) is True
    assert queue.stream(claim, cycles[:3]) is False  # a re-send
    changed = tuple(o.model_copy(update={"value": o.value + 1}) for o in cycles[:3])
    with pytest.raises(ConflictError, match="other values"):
        queue.stream(claim, changed)
    attempt, seen = queue.streamed(request_id)
    assert attempt == 1 and [o.index for o in seen] == [1, 2, 3, 4, 5, 6]
    assert queue.snapshot()[0].cycles_streamed == 6
    assert queue.chunk_counts([request_id, "no-such-request"]) == {request_id: 2}  # the re-send adds none
    with pytest.raises(InvalidInputError, match="does not declare SEI thickness"):
        queue.stream(claim, (Observation(observable="SEI thickness [m]", index=7, index_unit="cycle",
                                         value=4e-9, unit="m"),))


def test_a_stop_order_is_a_row_read_at_the_next_heartbeat(store: Store) -> None:
    campaign, (request_id,) = seeded(store)
    queue = WorkQueue(store, lease_s=30)
    (claim,) = queue.claim("worker-a")
    assert queue.heartbeat(claim).stop_after is None
    assert queue.order_stop(request_id, 4, "predicted to miss the target") is True
    assert queue.order_stop(request_id, 2, "again") is False  # the first order stands
    assert queue.heartbeat(claim).stop_after == 4
    stopped = result_for(campaign, status=ResultStatus.STOPPED, n_observations=4, message="stopped after 4")
    queue.post(claim, stopped)
    assert store.get_request(request_id).status is RequestStatus.STOPPED
    assert "stop-ordered" in statuses(store, request_id)


def test_bad_posts_are_refused_with_the_field_named_and_only_the_refusal_written(store: Store) -> None:
    campaign, (first, second) = seeded(store, 2)
    queue = WorkQueue(store, lease_s=30)
    claims = {c.request_id: c for c in queue.claim("worker-a", limit=2)}
    counts = store.counts()
    # a result for a request this worker does not hold
    forged = Claim(request=claims[second].request, worker="worker-b", token="0" * 32, attempt=1,
                   expires_at=None)
    with pytest.raises(ResultRefusedError, match="now held by 'worker-a'"):
        queue.post(forged, result_for(campaign, 1))
    # observables the source does not declare
    undeclared = result_for(campaign, observations=(Observation(
        observable="SEI thickness [m]", index=1, index_unit="cycle", value=4e-9, unit="m"),))
    with pytest.raises(InvalidInputError, match="does not declare SEI thickness") as caught:
        queue.post(claims[first], undeclared)
    assert caught.value.field == "observations"
    # non-finite values, posted as JSON
    payload = result_for(campaign).model_dump(mode="json")
    for bad in (math.nan, math.inf):
        payload["observations"][0]["value"] = bad
        with pytest.raises(InvalidInputError, match="finite"):
            queue.post(claims[first], payload)
    after = store.counts()
    assert {t: after[t] - counts[t] for t in after if after[t] != counts[t]} == {"status_log": 4}
    assert [e.status for e in store.status_history(first)][-3:] == ["refused"] * 3
    assert all(r.status in (RequestStatus.CLAIMED,) for r in store.list_requests())


def test_exactly_one_result_per_request_even_under_another_key(store: Store) -> None:
    campaign, (request_id,) = seeded(store)
    queue = WorkQueue(store, lease_s=30)
    (claim,) = queue.claim("worker-a")
    queue.post(claim, result_for(campaign))
    with pytest.raises(ResultRefusedError, match="its result already"):
        store.submit_result(result_for(campaign, n_observations=3), idempotency_key="other-key",
                            request_id=request_id)
    assert len([r for r in store.list_results() if r.request_id == request_id]) == 1


def test_the_snapshot_shows_leases_by_source_with_their_ages(store: Store) -> None:
    campaign, ids = seeded(store, 3)
    queue = WorkQueue(store, lease_s=30)
    (claim,) = queue.claim("worker-a")
    queue.heartbeat(claim)
    entries = {e.request_id: e for e in queue.snapshot()}
    assert entries[claim.request_id].status == "running" and entries[claim.request_id].worker == "worker-a"
    assert 0 <= entries[claim.request_id].lease_age_s < 30 < entries[claim.request_id].expires_in_s + 1
    assert [entries[i].status for i in ids if i != claim.request_id] == ["queued", "queued"]
    assert all(e.source == "sim-fast" and e.campaign == campaign.campaign for e in entries.values())


def test_the_campaigns_own_claims_never_expire(store: Store) -> None:
    campaign, (request_id,) = seeded(store)
    store.claim_request(request_id, "interphase-engine")
    time.sleep(0.3)
    assert WorkQueue(store, lease_s=0.1).expire() == []
    assert store.get_request(request_id).status is RequestStatus.CLAIMED
