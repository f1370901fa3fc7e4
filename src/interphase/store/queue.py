"""The store as the work queue: workers claim requests, heartbeat, stream cycles and post one result.

A request moves ``queued -> claimed -> running -> done | failed | stopped``. Every move is a
compare-and-set on the request row and a line in the status log, on SQLite and PostgreSQL:

- *claim*: a worker takes a queued request with a lease: a random token, an expiry
  ``lease_s`` ahead, and the attempt number. Concurrent claimers never share a request
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).
- *heartbeat*: renews the lease while the token is still the request's, marks it running,
  and answers the stop order, if the campaign has written one.
- *stream*: stores cycles as they arrive, append-only and idempotent per (request,
  attempt, cycle range), so that a test can be reviewed and stopped while it runs.
- *post*: the request's one result. It is accepted only from the lease holder; a late post
  (its lease expired, the request went back to the queue) or a second result is refused,
  and the refusal is a status-log line. Re-sending the accepted post returns it.
- *expire*: a lease past its expiry puts the request back in the queue, its history kept;
  after ``max_attempts`` claims it fails instead, with a failed result that says why.

Times come from the database server on PostgreSQL, so workers on hosts with skewed clocks
agree, and from this host on SQLite.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from interphase.schema import (
    ConflictError,
    Cost,
    FailureKind,
    InvalidInputError,
    NotFoundError,
    Observation,
    Provenance,
    RequestStatus,
    Result,
    ResultStatus,
    canonical_hash,
)
from interphase.schema.records import utc_now
from interphase.store.leases import require_held, store_now
from interphase.store.queue_view import LIVE, QueueEntry, queue_snapshot
from interphase.store.records import CampaignLease, StoredRequest, StoredResult
from interphase.store.tables import (
    CampaignRow,
    CycleChunkRow,
    RequestRow,
    ResultRow,
    SourceRow,
    StatusLogRow,
    StopOrderRow,
)

if TYPE_CHECKING:
    from interphase.store.sql import Store

REQUEST_LEASE_S = 60.0
"""How long a claim lasts without a heartbeat (seconds); workers beat several times within it."""

MAX_ATTEMPTS = 3
"""Claims a request may have; when the last one's lease expires too, the request fails."""

ENDED = (RequestStatus.DONE.value, RequestStatus.FAILED.value, RequestStatus.STOPPED.value,
         RequestStatus.CANCELLED.value)
REFUSED = "refused"
CYCLE = "cycle"


class ClaimLostError(ConflictError):
    """The worker no longer holds the request: its lease expired, or the request has ended."""


class ResultRefusedError(ConflictError):
    """A posted result was refused (late, second, or from a worker that does not hold the request)."""


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one request.

    Attributes:
        request: The request as claimed.
        worker: The worker's name, e.g. ``"lab-7:pid=4242"``.
        token: The lease token; heartbeats, cycles and the result must carry it.
        attempt: Which claim of the request this is, from 1.
        expires_at: When the lease lapses without a heartbeat (store time, UTC); None for a
            claim that does not expire.
    """

    request: StoredRequest
    worker: str
    token: str
    attempt: int
    expires_at: datetime | None

    @property
    def request_id(self) -> str:
        """The claimed request's id."""
        return self.request.id


@dataclass(frozen=True)
class Beat:
    """What a heartbeat answers.

    Attributes:
        expires_at: The lease's new expiry (store time, UTC).
        stop_after: The cycle after which the campaign wants the test ended; None to go on.
    """

    expires_at: datetime
    stop_after: int | None


class WorkQueue:
    """Claim, heartbeat, stream and post against a store's requests.

    Args:
        store: An initialised store.
        lease_s: Lease length granted by each claim and heartbeat (seconds).
        max_attempts: Claims a request may have before an expired lease fails it.
    """

    def __init__(self, store: Store, *, lease_s: float = REQUEST_LEASE_S,
                 max_attempts: int = MAX_ATTEMPTS) -> None:
        if not (math.isfinite(lease_s) and lease_s > 0):
            raise InvalidInputError("lease_s", f"must be a positive number of seconds, got {lease_s!r}")
        if max_attempts < 1:
            raise InvalidInputError("max_attempts", f"must be at least 1, got {max_attempts!r}")
        self.store = store
        self.lease_s = float(lease_s)
        self.max_attempts = int(max_attempts)

    # ------------------------------------------------------------------ claiming

    def claim(self, worker: str, *, sources: Iterable[str] | None = None, campaign: str | None = None,
              limit: int = 1) -> list[Claim]:
        """Claim up to ``limit`` queued requests, oldest first, after re-queueing expired leases.

        Args:
            worker: The claiming worker's name.
            sources: Only requests for these source names (None: any).
            campaign: Only requests of this campaign (None: any).
            limit: Most requests to claim.

        Returns:
            The claims, oldest request first; empty when nothing matching is queued.
        """
        _check_worker(worker)
        self.expire()
        names = None if sources is None else list(sources)
        claims: list[Claim] = []
        while len(claims) < limit:
            claim = self._claim_next(worker, names, campaign)
            if claim is None:
                break
            claims.append(claim)
        return claims

    def _claim_next(self, worker: str, sources: list[str] | None, campaign: str | None) -> Claim | None:
        while True:
            with self.store._session() as session:
                query = select(RequestRow.id).where(RequestRow.status == RequestStatus.QUEUED.value)
                if sources is not None:
                    query = query.join(SourceRow).where(SourceRow.name.in_(sources))
                if campaign is not None:
                    query = query.join(CampaignRow).where(CampaignRow.name == campaign)
                candidate = session.scalar(query.order_by(RequestRow.created_at, RequestRow.id).limit(1)
                                           .with_for_update(skip_locked=True, of=RequestRow))
                if candidate is None:
                    return None
                claim = self._take(session, candidate, worker, from_status=RequestStatus.QUEUED.value)
                if claim is not None:
                    return claim
            # another worker took it between the read and the update: look again

    def claim_request(self, request_id: str, worker: str, *, lease: CampaignLease | None = None,
                      expiring: bool = True) -> Claim:
        """Claim one named queued request (the campaign's own workers taking what it launched).

        Args:
            request_id: The request.
            worker: The claiming worker's name.
            lease: The campaign lease the caller must still hold, checked in the same transaction.
            expiring: False for a claim that no expiry re-queues: one the campaign's own process
                holds, covered by its campaign lease.

        Raises:
            NotFoundError: If there is no such request.
            ConflictError: If it is not queued.
            LeaseLostError: If ``lease`` is no longer held; nothing is written.
        """
        _check_worker(worker)
        self.store.get_request(request_id)
        with self.store._session() as session:
            if lease is not None:
                require_held(session, lease)
            claim = self._take(session, request_id, worker, from_status=RequestStatus.QUEUED.value,
                               expiring=expiring)
            if claim is None:
                raise ConflictError(f"request {request_id} is not queued; it cannot be claimed again")
            return claim

    def _take(self, session: Session, request_id: str, worker: str, *, from_status: str,
              expiring: bool = True) -> Claim | None:
        now = store_now(session)
        token = uuid.uuid4().hex
        expires = now + timedelta(seconds=self.lease_s) if expiring else None
        taken = session.execute(
            update(RequestRow)
            .where(RequestRow.id == request_id, RequestRow.status == from_status)
            .values(status=RequestStatus.CLAIMED.value, claimed_by=worker, claimed_at=now, heartbeat_at=now,
                    lease_token=token, lease_expires_at=expires, attempts=RequestRow.attempts + 1)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            return None
        row = session.get(RequestRow, request_id)
        assert row is not None
        session.refresh(row)
        _log(session, request_id, RequestStatus.CLAIMED.value, f"{worker} (attempt {row.attempts})")
        return Claim(request=self.store._request(session, row), worker=worker, token=token,
                     attempt=row.attempts, expires_at=expires)

    # ------------------------------------------------------------------ holding

    def heartbeat(self, claim: Claim, *, running: bool = True) -> Beat:
        """Renew the claim's lease and read the stop order.

        Args:
            claim: The claim.
            running: Mark the request running (the worker has begun the run).

        Raises:
            ClaimLostError: If the lease is no longer the worker's; it must drop the run.
        """
        with self.store._session() as session:
            now = store_now(session)
            expires = now + timedelta(seconds=self.lease_s)
            values: dict[str, Any] = {"heartbeat_at": now, "lease_expires_at": expires}
            row = self._held_row(session, claim)
            first_run = running and row.status == RequestStatus.CLAIMED.value
            if first_run:
                values["status"] = RequestStatus.RUNNING.value
            session.execute(update(RequestRow).where(RequestRow.id == claim.request_id,
                                                     RequestRow.lease_token == claim.token)
                            .values(**values).execution_options(synchronize_session=False))
            if first_run:
                _log(session, claim.request_id, RequestStatus.RUNNING.value, claim.worker)
            order = session.get(StopOrderRow, claim.request_id)
            return Beat(expires_at=expires, stop_after=None if order is None else order.after_cycle)

    def _held_row(self, session: Session, claim: Claim) -> RequestRow:
        """The request row, locked, while ``claim`` still holds it and its lease has not lapsed."""
        row = session.scalar(select(RequestRow).where(RequestRow.id == claim.request_id).with_for_update())
        if row is None:
            raise NotFoundError(f"no request with id {claim.request_id!r}")
        now = store_now(session)
        if row.lease_token != claim.token or row.status not in LIVE:
            raise ClaimLostError(f"request {claim.request_id} is no longer held by {claim.worker!r} "
                                 f"(attempt {claim.attempt}): {_why_not_held(row)}")
        if row.lease_expires_at is not None and row.lease_expires_at < now:
            raise ClaimLostError(f"request {claim.request_id}: the lease of {claim.worker!r} expired "
                                 f"{(now - row.lease_expires_at).total_seconds():.0f} s ago")
        return row

    def stream(self, claim: Claim, observations: Sequence[Observation]) -> bool:
        """Store cycles the running test has produced (append-only; re-sending a chunk is a no-op).

        Args:
            claim: The claim.
            observations: Per-cycle observations (``index_unit == "cycle"``); their lowest and
                highest cycles name the chunk.

        Returns:
            True when the chunk is new, False when it was stored before.

        Raises:
            InvalidInputError: If the chunk is empty, not per-cycle, or names undeclared observables.
            ClaimLostError: If the lease is no longer the worker's.
            ConflictError: If the same cycle range was stored with other values.
        """
        if not observations:
            raise InvalidInputError("observations", "a streamed chunk needs at least one observation")
        if any(o.index_unit != CYCLE for o in observations):
            raise InvalidInputError("observations", "streamed observations must be indexed by cycle")
        first = math.floor(min(o.index for o in observations))
        last = math.ceil(max(o.index for o in observations))
        rows = [o.model_dump(mode="json") for o in observations]
        digest = canonical_hash(rows)
        declared = self._declared(claim.request.source)
        _check_declared(declared, claim.request.source, (o.observable for o in observations))
        try:
            with self.store._session() as session:
                existing = session.scalar(select(CycleChunkRow).where(
                    CycleChunkRow.request_id == claim.request_id, CycleChunkRow.attempt == claim.attempt,
                    CycleChunkRow.first_cycle == first, CycleChunkRow.last_cycle == last))
                if existing is not None:
                    return _same_chunk(existing, digest)
                self._held_row(session, claim)
                session.add(CycleChunkRow(id=uuid.uuid4().hex, request_id=claim.request_id,
                                          attempt=claim.attempt, first_cycle=first, last_cycle=last,
                                          observations=rows, payload_hash=digest, created_at=utc_now()))
            return True
        except IntegrityError:
            with self.store._session() as session:
                existing = session.scalar(select(CycleChunkRow).where(
                    CycleChunkRow.request_id == claim.request_id, CycleChunkRow.attempt == claim.attempt,
                    CycleChunkRow.first_cycle == first, CycleChunkRow.last_cycle == last))
                assert existing is not None
                return _same_chunk(existing, digest)

    def streamed(self, request_id: str) -> tuple[int, list[Observation]]:
        """The cycles the request's latest attempt has streamed so far.

        Returns:
            ``(attempt, observations)``, observations ordered by cycle; ``(0, [])`` before any.
        """
        with self.store._session() as session:
            attempt = session.scalar(select(func.max(CycleChunkRow.attempt))
                                     .where(CycleChunkRow.request_id == request_id))
            if attempt is None:
                return 0, []
            chunks = session.scalars(select(CycleChunkRow).where(CycleChunkRow.request_id == request_id,
                                                                 CycleChunkRow.attempt == attempt)
                                     .order_by(CycleChunkRow.first_cycle, CycleChunkRow.last_cycle)).all()
            seen: dict[tuple[str, float], Observation] = {}
            for chunk in chunks:
                for raw in chunk.observations:
                    observation = Observation.model_validate(raw)
                    seen.setdefault((observation.observable, observation.index), observation)
            return int(attempt), sorted(seen.values(), key=lambda o: (o.index, o.observable))

    def chunk_counts(self, request_ids: Iterable[str]) -> dict[str, int]:
        """How many chunks each of ``request_ids`` has streamed, over all attempts (one query).

        A poller re-reads a request's cycles with :meth:`streamed` only when its count has
        changed. Requests without chunks are absent.
        """
        wanted = list(request_ids)
        if not wanted:
            return {}
        with self.store._session() as session:
            rows = session.execute(select(CycleChunkRow.request_id, func.count())
                                   .where(CycleChunkRow.request_id.in_(wanted))
                                   .group_by(CycleChunkRow.request_id)).all()
        return {request_id: int(count) for request_id, count in rows}

    def statuses(self, request_ids: Iterable[str]) -> dict[str, RequestStatus]:
        """The current status of each of ``request_ids`` (one query; unknown ids are absent)."""
        wanted = list(request_ids)
        if not wanted:
            return {}
        with self.store._session() as session:
            rows = session.execute(select(RequestRow.id, RequestRow.status)
                                   .where(RequestRow.id.in_(wanted))).all()
        return {request_id: RequestStatus(status) for request_id, status in rows}

    # ------------------------------------------------------------------ stopping

    def order_stop(self, request_id: str, after_cycle: int, reason: str, *,
                   lease: CampaignLease | None = None) -> bool:
        """Write the order to end a running test after ``after_cycle`` (the first order stands).

        Args:
            request_id: The request.
            after_cycle: The last cycle to run (>= 1).
            reason: Why, for people.
            lease: The campaign lease the caller must still hold, checked in the same transaction.

        Returns:
            True when this order was written, False when the request already had one.
        """
        if after_cycle < 1:
            raise InvalidInputError("after_cycle", f"must be a cycle number >= 1, got {after_cycle!r}")
        self.store.get_request(request_id)
        try:
            with self.store._session() as session:
                if lease is not None:
                    require_held(session, lease)
                if session.get(StopOrderRow, request_id) is not None:
                    return False
                session.add(StopOrderRow(request_id=request_id, after_cycle=int(after_cycle), reason=reason,
                                         created_at=utc_now()))
                _log(session, request_id, "stop-ordered", f"after cycle {after_cycle}: {reason[:400]}")
            return True
        except IntegrityError:
            return False

    def stop_order(self, request_id: str) -> int | None:
        """The cycle after which the request must stop, or None when no stop was ordered."""
        with self.store._session() as session:
            order = session.get(StopOrderRow, request_id)
            return None if order is None else order.after_cycle

    # ------------------------------------------------------------------ results

    def post(self, claim: Claim, result: Result | Mapping[str, Any], *,
             idempotency_key: str | None = None) -> StoredResult:
        """Post the request's one result; only the lease holder may.

        Args:
            claim: The worker's claim (a claim rebuilt from its request id, worker, token and
                attempt serves as well).
            result: The result, or its JSON form as a mapping.
            idempotency_key: The result's key; the request's idempotency key by default.

        Returns:
            The stored result; re-sending an accepted post returns it again.

        Raises:
            InvalidInputError: If the result is malformed (non-finite values among them), is for
                another source or design, or carries observables its source does not declare.
            ResultRefusedError: If the worker does not hold the request (a late post after its
                lease expired, or a request it never claimed), or the request has its result.
            NotFoundError: If there is no such request.
        Every refusal but an unknown request is written to the status log; nothing else is.
        """
        request = self.store.get_request(claim.request_id)
        key = idempotency_key or request.idempotency_key
        try:
            parsed = result if isinstance(result, Result) else Result.model_validate(dict(result))
        except InvalidInputError as exc:
            raise self._refused(claim, f"malformed result: {exc}",
                                InvalidInputError(exc.field, exc.problem)) from None
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"]) or "result"
            raise self._refused(claim, f"malformed result: {field}: {problem['msg']}",
                                InvalidInputError(field, problem["msg"])) from None
        if parsed.source != request.source:
            raise self._refused(claim, f"result of source {parsed.source!r} for a {request.source!r} request",
                                InvalidInputError("source", f"the request needs source {request.source!r}, "
                                                            f"not {parsed.source!r}"))
        try:
            _check_declared(self._declared(request.source), request.source,
                            (o.observable for o in parsed.observations))
        except InvalidInputError as exc:
            raise self._refused(claim, f"undeclared observables: {exc.problem}", exc) from None
        with self.store._session() as session:
            row = session.get(RequestRow, claim.request_id)
            assert row is not None
            held = row.lease_token == claim.token and row.status in LIVE
        if not held:
            resent = self._resent(claim, key)
            if resent is not None:
                return resent
            with self.store._session() as session:
                row = session.get(RequestRow, claim.request_id)
                assert row is not None
                why = _why_not_held(row)
            detail = f"result from {claim.worker!r} (attempt {claim.attempt}) refused: {why}"
            raise self._refused(claim, detail, ResultRefusedError(f"request {claim.request_id}: {detail}"))
        try:
            return self.store.submit_result(parsed, idempotency_key=key, request_id=claim.request_id,
                                            claim_token=claim.token)
        except ResultRefusedError as exc:
            raise self._refused(claim, str(exc), exc) from None
        except InvalidInputError as exc:
            raise self._refused(claim, f"rejected: {exc}", exc) from None

    def _resent(self, claim: Claim, key: str) -> StoredResult | None:
        """The result this claim posted before (a re-send after a lost answer), or None."""
        with self.store._session() as session:
            result_id = session.scalar(select(ResultRow.id).where(ResultRow.request_id == claim.request_id,
                                                                 ResultRow.lease_token == claim.token,
                                                                 ResultRow.idempotency_key == key))
        return None if result_id is None else self.store.get_result(result_id)

    def _refused(self, claim: Claim, detail: str, error: Exception) -> Exception:
        """Write the refusal to the status log (its own transaction) and hand back the error to raise."""
        with self.store._session() as session:
            _log(session, claim.request_id, REFUSED, f"{claim.worker}: {detail}"[:2000])
        return error

    def _declared(self, source: str) -> set[str]:
        return set(self.store.get_source(source).spec.observables)

    # ------------------------------------------------------------------ expiry and overview

    def expire(self) -> list[str]:
        """Re-queue requests whose lease has lapsed; fail those out of attempts.

        Returns:
            The ids of the requests that changed.
        """
        changed: list[str] = []
        with self.store._session() as session:
            now = store_now(session)
            lapsed = session.execute(select(RequestRow.id, RequestRow.lease_token).where(
                RequestRow.status.in_(LIVE), RequestRow.lease_expires_at.is_not(None),
                RequestRow.lease_expires_at < now)).all()
        for request_id, token in lapsed:
            if self._expire_one(request_id, token):
                changed.append(request_id)
        return changed

    def _expire_one(self, request_id: str, token: str) -> bool:
        with self.store._session() as session:
            now = store_now(session)
            row = session.scalar(select(RequestRow).where(RequestRow.id == request_id).with_for_update())
            if (row is None or row.lease_token != token or row.status not in LIVE
                    or row.lease_expires_at is None or row.lease_expires_at >= now):
                return False
            beat_s = (now - (row.heartbeat_at or now)).total_seconds()
            lapse = (f"the lease of {row.claimed_by} (attempt {row.attempts}) expired; "
                     f"last heartbeat {beat_s:.0f} s ago")
            if row.attempts < self.max_attempts:
                session.execute(update(RequestRow).where(RequestRow.id == request_id,
                                                         RequestRow.lease_token == token)
                                .values(status=RequestStatus.QUEUED.value, lease_token=None,
                                        lease_expires_at=None)
                                .execution_options(synchronize_session=False))
                _log(session, request_id, RequestStatus.QUEUED.value, f"re-queued: {lapse}")
                return True
            _log(session, request_id, "abandoned",
                 f"{lapse}; {row.attempts} of {self.max_attempts} attempts used")
        self._fail_abandoned(request_id, token, lapse)
        return True

    def _fail_abandoned(self, request_id: str, token: str, lapse: str) -> None:
        """Give a request out of attempts its failed result, so that its campaign can go on.

        The result is posted under the lapsed lease's token, so a concurrent expiry or a late
        post by the lapsed worker finds the request settled.
        """
        request = self.store.get_request(request_id)
        version = self.store.get_source(request.source).spec.version
        stored = self.store.get_design(request.design_id)
        message = f"no worker finished it in {self.max_attempts} attempts: {lapse}"
        provenance = Provenance.capture(request.source, version, {"request": request.idempotency_key},
                                        seed=request.seed)
        result = Result(source=request.source, design=stored.design, protocol=request.protocol,
                        status=ResultStatus.FAILED, failure_kind=FailureKind.TRANSIENT, message=message,
                        provenance=provenance,
                        cost=Cost(), cycles_run=0, metadata={"abandoned": True})
        try:
            self.store.submit_result(result, idempotency_key=request.idempotency_key, request_id=request_id,
                                     claim_token=token)
        except ConflictError:
            pass  # settled meanwhile: by its worker's post, or by another process's expiry

    def snapshot(self, campaign: str | None = None) -> list[QueueEntry]:
        """Requests queued, claimed or running, oldest first, with their leases' ages (reads only)."""
        return queue_snapshot(self.store, campaign)


def _log(session: Session, request_id: str, status: str, detail: str) -> None:
    session.add(StatusLogRow(entity="request", entity_id=request_id, status=status, detail=detail,
                             at=utc_now()))


def _why_not_held(row: RequestRow) -> str:
    if row.status in ENDED:
        return f"the request has ended ({row.status})"
    if row.status == RequestStatus.QUEUED.value:
        return "its lease expired and the request went back to the queue"
    return f"the request is now held by {row.claimed_by!r} (attempt {row.attempts})"


def _check_worker(worker: str) -> None:
    if not isinstance(worker, str) or not worker.strip() or len(worker) > 200:
        raise InvalidInputError("worker", "must be a name of 1 to 200 characters")


def _check_declared(declared: set[str], source: str, observables: Iterable[str]) -> None:
    unknown = sorted(set(observables) - declared)
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise InvalidInputError("observations", f"source {source!r} does not declare {', '.join(unknown)}; "
                                                f"it declares: {allowed}")


def _same_chunk(existing: CycleChunkRow, digest: str) -> bool:
    if existing.payload_hash != digest:
        raise ConflictError(f"cycles {existing.first_cycle}-{existing.last_cycle} of request "
                            f"{existing.request_id} (attempt {existing.attempt}) were already stored "
                            "with other values")
    return False
